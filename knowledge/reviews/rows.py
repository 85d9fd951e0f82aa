"""The rows behind the review store: sessions, locked reads and the limits every writer keeps."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.errors import DomainError, NotFound
from knowledge.models import (
    Person,
    ProposedAction,
    Review,
    ReviewAnswer,
    ReviewStatus,
)
from knowledge.reviews.views import AnswerView, ReviewView, answer_view, name_of, view_of
from knowledge.storage import Store

MAX_ANSWER = 10_000
MAX_EVENT = 300
MAX_PROPOSALS = 50
ACTIVE = (ReviewStatus.RUNNING, ReviewStatus.PAUSED)
REPEAT_SCORE = 75  # rapidfuzz token_set_ratio of two lessons' words that counts as "seen before"


log = logging.getLogger(__name__)


class ReviewRows:
    """Reads of review rows shared by the parts of the review store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _check_facilitator(
        self, s: Session, review: Review, actor_id: int | None, what: str
    ) -> None:
        if actor_id is None or actor_id != review.facilitator_id:
            name = name_of(s, review.facilitator_id) if review.facilitator_id else "nobody yet"
            raise DomainError(f"Only the facilitator ({name}) can {what}.")

    def _review(self, s: Session, review_id: int, *, lock: bool = False) -> Review:
        review = s.get(Review, review_id, with_for_update=lock)
        if review is None:
            raise NotFound("That review no longer exists.")
        return review

    def _proposal(self, s: Session, proposal_id: int, *, lock: bool = False) -> ProposedAction:
        # Only the proposal row: PostgreSQL cannot lock the outer-joined owner with it.
        lock_it = {"of": ProposedAction} if lock else None
        proposal = s.get(ProposedAction, proposal_id, with_for_update=lock_it)
        if proposal is None:
            raise NotFound("That proposed action no longer exists.")
        return proposal

    def _active(self, s: Session, platform: str, channel_id: str, thread_id: str) -> Review | None:
        return s.scalars(
            select(Review)
            .where(
                Review.kind == "aar",
                Review.platform == platform,
                Review.channel_id == channel_id,
                Review.thread_id == thread_id,
                Review.status.in_(ACTIVE),
            )
            .order_by(Review.id.desc())
        ).first()

    def _has_guest(self, s: Session, review_id: int) -> bool:
        return (
            s.scalars(
                select(ReviewAnswer.id).where(
                    ReviewAnswer.review_id == review_id,
                    ReviewAnswer.person_id.is_(None),
                    ReviewAnswer.anonymous.is_(False),
                )
            ).first()
            is not None
        )

    def _answer_views(self, s: Session, review_id: int) -> list[AnswerView]:
        rows = s.execute(
            select(ReviewAnswer, Person.name)
            .outerjoin(Person, Person.id == ReviewAnswer.person_id)
            .where(ReviewAnswer.review_id == review_id)
            .order_by(ReviewAnswer.step, ReviewAnswer.id)
        )
        return [answer_view(a, None if a.anonymous else name) for a, name in rows]

    def _view(self, s: Session, review: Review) -> ReviewView:
        return view_of(s, review)
