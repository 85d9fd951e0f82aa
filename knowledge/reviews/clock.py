"""The time box of After-Action Review questions: which ran out, and moving them on once.

Each question of a running review has `Review.step_started_at`. When the time box has passed,
the review moves to the next question; after the last one the clock stops (`step_started_at`
becomes None) and the review stays open for the facilitator to close. A paused review keeps its
clock stopped: resuming starts the question's time box again.

Every move is one conditional write on the step and the time it started, so of two replicas
ticking at once exactly one moves the review, and a facilitator's `next` in between wins too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from knowledge.models import Review, ReviewStatus
from knowledge.reviews.views import ReviewView, view_of
from knowledge.storage import Store
from knowledge.threads import blocking


@dataclass(frozen=True, slots=True)
class Move:
    """A question whose time ran out, and what the review became."""

    before: ReviewView
    after: ReviewView

    @property
    def finished(self) -> bool:
        """Return True when the last question's time ran out (the review waits to be closed)."""
        return self.after.step_started_at is None


class ReviewClock:
    """Time-box reads and writes of reviews, over a Store's sessions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _expired(self, *, platform: str, started_before: datetime) -> list[ReviewView]:
        """Return the running reviews of a platform whose question started before a time."""
        with self.store.session() as s:
            found = s.scalars(
                select(Review)
                .where(
                    Review.kind == "aar",
                    Review.status == ReviewStatus.RUNNING,
                    Review.platform == platform,
                    Review.thread_id.is_not(None),
                    Review.step_started_at <= started_before,
                )
                .order_by(Review.step_started_at, Review.id)
            ).all()
            return [view_of(s, r) for r in found]

    expired = blocking(_expired)

    def _advance(self, review: ReviewView, now: datetime) -> Move | None:
        """Move a review whose time ran out to its next question; None if it moved already."""
        last = review.is_last
        step = review.step if last else review.step + 1
        moved = self._swap(
            review.id,
            (review.step, review.step_started_at),
            (step, None if last else now),
            now,
        )
        return None if moved is None else Move(review, moved)

    advance = blocking(_advance)

    def _undo(self, move: Move, now: datetime) -> bool:
        """Put a review back where it was before a move nobody could be told about."""
        before, after = move.before, move.after
        back = self._swap(
            before.id,
            (after.step, after.step_started_at),
            (before.step, before.step_started_at),
            now,
        )
        return back is not None

    undo = blocking(_undo)

    def _swap(
        self,
        review_id: int,
        old: tuple[int, datetime | None],
        new: tuple[int, datetime | None],
        now: datetime,
    ) -> ReviewView | None:
        """Set a running review's step and its start from `old` to `new`; None if not `old`."""
        started = Review.step_started_at
        with self.store.session() as s:
            changed = s.connection().execute(
                update(Review)
                .where(
                    Review.id == review_id,
                    Review.status == ReviewStatus.RUNNING,
                    Review.step == old[0],
                    started.is_(None) if old[1] is None else started == old[1],
                )
                .values(step=new[0], step_started_at=new[1], updated_at=now)
            )
            if changed.rowcount != 1:
                return None
            review = s.get(Review, review_id)
            return None if review is None else view_of(s, review)

    def _unbegin(self, review: ReviewView, now: datetime) -> bool:
        """Put a review started by the clock back to scheduled (its opening could not be posted)."""
        with self.store.session() as s:
            changed = s.connection().execute(
                update(Review)
                .where(
                    Review.id == review.id,
                    Review.status == ReviewStatus.RUNNING,
                    Review.step == 0,
                    Review.step_started_at == review.step_started_at,
                )
                .values(status=ReviewStatus.SCHEDULED, step_started_at=None, updated_at=now)
            )
            return changed.rowcount == 1

    unbegin = blocking(_unbegin)
