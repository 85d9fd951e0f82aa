"""Validating lessons: validate, ask the author for changes, reject, or withdraw, with a record.

Every captured lesson (a note, an After-Action Review, an End of Assignment Report, an import
as draft) starts *identified*. Its manager or PBPO decides (`Validations.decide`), as
`knowledge.permissions` allows; the move goes through the lifecycle (`Store.change_status`), so
it is a lesson event and an audit row in the same transaction. Asking for changes keeps the
lesson identified and records the note for its author.

A product restricted only until validation (an End of Assignment Report, whose audience is
its author, their manager and mission PBPOs) opens to everyone once none of its lessons waits
and at least one was validated: `_release` is that hook, and the only place it happens.
Withdrawing keeps a lesson on record with its reason and takes it out of answers (the store
cancels its open actions with it); nothing is deleted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge import audit
from knowledge.errors import DomainError, NotFound
from knowledge.models import (
    Lesson,
    LessonEvent,
    LessonStatus,
    Person,
    Product,
    ProductAuthor,
    ProductType,
)
from knowledge.permissions import Operation, require
from knowledge.reports import lesson_title, visible
from knowledge.reviews import Member, member_of
from knowledge.reviews.interviews import KIND as EOAR_KIND
from knowledge.roles import actor_of, lesson_subject
from knowledge.search.answer import Viewer
from knowledge.storage import Store

MAX_NOTE = 2_000


class Verdict(StrEnum):
    """What a validator decides about an identified lesson."""

    VALIDATE = "validate"
    CHANGES = "changes"  # back to its author with a note; it stays identified
    REJECT = "reject"


_OPERATIONS = {
    Verdict.VALIDATE: Operation.VALIDATE_LESSON,
    Verdict.CHANGES: Operation.REQUEST_CHANGES,
    Verdict.REJECT: Operation.REJECT_LESSON,
}


@dataclass(frozen=True, slots=True)
class LessonCard:
    """What a validator needs to judge one lesson."""

    lesson_id: int
    product_id: int
    title: str
    lesson: str
    recommendation: str
    mission: str | None
    date: date | None
    author: str | None
    kind: str
    status: LessonStatus
    source_url: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """A decision made: the lesson as it is now, who decided, and whom to tell."""

    card: LessonCard
    verdict: Verdict | None  # None: withdrawn
    actor: str
    note: str | None
    authors: tuple[Member, ...]  # to tell (the actor aside)
    released: bool = False  # its report opened to everyone
    cancelled: int = 0  # open actions cancelled by a withdrawal


class Validations:
    """Validation decisions and withdrawals, over a Store's sessions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def card(self, lesson_id: int, *, person_id: int | None) -> LessonCard:
        """Return one lesson's card, if this person may see it (else NotFound)."""
        viewer = await self.store.viewer_for(person_id)
        return await asyncio.to_thread(self._card, lesson_id, viewer)

    def _card(self, lesson_id: int, viewer: Viewer) -> LessonCard:
        with self.store.session() as s:
            return _card_of(self._visible(s, lesson_id, viewer))

    async def check(self, lesson_id: int, op: Operation, *, actor_id: int | None) -> None:
        """Raise NotAllowed (or NotFound) unless this person may perform op on the lesson."""
        viewer = await self.store.viewer_for(actor_id)
        await asyncio.to_thread(self._check, lesson_id, op, actor_id, viewer)

    def _check(self, lesson_id: int, op: Operation, actor_id: int | None, viewer: Viewer) -> None:
        with self.store.session() as s:
            lesson = self._visible(s, lesson_id, viewer)
            require(actor_of(s, actor_id), op, lesson_subject(s, lesson))

    async def waiting(self, product_id: int) -> list[LessonCard]:
        """Return the identified lessons of a product, for the card its validator gets."""
        return await asyncio.to_thread(self._waiting, product_id)

    def _waiting(self, product_id: int) -> list[LessonCard]:
        with self.store.session() as s:
            lessons = s.scalars(
                select(Lesson)
                .where(Lesson.product_id == product_id, Lesson.status == LessonStatus.IDENTIFIED)
                .order_by(Lesson.position, Lesson.id)
            )
            return [_card_of(lesson) for lesson in lessons]

    async def decide(
        self,
        lesson_id: int,
        verdict: Verdict,
        *,
        actor_id: int | None,
        note: str | None = None,
        surface: str,
    ) -> Outcome:
        """Validate, send back for changes (a note) or reject (a reason) an identified lesson."""
        viewer = await self.store.viewer_for(actor_id)
        return await asyncio.to_thread(
            self._decide, lesson_id, verdict, actor_id, note, surface, viewer
        )

    def _decide(
        self,
        lesson_id: int,
        verdict: Verdict,
        actor_id: int | None,
        note: str | None,
        surface: str,
        viewer: Viewer,
    ) -> Outcome:
        note = _clean(note)
        with self.store.session() as s:
            lesson = self._visible(s, lesson_id, viewer)
            require(actor_of(s, actor_id), _OPERATIONS[verdict], lesson_subject(s, lesson))
            if lesson.status != LessonStatus.IDENTIFIED:
                raise DomainError(
                    f"This lesson is {lesson.status.value} already, so nothing changed. Its "
                    "record on the dashboard says who decided, and when."
                )
            if verdict == Verdict.CHANGES:
                self._request_changes(s, lesson, actor_id, note, surface)
            else:
                target = (
                    LessonStatus.VALIDATED if verdict == Verdict.VALIDATE else LessonStatus.REJECTED
                )
                self.store.change_status(
                    s, lesson, target, actor_id=actor_id, note=note, surface=surface
                )
            released = self._release(s, lesson.product, actor_id, surface)
            return self._outcome(s, lesson, verdict, actor_id, note, released=released)

    async def withdraw(
        self, lesson_id: int, *, actor_id: int | None, reason: str, surface: str
    ) -> Outcome:
        """Withdraw a lesson with a reason: kept on record, out of answers, actions cancelled."""
        viewer = await self.store.viewer_for(actor_id)
        return await asyncio.to_thread(self._withdraw, lesson_id, actor_id, reason, surface, viewer)

    def _withdraw(
        self, lesson_id: int, actor_id: int | None, reason: str, surface: str, viewer: Viewer
    ) -> Outcome:
        note = _clean(reason)
        with self.store.session() as s:
            lesson = self._visible(s, lesson_id, viewer)
            require(actor_of(s, actor_id), Operation.WITHDRAW_LESSON, lesson_subject(s, lesson))
            cancelled = sum(1 for a in lesson.actions if not a.status.is_closed)
            self.store.change_status(
                s, lesson, LessonStatus.WITHDRAWN, actor_id=actor_id, note=note, surface=surface
            )
            outcome = self._outcome(s, lesson, None, actor_id, note, released=False)
            return replace(outcome, cancelled=cancelled)

    # Inside a session ----------------------------------------------------------------------

    def _visible(self, s: Session, lesson_id: int, viewer: Viewer) -> Lesson:
        """Return the lesson if the viewer may see it; a hidden one does not exist for them."""
        seen = s.scalar(
            select(Lesson.id)
            .join(Product, Product.id == Lesson.product_id)
            .where(Lesson.id == lesson_id, visible(viewer))
        )
        if seen is None:
            raise NotFound(f"There is no lesson #{lesson_id} that you can see.")
        return self.store.lesson_in(s, lesson_id)

    def _request_changes(
        self, s: Session, lesson: Lesson, actor_id: int | None, note: str | None, surface: str
    ) -> None:
        if not note:
            raise DomainError("Say what should change: the note goes to the lesson's author.")
        now = self.store.clock()
        status = lesson.status.value
        s.add(
            LessonEvent(
                lesson_id=lesson.id,
                from_status=status,
                to_status=status,
                actor_id=actor_id,
                note=f"changes requested: {note}",
                at=now,
            )
        )
        audit.record(
            s,
            at=now,
            person_id=actor_id,
            surface=surface,
            operation=Operation.REQUEST_CHANGES.value,
            kind="lesson",
            subject_id=lesson.id,
            before={"status": status},
            after={"status": status},
            note=note,
        )

    def _release(self, s: Session, product: Product, actor_id: int | None, surface: str) -> bool:
        """Open a report restricted until validation, once its lessons are decided."""
        if not restricted_until_validated(product) or not product.audience:
            return False
        statuses = set(s.scalars(select(Lesson.status).where(Lesson.product_id == product.id)))
        if LessonStatus.IDENTIFIED in statuses or not statuses & {
            LessonStatus.VALIDATED,
            LessonStatus.APPLIED,
        }:
            return False
        before = sorted(a.principal for a in product.audience)
        product.audience.clear()
        audit.record(
            s,
            at=self.store.clock(),
            person_id=actor_id,
            surface=surface,
            operation="release_audience",
            kind="product",
            subject_id=product.id,
            before={"audience": before},
            after={"audience": []},
            note="its lessons were validated: visible per its normal audience",
        )
        return True

    def _outcome(
        self,
        s: Session,
        lesson: Lesson,
        verdict: Verdict | None,
        actor_id: int | None,
        note: str | None,
        *,
        released: bool,
    ) -> Outcome:
        authors = s.scalars(
            select(Person)
            .join(ProductAuthor, ProductAuthor.person_id == Person.id)
            .where(ProductAuthor.product_id == lesson.product_id, Person.id != (actor_id or -1))
            .order_by(ProductAuthor.position)
        )
        actor = s.get(Person, actor_id) if actor_id is not None else None
        return Outcome(
            card=_card_of(lesson),
            verdict=verdict,
            actor=actor.name if actor else "Someone",
            note=note,
            authors=tuple(member_of(p) for p in authors),
            released=released,
        )


def restricted_until_validated(product: Product) -> bool:
    """Return True for a product whose audience holds only until its lessons are validated.

    End of Assignment Reports written in chat (`knowledge.reviews.interviews`) are: their audience
    is the author, their manager and their mission's PBPOs, for as long as validation takes.
    """
    return product.type == ProductType.EOAR and (product.external_id or "").startswith(
        f"{EOAR_KIND}:"
    )


def _card_of(lesson: Lesson) -> LessonCard:
    product = lesson.product
    authors = product.authors
    return LessonCard(
        lesson_id=lesson.id,
        product_id=product.id,
        title=lesson_title(product.title, lesson.title),
        lesson=lesson.lesson or lesson.observation,
        recommendation=lesson.recommendation,
        mission=product.mission,
        date=product.date,
        author=authors[0].person.name if authors else None,
        kind=product.type.label,
        status=lesson.status,
        source_url=product.source_url,
    )


def _clean(note: str | None) -> str | None:
    text = " ".join((note or "").split())
    return text[:MAX_NOTE] if text else None
