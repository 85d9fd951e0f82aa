"""What the weekly digests say: a manager's people, a PBPO's mission. Read when they go out.

A digest names and counts only lessons (and their actions) its recipient may see: a restricted
lesson reaches only its audience, in a digest as in answers, reports and the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, func, or_, select

from knowledge.capture import Awaiting, Notes
from knowledge.models import (
    Action,
    Feedback,
    Lesson,
    LessonStatus,
    Notification,
    NotificationStatus,
    Person,
    PersonRole,
    Product,
    Role,
    UnreachablePerson,
)
from knowledge.notices import Notices
from knowledge.reports import Reports, UnansweredQuestion, lesson_title, visible
from knowledge.search.answer import Viewer
from knowledge.storage import Store
from scheduler.selects import OPEN
from scheduler.sql import Db

SHOWN = 5
FAILED_TIMES = 3  # a reminder that failed this often is listed as undelivered
OWED_FOR = timedelta(hours=1)  # a notice owed this long is listed as undelivered


@dataclass(frozen=True, slots=True)
class Overdue:
    """An overdue action of someone's people."""

    owner: str
    description: str
    days: int


@dataclass(frozen=True, slots=True)
class TeamWeek:
    """A manager's week: their people's actions, lessons awaiting them, what was applied."""

    people: int
    open: int
    overdue: int
    late: tuple[Overdue, ...]
    awaiting: Awaiting
    applied: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MissionWeek:
    """A PBPO's week: lessons awaiting validation, good-practice candidates, open questions."""

    missions: tuple[str, ...]  # empty: every mission
    awaiting: Awaiting
    candidates: tuple[str, ...]
    unanswered: tuple[UnansweredQuestion, ...]
    unreachable: tuple[str, ...]
    undelivered: tuple[str, ...] = ()  # messages the platforms still refuse, by person


async def team_week(db: Db, store: Store, person_id: int, *, now: datetime) -> TeamWeek:
    """Read a manager's week."""
    today = now.date()
    viewer = await store.viewer_for(person_id)
    people, open_, overdue, late, applied = await db.run(_team, db, person_id, viewer, today, now)
    awaiting = await Notes(store).awaiting_validation(person_id, limit=3)
    return TeamWeek(people, open_, overdue, late, awaiting, applied)


def _seen(viewer: Viewer) -> ColumnElement[bool]:
    """Return a condition on Action: its lesson is one the viewer may see."""
    lessons = select(Lesson.id).join(Product, Product.id == Lesson.product_id)
    return Action.lesson_id.in_(lessons.where(visible(viewer)))


def _team(
    db: Db, person_id: int, viewer: Viewer, today: date, now: datetime
) -> tuple[int, int, int, tuple[Overdue, ...], tuple[str, ...]]:
    reports = select(Person.id).where(Person.manager_id == person_id)
    with db.begin() as conn:
        people = conn.execute(select(func.count()).select_from(reports.subquery())).scalar_one()
        mine = (Action.owner_id.in_(reports), Action.status.in_(OPEN), _seen(viewer))
        open_, overdue = conn.execute(
            select(func.count(), func.count(Action.id).filter(Action.due_date < today)).where(*mine)
        ).one()
        late = tuple(
            Overdue(name, description, (today - due).days if due else 0)
            for name, description, due in conn.execute(
                select(Person.name, Action.description, Action.due_date)
                .join(Person, Person.id == Action.owner_id)
                .where(*mine, Action.due_date < today)
                .order_by(Action.due_date, Action.id)
                .limit(SHOWN)
            )
        )
        applied = _applied(conn, now, Action.owner_id.in_(reports), viewer)
    return int(people), int(open_), int(overdue or 0), late, applied


def _applied(conn: Connection, now: datetime, whose: object, viewer: Viewer) -> tuple[str, ...]:
    rows = conn.execute(
        select(Product.title, Lesson.title)
        .join(Product, Product.id == Lesson.product_id)
        .where(
            Lesson.status == LessonStatus.APPLIED,
            Lesson.applied_at >= now - timedelta(days=7),
            Lesson.id.in_(select(Action.lesson_id).where(whose)),  # type: ignore[arg-type]
            visible(viewer),
        )
        .order_by(Lesson.applied_at.desc())
        .limit(SHOWN)
    )
    return tuple(lesson_title(p, t) for p, t in rows)


async def mission_week(db: Db, store: Store, person_id: int, *, now: datetime) -> MissionWeek:
    """Read a PBPO's week."""
    viewer = await store.viewer_for(person_id)
    missions, candidates, unreachable = await db.run(_mission, db, person_id, viewer, now)
    awaiting = await Notes(store).awaiting_validation(person_id, limit=3)
    unanswered = await Reports(store).unanswered_questions(limit=3)
    undelivered = await db.run(_undelivered, db, store, missions, now)
    return MissionWeek(missions, awaiting, candidates, tuple(unanswered), unreachable, undelivered)


def _undelivered(db: Db, store: Store, missions: tuple[str, ...], now: datetime) -> tuple[str, ...]:
    """What the platforms keep refusing: reminders failed three times or more, and notices
    owed for over an hour, by person (of the PBPO's missions, or of none)."""
    n = Notification
    tries = func.count(n.id)
    query = (
        select(Person.name, tries, func.max(n.last_error))
        .join(Person, Person.id == n.recipient_id)
        .where(n.status == NotificationStatus.FAILED, n.attempts >= FAILED_TIMES)
        .group_by(Person.id, Person.name)
        .order_by(tries.desc(), Person.name)
        .limit(SHOWN)
    )
    if missions:
        query = query.where(or_(Person.mission.in_(missions), Person.mission.is_(None)))
    with db.begin() as conn:
        lines = [
            f"{name}: {count} reminder{'s' * (count != 1)} ({_short(error)})"
            for name, count, error in conn.execute(query)
        ]
    owed = Notices(store.engine, clock=store.clock).undelivered(now - OWED_FOR, limit=SHOWN)
    lines += [
        f"{o.name}: a notice about a failed answer, owed since "
        f"{o.created_at.astimezone(UTC):%d %b %H:%M} UTC ({o.platform}: {_short(o.last_error)})"
        for o in owed
    ]
    return tuple(lines)


def _short(error: str | None) -> str:
    return (error or "no answer").split("\n", 1)[0][:80]


def _mission(
    db: Db, person_id: int, viewer: Viewer, now: datetime
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    with db.begin() as conn:
        scopes = set(
            conn.execute(
                select(PersonRole.scope).where(
                    PersonRole.person_id == person_id, PersonRole.role == Role.PBPO
                )
            ).scalars()
        )
        # A PBPO of every mission (scope "") sees them all; otherwise their missions.
        missions = () if "" in scopes else tuple(sorted(scopes))
        where_mission = Product.mission.in_(missions) if missions else None
        helpful = func.count(Feedback.id).filter(Feedback.helpful.is_(True))
        query = (
            select(Product.title, Lesson.title, helpful)
            .join(Product, Product.id == Lesson.product_id)
            .outerjoin(Feedback, Feedback.lesson_id == Lesson.id)
            .where(
                Lesson.status == LessonStatus.APPLIED,
                Lesson.applied_at >= now - timedelta(days=30),
                visible(viewer),
            )
            .group_by(Lesson.id, Product.title, Lesson.title)
            .order_by(helpful.desc(), Lesson.id.desc())
            .limit(SHOWN)
        )
        if where_mission is not None:
            query = query.where(where_mission)
        candidates = tuple(lesson_title(p, t) for p, t, _ in conn.execute(query))
        lost = (
            select(Person.name)
            .join(UnreachablePerson, UnreachablePerson.person_id == Person.id)
            .order_by(Person.name)
            .limit(20)
        )
        if missions:
            lost = lost.where(or_(Person.mission.in_(missions), Person.mission.is_(None)))
        unreachable = tuple(conn.execute(lost).scalars())
    return missions, candidates, unreachable
