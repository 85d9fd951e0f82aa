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
from sqlalchemy.orm import Session

from knowledge.caching import Expiring
from knowledge.errors import NotFound
from knowledge.models import Person, PersonRole, ProductType, Review, ReviewStatus, Role
from knowledge.reviews import (
    AnswerView,
    Draft,
    Member,
    ProductSpec,
    Question,
    QuestionKind,
    Reviews,
    ReviewView,
    draft_product,
    view_of,
)
from knowledge.storage import Store
from knowledge.threads import blocking

KIND = "eoar"
NONE_HERE_TTL = 60.0
UNBOUND = ""  # the channel of an interview whose first message has not landed yet
_ACTIVE = (ReviewStatus.RUNNING, ReviewStatus.PAUSED)

DEFAULT_EOAR_QUESTIONS = (
    Question(QuestionKind.ACHIEVEMENT, "What were your key achievements in this assignment?"),
    Question(QuestionKind.LESSON, "What are the most important lessons you learned?"),
    Question(QuestionKind.PRACTICE, "Which good practices should be kept, and why?"),
    Question(QuestionKind.GAP, "What gaps or unfinished business do you leave behind?"),
    Question(
        QuestionKind.RECOMMEND,
        "What do you recommend to your successor: who should do what, by when?",
    ),
)

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
                    Review.status.in_(_ACTIVE),
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
                    or_(Review.status.in_(_ACTIVE), Review.closed_at >= closed_since),
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

    def _draft(
        self, review: ReviewView, answers: list[AnswerView], facilitator: Member | None
    ) -> Draft:
        """Build the End of Assignment Report, restricted to its audience until validated."""
        with self.store.session() as s:
            audience = audience_of(s, review.facilitator_id)
        spec = eoar_spec(review, facilitator, audience=audience, year=self.store.today().year)
        return draft_product(review, answers, facilitator, today=self.store.today(), spec=spec)


def eoar_spec(
    review: ReviewView, author: Member | None, *, audience: Sequence[str], year: int
) -> ProductSpec:
    """Return how an interview is saved: an EoAR whose lessons, practices and gaps are lessons."""
    name = author.name if author else review.event
    place = f", {author.mission}" if author and author.mission else ""
    return ProductSpec(
        type=ProductType.EOAR,
        external_id=f"eoar:{review.id}",
        title=f"End of Assignment Report: {name}{place} ({year})",
        heading=f"End of Assignment Report of {name}{place}, from an interview with Lessons Bot.",
        lessons=(
            (QuestionKind.LESSON, "Lesson"),
            (QuestionKind.PRACTICE, "Good practice"),
            (QuestionKind.WENT_WELL, "Good practice"),
            (QuestionKind.GAP, "Gap"),
            (QuestionKind.IMPROVE, "Gap"),
        ),
        summary=((QuestionKind.ACHIEVEMENT, "Key achievements"),),
        # A report must never become public because nobody in its audience has an email: the
        # review's own principal keeps it restricted (to nobody but the database) in that case.
        audience=tuple(audience) or (f"review:{review.id}",),
    )


def audience_of(s: Session, person_id: int | None) -> list[str]:
    """Return who may see a person's EoAR before validation: them, their manager, mission PBPOs.

    Principals are "person:<email>", as search matches them; people without an email cannot be
    named in an audience.
    """
    person = s.get(Person, person_id) if person_id else None
    if person is None:
        return []
    people = [person]
    if person.manager_id is not None:
        manager = s.get(Person, person.manager_id)
        people += [manager] if manager is not None else []
    if person.mission:
        people += s.scalars(
            select(Person)
            .join(PersonRole, PersonRole.person_id == Person.id)
            .where(
                PersonRole.role == Role.PBPO,
                or_(
                    PersonRole.scope == person.mission,
                    (PersonRole.scope == "") & (Person.mission == person.mission),
                ),
            )
            .order_by(Person.id)
        ).all()
    return list(dict.fromkeys(f"person:{p.email.lower()}" for p in people if p.email))
