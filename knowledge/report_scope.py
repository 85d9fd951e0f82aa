"""Whose lessons a report covers: a PBPO of MINUSCA sees MINUSCA, admins everything, managers
their people.

`scope_for` checks `Operation.EXPORT_REPORT` (a friendly `NotAllowed` says who can) and returns a
`Scope`; its `lessons`, `actions` and `people` conditions narrow every report query, on top of
`knowledge.reports.visible`, which keeps restricted lessons to their audience. Admins, and
PBPOs and mission leaders of every mission, see every mission; a PBPO or mission leader scoped
to missions sees those; a manager sees what their direct reports (and they) wrote or own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.orm import Session

from knowledge.errors import DomainError
from knowledge.models import Action, Person, Product, ProductAuthor, Role
from knowledge.permissions import Actor, Operation, Subject, require
from knowledge.roles import actor_of

_CURATORS = (Role.PBPO, Role.MISSION_LEADER)
MISSIONS_LISTED = 20


@dataclass(frozen=True, slots=True)
class Scope:
    """What a report covers: every mission, some missions, or some people's work."""

    everything: bool = False
    missions: frozenset[str] = frozenset()  # casefolded
    people: frozenset[int] = frozenset()
    mission: str | None = None  # a mission asked for, narrowing all of the above
    label: str = "every mission"

    def lessons(self) -> ColumnElement[bool]:
        """Return a condition on Product: its lessons are in scope."""
        if self.everything:
            broad: ColumnElement[bool] = true()
        else:
            authored = select(ProductAuthor.product_id).where(
                ProductAuthor.person_id.in_(sorted(self.people))
            )
            missions = sorted(self.missions)
            broad = or_(
                func.lower(Product.mission).in_(missions) if missions else false(),
                Product.id.in_(authored) if self.people else false(),
            )
        return and_(broad, self._mission(Product.mission))

    def actions(self) -> ColumnElement[bool]:
        """Return a condition on Action and Product: the action is in scope."""
        owned = Action.owner_id.in_(sorted(self.people)) if self.people else false()
        if self.everything:
            return self.lessons()
        return or_(self.lessons(), and_(owned, self._mission(Product.mission)))

    def askers(self) -> ColumnElement[bool]:
        """Return a condition on a person id column's Person: the person is in scope."""
        if self.everything:
            broad: ColumnElement[bool] = true()
        else:
            missions = sorted(self.missions)
            broad = or_(
                func.lower(Person.mission).in_(missions) if missions else false(),
                Person.id.in_(sorted(self.people)) if self.people else false(),
            )
        return and_(broad, self._mission(Person.mission))

    def _mission(self, column: Any) -> ColumnElement[bool]:
        if self.mission is None:
            return true()
        return func.lower(column) == self.mission.casefold()


def scope_for(s: Session, person_id: int | None, mission: str | None = None) -> Scope:
    """Return what this person may report on (narrowed to mission), or raise NotAllowed."""
    actor = actor_of(s, person_id)
    mission = known_mission(s, mission)
    if mission is not None:
        require(actor, Operation.EXPORT_REPORT, Subject(missions=frozenset({mission})))
    else:
        scopes = frozenset(sc for role, sc in actor.roles if role in (*_CURATORS, Role.MANAGER))
        require(actor, Operation.EXPORT_REPORT, Subject(missions=scopes))
    return _narrow(_base(s, actor), mission)


def everything(s: Session, mission: str | None = None) -> Scope:
    """Return the scope of whoever runs the command line: every mission (or the one asked)."""
    return _narrow(Scope(everything=True), known_mission(s, mission))


def known_mission(s: Session, mission: str | None) -> str | None:
    """Return a mission as the index spells it ("minusca" → MINUSCA), or raise DomainError."""
    wanted = " ".join((mission or "").split())
    if not wanted:
        return None
    missions = s.scalars(
        select(Product.mission)
        .where(Product.mission.is_not(None))
        .union(select(Person.mission).where(Person.mission.is_not(None)))
    ).all()
    for known in missions:
        if known and known.casefold() == wanted.casefold():
            return known
    some = ", ".join(sorted(m for m in missions if m)[:MISSIONS_LISTED])
    raise DomainError(f"I know no mission or office called '{wanted[:100]}'. Try one of: {some}.")


def _base(s: Session, actor: Actor) -> Scope:
    roles = actor.roles
    if any(r == Role.ADMIN or (r in _CURATORS and sc == "") for r, sc in roles):
        return Scope(everything=True)
    missions = frozenset(sc.casefold() for r, sc in roles if r in _CURATORS and sc)
    people: frozenset[int] = frozenset()
    if any(r == Role.MANAGER for r, _ in roles) and actor.person_id is not None:
        reports = s.scalars(select(Person.id).where(Person.manager_id == actor.person_id))
        people = frozenset({actor.person_id, *reports})
    names = sorted(sc for r, sc in roles if r in _CURATORS and sc)
    label = " and ".join(filter(None, [", ".join(names), "your team" if people else ""]))
    return Scope(missions=missions, people=people, label=label or "your team")


def _narrow(scope: Scope, mission: str | None) -> Scope:
    if mission is None:
        return scope
    return Scope(
        everything=scope.everything,
        missions=scope.missions,
        people=scope.people,
        mission=mission,
        label=mission if scope.everything or scope.missions else f"your team in {mission}",
    )
