"""What delivering a batch of claims needs to know, read in one go, and whether each is still due.

Reminders stop the moment an action is done, cancelled or handed over: the plan is checked
again here, at delivery time, against the action as it is now.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from sqlalchemy import Connection, or_, select

from knowledge.models import (
    Action,
    ActionStatus,
    Lesson,
    LessonStatus,
    Person,
    Product,
    ProductAuthor,
    ProductType,
    ReminderPreference,
    UnreachablePerson,
)
from knowledge.reports import lesson_title
from knowledge.reviews import Member
from knowledge.views import ActionView
from scheduler.kinds import ACTION_KINDS, Kind
from scheduler.ledger import Claim, Item
from scheduler.people import Prefs
from scheduler.selects import EOAR_LOOKBACK, OPEN
from scheduler.sql import one_of


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person to deliver to: who they are on each platform, and what they prefer."""

    member: Member
    prefs: Prefs
    assignment_end: date | None = None


@dataclass(slots=True)
class Facts:
    """The current state of everything a batch of claims refers to."""

    people: dict[int, Recipient] = field(default_factory=dict)
    actions: dict[int, ActionView] = field(default_factory=dict)
    changed: dict[int, datetime] = field(default_factory=dict)  # action id → updated_at
    open_actions: dict[int, list[ActionView]] = field(default_factory=dict)  # departures
    eoar_filed: set[int] = field(default_factory=set)
    lessons: dict[int, tuple[str, LessonStatus]] = field(default_factory=dict)
    checked: dict[int, datetime] = field(default_factory=dict)  # unreachable, last looked up


def load(conn: Connection, claims: Iterable[Claim], *, postgres: bool) -> Facts:
    """Read the people, actions, lessons and EoARs the claims refer to."""
    claims = list(claims)
    facts = Facts()
    items = [i for c in claims for i in c.items]
    people = {c.person_id for c in claims} | {
        int(i.period[1:]) for i in items if i.kind == Kind.ESCALATE
    }
    _people(conn, facts, sorted(people), postgres)
    action_ids = sorted({i.subject_id for i in items if i.kind in ACTION_KINDS})
    departing = sorted({i.subject_id for i in items if i.kind == Kind.DEPARTURE})
    _actions(conn, facts, action_ids, departing, postgres)
    eoar = sorted({i.subject_id for i in items if i.kind == Kind.EOAR})
    if eoar:
        _eoars(conn, facts, eoar, postgres)
    lessons = sorted({i.subject_id for i in items if i.kind == Kind.FOLLOWUP})
    if lessons:
        for lesson_id, ptitle, ltitle, status in conn.execute(
            select(Lesson.id, Product.title, Lesson.title, Lesson.status)
            .join(Product, Product.id == Lesson.product_id)
            .where(one_of(Lesson.id, lessons, postgres))
        ):
            facts.lessons[lesson_id] = (lesson_title(ptitle, ltitle), LessonStatus(status))
    return facts


def _people(conn: Connection, facts: Facts, ids: list[int], postgres: bool) -> None:
    if not ids:
        return
    pref = ReminderPreference
    rows = conn.execute(
        select(
            Person.id, Person.name, Person.email, Person.slack_user_id, Person.teams_aad_id,
            Person.mission, Person.timezone, Person.manager_id, Person.assignment_end,
            pref.delivery, pref.digest_at, pref.muted, pref.snoozed_until, pref.away_from,
            pref.away_until, pref.work_hours, pref.work_days, UnreachablePerson.checked_at,
        )
        .outerjoin(pref, pref.person_id == Person.id)
        .outerjoin(UnreachablePerson, UnreachablePerson.person_id == Person.id)
        .where(one_of(Person.id, ids, postgres))
    )  # fmt: skip
    for r in rows:
        member = Member(
            r.id, r.name, r.email, r.slack_user_id, r.teams_aad_id, r.mission, r.timezone,
            r.manager_id,
        )  # fmt: skip
        facts.people[r.id] = Recipient(member, Prefs.of(r), r.assignment_end)
        if r.checked_at is not None:
            facts.checked[r.id] = r.checked_at


def _actions(
    conn: Connection, facts: Facts, ids: list[int], owners: list[int], postgres: bool
) -> None:
    if not ids and not owners:
        return
    query = (
        select(
            Action.id, Action.description, Action.status, Action.due_date, Action.lesson_id,
            Action.owner_id, Action.notes, Action.updated_at, Lesson.title.label("ltitle"),
            Product.title.label("ptitle"), Product.mission, Person.name.label("owner_name"),
        )
        .join(Lesson, Lesson.id == Action.lesson_id)
        .join(Product, Product.id == Lesson.product_id)
        .outerjoin(Person, Person.id == Action.owner_id)
    )  # fmt: skip
    wanted = []
    if ids:
        wanted.append(one_of(Action.id, ids, postgres))
    if owners:
        wanted.append(one_of(Action.owner_id, owners, postgres) & Action.status.in_(OPEN))
    departing: dict[int, list[ActionView]] = defaultdict(list)
    for r in conn.execute(query.where(or_(*wanted))):
        view = ActionView(
            id=r.id,
            description=r.description,
            status=ActionStatus(r.status),
            due_date=r.due_date,
            lesson_id=r.lesson_id,
            lesson_title=lesson_title(r.ptitle, r.ltitle),
            mission=r.mission,
            owner_id=r.owner_id,
            owner_name=r.owner_name,
            notes=r.notes,
        )
        facts.actions[r.id] = view
        facts.changed[r.id] = r.updated_at
        if r.owner_id in owners and view.status in OPEN:
            departing[r.owner_id].append(view)
    facts.open_actions = dict(departing)


def recheck(conn: Connection, facts: Facts, ids: list[int], *, postgres: bool) -> None:
    """Read again the state of the actions a message names, right before it is sent.

    The batch's facts may be many seconds old by the time a paced message goes out (a batch
    of 200 at 10 messages a second lasts 20 s): one query per message, so a message never
    names an action closed, handed over or moved in the meantime.
    """
    if not ids:
        return
    rows = conn.execute(
        select(Action.id, Action.status, Action.owner_id, Action.due_date, Action.updated_at)
        .where(one_of(Action.id, ids, postgres))
    )  # fmt: skip
    seen = set()
    for r in rows:
        seen.add(r.id)
        old = facts.actions.get(r.id)
        if old is not None:
            facts.actions[r.id] = replace(
                old, status=ActionStatus(r.status), owner_id=r.owner_id, due_date=r.due_date
            )
        facts.changed[r.id] = r.updated_at
    for gone in set(ids) - seen:
        facts.actions.pop(gone, None)


def _eoars(conn: Connection, facts: Facts, people: list[int], postgres: bool) -> None:
    rows = conn.execute(
        select(ProductAuthor.person_id, Product.date, Product.created_at)
        .join(Product, Product.id == ProductAuthor.product_id)
        .where(one_of(ProductAuthor.person_id, people, postgres), Product.type == ProductType.EOAR)
    )
    for person_id, day, created in rows:
        recipient = facts.people.get(person_id)
        end = recipient.assignment_end if recipient else None
        if end is None:
            continue
        when = day or created.date()
        if when >= end - EOAR_LOOKBACK:
            facts.eoar_filed.add(person_id)


def still_due(item: Item, facts: Facts, now: datetime) -> str | None:
    """Return why a claimed notification must not go out any more, or None when it may."""
    if item.kind in ACTION_KINDS:
        return _action_gone(item, facts)
    match item.kind:
        case Kind.DEPARTURE:
            return None if facts.open_actions.get(item.subject_id) else "no open actions left"
        case Kind.EOAR:
            return "the EoAR is filed" if item.subject_id in facts.eoar_filed else None
        case Kind.FOLLOWUP:
            lesson = facts.lessons.get(item.subject_id)
            if lesson is None or lesson[1] != LessonStatus.APPLIED:
                return "the lesson is no longer applied"
    return None


def _action_gone(item: Item, facts: Facts) -> str | None:
    action = facts.actions.get(item.subject_id)
    if action is None:
        return "the action was deleted"
    if action.status not in OPEN:
        return f"the action is {action.status.value.replace('_', ' ')}"
    if item.kind == Kind.ESCALATE:
        if action.owner_id != int(item.period[1:]):
            return "the action was handed over"
        changed = facts.changed.get(action.id)
        if changed is not None and changed > item.planned_at:
            return "the owner answered"
        return None
    if action.owner_id != item.recipient_id:
        return "the action was handed over"
    due = action.due_date.isoformat() if action.due_date else ""
    if item.kind == Kind.DUE_SOON and item.period != due:
        return "the due date moved"
    if item.kind == Kind.NUDGE and not item.period.startswith(f"{due}+"):
        return "the due date moved"
    return None
