"""Running reviews: starting, answering, moving on, handing over, and cleaning up orphans."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from knowledge.errors import DomainError
from knowledge.models import (
    Person,
    Review,
    ReviewAnswer,
    ReviewContributor,
    ReviewStatus,
)
from knowledge.reviews.questions import Question
from knowledge.reviews.rows import ACTIVE, MAX_ANSWER, MAX_EVENT, ReviewRows
from knowledge.reviews.steps import CONTROL_WHAT, Control, steer
from knowledge.reviews.views import (
    AnswerView,
    Change,
    Member,
    ReviewView,
    Saved,
    answer_view,
    member_of,
    name_of,
)
from knowledge.threads import blocking

log = logging.getLogger(__name__)


class Running(ReviewRows):
    """The life of a running review, over a Store's sessions."""

    # Starting ------------------------------------------------------------------------------

    def _start(
        self,
        *,
        event: str,
        platform: str,
        channel_id: str,
        thread_id: str | None,
        channel_name: str | None,
        facilitator_id: int,
        questions: Sequence[Question],
        starts_at: datetime | None = None,
        space: str | None = None,
    ) -> ReviewView:
        """Create a review: running now, or scheduled when `starts_at` is given."""
        event = " ".join(event.split())
        if not event:
            raise DomainError("Give the event a name, for example `/aar start Election day`.")
        if len(event) > MAX_EVENT:
            raise DomainError(f"Keep the event name under {MAX_EVENT} characters.")
        if not questions:
            raise DomainError("A review needs at least one question.")
        now = self.store.clock()
        with self.store.session() as s:
            if thread_id is not None and starts_at is None:
                running = self._active(s, platform, channel_id, thread_id)
                if running is not None:
                    raise DomainError(
                        f"The review of '{running.event}' is still running in this thread. "
                        "Close it first, or start the new one in the channel."
                    )
            if thread_id is None and starts_at is None:
                orphan = self._orphan(s, platform, channel_id, facilitator_id, event)
                if orphan is not None:  # its opening never landed (a crash, a failed post)
                    log.info("review %s: its opening is posted again", orphan.id)
                    return self._view(s, orphan)
            review = Review(
                kind="aar",
                event=event,
                platform=platform,
                channel_id=channel_id,
                thread_id=thread_id,
                channel_name=channel_name,
                space=space,
                facilitator_id=facilitator_id,
                status=ReviewStatus.SCHEDULED if starts_at else ReviewStatus.RUNNING,
                questions=[q.stored() for q in questions],
                step=0,
                step_started_at=None if starts_at else now,
                starts_at=starts_at,
                created_at=now,
                updated_at=now,
            )
            s.add(review)
            s.flush()
            return self._view(s, review)

    start = blocking(_start)

    def _posted(self, review_id: int, thread_id: str) -> ReviewView:
        """Remember the thread a review's opening message started."""
        with self.store.session() as s:
            review = self._review(s, review_id, lock=True)
            review.thread_id, review.updated_at = thread_id, self.store.clock()
            return self._view(s, review)

    posted = blocking(_posted)

    def _due(self, now: datetime) -> list[ReviewView]:
        """Return the scheduled reviews whose start time has come (for the scheduler)."""
        with self.store.session() as s:
            found = s.scalars(
                select(Review)
                .where(Review.status == ReviewStatus.SCHEDULED, Review.starts_at <= now)
                .order_by(Review.starts_at, Review.id)
            ).all()
            return [self._view(s, r) for r in found]

    due = blocking(_due)

    def _begin(self, review_id: int, now: datetime | None = None) -> ReviewView:
        """Start a scheduled review: it runs from its first question.

        One conditional write: of two schedulers starting it at once, one does.
        """
        now = now or self.store.clock()
        with self.store.session() as s:
            started = s.connection().execute(
                update(Review)
                .where(Review.id == review_id, Review.status == ReviewStatus.SCHEDULED)
                .values(status=ReviewStatus.RUNNING, step=0, step_started_at=now, updated_at=now)
            )
            review = self._review(s, review_id)
            if started.rowcount != 1:
                raise DomainError(f"This review is {review.status.value}, not scheduled.")
            return self._view(s, review)

    begin = blocking(_begin)

    # Reading -------------------------------------------------------------------------------

    def _get(self, review_id: int) -> ReviewView:
        """Return a review, or raise NotFound."""
        with self.store.session() as s:
            return self._view(s, self._review(s, review_id))

    get = blocking(_get)

    def _in_thread(
        self, platform: str, channel_id: str, thread_id: str, *, closed_since: datetime
    ) -> ReviewView | None:
        """Return the review of a thread: the active one, or one closed after `closed_since`."""
        with self.store.session() as s:
            review = self._active(s, platform, channel_id, thread_id)
            if review is None:
                review = s.scalars(
                    select(Review)
                    .where(
                        Review.kind == "aar",
                        Review.platform == platform,
                        Review.channel_id == channel_id,
                        Review.thread_id == thread_id,
                        Review.closed_at >= closed_since,
                    )
                    .order_by(Review.closed_at.desc(), Review.id.desc())
                ).first()
            return None if review is None else self._view(s, review)

    in_thread = blocking(_in_thread)

    def _answers(self, review_id: int) -> list[AnswerView]:
        """Return a review's answers, question by question, in the order they came."""
        with self.store.session() as s:
            return self._answer_views(s, review_id)

    answers = blocking(_answers)

    def _members(self) -> list[Member]:
        """Return everyone in the directory."""
        with self.store.session() as s:
            return [member_of(p) for p in s.scalars(select(Person).order_by(Person.id))]

    members = blocking(_members)

    def _get_member(self, person_id: int) -> Member | None:
        """Return one person of the directory."""
        with self.store.session() as s:
            person = s.get(Person, person_id)
            return None if person is None else member_of(person)

    member = blocking(_get_member)

    # Answers -------------------------------------------------------------------------------

    def _add_answer(
        self,
        review: ReviewView,
        *,
        step: int,
        text: str,
        person_id: int | None,
        anonymous: bool = False,
        message_id: str | None = None,
    ) -> Saved:
        """Store an answer at once; an anonymous one keeps no author, only a contributor row.

        `review` is the review as the caller found it (a thread's message looks it up once):
        it is not read again. One conditional write claims it still active, before the answer
        is added, so a close that committed meanwhile refuses the answer, and a close that
        comes later waits for it and saves it in the record.
        """
        text = text.replace("\x00", "").strip()
        if not text:
            raise DomainError("That answer was empty, so there was nothing to add.")
        if not review.status.is_active:
            raise DomainError(f"The review of '{review.event}' is {review.status.value}.")
        if not 0 <= step < len(review.questions):
            raise DomainError("That question is not part of this review.")
        now = self.store.clock()
        with self.store.session() as s:
            self._still_active(s, review, now)
            if message_id and not anonymous:
                kept = self._replayed(s, review, message_id, clipped=len(text) > MAX_ANSWER)
                if kept is not None:
                    return kept
            first_guest = person_id is None and not anonymous and not self._has_guest(s, review.id)
            answer = ReviewAnswer(
                review_id=review.id,
                step=step,
                person_id=None if anonymous else person_id,
                anonymous=anonymous,
                text=text[:MAX_ANSWER],
                message_id=None if anonymous else message_id,
                created_at=now,
                updated_at=now,
            )
            s.add(answer)
            if person_id is not None and s.get(ReviewContributor, (review.id, person_id)) is None:
                s.add(ReviewContributor(review_id=review.id, person_id=person_id))
            s.flush()
            author = None if anonymous or person_id is None else name_of(s, person_id)
            return Saved(
                answer=answer_view(answer, author),
                review=review,
                clipped=len(text) > MAX_ANSWER,
                first_guest=first_guest,
            )

    add_answer = blocking(_add_answer)

    def _still_active(self, s: Session, review: ReviewView, now: datetime) -> None:
        """Claim a review for a write while it is active (locking its row), or raise."""
        claimed = s.connection().execute(
            update(Review)
            .where(Review.id == review.id, Review.status.in_(ACTIVE))
            .values(updated_at=now)
        )
        if claimed.rowcount != 1:
            raise DomainError(f"The review of '{review.event}' has ended meanwhile.")

    def _replayed(
        self, s: Session, review: ReviewView, message_id: str, *, clipped: bool
    ) -> Saved | None:
        """Return the answer a message gave already (an event replayed after a crash)."""
        kept = s.scalars(
            select(ReviewAnswer).where(
                ReviewAnswer.review_id == review.id, ReviewAnswer.message_id == message_id
            )
        ).first()
        if kept is None:
            return None
        author = None if kept.person_id is None else name_of(s, kept.person_id)
        return Saved(
            answer=answer_view(kept, author), review=review, clipped=clipped, first_guest=False
        )

    def _edit_answer(
        self, platform: str, channel_id: str, message_id: str, text: str | None
    ) -> Change | None:
        """Update (text) or remove (None) the answer a message holds; None when none does."""
        with self.store.session() as s:
            found = s.execute(
                select(ReviewAnswer, Review)
                .join(Review, Review.id == ReviewAnswer.review_id)
                .where(
                    ReviewAnswer.message_id == message_id,
                    Review.platform == platform,
                    Review.channel_id == channel_id,
                )
                .order_by(ReviewAnswer.id.desc())
            ).first()
            if found is None:
                return None
            answer, review = found
            if not review.status.is_active:
                return Change(self._view(s, review), applied=False)
            if text is None or not text.strip():
                s.delete(answer)
            else:
                answer.text, answer.updated_at = text.strip()[:MAX_ANSWER], self.store.clock()
            return Change(self._view(s, review), applied=True)

    edit_answer = blocking(_edit_answer)

    # The facilitator -----------------------------------------------------------------------

    def _control(
        self, review_id: int, control: Control, *, actor_id: int | None, step: int | None = None
    ) -> ReviewView:
        """Move, pause, resume or cancel a review (closing is `close`); facilitator only.

        `step` is the question a button was pressed on: a stale button does not move twice.
        """
        if control == Control.CLOSE:
            raise DomainError("Closing saves the review: use `close`.")
        with self.store.session() as s:
            review = self._review(s, review_id, lock=True)
            self._check_facilitator(s, review, actor_id, CONTROL_WHAT[control])
            moves = control in (Control.NEXT, Control.SKIP, Control.BACK)
            if moves and step is not None and step != review.step and review.status.is_active:
                raise DomainError(
                    "The review has moved on since that button was posted: use the buttons "
                    "on the latest question."
                )
            status, new_step = steer(review.status, review.step, len(review.questions), control)
            now = self.store.clock()
            if new_step != review.step or status == ReviewStatus.RUNNING:
                review.step_started_at = now
            review.status, review.step, review.updated_at = status, new_step, now
            if status == ReviewStatus.CANCELLED:
                review.closed_at = now
            return self._view(s, review)

    control = blocking(_control)

    def _orphan(
        self, s: Session, platform: str, channel_id: str, facilitator_id: int, event: str
    ) -> Review | None:
        """The facilitator's running review of this event here whose opening has no thread."""
        return s.scalars(
            select(Review)
            .where(
                Review.platform == platform,
                Review.channel_id == channel_id,
                Review.facilitator_id == facilitator_id,
                Review.event == event,
                Review.thread_id.is_(None),
                Review.status == ReviewStatus.RUNNING,
                Review.starts_at.is_(None),
            )
            .order_by(Review.id.desc())
        ).first()

    def _finish_orphans(self, before: datetime) -> list[int]:
        """Cancel running reviews whose opening never reached their channel since `before`.

        Nobody can answer a review with no thread: a crash or a failed post during its opening
        left it running. Starting it again (`/aar start` with the same event) resumes it before
        then; after, it is cancelled so it does not run for ever.
        """
        with self.store.session() as s:
            found = list(
                s.scalars(
                    select(Review).where(
                        Review.thread_id.is_(None),
                        Review.status == ReviewStatus.RUNNING,
                        # since it began running (a scheduled one began at its time)
                        func.coalesce(Review.step_started_at, Review.created_at) < before,
                        Review.kind == "aar",
                    )
                )
            )
            now = self.store.clock()
            for review in found:
                review.status, review.closed_at, review.updated_at = (
                    ReviewStatus.CANCELLED,
                    now,
                    now,
                )
                log.warning("review %s: its opening was never posted; cancelled", review.id)
            return [r.id for r in found]

    finish_orphans = blocking(_finish_orphans)

    def _unstep(self, review_id: int, *, back_to: int, moved_to: int) -> bool:
        """Undo a move whose question could not be shown; False when the review moved since.

        Answers given meanwhile were to the question people saw: they go back with it.
        """
        with self.store.session() as s:
            review = self._review(s, review_id, lock=True)
            if review.step != moved_to or not review.status.is_active:
                return False
            since = review.step_started_at
            review.step, review.updated_at = back_to, self.store.clock()
            moved = update(ReviewAnswer).where(
                ReviewAnswer.review_id == review_id, ReviewAnswer.step == moved_to
            )
            if since is not None:
                moved = moved.where(ReviewAnswer.created_at >= since)
            s.execute(moved.values(step=back_to))
            log.info(
                "review %s: question %s was not shown; back to %s",
                review_id,
                moved_to + 1,
                back_to + 1,
            )
            return True

    unstep = blocking(_unstep)

    def _hand_over(self, review_id: int, *, actor_id: int | None, to_id: int) -> ReviewView:
        """Make someone else the facilitator; only the facilitator can."""
        with self.store.session() as s:
            review = self._review(s, review_id, lock=True)
            self._check_facilitator(s, review, actor_id, "hand the review over")
            if not review.status.is_active:
                raise DomainError(f"This review is {review.status.value} already.")
            review.facilitator_id, review.updated_at = to_id, self.store.clock()
            return self._view(s, review)

    hand_over = blocking(_hand_over)
