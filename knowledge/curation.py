"""A PBPO's curation of lessons: boost, down-rank or hide in search, and priority lessons.

Each decision keeps who made it, when and why on the lesson's `lesson_curation` row and in the
audit trail. Search reads rankings (`knowledge.search.answer`): boosted lessons outrank close
matches, down-ranked ones fall below them, hidden ones are out of answers (still on record and
reachable by number). Priority lessons make the periodic review list of mission leaders
(`priority_list`), with the status of their actions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from knowledge import audit
from knowledge.errors import DomainError
from knowledge.models import (
    ActionStatus,
    Lesson,
    LessonCuration,
    LessonStatus,
    Product,
    SearchRanking,
)
from knowledge.permissions import Operation, require
from knowledge.practices import visible_lesson
from knowledge.reports import lesson_title, visible
from knowledge.roles import actor_of, lesson_subject
from knowledge.search.answer import Viewer
from knowledge.storage import Store

MAX_WHY = 1_000
RANKING_WORDS = {
    "boost": SearchRanking.BOOST,
    "up": SearchRanking.BOOST,
    "down": SearchRanking.DOWN,
    "downrank": SearchRanking.DOWN,
    "down-rank": SearchRanking.DOWN,
    "hide": SearchRanking.HIDDEN,
    "hidden": SearchRanking.HIDDEN,
    "normal": SearchRanking.NORMAL,
    "reset": SearchRanking.NORMAL,
    "unhide": SearchRanking.NORMAL,
}
CLOSED = (LessonStatus.REJECTED, LessonStatus.WITHDRAWN)


@dataclass(frozen=True, slots=True)
class Curated:
    """A curation decision as made: the lesson, and whether anything changed."""

    lesson_id: int
    title: str
    ranking: SearchRanking
    priority: bool
    changed: bool


@dataclass(frozen=True, slots=True)
class PriorityLesson:
    """A priority lesson on a review list, with the status of its actions."""

    lesson_id: int
    title: str
    mission: str | None
    status: LessonStatus
    why: str | None
    open: int
    overdue: int
    done: int

    @property
    def actions(self) -> str:
        """Return the actions' status in words: "2 open (1 overdue), 3 done"."""
        if not self.open and not self.done:
            return "no actions yet"
        said = f"{self.open} open" + (f" ({self.overdue} overdue)" if self.overdue else "")
        return f"{said}, {self.done} done"


class Curation:
    """Search curation and priority flags, over a Store's sessions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def rank(
        self,
        lesson_id: int,
        ranking: SearchRanking,
        *,
        actor_id: int | None,
        why: str,
        surface: str,
        channel: str | None = None,
    ) -> Curated:
        """Boost, down-rank, hide or restore a lesson in search, saying why.

        `channel` is where they act: a lesson restricted to it is visible to them there.
        """
        viewer = await self.store.viewer_for(actor_id, channel=channel)
        return await asyncio.to_thread(
            self._change, lesson_id, "ranking", ranking, actor_id, why, surface, viewer
        )

    async def flag(
        self,
        lesson_id: int,
        priority: bool,
        *,
        actor_id: int | None,
        why: str,
        surface: str,
        channel: str | None = None,
    ) -> Curated:
        """Flag a lesson as a priority (or clear the flag), saying why (`channel`: as `rank`)."""
        viewer = await self.store.viewer_for(actor_id, channel=channel)
        return await asyncio.to_thread(
            self._change, lesson_id, "priority", priority, actor_id, why, surface, viewer
        )

    def _change(
        self,
        lesson_id: int,
        field: str,
        value: SearchRanking | bool,
        actor_id: int | None,
        why: str,
        surface: str,
        viewer: Viewer,
    ) -> Curated:
        note = " ".join(why.split())[:MAX_WHY]
        op = Operation.FLAG_PRIORITY if field == "priority" else Operation.CURATE_SEARCH
        with self.store.session() as s:
            lesson = visible_lesson(s, self.store, lesson_id, viewer)
            require(actor_of(s, actor_id), op, lesson_subject(s, lesson))
            if lesson.status in CLOSED and value not in (False, SearchRanking.NORMAL):
                raise DomainError(f"Lesson #{lesson.id} is {lesson.status.value}: nothing to do.")
            row = s.get(LessonCuration, lesson.id) or LessonCuration(
                lesson_id=lesson.id, ranking=SearchRanking.NORMAL, priority=False
            )
            s.add(row)
            before = getattr(row, field)
            if before != value and not note and value not in (False, SearchRanking.NORMAL):
                raise DomainError("Say why, in a few words: it is kept with the decision.")
            if before != value:
                self._set(row, field, value, note, actor_id)
                audit.record(
                    s,
                    at=self.store.clock(),
                    person_id=actor_id,
                    surface=surface,
                    operation=op.value,
                    kind="lesson",
                    subject_id=lesson.id,
                    before={field: before},
                    after={field: value},
                    note=note or None,
                )
            title = lesson_title(lesson.product.title, lesson.title)
            return Curated(lesson.id, title, row.ranking, row.priority, changed=before != value)

    def _set(
        self,
        row: LessonCuration,
        field: str,
        value: SearchRanking | bool,
        note: str,
        actor_id: int | None,
    ) -> None:
        now = self.store.clock()
        if isinstance(value, SearchRanking):
            row.ranking, row.ranking_why, row.ranked_by_id, row.ranked_at = (
                value, note or None, actor_id, now
            )  # fmt: skip
        else:
            row.priority, row.priority_why, row.prioritised_by_id, row.prioritised_at = (
                value, note or None, actor_id, now
            )  # fmt: skip

    async def priority_list(
        self, viewer: Viewer | None, *, missions: frozenset[str] | None, today: date
    ) -> list[PriorityLesson]:
        """Return the priority lessons this viewer may see, of these missions (None: all).

        No viewer is the command line's view: every priority lesson, restricted ones too.
        """
        return await asyncio.to_thread(self._priority_list, viewer, missions, today)

    def _priority_list(
        self, viewer: Viewer | None, missions: frozenset[str] | None, today: date
    ) -> list[PriorityLesson]:
        query = (
            select(Lesson, LessonCuration.priority_why)
            .join(LessonCuration, LessonCuration.lesson_id == Lesson.id)
            .join(Product, Product.id == Lesson.product_id)
            .where(LessonCuration.priority.is_(True), Lesson.status.not_in(CLOSED))
            .order_by(Product.mission, Lesson.id)
        )
        if viewer is not None:
            query = query.where(visible(viewer))
        if missions is not None:  # as roles spell them, or as someone typed them
            wanted = sorted(m.lower() for m in missions)
            query = query.where(func.lower(Product.mission).in_(wanted))
        with self.store.session() as s:
            return [_priority(lesson, why, today) for lesson, why in s.execute(query)]


def ranking_named(word: str) -> SearchRanking:
    """Return the ranking a word names ("boost", "down", "hide", "normal"), or raise."""
    found = RANKING_WORDS.get(word.strip().lower())
    if found is None:
        raise DomainError("Say `boost`, `down`, `hide` or `normal`.")
    return found


def _priority(lesson: Lesson, why: str | None, today: date) -> PriorityLesson:
    actions = lesson.actions
    open_ = [a for a in actions if not a.status.is_closed]
    return PriorityLesson(
        lesson_id=lesson.id,
        title=lesson_title(lesson.product.title, lesson.title),
        mission=lesson.product.mission,
        status=lesson.status,
        why=why,
        open=len(open_),
        overdue=sum(1 for a in open_ if a.due_date is not None and a.due_date < today),
        done=sum(1 for a in actions if a.status == ActionStatus.DONE),
    )
