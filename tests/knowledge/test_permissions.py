"""The one authorisation table: every operation, role and scope, written out; and relations.

The expected matrix below is written by hand from the issue (roles, scopes, "admin everywhere"),
not derived from RULES: a change to the table must change it too.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from knowledge.errors import DomainError, NotAllowed
from knowledge.models import Lesson, Person, PersonRole, Role
from knowledge.permissions import RULES, Actor, Operation, Subject, can, describe, require
from knowledge.records import PersonRecord, ProductRecord
from knowledge.roles import actor_of, lesson_subject
from knowledge.storage import Store

Op = Operation
MISSION = "MINUSCA"
SCOPES = {"same": MISSION, "other": "MONUSCO", "global": ""}
ROLES = (Role.STAFF, Role.MANAGER, Role.PBPO, Role.MISSION_LEADER, Role.ADMIN)

# For each operation, per role (staff, manager, pbpo, mission leader, admin), whether a holder
# of that role scoped to the subject's mission, to another mission, or to every mission ("")
# may do it: "Y" or "N", in that order. The subject is a MINUSCA lesson (or action) that is
# neither the actor's own nor one of their people's.
EXPECTED: dict[Operation, tuple[str, str, str, str, str]] = {
    #                        staff  manager pbpo   leader admin
    Op.ASK: ("YYY", "YYY", "YYY", "YYY", "YYY"),
    Op.CAPTURE: ("YYY", "YYY", "YYY", "YYY", "YYY"),
    Op.START_AAR: ("YYY", "YYY", "YYY", "YYY", "YYY"),
    Op.VALIDATE_LESSON: ("NNN", "NNN", "YNY", "NNN", "YYY"),
    Op.REQUEST_CHANGES: ("NNN", "NNN", "YNY", "NNN", "YYY"),
    Op.REJECT_LESSON: ("NNN", "NNN", "YNY", "NNN", "YYY"),
    Op.APPLY_LESSON: ("NNN", "NNN", "YNY", "NNN", "YYY"),
    Op.WITHDRAW_LESSON: ("NNN", "NNN", "YNY", "NNN", "YYY"),
    Op.PROMOTE_PRACTICE: ("NNN", "NNN", "YNY", "NNN", "YYY"),
    Op.FLAG_PRIORITY: ("NNN", "NNN", "YNY", "YNY", "YYY"),
    Op.CURATE_SEARCH: ("NNN", "NNN", "YNY", "NNN", "YYY"),
    Op.ADD_ACTION: ("NNN", "NNN", "YNY", "NNN", "YYY"),
    Op.MANAGE_OWN_ACTION: ("NNN", "NNN", "NNN", "NNN", "YYY"),
    Op.MANAGE_ACTION: ("NNN", "NNN", "YNY", "YNY", "YYY"),
    Op.GRANT_ROLE: ("NNN", "NNN", "NNN", "NNN", "YYY"),
    Op.REVOKE_ROLE: ("NNN", "NNN", "NNN", "NNN", "YYY"),
    Op.VIEW_DASHBOARD: ("YYY", "YYY", "YYY", "YYY", "YYY"),
    Op.VIEW_AUDIT: ("NNN", "NNN", "YNY", "YNY", "YYY"),
    Op.EXPORT_REPORT: ("NNN", "YNY", "YNY", "YNY", "YYY"),
}
# What someone unknown to the directory may do.
UNKNOWN = {Op.ASK, Op.VIEW_DASHBOARD}

AUTHOR, BOSS, ACTOR = 101, 102, 7
LESSON = Subject(
    kind="lesson",
    missions=frozenset({MISSION}),
    people=frozenset({AUTHOR}),
    managers=frozenset({BOSS}),
    names=("Amina Diallo",),
    manager_names=("Ngozi Okafor",),
)


def cells() -> list[tuple[Operation, Role, str, bool]]:
    return [
        (op, role, scope, row[ROLES.index(role)][i] == "Y")
        for op, row in EXPECTED.items()
        for role in ROLES
        for i, scope in enumerate(SCOPES)
    ]


def test_the_expected_matrix_covers_every_operation() -> None:
    assert set(EXPECTED) == set(Operation) == set(RULES)


@pytest.mark.parametrize(("op", "role", "scope", "allowed"), cells())
def test_the_matrix(op: Operation, role: Role, scope: str, allowed: bool) -> None:
    actor = Actor(ACTOR, frozenset({(role, SCOPES[scope])}))

    decision = can(actor, op, LESSON)

    assert decision.allowed is allowed, (op, role, scope)
    assert bool(decision) is allowed
    if not allowed:
        with pytest.raises(NotAllowed) as info:
            require(actor, op, LESSON)
        assert info.value.message == f"Only {decision.who_can} can {RULES[op].verb}."


@pytest.mark.parametrize("op", list(Operation))
def test_someone_unknown_may_only_ask_and_look(op: Operation) -> None:
    assert can(Actor(None), op, LESSON).allowed is (op in UNKNOWN)


def test_someone_with_no_role_is_still_in_the_directory() -> None:
    nobody = Actor(ACTOR)
    assert can(nobody, Op.CAPTURE).allowed
    assert not can(nobody, Op.VALIDATE_LESSON, LESSON).allowed


# Relations: the subject's own people and their managers --------------------------------------


def test_the_authors_manager_decides_on_the_lesson_but_not_other_peoples() -> None:
    boss = Actor(BOSS, frozenset({(Role.STAFF, "")}))
    for op in (Op.VALIDATE_LESSON, Op.REQUEST_CHANGES, Op.REJECT_LESSON, Op.WITHDRAW_LESSON):
        assert can(boss, op, LESSON).allowed, op
    stranger = Actor(BOSS + 1, frozenset({(Role.MANAGER, MISSION)}))
    assert not can(stranger, Op.VALIDATE_LESSON, LESSON).allowed


def test_nobody_validates_their_own_lesson_not_even_an_admin() -> None:
    author = Actor(AUTHOR, frozenset({(Role.ADMIN, ""), (Role.PBPO, "")}))
    for op in (Op.VALIDATE_LESSON, Op.REQUEST_CHANGES, Op.REJECT_LESSON):
        decision = can(author, op, LESSON)
        assert not decision.allowed and decision.own, op
    with pytest.raises(NotAllowed) as info:
        require(author, Op.VALIDATE_LESSON, LESSON)
    assert info.value.message == (
        "You can't validate this lesson: it is your own. The author's manager (Ngozi Okafor), "
        "a PBPO of MINUSCA or an admin can."
    )
    assert can(author, Op.WITHDRAW_LESSON, LESSON).allowed  # but withdraw it, they may


def test_an_author_withdraws_their_own_lesson() -> None:
    assert can(Actor(AUTHOR), Op.WITHDRAW_LESSON, LESSON).allowed


def test_an_action_is_its_owners_and_their_managers() -> None:
    action = Subject(
        kind="action",
        missions=frozenset({MISSION}),
        people=frozenset({AUTHOR}),
        managers=frozenset({BOSS}),
        names=("Tomás Herrera",),
        manager_names=("Ngozi Okafor",),
    )
    assert can(Actor(AUTHOR), Op.MANAGE_OWN_ACTION, action).allowed
    assert not can(Actor(BOSS), Op.MANAGE_OWN_ACTION, action).allowed
    assert can(Actor(BOSS), Op.MANAGE_ACTION, action).allowed
    with pytest.raises(NotAllowed) as info:
        require(Actor(ACTOR), Op.MANAGE_OWN_ACTION, action)
    assert info.value.message == (
        "Only the action's owner (Tomás Herrera) or an admin can update this action."
    )
    assert isinstance(info.value, DomainError)  # the router shows it privately, with ⚠️


def test_a_lesson_belongs_to_its_lead_authors_mission_too_and_case_does_not_matter() -> None:
    subject = Subject(kind="lesson", missions=frozenset({"MINUSCA", "UNMISS"}))
    assert can(Actor(ACTOR, frozenset({(Role.PBPO, "unmiss")})), Op.VALIDATE_LESSON, subject)
    nowhere = Subject(kind="lesson")
    assert not can(Actor(ACTOR, frozenset({(Role.PBPO, "UNMISS")})), Op.VALIDATE_LESSON, nowhere)
    assert can(Actor(ACTOR, frozenset({(Role.PBPO, "")})), Op.VALIDATE_LESSON, nowhere)


# Who can: the words of a denial --------------------------------------------------------------


def test_who_can_is_said_in_words() -> None:
    assert describe(RULES[Op.VALIDATE_LESSON], LESSON) == (
        "the author's manager (Ngozi Okafor), a PBPO of MINUSCA or an admin"
    )
    assert describe(RULES[Op.WITHDRAW_LESSON], LESSON) == (
        "the author (Amina Diallo), the author's manager (Ngozi Okafor), a PBPO of MINUSCA or "
        "an admin"
    )
    assert describe(RULES[Op.GRANT_ROLE]) == "an admin"
    assert (
        describe(RULES[Op.VIEW_AUDIT]) == "a PBPO or mission leader for every mission, or an admin"
    )
    assert describe(RULES[Op.EXPORT_REPORT], LESSON) == (
        "a manager, PBPO or mission leader of MINUSCA, or an admin"
    )
    assert describe(RULES[Op.CAPTURE]) == "anyone in the staff directory"
    no_manager = Subject(kind="lesson", missions=frozenset({"UNMISS"}), people=frozenset({1}))
    assert describe(RULES[Op.VALIDATE_LESSON], no_manager) == "a PBPO of UNMISS or an admin"


# The same matrix from the database ------------------------------------------------------------


async def test_the_matrix_holds_for_roles_and_lessons_in_the_database(
    store: Store, today: date
) -> None:
    """Roles as stored (person_roles), the lesson as imported: the same decisions."""
    people = [
        {"name": "Amina Diallo", "email": "amina@un.example", "mission": MISSION,
         "manager": "ngozi@un.example"},
        {"name": "Ngozi Okafor", "email": "ngozi@un.example", "mission": MISSION},
    ]  # fmt: skip
    product = {
        "external_id": "p1",
        "type": "aar",
        "title": "Convoys",
        "mission": MISSION,
        "authors": ["amina@un.example"],
        "lessons": [{"lesson": "Escort fuel convoys."}],
    }
    records: list[tuple[int, PersonRecord | ProductRecord]] = [
        *((i, PersonRecord.from_mapping(p, today=today)) for i, p in enumerate(people, 1)),
        (3, ProductRecord.from_mapping(product, today=today)),
    ]
    await store.import_records(records, source="t")
    holders: dict[tuple[Role, str], int] = {}
    with store.session() as s:
        for role in ROLES:
            for scope in SCOPES.values():
                person = Person(name=f"{role} {scope}", timezone="UTC", created_at=store.clock())
                person.roles.append(PersonRole(role=role, scope=scope))
                s.add(person)
                s.flush()
                holders[role, scope] = person.id
    with store.session() as s:
        lesson = s.scalars(select(Lesson)).one()
        subject = lesson_subject(s, store.lesson_in(s, lesson.id))
        assert subject.missions == {MISSION} and subject.manager_names == ("Ngozi Okafor",)
        for op, role, scope, allowed in cells():
            actor = actor_of(s, holders[role, SCOPES[scope]])
            assert can(actor, op, subject).allowed is allowed, (op, role, scope)
        boss = actor_of(s, s.scalars(select(Person.id).where(Person.name == "Ngozi Okafor")).one())
        assert can(boss, Op.VALIDATE_LESSON, subject).allowed
        assert actor_of(s, None) == Actor(None)
