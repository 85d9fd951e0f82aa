"""Roles held in the directory: granting, revoking and listing them, and who acts on what.

`actor_of` and the `*_subject` functions read what `knowledge.permissions` decides on from the
database: a person's (role, scope) pairs, and a lesson's or action's missions, people and their
managers. Granting and revoking are admin operations (anyone with the database at hand, from
the CLI) and are recorded in the audit trail; every write to `person_roles` moves the store's
WriteWatch on, so cached viewers and people see the change at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from knowledge import audit
from knowledge.errors import DomainError, NotFound
from knowledge.models import Action, Lesson, Person, PersonRole, Product, ProductAuthor, Role
from knowledge.permissions import Actor, Operation, Subject, require
from knowledge.storage import Store
from knowledge.threads import blocking

SCOPED = frozenset({Role.MANAGER, Role.PBPO, Role.MISSION_LEADER})  # may hold a mission scope
MAX_SCOPE = 100
ROLE_WORDS = {
    **{role.value: role for role in Role},
    "mission-leader": Role.MISSION_LEADER,
    "leader": Role.MISSION_LEADER,
    "administrator": Role.ADMIN,
}


@dataclass(frozen=True, slots=True)
class Holder:
    """A person with the roles they hold, as "pbpo (MINUSCA)" and "admin"."""

    person_id: int
    name: str
    email: str | None
    mission: str | None
    roles: tuple[tuple[Role, str], ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """Return each role with its scope, if any: ("pbpo (MINUSCA)", "staff")."""
        return tuple(f"{r.value} ({s})" if s else r.value for r, s in self.roles)


@dataclass(frozen=True, slots=True)
class RoleChange:
    """A grant or revocation as made: whom, what, and whether anything changed."""

    holder: Holder
    role: Role
    scope: str
    changed: bool


def role_named(word: str) -> Role:
    """Return the role a word names ("PBPO", "mission leader"), or raise DomainError."""
    key = "_".join(word.strip().lower().split())
    role = ROLE_WORDS.get(key) or ROLE_WORDS.get(key.replace("_", "-"))
    if role is None:
        names = ", ".join(r.value for r in Role)
        raise DomainError(f"'{word}' is not a role. The roles are {names}.")
    return role


def clean_scope(role: Role, scope: str | None) -> str:
    """Return the mission a role is scoped to ("" for every mission), or raise DomainError."""
    value = " ".join((scope or "").split())
    if value and role not in SCOPED:
        raise DomainError(
            f"The {role.value} role holds everywhere: grant it without a mission or office."
        )
    if len(value) > MAX_SCOPE:
        raise DomainError(f"A mission or office name is at most {MAX_SCOPE} characters.")
    return value


def actor_of(s: Session, person_id: int | None) -> Actor:
    """Return who acts, with their roles (an unknown person holds none)."""
    person = s.get(Person, person_id) if person_id is not None else None
    if person is None:
        return Actor(None)
    return Actor(person.id, frozenset((r.role, r.scope) for r in person.roles))


def lesson_subject(s: Session, lesson: Lesson) -> Subject:
    """Return a lesson as permissions see it: its missions, authors and their managers.

    Its missions are its product's and its lead author's (where the lesson was learned, and
    where its author works), as the validator rules have always read them.
    """
    authors = list(
        s.scalars(
            select(Person)
            .join(ProductAuthor, ProductAuthor.person_id == Person.id)
            .where(ProductAuthor.product_id == lesson.product_id)
            .order_by(ProductAuthor.position, Person.id)
        )
    )
    missions = {lesson.product.mission, authors[0].mission if authors else None}
    return _subject("lesson", missions, authors, s)


def action_subject(s: Session, action: Action) -> Subject:
    """Return an action as permissions see it: its lesson's missions, its owner and manager."""
    lesson = s.get(Lesson, action.lesson_id)
    owner = s.get(Person, action.owner_id) if action.owner_id is not None else None
    missions = {lesson.product.mission if lesson else None, owner.mission if owner else None}
    return _subject("action", missions, [owner] if owner else [], s)


def _subject(
    kind: str, missions: Iterable[str | None], people: list[Person], s: Session
) -> Subject:
    manager_ids = {p.manager_id for p in people if p.manager_id is not None}
    managers = s.scalars(select(Person.name).where(Person.id.in_(manager_ids))).all()
    return Subject(
        kind=kind,
        missions=frozenset(m for m in missions if m),
        people=frozenset(p.id for p in people),
        managers=frozenset(manager_ids),
        names=tuple(p.name for p in people),
        manager_names=tuple(sorted(managers)),
    )


class Roles:
    """Roles of the directory, over a Store's sessions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _actor(self, person_id: int | None) -> Actor:
        """Return who acts, with their roles."""
        with self.store.session() as s:
            return actor_of(s, person_id)

    actor = blocking(_actor)

    def _check_action(self, action_id: int, op: Operation, *, actor_id: int | None) -> None:
        """Raise NotAllowed (saying who can) unless this person may perform op on the action."""
        with self.store.session() as s:
            action = s.get(Action, action_id)
            if action is None:
                raise NotFound(f"There is no action #{action_id}.")
            require(actor_of(s, actor_id), op, action_subject(s, action))

    check_action = blocking(_check_action)

    def _grant(
        self,
        person_id: int,
        role: Role,
        *,
        scope: str = "",
        actor_id: int | None,
        surface: str,
        checked: bool = True,
    ) -> RoleChange:
        """Give a person a role (scoped to a mission, or ""); admins only unless not checked."""
        scope = clean_scope(role, scope)
        with self.store.session() as s:
            person = self._person(s, person_id, actor_id, Operation.GRANT_ROLE, checked)
            scope = _spelling(s, scope)
            before = _pairs(person)
            held = (role, scope) in before
            if not held:
                person.roles.append(PersonRole(role=role, scope=scope))
                s.flush()
                self._audit(s, person, Operation.GRANT_ROLE, before, actor_id, surface)
            return RoleChange(_holder(person), role, scope, changed=not held)

    grant = blocking(_grant)

    def _revoke(
        self,
        person_id: int,
        role: Role,
        *,
        scope: str = "",
        actor_id: int | None,
        surface: str,
        checked: bool = True,
    ) -> RoleChange:
        """Take a role (with this scope) from a person; the last admin keeps theirs."""
        scope = clean_scope(role, scope)
        with self.store.session() as s:
            person = self._person(s, person_id, actor_id, Operation.REVOKE_ROLE, checked)
            scope = _spelling(s, scope)
            before = _pairs(person)
            found = next((r for r in person.roles if (r.role, r.scope) == (role, scope)), None)
            if found is not None:
                if role == Role.ADMIN and _admins(s) <= 1:
                    raise DomainError(
                        f"{person.name} is the last admin: grant admin to someone else first."
                    )
                person.roles.remove(found)
                s.flush()
                self._audit(s, person, Operation.REVOKE_ROLE, before, actor_id, surface)
            return RoleChange(_holder(person), role, scope, changed=found is not None)

    revoke = blocking(_revoke)

    def _holders(self, person_id: int | None = None) -> list[Holder]:
        """Return everyone holding a role beyond staff (or one person, whatever they hold)."""
        with self.store.session() as s:
            if person_id is not None:
                person = s.get(Person, person_id)
                if person is None:
                    raise NotFound("That person is not in the directory.")
                return [_holder(person)]
            people = s.scalars(
                select(Person)
                .where(
                    Person.id.in_(select(PersonRole.person_id).where(PersonRole.role != Role.STAFF))
                )
                .order_by(Person.name, Person.id)
            )
            return [_holder(p) for p in people]

    holders = blocking(_holders)

    def _person(
        self, s: Session, person_id: int, actor_id: int | None, op: Operation, checked: bool
    ) -> Person:
        if checked:
            require(actor_of(s, actor_id), op)
        person = s.get(Person, person_id)
        if person is None:
            raise NotFound("That person is not in the directory.")
        return person

    def _audit(
        self,
        s: Session,
        person: Person,
        op: Operation,
        before: list[tuple[Role, str]],
        actor_id: int | None,
        surface: str,
    ) -> None:
        audit.record(
            s,
            at=self.store.clock(),
            person_id=actor_id,
            surface=surface,
            operation=op.value,
            kind="person",
            subject_id=person.id,
            before={"roles": _labels(before)},
            after={"roles": _labels(_pairs(person))},
        )


def _pairs(person: Person) -> list[tuple[Role, str]]:
    return sorted(((r.role, r.scope) for r in person.roles), key=lambda p: (p[0].value, p[1]))


def _labels(pairs: list[tuple[Role, str]]) -> list[str]:
    return [f"{r.value}:{s}" if s else r.value for r, s in pairs]


def _holder(person: Person) -> Holder:
    return Holder(person.id, person.name, person.email, person.mission, tuple(_pairs(person)))


def _spelling(s: Session, scope: str) -> str:
    """Return a scope as the directory and the index spell that mission ("minusca" → MINUSCA)."""
    if not scope:
        return scope
    known = s.scalars(
        select(Person.mission)
        .where(func.lower(Person.mission) == scope.lower())
        .union(select(Product.mission).where(func.lower(Product.mission) == scope.lower()))
    ).first()
    return known or scope


def _admins(s: Session) -> int:
    return s.scalar(select(func.count()).where(PersonRole.role == Role.ADMIN)) or 0
