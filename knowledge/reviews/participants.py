"""Who a review expects to hear from, and the one private reminder each of them may get.

A participant is someone mentioned when the review started (`/aar start Election day with @Tomás`),
invited in its thread (`/aar invite @Priya`), or who spoke in the thread without leaving an
answer (an emoji, a control word). Chat platforms do not tell the bot who reads a thread, so
these are the people it knows of. Whether someone answered (openly or anonymously) is
`review_contributors`: the reminder goes to participants who are not contributors, never to the
facilitator, and at most once per review. Nothing here links anyone to an answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, or_, select, update
from sqlalchemy.exc import IntegrityError

from knowledge.models import Person, Review, ReviewContributor, ReviewParticipant, ReviewStatus
from knowledge.reviews.views import Member, ReviewView, member_of, view_of
from knowledge.storage import Store
from knowledge.threads import blocking


@dataclass(frozen=True, slots=True)
class Quiet:
    """A participant of a running review who has not answered and was never reminded."""

    review: ReviewView
    member: Member


class Participants:
    """Reads and writes of review participants and their reminders, over a Store's sessions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _join(self, review_id: int, person_ids: Iterable[int]) -> int:
        """Add people to a review's participants (those already there stay as they are).

        Return how many were new. Each is added in its own transaction: two messages from the
        same person at once both succeed.
        """
        added = 0
        for person_id in dict.fromkeys(person_ids):
            try:
                with self.store.session() as s:
                    if s.get(ReviewParticipant, (review_id, person_id)) is not None:
                        continue
                    s.add(ReviewParticipant(review_id=review_id, person_id=person_id))
                added += 1
            except IntegrityError:  # added by a concurrent message, or gone from the directory
                continue
        return added

    join = blocking(_join)

    def _quiet(self, *, platform: str, started_before: datetime) -> list[Quiet]:
        """Return who should be reminded now, in running reviews of this platform.

        A review qualifies once its current question started before `started_before` (half its
        time box ago); a paused review, or one whose time ran out, never does.
        """
        answered = exists().where(
            ReviewContributor.review_id == ReviewParticipant.review_id,
            ReviewContributor.person_id == ReviewParticipant.person_id,
        )
        with self.store.session() as s:
            rows = s.execute(
                select(Review, Person)
                .join(ReviewParticipant, ReviewParticipant.review_id == Review.id)
                .join(Person, Person.id == ReviewParticipant.person_id)
                .where(
                    Review.kind == "aar",
                    Review.status == ReviewStatus.RUNNING,
                    Review.platform == platform,
                    Review.thread_id.is_not(None),
                    Review.step_started_at <= started_before,
                    ReviewParticipant.nudged_at.is_(None),
                    or_(Review.facilitator_id.is_(None), Review.facilitator_id != Person.id),
                    ~answered,
                )
                .order_by(Review.id, Person.id)
            ).all()
            views: dict[int, ReviewView] = {}
            found = []
            for review, person in rows:
                view = views.setdefault(review.id, view_of(s, review))
                found.append(Quiet(view, member_of(person)))
            return found

    quiet = blocking(_quiet)

    def _claim_nudge(self, review_id: int, person_id: int, now: datetime) -> bool:
        """Record that a person is being reminded; False when someone else did it already.

        One conditional write, so of two replicas reminding at once exactly one sends it.
        """
        with self.store.session() as s:
            claimed = s.connection().execute(
                update(ReviewParticipant)
                .where(
                    ReviewParticipant.review_id == review_id,
                    ReviewParticipant.person_id == person_id,
                    ReviewParticipant.nudged_at.is_(None),
                )
                .values(nudged_at=now)
            )
            return claimed.rowcount == 1

    claim_nudge = blocking(_claim_nudge)

    def _nudged(self, review_id: int) -> dict[int, datetime | None]:
        """Return a review's participants and when each was reminded (None: not yet)."""
        with self.store.session() as s:
            rows = s.execute(
                select(ReviewParticipant.person_id, ReviewParticipant.nudged_at).where(
                    ReviewParticipant.review_id == review_id
                )
            ).all()
            return {person_id: at for person_id, at in rows}

    nudged = blocking(_nudged)
