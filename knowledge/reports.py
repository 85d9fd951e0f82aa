"""Learning metrics and read-only views of the lessons index, for the dashboard.

Every figure that touches lessons is computed for one `Viewer`: restricted lessons (a product
with an audience) count, and show, only for their audience, exactly as in search. Queries are
SQLAlchemy Core expressions, so they run the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from knowledge import access
from knowledge.errors import NotFound
from knowledge.models import (
    Action,
    ActionStatus,
    Feedback,
    Lesson,
    LessonEvent,
    LessonStatus,
    Person,
    Product,
    ProductTheme,
    ProductType,
    ProposalStatus,
    ProposedAction,
    Question,
)
from knowledge.search.answer import Hit, Viewer, takeaway
from knowledge.search.query import Query
from knowledge.storage import Store
from knowledge.threads import blocking

PAGE_SIZE = 20
SEARCH_LIMIT = 50
GroupBy = Literal["mission", "theme", "owner"]
GROUPINGS: tuple[GroupBy, ...] = ("mission", "theme", "owner")
OPEN_STATUSES = tuple(s for s in ActionStatus if not s.is_closed)
NO_GROUP = {"mission": "No mission", "theme": "No theme", "owner": "Unassigned"}
Where = Sequence[ColumnElement[bool]]  # extra conditions a report narrows a figure with


_threaded = blocking


def visible(viewer: Viewer) -> ColumnElement[bool]:
    """Return a condition on Product.id: the product is open to everyone or to this viewer.

    The same rule as search's `_hidden`: a product with an audience is visible only when one of
    its principals is one of the viewer's.
    """
    return access.visible(viewer.principals)


def lesson_title(product_title: str, title: str | None) -> str:
    """Return a lesson's display title, as answers show it: "product — lesson"."""
    return f"{product_title} — {title}" if title else product_title


@dataclass(frozen=True, slots=True)
class Funnel:
    """How far lessons got: captured counts every lesson, rejected ones included.

    The stages nest (captured ⊇ validated ⊇ applied), so conversion rates read straight off:
    validated counts lessons now validated or applied, applied those now applied. Rejected
    lessons are part of captured and shown on their own, so the narrowing is explained.
    """

    captured: int
    validated: int
    applied: int
    rejected: int

    def stages(self) -> list[tuple[str, int]]:
        """Return the funnel's stages in order, for a chart."""
        return [
            ("Captured", self.captured),
            ("Validated", self.validated),
            ("Applied", self.applied),
        ]


@dataclass(frozen=True, slots=True)
class UnansweredQuestion:
    """A question people keep asking without a good answer (who asked is never shown)."""

    text: str
    normalized: str
    asked: int
    no_answer: int
    helpful: int
    not_helpful: int
    last_asked: datetime


@dataclass(frozen=True, slots=True)
class BoardRow:
    """Open and overdue actions of one mission, theme or owner."""

    group: str
    open: int
    overdue: int


@dataclass(frozen=True, slots=True)
class OverdueAction:
    """An open action past its due date, with the lesson it follows up."""

    action_id: int
    description: str
    owner: str | None
    due_date: date
    days_overdue: int
    lesson_id: int
    lesson_title: str
    mission: str | None


@dataclass(frozen=True, slots=True)
class ActionsBoard:
    """Open and overdue actions grouped one way, and the overdue ones in detail."""

    group_by: GroupBy
    rows: tuple[BoardRow, ...]
    overdue: tuple[OverdueAction, ...]
    total_open: int
    total_overdue: int


@dataclass(frozen=True, slots=True)
class LessonRow:
    """One lesson in the browser."""

    lesson_id: int
    title: str
    takeaway: str
    status: LessonStatus
    product_type: ProductType
    mission: str | None
    date: date | None


@dataclass(frozen=True, slots=True)
class Browse:
    """A page of lessons: the newest ones, or the answer to a search."""

    text: str
    rows: tuple[LessonRow, ...]
    page: int
    pages: int
    total: int
    query: Query | None = None
    did_you_mean: str | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    """One lifecycle transition of a lesson."""

    at: datetime
    from_status: str | None
    to_status: str
    actor: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class ActionRow:
    """A follow-up action of a lesson, with its owner."""

    action_id: int
    description: str
    owner: str | None
    due_date: date | None
    status: ActionStatus
    closed_at: datetime | None
    overdue: bool


@dataclass(frozen=True, slots=True)
class AppliedRow:
    """A lesson that reached *applied*: its change was made."""

    lesson_id: int
    title: str
    mission: str | None
    applied_on: date


@dataclass(frozen=True, slots=True)
class ProposalRow:
    """An action proposed on a lesson, waiting for its owner to accept it."""

    description: str
    owner: str | None
    due_date: date | None


@dataclass(frozen=True, slots=True)
class LessonPage:
    """Everything the lesson page shows: text, source product, lifecycle, actions, votes."""

    lesson_id: int
    title: str
    observation: str
    lesson: str
    recommendation: str
    status: LessonStatus
    identified_at: datetime
    validated_at: datetime | None
    applied_at: datetime | None
    rejected_at: datetime | None
    rejection_reason: str | None
    validated_by: str | None
    product_id: int
    product_type: ProductType
    product_title: str
    summary: str
    date: date | None
    mission: str | None
    source_url: str | None
    authors: tuple[str, ...]
    themes: tuple[str, ...]
    audience: tuple[str, ...]
    events: tuple[EventRow, ...]
    actions: tuple[ActionRow, ...]
    helpful: int
    not_helpful: int
    waiting: tuple[ProposalRow, ...] = ()

    @property
    def progress(self) -> tuple[int, int]:
        """Return (done, counted) actions: cancelled ones do not count."""
        counted = [a for a in self.actions if a.status != ActionStatus.NOT_DOING]
        return sum(a.status == ActionStatus.DONE for a in counted), len(counted)


class Reports:
    """Figures and views of the lessons index, each filtered for the viewer."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _funnel(self, viewer: Viewer, *, where: Where = ()) -> Funnel:
        """Count lessons by how far they got: captured, validated, applied, rejected.

        `where` narrows the lessons further (conditions on Lesson and Product), as a report does.
        """
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(Lesson.status, func.count())
                .join(Product, Product.id == Lesson.product_id)
                .where(visible(viewer), *where)
                .group_by(Lesson.status)
            ).all()
        by = {LessonStatus(status): int(n) for status, n in rows}
        applied = by.get(LessonStatus.APPLIED, 0)
        return Funnel(
            captured=sum(by.values()),
            validated=by.get(LessonStatus.VALIDATED, 0) + applied,
            applied=applied,
            rejected=by.get(LessonStatus.REJECTED, 0),
        )

    funnel = _threaded(_funnel)

    def _median_days_to_apply(self, viewer: Viewer, *, where: Where = ()) -> float | None:
        """Return the median days from identified to applied of applied lessons, if any."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(Lesson.identified_at, Lesson.applied_at)
                .join(Product, Product.id == Lesson.product_id)
                .where(
                    visible(viewer),
                    Lesson.status == LessonStatus.APPLIED,
                    Lesson.applied_at.is_not(None),
                    *where,
                )
            ).all()
        days = [max(0.0, (a - i).total_seconds() / 86400) for i, a in rows if a is not None]
        return statistics.median(days) if days else None

    median_days_to_apply = _threaded(_median_days_to_apply)

    def _recently_applied(
        self, viewer: Viewer, *, where: Where = (), limit: int = 10
    ) -> list[AppliedRow]:
        """Return the lessons applied most recently (the loop closed), newest first."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(Lesson.id, Product.title, Lesson.title, Product.mission, Lesson.applied_at)
                .join(Product, Product.id == Lesson.product_id)
                .where(
                    visible(viewer),
                    Lesson.status == LessonStatus.APPLIED,
                    Lesson.applied_at.is_not(None),
                    *where,
                )
                .order_by(Lesson.applied_at.desc(), Lesson.id.desc())
                .limit(limit)
            ).all()
        return [
            AppliedRow(lesson_id, lesson_title(product, title), mission, _aware(at).date())
            for lesson_id, product, title, mission, at in rows
            if at is not None
        ]

    recently_applied = _threaded(_recently_applied)

    def _overdue_over_time(self, viewer: Viewer, weeks: int = 12) -> list[tuple[date, int]]:
        """Return (week end, overdue actions at the end of that day), oldest week first.

        An action is overdue on day d when it was due before d, created by the end of d and not
        closed by then.
        """
        today = self.store.today()
        ends = [today - timedelta(weeks=k) for k in range(max(1, weeks) - 1, -1, -1)]
        points = []
        with self.store.engine.connect() as conn:
            for end in ends:
                cutoff = datetime.combine(end + timedelta(days=1), time(0), tzinfo=UTC)
                count = conn.execute(
                    select(func.count())
                    .select_from(Action)
                    .join(Lesson, Lesson.id == Action.lesson_id)
                    .join(Product, Product.id == Lesson.product_id)
                    .where(
                        visible(viewer),
                        Action.due_date < end,
                        Action.created_at < cutoff,
                        or_(Action.closed_at.is_(None), Action.closed_at >= cutoff),
                    )
                ).scalar_one()
                points.append((end, int(count)))
        return points

    overdue_over_time = _threaded(_overdue_over_time)

    def _unanswered_questions(
        self, limit: int = 10, *, where: Where = ()
    ) -> list[UnansweredQuestion]:
        """Return the most-asked questions that found nothing or were mostly voted unhelpful.

        Questions are grouped by their normalized text; a group is unanswered when most of its
        askings found no lesson (or none the search judged good: `answered` false), or when its
        not-helpful votes outnumber the helpful ones.
        `where` narrows the askings (conditions on Question and the asker's Person row).
        """
        asks = (
            select(
                Question.normalized,
                func.count().label("asked"),
                func.max(Question.asked_at).label("last"),
                # Nothing found, or only lessons the search judged not to answer it.
                func.sum(
                    case((or_(Question.hits == 0, Question.answered.is_(False)), 1), else_=0)
                ).label("no_answer"),
            )
            .outerjoin(Person, Person.id == Question.person_id)
            .where(*where)
            .group_by(Question.normalized)
            .subquery()
        )
        votes = (
            select(
                Question.normalized,
                func.sum(case((Feedback.helpful.is_(True), 1), else_=0)).label("up"),
                func.sum(case((Feedback.helpful.is_(True), 0), else_=1)).label("down"),
            )
            .join(Feedback, Feedback.question_id == Question.id)
            .outerjoin(Person, Person.id == Question.person_id)
            .where(*where)
            .group_by(Question.normalized)
            .subquery()
        )
        up, down = func.coalesce(votes.c.up, 0), func.coalesce(votes.c.down, 0)
        statement = (
            select(asks.c.normalized, asks.c.asked, asks.c.last, asks.c.no_answer, up, down)
            .outerjoin(votes, votes.c.normalized == asks.c.normalized)
            .where(or_(asks.c.no_answer * 2 > asks.c.asked, down > up))
            .order_by(asks.c.asked.desc(), asks.c.last.desc(), asks.c.normalized)
            .limit(max(1, limit))
        )
        with self.store.engine.connect() as conn:
            rows = conn.execute(statement).all()
            texts = self._latest_texts(conn, [r[0] for r in rows])
        return [
            UnansweredQuestion(
                text=texts.get(normalized, normalized),
                normalized=normalized,
                asked=int(asked),
                no_answer=int(no_answer),
                helpful=int(helpful),
                not_helpful=int(not_helpful),
                last_asked=_aware(last),
            )
            for normalized, asked, last, no_answer, helpful, not_helpful in rows
        ]

    unanswered_questions = _threaded(_unanswered_questions)

    def _latest_texts(self, conn: Connection, normalized: Sequence[str]) -> dict[str, str]:
        """Return the wording of the latest asking of each normalized question."""
        if not normalized:
            return {}
        texts: dict[str, str] = {}
        for key, text_ in conn.execute(
            select(Question.normalized, Question.text)
            .where(Question.normalized.in_(normalized))
            .order_by(Question.asked_at.desc(), Question.id.desc())
        ):
            texts.setdefault(key, text_)
        return texts

    def _actions_board(
        self,
        viewer: Viewer,
        group_by: GroupBy = "mission",
        *,
        limit: int = 100,
        where: Where = (),
    ) -> ActionsBoard:
        """Return open and overdue actions by mission, theme or owner, and the overdue list.

        `where` narrows the actions further (conditions on Action and Product).
        """
        if group_by not in GROUPINGS:
            raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}")
        today = self.store.today()
        late = case((Action.due_date < today, 1), else_=0)
        keys: tuple[Any, ...] = {
            "mission": (Product.mission,),
            "theme": (ProductTheme.theme,),
            "owner": (Action.owner_id, Person.name),
        }[group_by]
        statement = (
            select(*keys, func.count(), func.sum(late))
            .select_from(Action)
            .join(Lesson, Lesson.id == Action.lesson_id)
            .join(Product, Product.id == Lesson.product_id)
        )
        if group_by == "theme":  # an action counts once under each theme of its product
            statement = statement.outerjoin(ProductTheme, ProductTheme.product_id == Product.id)
        elif group_by == "owner":
            statement = statement.outerjoin(Person, Person.id == Action.owner_id)
        statement = statement.where(
            visible(viewer), Action.status.in_(OPEN_STATUSES), *where
        ).group_by(*keys)
        with self.store.engine.connect() as conn:
            grouped = conn.execute(statement).all()
            overdue = self._overdue(conn, viewer, today, limit, where)
            total_open, total_overdue = conn.execute(
                select(func.count(), func.sum(late))
                .select_from(Action)
                .join(Lesson, Lesson.id == Action.lesson_id)
                .join(Product, Product.id == Lesson.product_id)
                .where(visible(viewer), Action.status.in_(OPEN_STATUSES), *where)
            ).one()
        rows = [
            BoardRow(group=str(r[-3] or NO_GROUP[group_by]), open=int(r[-2]), overdue=int(r[-1]))
            for r in grouped
        ]
        rows.sort(key=lambda r: (-r.overdue, -r.open, r.group.casefold()))
        return ActionsBoard(
            group_by=group_by,
            rows=tuple(rows),
            overdue=tuple(overdue),
            total_open=int(total_open),
            total_overdue=int(total_overdue or 0),
        )

    actions_board = _threaded(_actions_board)

    def _overdue(
        self, conn: Connection, viewer: Viewer, today: date, limit: int, where: Where = ()
    ) -> list[OverdueAction]:
        rows = conn.execute(
            select(
                Action.id,
                Action.description,
                Person.name,
                Action.due_date,
                Lesson.id,
                Lesson.title,
                Product.title,
                Product.mission,
            )
            .join(Lesson, Lesson.id == Action.lesson_id)
            .join(Product, Product.id == Lesson.product_id)
            .outerjoin(Person, Person.id == Action.owner_id)
            .where(
                visible(viewer), Action.status.in_(OPEN_STATUSES), Action.due_date < today, *where
            )
            .order_by(Action.due_date, Action.id)
            .limit(max(1, limit))
        ).all()
        return [
            OverdueAction(
                action_id=aid,
                description=description,
                owner=owner,
                due_date=due,
                days_overdue=(today - due).days,
                lesson_id=lid,
                lesson_title=lesson_title(ptitle, ltitle),
                mission=mission,
            )
            for aid, description, owner, due, lid, ltitle, ptitle, mission in rows
            if due is not None
        ]

    async def browse(self, viewer: Viewer, query: str, page: int = 1) -> Browse:
        """Return a page of the newest lessons, or of the answer to query as chat gives it."""
        page = max(1, page)
        text_ = " ".join(query.split())
        if not text_:
            return await asyncio.to_thread(self._recent, viewer, page)
        answer = await self.store.ask(text_, viewer=viewer, limit=SEARCH_LIMIT)
        rows = [_row(hit) for hit in answer.hits]
        start = (page - 1) * PAGE_SIZE
        return Browse(
            text=text_,
            rows=tuple(rows[start : start + PAGE_SIZE]),
            page=page,
            pages=max(1, math.ceil(len(rows) / PAGE_SIZE)),
            total=len(rows),
            query=answer.query,
            did_you_mean=answer.did_you_mean,
        )

    def _recent(self, viewer: Viewer, page: int) -> Browse:
        """Return a page of the newest lessons this viewer may see."""
        undated = case((Product.date.is_(None), 1), else_=0)
        with self.store.engine.connect() as conn:
            total = conn.execute(
                select(func.count())
                .select_from(Lesson)
                .join(Product, Product.id == Lesson.product_id)
                .where(visible(viewer))
            ).scalar_one()
            found = conn.execute(
                select(
                    Lesson.id,
                    Product.title,
                    Lesson.title,
                    Lesson.lesson,
                    Lesson.recommendation,
                    Lesson.observation,
                    Product.summary,
                    Lesson.status,
                    Product.type,
                    Product.mission,
                    Product.date,
                )
                .join(Product, Product.id == Lesson.product_id)
                .where(visible(viewer))
                .order_by(undated, Product.date.desc(), Lesson.id.desc())
                .limit(PAGE_SIZE)
                .offset((page - 1) * PAGE_SIZE)
            ).all()
        rows = tuple(
            LessonRow(
                lesson_id=r[0],
                title=lesson_title(r[1], r[2]),
                takeaway=takeaway((r[3], r[4], r[5], r[6]), {}),
                status=LessonStatus(r[7]),
                product_type=ProductType(r[8]),
                mission=r[9],
                date=r[10],
            )
            for r in found
        )
        pages = max(1, math.ceil(int(total) / PAGE_SIZE))
        return Browse(text="", rows=rows, page=page, pages=pages, total=int(total))

    def _lesson_page(self, viewer: Viewer, lesson_id: int) -> LessonPage:
        """Return a lesson with its product, lifecycle, actions and votes, if the viewer may."""
        with Session(self.store.engine) as s:
            lesson = s.scalars(
                select(Lesson)
                .join(Product, Product.id == Lesson.product_id)
                .where(Lesson.id == lesson_id, visible(viewer))
                .options(selectinload(Lesson.product), selectinload(Lesson.actions))
            ).first()
            if lesson is None:  # hidden reads as missing: its existence is not revealed
                raise NotFound(f"There is no lesson #{lesson_id}.")
            events = s.execute(
                select(LessonEvent, Person.name)
                .outerjoin(Person, Person.id == LessonEvent.actor_id)
                .where(LessonEvent.lesson_id == lesson_id)
                .order_by(LessonEvent.at, LessonEvent.id)
            ).all()
            votes = dict(
                s.execute(
                    select(Feedback.helpful, func.count())
                    .where(Feedback.lesson_id == lesson_id)
                    .group_by(Feedback.helpful)
                ).all()
            )
            validator = s.get(Person, lesson.validated_by_id) if lesson.validated_by_id else None
            page = _page(lesson, events, votes, validator, self.store.today())
            waiting = s.scalars(
                select(ProposedAction)
                .where(
                    ProposedAction.lesson_id == lesson_id,
                    ProposedAction.status == ProposalStatus.PROPOSED,
                )
                .order_by(ProposedAction.id)
            ).all()
            rows = tuple(
                ProposalRow(p.description, p.owner.name if p.owner else None, p.due_date)
                for p in waiting
            )
            return replace(page, waiting=rows)

    lesson_page = _threaded(_lesson_page)

    def _person_name(self, person_id: int) -> str | None:
        """Return a person's name, if they are in the directory."""
        with self.store.engine.connect() as conn:
            name: str | None = conn.execute(
                select(Person.name).where(Person.id == person_id)
            ).scalar_one_or_none()
        return name

    person_name = _threaded(_person_name)


def _aware(value: datetime) -> datetime:
    # An aggregate (max) may come back naive on SQLite; stored values are UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _row(hit: Hit) -> LessonRow:
    return LessonRow(
        lesson_id=hit.lesson_id,
        title=hit.title,
        takeaway=hit.takeaway,
        status=hit.status,
        product_type=hit.product_type,
        mission=hit.mission,
        date=hit.date,
    )


def _page(
    lesson: Lesson,
    events: Sequence[Any],
    votes: dict[bool, int],
    validator: Person | None,
    today: date,
) -> LessonPage:
    product = lesson.product
    return LessonPage(
        lesson_id=lesson.id,
        title=lesson_title(product.title, lesson.title),
        observation=lesson.observation,
        lesson=lesson.lesson,
        recommendation=lesson.recommendation,
        status=lesson.status,
        identified_at=lesson.identified_at,
        validated_at=lesson.validated_at,
        applied_at=lesson.applied_at,
        rejected_at=lesson.rejected_at,
        rejection_reason=lesson.rejection_reason,
        validated_by=validator.name if validator else None,
        product_id=product.id,
        product_type=product.type,
        product_title=product.title,
        summary=product.summary,
        date=product.date,
        mission=product.mission,
        source_url=product.source_url,
        authors=tuple(a.person.name for a in product.authors),
        themes=tuple(sorted(t.theme for t in product.themes)),
        audience=tuple(sorted(a.principal for a in product.audience)),
        events=tuple(
            EventRow(
                at=e.at, from_status=e.from_status, to_status=e.to_status, actor=n, note=e.note
            )
            for e, n in events
        ),
        actions=tuple(
            ActionRow(
                action_id=a.id,
                description=a.description,
                owner=a.owner.name if a.owner else None,
                due_date=a.due_date,
                status=a.status,
                closed_at=a.closed_at,
                overdue=bool(a.due_date and a.due_date < today and not a.status.is_closed),
            )
            for a in lesson.actions
        ),
        helpful=int(votes.get(True, 0)),
        not_helpful=int(votes.get(False, 0)),
    )
