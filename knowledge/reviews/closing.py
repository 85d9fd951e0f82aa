"""Closing a review: one claim, the product saved, its actions proposed, repeats found."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from rapidfuzz import fuzz
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from knowledge.dates import find_day
from knowledge.errors import DomainError
from knowledge.models import (
    Lesson,
    Person,
    Product,
    ProductType,
    ProposalStatus,
    ProposedAction,
    Review,
    ReviewContributor,
    ReviewStatus,
)
from knowledge.reviews.drafts import Draft, draft_of, validator_for
from knowledge.reviews.names import find_owner
from knowledge.reviews.rows import MAX_PROPOSALS, REPEAT_SCORE, ReviewRows
from knowledge.reviews.steps import Control, steer
from knowledge.reviews.views import (
    AnswerView,
    Closing,
    Member,
    Repeat,
    ReviewView,
    member_of,
    proposal_view,
)
from knowledge.search.answer import Viewer
from knowledge.search.text import clip, words


class Closer(ReviewRows):
    """Closing reviews, over a Store's sessions."""

    async def close(self, review_id: int, *, actor_id: int | None, viewer: Viewer) -> Closing:
        """Close a review: save it as an AAR product, propose its actions, find repeats.

        `viewer` is who will read the summary: repeats are searched among what they may see.
        """
        review, answers, facilitator = await asyncio.to_thread(self._claim, review_id, actor_id)
        try:
            draft = await asyncio.to_thread(self._draft, review, answers, facilitator)
            if draft.record is not None:
                await self.store.import_records([(1, draft.record)], source=f"review:{review.id}")
        except BaseException:
            await asyncio.to_thread(self._unclaim, review.id, review.status)
            raise
        closing = await asyncio.to_thread(self._finish, review.id, draft)
        if closing.product_id is None:
            return closing
        repeats = await self._repeats(draft.lessons, closing.product_id, viewer)
        return replace(closing, repeats=tuple(repeats))

    def _draft(
        self, review: ReviewView, answers: list[AnswerView], facilitator: Member | None
    ) -> Draft:
        """Build the product a closed review saves: an AAR, or an interview's EoAR."""
        with self.store.session() as s:
            return draft_of(s, review, answers, facilitator, today=self.store.today())

    def _claim(
        self, review_id: int, actor_id: int | None
    ) -> tuple[ReviewView, list[AnswerView], Member | None]:
        """Mark a review closed with one conditional write: of two closes, one wins."""
        now = self.store.clock()
        with self.store.session() as s:
            review = self._review(s, review_id)
            self._check_facilitator(s, review, actor_id, "close the review")
            steer(review.status, review.step, len(review.questions), Control.CLOSE)
            view = self._view(s, review)
            claimed = s.connection().execute(
                update(Review)
                .where(Review.id == review_id, Review.status == review.status)
                .values(status=ReviewStatus.CLOSED, closed_at=now, updated_at=now)
            )
            if claimed.rowcount != 1:
                raise DomainError("This review is being closed already.")
            person = s.get(Person, review.facilitator_id) if review.facilitator_id else None
            facilitator = None if person is None else member_of(person)
            return view, self._answer_views(s, review_id), facilitator

    def _unclaim(self, review_id: int, status: ReviewStatus) -> None:
        """Reopen a review whose record could not be saved, so closing can be tried again."""
        with self.store.session() as s:
            review = self._review(s, review_id)
            review.status, review.closed_at = status, None

    def _finish(self, review_id: int, draft: Draft) -> Closing:
        with self.store.session() as s:
            review = self._review(s, review_id, lock=True)
            if draft.record is not None:
                review.product_id = s.scalars(
                    select(Product.id).where(Product.external_id == draft.record.external_id)
                ).first()
            self._propose(s, review, draft)
            return self._closing_view(s, review)

    def _propose(self, s: Session, review: Review, draft: Draft) -> None:
        rows = s.execute(
            select(Lesson.position, Lesson.id).where(Lesson.product_id == review.product_id)
        )
        lessons = {position: lesson_id for position, lesson_id in rows}
        members = [member_of(p) for p in s.scalars(select(Person))]
        today, now = self.store.today(), self.store.clock()
        for sentence, position in draft.recommendations[:MAX_PROPOSALS]:
            owner = find_owner(sentence, members)
            due = find_day(sentence, today=today)
            problems = []
            if owner.member is None:
                problems.append(
                    f"{owner.hint} is not in the directory" if owner.hint else "no owner named"
                )
            if due is None:
                problems.append("no due date")
            elif due.day < today:
                problems.append(f"the due date {due.day.isoformat()} is in the past")
            s.add(
                ProposedAction(
                    review_id=review.id,
                    lesson_id=lessons.get(position),
                    description=sentence[:2000],
                    owner_id=owner.member.id if owner.member else None,
                    owner_hint=owner.hint[:200] if owner.hint else None,
                    due_date=due.day if due else None,
                    status=ProposalStatus.DRAFT if problems else ProposalStatus.PROPOSED,
                    note="; ".join(problems) or None,
                    created_at=now,
                    updated_at=now,
                )
            )
        s.flush()

    def _closing_view(self, s: Session, review: Review) -> Closing:
        answers = self._answer_views(s, review.id)
        participants = s.scalar(
            select(func.count()).where(ReviewContributor.review_id == review.id)
        )
        product = s.get(Product, review.product_id) if review.product_id else None
        lessons = s.scalar(
            select(func.count()).where(Lesson.product_id == (product.id if product else -1))
        )
        proposals = s.scalars(
            select(ProposedAction)
            .where(ProposedAction.review_id == review.id)
            .order_by(ProposedAction.id)
        ).all()
        return Closing(
            review=self._view(s, review),
            answers=tuple(answers),
            participants=participants or 0,
            guests=sum(1 for a in answers if a.author is None and not a.anonymous),
            product_id=product.id if product else None,
            product_title=product.title if product else None,
            lessons=lessons or 0,
            proposals=tuple(proposal_view(s, p, review) for p in proposals),
            validator=validator_for(s, review.facilitator_id),
        )

    async def _repeats(
        self, lessons: Sequence[str], product_id: int, viewer: Viewer
    ) -> list[Repeat]:
        """Find lessons of other products that closely resemble the new ones."""
        found: list[tuple[str, int]] = []
        for text in lessons:
            answer = await self.store.ask(clip(text, 300), viewer=viewer, limit=4)
            found += [(text, h.lesson_id) for h in answer.hits if h.product_id != product_id]
        if not found:
            return []
        return await asyncio.to_thread(self._similar, found)

    def _similar(self, pairs: list[tuple[str, int]]) -> list[Repeat]:
        best: dict[str, tuple[float, Repeat]] = {}
        with self.store.session() as s:
            for text, lesson_id in pairs:
                lesson = s.get(Lesson, lesson_id)
                if lesson is None:
                    continue
                theirs = " ".join(words(f"{lesson.title or ''} {lesson.lesson}"))
                score = fuzz.token_set_ratio(" ".join(words(text)), theirs)
                if score >= REPEAT_SCORE and (text not in best or score > best[text][0]):
                    best[text] = (score, _repeat(text, lesson))
        return [repeat for _, repeat in best.values()]


_KINDS = {ProductType.AAR: "AAR", ProductType.EOAR: "EoAR"}


def _repeat(text: str, lesson: Lesson) -> Repeat:
    product = lesson.product
    title = lesson.title or product.title
    return Repeat(
        lesson=text,
        title=title,
        kind=_KINDS.get(product.type, product.type.label),
        year=product.date.year if product.date else None,
        status=lesson.status.value,
        open_actions=sum(1 for a in lesson.actions if not a.status.is_closed),
    )
