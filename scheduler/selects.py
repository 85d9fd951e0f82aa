"""The SELECT of each kind's ledger rows, for a group of people planned together.

The planner INSERTs them (… ON CONFLICT DO NOTHING). Each reads only the group's people, through
indexes; after a person's first plan, only what became due since is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    String,
    and_,
    case,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from knowledge.models import (
    Action,
    ActionNudge,
    ActionStatus,
    Lesson,
    LessonStatus,
    NotificationStatus,
    Person,
    PersonRole,
    Product,
    ProductAuthor,
    ProductType,
    Role,
    UtcDateTime,
)
from scheduler.config import Cadence
from scheduler.kinds import Kind
from scheduler.slots import iso_week
from scheduler.sql import day_points, days_between, joined, one_of, one_of_dates, open_actions

OPEN = (ActionStatus.OPEN, ActionStatus.IN_PROGRESS)
SENIOR = (Role.MANAGER, Role.MISSION_LEADER)
EOAR_LOOKBACK = timedelta(days=120)  # an EoAR filed this long before the end counts
EOAR_GIVE_UP = 180  # days after the end when EoAR reminders stop
NUDGE_HORIZON_DAYS = 5 * 365  # an action overdue longer is no longer nudged

COLUMNS = (
    "kind",
    "subject_id",
    "recipient_id",
    "period",
    "slot_at",
    "next_attempt_at",
    "status",
    "attempts",
    "planned_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class Group:
    """People planned together: the same local day, slot, mute setting and last planned day.

    `since` is the local day these people were last planned (None: never). Only what became
    due after it is looked at: a nudge whose cadence point came since, a due date that came
    within reach since. What was due before was planned then (the ledger's key keeps any
    overlap harmless).
    """

    ids: tuple[int, ...]
    today: date
    slot: datetime
    muted: bool
    since: date | None = None

    @property
    def gap(self) -> int | None:
        """Return the days since the last plan (None: never planned)."""
        return (self.today - self.since).days if self.since is not None else None


class Selects:
    """The SELECT of each kind's ledger rows for one group (INSERTed by the caller)."""

    def __init__(
        self,
        conn: Connection,
        group: Group,
        *,
        now: datetime,
        cadence: Cadence,
        postgres: bool,
        slots: Any = None,
    ) -> None:
        self.conn = conn
        self.group = group
        self.now = now
        self.cadence = cadence
        self.postgres = postgres
        self.slots = slots  # (person, at): each owner's own slot, for people of several slots

    def _row(
        self,
        kind: Kind,
        subject: Any,
        recipient: Any,
        period: Any,
        *,
        own_slot: bool = True,
    ) -> list[Any]:
        """Return the ledger columns: kind, subject, recipient, period, times, status."""
        slot = self.group.slot if own_slot else None
        if own_slot and self.slots is not None:
            slot_at: Any = self.slots.c.at
            due: Any = self.slots.c.at
        else:
            slot_at = literal(slot, UtcDateTime()) if slot else null()
            due = literal(slot or self.now, UtcDateTime())
        return [
            literal(str(kind), String),
            subject,
            recipient,
            period if not isinstance(period, str) else literal(period, String),
            slot_at,
            due,
            literal(NotificationStatus.PLANNED.value, String),
            literal(0, Integer),
            literal(self.now, UtcDateTime()),
            literal(self.now, UtcDateTime()),
        ]

    def _mine(self, col: Any) -> Any:
        return one_of(col, self.group.ids, self.postgres)

    def _unindexed(self, col: Any) -> Any:
        """Return a column SQLite will not look up by an index (`+actions.owner_id`).

        The actions changed since the last plan are few: read by the index on `updated_at`,
        which SQLite would not choose over the other indexes by itself. PostgreSQL does.
        """
        if self.postgres:
            return col
        return literal_column(f"+{col.table.name}.{col.name}", type_=col.type)

    def _unindexed_open(self) -> Any:
        return self._unindexed(Action.status).in_(OPEN)

    def _changed(self) -> Any:
        """Return "the action changed since the last plan" (created, re-dated, handed over)."""
        since = self.group.since
        assert since is not None
        return Action.updated_at >= datetime.combine(since - timedelta(days=1), time(), UTC)

    def due_soon(self) -> list[Select[Any]]:
        """Owners of actions due within `due_soon_days`: once per due date.

        After a first plan: the due dates that came within reach since (their range of the
        partial index on open actions by due date), and the actions changed since.
        """
        today, days = self.group.today, timedelta(days=self.cadence.due_soon_days)
        period = joined(Action.due_date)
        row = select(*self._row(Kind.DUE_SOON, Action.id, Action.owner_id, period))
        mine = (self._mine(Action.owner_id), open_actions())
        if self.group.since is None:
            return [row.where(*mine, Action.due_date > today, Action.due_date <= today + days)]
        reached = max(today, self.group.since + days)
        due = self._unindexed(Action.due_date)
        return [
            row.where(*mine, Action.due_date > reached, Action.due_date <= today + days),
            row.where(  # by the index on updated_at (see _unindexed)
                self._mine(self._unindexed(Action.owner_id)), self._unindexed_open(),
                self._changed(), due > today, due <= today + days,
            ),
        ]  # fmt: skip

    def nudges(self) -> list[Select[Any]]:
        """Owners of overdue actions, at the latest cadence point reached (collapsed).

        On a first plan the overdue due dates with the point each reached (1,800 dates) are
        joined to the person's actions. After it, only what is new is inserted: the actions of
        the due dates that reached a point since the last plan (about 260 dates, read by the
        partial index on open actions by due date), and the actions changed since (by the index
        on `updated_at`); the point of those few rows is computed in SQL.
        """
        today, gap = self.group.today, self.group.gap
        if gap is None:
            day = day_points(self.conn, nudge_points(today, None, self.cadence), self.postgres)
            period = joined(Action.due_date, "+", day.c.point)
            return [
                select(*self._row(Kind.NUDGE, Action.id, Action.owner_id, period))
                .select_from(Action)
                .join(day, Action.due_date == day.c.due)
                .where(self._mine(Action.owner_id), open_actions())
            ]
        points = nudge_points(today, gap, self.cadence)
        fresh = sorted(d for d, (_, new) in points.items() if new)
        late = days_between(today, Action.due_date, self.postgres)
        point = _point_case(late, self.cadence.nudge_days, self.cadence.repeat_days)
        row = select(
            *self._row(Kind.NUDGE, Action.id, Action.owner_id, joined(Action.due_date, "+", point))
        )
        if self.slots is not None:  # people of several slots: each row gets its owner's
            row = row.select_from(Action).join(self.slots, self.slots.c.person == Action.owner_id)
        mine = (self._mine(Action.owner_id), open_actions())
        due = self._unindexed(Action.due_date)
        oldest = today - timedelta(days=NUDGE_HORIZON_DAYS)
        latest = today - timedelta(days=min(self.cadence.nudge_days))
        return [
            row.where(*mine, one_of_dates(Action.due_date, fresh, self.postgres)),
            row.where(  # by the index on updated_at (see _unindexed)
                self._mine(self._unindexed(Action.owner_id)), self._unindexed_open(),
                self._changed(), due >= oldest, due <= latest,
            ),
        ]  # fmt: skip

    def escalations(self) -> Select[Any]:
        """Managers of owners who left K nudges about an action unanswered: once per owner."""
        owner = aliased(Person)
        period = joined("o", Action.owner_id)
        row = self._row(Kind.ESCALATE, Action.id, owner.manager_id, period, own_slot=False)
        return (
            select(*row)
            .select_from(ActionNudge)  # only the few left unanswered K times, by their index
            .join(Action, Action.id == ActionNudge.action_id)
            .join(owner, owner.id == Action.owner_id)
            .where(
                self._mine(ActionNudge.owner_id),
                ActionNudge.unanswered >= self.cadence.escalate_after,
                Action.owner_id == ActionNudge.owner_id,
                Action.status.in_(OPEN),
                ActionNudge.since >= Action.updated_at,
                owner.manager_id.is_not(None),
                owner.manager_id != Action.owner_id,
            )
        )

    def manager_digests(self) -> Select[Any]:
        """Managers (a manager role, or people reporting to them): once per ISO week."""
        week = iso_week(self.group.today)
        reports = aliased(Person)
        is_manager = or_(
            exists().where(reports.manager_id == Person.id),
            exists().where(PersonRole.person_id == Person.id, PersonRole.role == Role.MANAGER),
        )
        return select(*self._row(Kind.DIGEST, Person.id, Person.id, week)).where(
            self._mine(Person.id), is_manager
        )

    def pbpo_digests(self) -> Select[Any]:
        """Policy and Best Practices Officers: once per ISO week."""
        week = iso_week(self.group.today)
        return (
            select(*self._row(Kind.PBPO, PersonRole.person_id, PersonRole.person_id, week))
            .where(self._mine(PersonRole.person_id), PersonRole.role == Role.PBPO)
            .distinct()
        )

    def eoar(self) -> Select[Any]:
        """Senior staff before and after their assignment ends, until their EoAR is filed."""
        today = self.group.today
        days = sorted(self.cadence.eoar_days)
        late = days_between(today, Person.assignment_end, self.postgres)
        before = [-d for d in reversed(days)]
        point = _point_case(late, (*before, 0), self.cadence.eoar_repeat_days)
        period = joined(Person.assignment_end, "@", point)
        senior = or_(
            exists().where(PersonRole.person_id == Person.id, PersonRole.role.in_(SENIOR)),
            exists().where(aliased(Person).manager_id == Person.id),
        )
        return select(*self._row(Kind.EOAR, Person.id, Person.id, period)).where(
            self._mine(Person.id),
            Person.assignment_end.is_not(None),
            Person.assignment_end <= today + timedelta(days=days[-1]),
            Person.assignment_end >= today - timedelta(days=EOAR_GIVE_UP),
            senior,
            ~self._filed_eoar(),
        )

    def _filed_eoar(self) -> Any:
        return exists().where(
            ProductAuthor.person_id == Person.id,
            Product.id == ProductAuthor.product_id,
            Product.type == ProductType.EOAR,
            or_(
                Product.date >= Person.assignment_end - EOAR_LOOKBACK
                if self.postgres
                else func.date(Product.date) >= func.date(Person.assignment_end, "-120 days"),
                and_(Product.date.is_(None), Product.created_at >= self.now - EOAR_LOOKBACK),
            ),
        )

    def departures(self) -> Select[Any]:
        """People whose assignment just ended and who still own open actions: once."""
        today = self.group.today
        window = today - timedelta(days=self.cadence.departure_window_days)
        period = joined(Person.assignment_end)
        owns = exists().where(Action.owner_id == Person.id, Action.status.in_(OPEN))
        return select(*self._row(Kind.DEPARTURE, Person.id, Person.id, period)).where(
            self._mine(Person.id),
            Person.assignment_end.is_not(None),
            Person.assignment_end <= today,
            Person.assignment_end >= window,
            owns,
        )


def nudge_points(today: date, gap: int | None, cadence: Cadence) -> dict[date, tuple[int, bool]]:
    """Return each overdue due date with the point reached and whether it is new since `gap`.

    A due date `d` days ago has reached point p(d); that point is new when it came within the
    gap (d - p(d) < gap), or on a first plan (no gap). Nudges stop after NUDGE_HORIZON_DAYS.
    """
    points = {}
    for late in range(min(cadence.nudge_days), NUDGE_HORIZON_DAYS + 1):
        point = cadence.nudge_point(late)
        if point is not None:
            fresh = gap is None or late - point < gap
            points[today - timedelta(days=late)] = (point, fresh)
    return points


def _point_case(value: Any, points: tuple[int, ...], repeat: int) -> Any:
    """Return SQL for the latest of `points` ≤ value, repeating every `repeat` after the last.

    The caller's WHERE guarantees value ≥ the first point.
    """
    ordered = sorted(points)
    last = ordered[-1]
    whens = [(value >= last, last + repeat * ((value - last) // repeat))]
    whens += [(value >= p, literal(p)) for p in reversed(ordered[:-1])]
    return case(*whens, else_=literal(ordered[0]))


def followup_query(*, now: datetime, cadence: Cadence) -> Select[Any]:
    """Return the "did the change work?" rows of lessons applied `followup_weeks` ago."""
    due = now - timedelta(weeks=cadence.followup_weeks)
    first_owner = (
        select(Action.owner_id)
        .where(Action.lesson_id == Lesson.id, Action.owner_id.is_not(None))
        .order_by(Action.id)
        .limit(1)
        .scalar_subquery()
    )
    recipient = func.coalesce(Lesson.validated_by_id, first_owner)
    period = f"w{cadence.followup_weeks}"
    columns: list[Any] = [
        literal(str(Kind.FOLLOWUP), String),
        Lesson.id,
        recipient,
        literal(period, String),
        null(),
        literal(now, UtcDateTime()),
        literal(NotificationStatus.PLANNED.value, String),
        literal(0, Integer),
        literal(now, UtcDateTime()),
        literal(now, UtcDateTime()),
    ]
    return select(*columns).where(
        Lesson.status == LessonStatus.APPLIED,
        Lesson.applied_at <= due,
        Lesson.applied_at > due - timedelta(days=14),
        recipient.is_not(None),
    )
