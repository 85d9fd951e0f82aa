"""End of Assignment interviews: an EoAR written as a conversation in a direct message.

An interview is a review of kind "eoar" with the same stored state machine as an After-Action
Review (questions one at a time, answers stored as they come, next/back/skip/pause/resume/close/
cancel). Its facilitator is the person leaving their post, and only they answer. It runs in the
person's direct messages with the bot: it is bound to that conversation when its first message
lands there (`bind`), since only the platform knows the DM's id.

Closing saves an End of Assignment Report authored by the person, its lessons *identified*, and
restricted to its audience: the author, their manager and the PBPOs of their mission. Once its
lessons are validated, `knowledge.validation` lifts that audience and the report is visible to
everyone (`restricted_until_validated` says which reports this applies to).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from knowledge.caching import Expiring
from knowledge.errors import NotFound
from knowledge.models import Person, Review, ReviewStatus
from knowledge.reviews.questions import Question
from knowledge.reviews.rows import ACTIVE
from knowledge.reviews.store import Reviews
from knowledge.reviews.views import EOAR_KIND, ReviewView, view_of
from knowledge.storage import Store
from knowledge.threads import blocking

KIND = EOAR_KIND
NONE_HERE_TTL = 60.0
UNBOUND = ""  # the channel of an interview whose first message has not landed yet


# The direct messages known to hold no interview, per store (see `in_conversation`).
_NONE_HERE: weakref.WeakKeyDictionary[Store, Expiring[tuple[str, str], bool]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(frozen=True, slots=True)
class Opened:
    """An interview ready to go on: a new one, or the person's running one (`resumed`)."""

    review: ReviewView
    resumed: bool


class Interviews(Reviews):
    """End of Assignment interviews: reviews of kind "eoar", over a Store's sessions."""

    def _open(self, person_id: int, *, platform: str, questions: Sequence[Question]) -> Opened:
        """Start an interview for a person, or return the one they have (resumed if paused)."""
        now = self.store.clock()
        with self.store.session() as s:
            person = s.get(Person, person_id)
            if person is None:
                raise NotFound("You are not in the staff directory.")
            review = s.scalars(
                select(Review)
                .where(
                    Review.kind == KIND,
                    Review.facilitator_id == person_id,
                    Review.status.in_(ACTIVE),
                )
                .order_by(Review.id.desc())
                .with_for_update()
            ).first()
            if review is not None:
                if review.status == ReviewStatus.PAUSED:
                    review.status, review.step_started_at = ReviewStatus.RUNNING, now
                review.updated_at = now
                return Opened(view_of(s, review), resumed=True)
            review = Review(
                kind=KIND,
                event=person.name[:300],
                platform=platform,
                channel_id=UNBOUND,
                thread_id=None,
                channel_name=None,
                facilitator_id=person_id,
                status=ReviewStatus.RUNNING,
                questions=[q.stored() for q in questions],
                step=0,
                step_started_at=now,
                created_at=now,
                updated_at=now,
            )
            s.add(review)
            s.flush()
            return Opened(view_of(s, review), resumed=False)

    open = blocking(_open)

    def _bind(self, review_id: int, platform: str, channel_id: str) -> ReviewView:
        """Tie an interview to the direct message its latest prompt landed in."""
        with self.store.session() as s:
            review = self._review(s, review_id, lock=True)
            review.platform, review.channel_id = platform, channel_id
            review.updated_at = self.store.clock()
            return view_of(s, review)

    bind = blocking(_bind)

    def _in_conversation(
        self, platform: str, channel_id: str, *, closed_since: datetime
    ) -> ReviewView | None:
        """Return the interview of a direct message: the active one, or one closed just now."""
        with self.store.session() as s:
            review = s.scalars(
                select(Review)
                .where(
                    Review.kind == KIND,
                    Review.platform == platform,
                    Review.channel_id == channel_id,
                    or_(Review.status.in_(ACTIVE), Review.closed_at >= closed_since),
                )
                .order_by(Review.id.desc())
            ).first()
            return None if review is None else view_of(s, review)

    async def in_conversation(
        self, platform: str, channel_id: str, *, closed_since: datetime
    ) -> ReviewView | None:
        """Return the interview of a direct message: the active one, or one closed just now.

        Nearly every direct message belongs to no interview, and that answer only changes with
        a write (an interview opened or bound), so it is remembered like the hot path's other
        lookups: until this process (or, on PostgreSQL, any process) writes, or NONE_HERE_TTL.
        """
        absent = _NONE_HERE.setdefault(self.store, Expiring(ttl=NONE_HERE_TTL, size=20_000))
        key, generation = (platform, channel_id), self.store.writes.generation
        if absent.get(key, generation):
            return None
        found = await asyncio.to_thread(
            self._in_conversation, platform, channel_id, closed_since=closed_since
        )
        if found is None:
            absent.put(key, True, generation)
        return found
