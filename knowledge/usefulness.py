"""Which lessons help and which need work: askers' votes and reuse, per lesson, for PBPOs.

A lesson's *reuse* counts the times it was put to use: each answer that gave it (a logged
question keeps its answer's lessons, `question_lessons`) and each of its follow-up actions
done. A vote is cast on an answer, so it is already counted, except for answers given before
answers were recorded (migration 0013): there the votes stand in for them. Only lessons the
viewer may see, within the report's scope, are counted or listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Subquery, case, func, or_, select, true

from knowledge.models import (
    Action,
    ActionStatus,
    Feedback,
    Lesson,
    Product,
    Question,
    QuestionLesson,
)
from knowledge.report_scope import Scope
from knowledge.reports import lesson_title, visible
from knowledge.search.answer import Viewer
from knowledge.storage import Store
from knowledge.threads import blocking

LISTED = 10


@dataclass(frozen=True, slots=True)
class LessonUse:
    """How one lesson served: votes on it as an answer, and its actions done."""

    lesson_id: int
    title: str
    mission: str | None
    helpful: int
    not_helpful: int
    done_actions: int
    answers: int = 0  # the answers that gave it

    @property
    def reuse(self) -> int:
        """Return the times it was put to use: answers that gave it plus its actions done."""
        return max(self.answers, self.helpful + self.not_helpful) + self.done_actions

    def as_json(self) -> dict[str, object]:
        """Return it as plain JSON values (stable keys)."""
        return {
            "lesson_id": self.lesson_id,
            "title": self.title,
            "mission": self.mission,
            "helpful": self.helpful,
            "not_helpful": self.not_helpful,
            "done_actions": self.done_actions,
            "answers": self.answers,
            "reuse": self.reuse,
        }


@dataclass(frozen=True, slots=True)
class Usefulness:
    """The lessons that help most, the most reused, and those askers found unhelpful."""

    helps: tuple[LessonUse, ...]
    reused: tuple[LessonUse, ...]
    needs_work: tuple[LessonUse, ...]
    total_reuse: int


def split(uses: list[LessonUse], limit: int = LISTED) -> Usefulness:
    """Sort lessons into those that help, the most reused and those that need work."""
    helps = sorted(
        (u for u in uses if u.helpful > u.not_helpful),
        key=lambda u: (-(u.helpful - u.not_helpful), -u.reuse, u.lesson_id),
    )
    reused = sorted((u for u in uses if u.reuse), key=lambda u: (-u.reuse, u.lesson_id))
    needs_work = sorted(
        (u for u in uses if u.not_helpful > u.helpful),
        key=lambda u: (-(u.not_helpful - u.helpful), -u.not_helpful, u.lesson_id),
    )
    return Usefulness(
        helps=tuple(helps[:limit]),
        reused=tuple(reused[:limit]),
        needs_work=tuple(needs_work[:limit]),
        total_reuse=sum(u.reuse for u in uses),
    )


def _votes(since: datetime | None) -> Subquery:
    """Return helpful (up) and not helpful (down) votes per lesson, since a moment."""
    voted: ColumnElement[bool] = Feedback.at >= since if since else true()
    return (
        select(
            Feedback.lesson_id.label("lesson_id"),
            func.sum(case((Feedback.helpful.is_(True), 1), else_=0)).label("up"),
            func.sum(case((Feedback.helpful.is_(True), 0), else_=1)).label("down"),
        )
        .where(voted)
        .group_by(Feedback.lesson_id)
        .subquery()
    )


def _answers(since: datetime | None) -> Subquery:
    """Return the answers that gave each lesson, since a moment."""
    asked: ColumnElement[bool] = Question.asked_at >= since if since else true()
    return (
        select(QuestionLesson.lesson_id.label("lesson_id"), func.count().label("answers"))
        .join(Question, Question.id == QuestionLesson.question_id)
        .where(asked)
        .group_by(QuestionLesson.lesson_id)
        .subquery()
    )


def _done(since: datetime | None) -> Subquery:
    """Return the follow-up actions done per lesson, since a moment."""
    closed: ColumnElement[bool] = Action.closed_at >= since if since else true()
    return (
        select(Action.lesson_id.label("lesson_id"), func.count().label("done"))
        .where(Action.status == ActionStatus.DONE, closed)
        .group_by(Action.lesson_id)
        .subquery()
    )


class LessonUsefulness:
    """Votes and reuse per lesson, over a Store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _uses(self, viewer: Viewer, scope: Scope, since: datetime | None = None) -> list[LessonUse]:
        """Return every lesson in scope, visible to viewer, given, voted on or acted upon."""
        votes, done, given = _votes(since), _done(since), _answers(since)
        statement = (
            select(
                Lesson.id,
                Product.title,
                Lesson.title,
                Product.mission,
                func.coalesce(votes.c.up, 0),
                func.coalesce(votes.c.down, 0),
                func.coalesce(done.c.done, 0),
                func.coalesce(given.c.answers, 0),
            )
            .join(Product, Product.id == Lesson.product_id)
            .outerjoin(votes, votes.c.lesson_id == Lesson.id)
            .outerjoin(done, done.c.lesson_id == Lesson.id)
            .outerjoin(given, given.c.lesson_id == Lesson.id)
            .where(
                visible(viewer),
                scope.lessons(),
                or_(
                    votes.c.lesson_id.is_not(None),
                    done.c.lesson_id.is_not(None),
                    given.c.lesson_id.is_not(None),
                ),
            )
            .order_by(Lesson.id)
        )
        with self.store.engine.connect() as conn:
            rows = conn.execute(statement).all()
        return [
            LessonUse(
                lid, lesson_title(ptitle, ltitle), mission, int(up), int(down), int(n), int(a)
            )
            for lid, ptitle, ltitle, mission, up, down, n, a in rows
        ]

    uses = blocking(_uses)

    def _usefulness(
        self, viewer: Viewer, scope: Scope, since: datetime | None = None, limit: int = LISTED
    ) -> Usefulness:
        """Return the lessons that help, the most reused and those that need work."""
        return split(self._uses(viewer, scope, since), limit)

    usefulness = blocking(_usefulness)
