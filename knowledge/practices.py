"""Good practices: a PBPO promotes a validated lesson, says why it matters, for whom and where.

A promotion raises a lesson's evidence level (`knowledge.evidence`) to a good practice (or to
guidance) with a scope, an audience and a review date, and names the channels its card was
posted to. A restricted lesson is never promoted to an audience or a channel that may not see
it: the promotion is refused, saying why. Unpromoting keeps the row, with who, when and why;
both are recorded in the audit trail. `standing` lists the practices a viewer may see, and
`weekly_pick` chooses a channel's practice of the week (the one it saw longest ago).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge import audit
from knowledge.errors import DomainError, NotFound
from knowledge.evidence import VOUCHED
from knowledge.models import (
    EvidenceLevel,
    Lesson,
    Person,
    PracticePost,
    Product,
    Promotion,
)
from knowledge.permissions import Operation, require
from knowledge.reports import lesson_title, visible
from knowledge.roles import actor_of, lesson_subject
from knowledge.search.answer import Viewer
from knowledge.storage import Store

MAX_WHY = 1_000
MAX_SCOPE = 200
REVIEW_AFTER = timedelta(days=365)
LONGEST_REVIEW = timedelta(days=5 * 366)
AUDIENCE_KINDS = ("group:", "channel:", "person:")


@dataclass(frozen=True, slots=True)
class Target:
    """A channel a promotion is posted to, by its platform's id (and name, which opens lessons)."""

    platform: str
    channel_id: str
    channel_name: str | None = None
    # What the channel's audience opens: its platform identity and the audiences linked to it
    # (`Store.viewer_for(None, channel=space)`), never its name. Empty: only open lessons.
    principals: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        """Return the channel as stored with the promotion: "<platform>:<channel id>"."""
        return f"{self.platform}:{self.channel_id}"

    @property
    def label(self) -> str:
        """Return the channel as people call it."""
        return f"#{self.channel_name}" if self.channel_name else "this channel"


@dataclass(frozen=True, slots=True)
class Practice:
    """A promoted lesson as its card shows it."""

    promotion_id: int
    lesson_id: int
    title: str
    lesson: str
    recommendation: str
    mission: str | None
    source_url: str | None
    level: EvidenceLevel
    why: str
    scope: str
    audience: str
    channels: tuple[str, ...]
    review_on: date
    promoted_by: str | None
    promoted_on: date
    ended: bool = False


class Practices:
    """Promotions of good practices, over a Store's sessions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def check(
        self, lesson_id: int, *, actor_id: int | None, channel: str | None = None
    ) -> str:
        """Return the lesson's title if this person may promote it (else NotAllowed/NotFound).

        `channel` is where they act: a lesson restricted to it is visible to them there.
        """
        viewer = await self.store.viewer_for(actor_id, channel=channel)
        return await asyncio.to_thread(self._check, lesson_id, actor_id, viewer)

    def _check(self, lesson_id: int, actor_id: int | None, viewer: Viewer) -> str:
        with self.store.session() as s:
            lesson = self._promotable(s, lesson_id, actor_id, viewer)
            return lesson_title(lesson.product.title, lesson.title)

    async def promote(
        self,
        lesson_id: int,
        *,
        actor_id: int | None,
        why: str,
        targets: Sequence[Target] = (),
        audience: str = "",
        scope: str | None = None,
        review_on: date | None = None,
        guidance: bool = False,
        surface: str,
        channel: str | None = None,
    ) -> Practice:
        """Promote a validated lesson to a good practice (or guidance), for whom and where.

        `channel` is where the PBPO acts: a lesson restricted to it is visible to them there.
        """
        viewer = await self.store.viewer_for(actor_id, channel=channel)
        wanted = _Wanted(
            why=_clean(why, MAX_WHY, "Say in a sentence why this practice matters."),
            targets=tuple(targets),
            audience=clean_audience(audience),
            scope=" ".join((scope or "").split())[:MAX_SCOPE],
            review_on=review_on,
            level=EvidenceLevel.GUIDANCE if guidance else EvidenceLevel.GOOD_PRACTICE,
        )
        return await asyncio.to_thread(self._promote, lesson_id, actor_id, wanted, viewer, surface)

    def _promote(
        self, lesson_id: int, actor_id: int | None, wanted: _Wanted, viewer: Viewer, surface: str
    ) -> Practice:
        today = self.store.today()
        review_on = wanted.review_on or today + REVIEW_AFTER
        if not today < review_on <= today + LONGEST_REVIEW:
            raise DomainError("The review date must be after today and within five years.")
        with self.store.session() as s:
            lesson = self._promotable(s, lesson_id, actor_id, viewer)
            if _standing_of(s, lesson.id) is not None:
                raise DomainError(
                    f"Lesson #{lesson.id} is a good practice already. Unpromote it first "
                    f"(`practice unpromote {lesson.id} <why>`) to promote it again."
                )
            refuse_leaks(lesson.product, wanted.audience, wanted.targets)
            promotion = Promotion(
                lesson_id=lesson.id,
                level=wanted.level,
                why=wanted.why,
                scope=wanted.scope or lesson.product.mission or "",
                audience=wanted.audience,
                channels=[t.key for t in wanted.targets],
                review_on=review_on,
                promoted_by_id=actor_id,
                promoted_at=self.store.clock(),
            )
            s.add(promotion)
            s.flush()
            self._audit(s, promotion, "promote_practice", actor_id, surface, wanted.why)
            return _practice(s, promotion, lesson)

    async def unpromote(
        self, lesson_id: int, *, actor_id: int | None, why: str, surface: str
    ) -> Practice:
        """End a lesson's standing promotion, with a reason; the record stays."""
        viewer = await self.store.viewer_for(actor_id)
        reason = _clean(why, MAX_WHY, "Say why it is no longer a good practice.")
        return await asyncio.to_thread(
            self._unpromote, lesson_id, actor_id, reason, viewer, surface
        )

    def _unpromote(
        self, lesson_id: int, actor_id: int | None, why: str, viewer: Viewer, surface: str
    ) -> Practice:
        with self.store.session() as s:
            lesson = visible_lesson(s, self.store, lesson_id, viewer)
            require(actor_of(s, actor_id), Operation.PROMOTE_PRACTICE, lesson_subject(s, lesson))
            promotion = _standing_of(s, lesson.id)
            if promotion is None:
                raise DomainError(f"Lesson #{lesson.id} is no good practice: nothing changed.")
            promotion.ended_at, promotion.ended_by_id = self.store.clock(), actor_id
            promotion.ended_why = why
            self._audit(s, promotion, "unpromote_practice", actor_id, surface, why)
            return _practice(s, promotion, lesson)

    async def standing(self, viewer: Viewer | None, *, limit: int = 50) -> list[Practice]:
        """Return the good practices and guidance this viewer may see, newest first.

        No viewer is the command line's view: every standing practice, restricted ones too.
        """
        return await asyncio.to_thread(self._standing, viewer, limit)

    def _standing(self, viewer: Viewer | None, limit: int) -> list[Practice]:
        query = (
            select(Promotion, Lesson)
            .join(Lesson, Lesson.id == Promotion.lesson_id)
            .join(Product, Product.id == Lesson.product_id)
            .where(Promotion.ended_at.is_(None), Lesson.status.in_(VOUCHED))
            .order_by(Promotion.promoted_at.desc(), Promotion.id.desc())
            .limit(limit)
        )
        if viewer is not None:
            query = query.where(
                visible(viewer), Promotion.audience.in_(["", *sorted(viewer.principals)])
            )
        with self.store.session() as s:
            rows = s.execute(query).all()
            return [_practice(s, promotion, lesson) for promotion, lesson in rows]

    async def weekly_pick(self, channel_ref: int, target: Target) -> Practice | None:
        """Return the practice a channel has gone longest without (None: none it may see)."""
        viewer = Viewer(person_id=None, principals=target.principals)
        standing = await asyncio.to_thread(self._standing, viewer, 500)
        if not standing:
            return None
        last = await asyncio.to_thread(self._last_posted, channel_ref)
        return min(standing, key=lambda p: (last.get(p.lesson_id, ""), -p.promotion_id))

    def _last_posted(self, channel_ref: int) -> dict[int, str]:
        with self.store.session() as s:
            rows = s.execute(
                select(PracticePost.lesson_id, PracticePost.period).where(
                    PracticePost.channel_ref == channel_ref, PracticePost.lesson_id.is_not(None)
                )
            ).all()
        last: dict[int, str] = {}
        for lesson_id, period in rows:
            if lesson_id is not None:
                last[lesson_id] = max(last.get(lesson_id, ""), period)
        return last

    def _promotable(
        self, s: Session, lesson_id: int, actor_id: int | None, viewer: Viewer
    ) -> Lesson:
        lesson = visible_lesson(s, self.store, lesson_id, viewer)
        require(actor_of(s, actor_id), Operation.PROMOTE_PRACTICE, lesson_subject(s, lesson))
        if lesson.status not in VOUCHED:
            raise DomainError(
                f"Lesson #{lesson.id} is {lesson.status.value}: only a validated (or applied) "
                "lesson can become a good practice. Validate it first."
            )
        return lesson

    def _audit(
        self,
        s: Session,
        promotion: Promotion,
        operation: str,
        actor_id: int | None,
        surface: str,
        note: str,
    ) -> None:
        fields = {
            "level": promotion.level.value,
            "scope": promotion.scope,
            "audience": promotion.audience or "everyone",
            "channels": list(promotion.channels),
            "review_on": promotion.review_on,
        }
        ended = operation == "unpromote_practice"
        audit.record(
            s,
            at=self.store.clock(),
            person_id=actor_id,
            surface=surface,
            operation=operation,
            kind="lesson",
            subject_id=promotion.lesson_id,
            before=fields if ended else {"level": "lesson"},
            after={"level": "lesson"} if ended else fields,
            note=note,
        )


@dataclass(frozen=True, slots=True)
class _Wanted:
    why: str
    targets: tuple[Target, ...]
    audience: str
    scope: str
    review_on: date | None
    level: EvidenceLevel


def clean_audience(text: str) -> str:
    """Return an audience as a principal ("" for everyone), or raise DomainError."""
    value = "".join(text.split())
    if value.casefold() in ("", "everyone", "all"):
        return ""
    if value.startswith("#"):
        value = f"channel:{value[1:]}"
    if not value.startswith(AUDIENCE_KINDS) or value.endswith(":") or len(value) > 200:
        raise DomainError(
            "An audience is `everyone`, a group (`group:pbpo`), a channel (`#peacekeeping`) or "
            "a person (`person:name@un.org`)."
        )
    return value


def refuse_leaks(product: Product, audience: str, targets: Sequence[Target]) -> None:
    """Refuse a promotion that would show a restricted lesson to people outside its audience."""
    allowed = {a.principal for a in product.audience}
    if not allowed:
        return
    if audience not in allowed:
        raise DomainError(
            "This lesson is restricted, so it can only be promoted to its own audience ("
            + ", ".join(sorted(allowed))
            + "): pick one of them as the audience."
        )
    for target in targets:
        if not target.principals & allowed:
            raise DomainError(
                f"This lesson is restricted and not everyone in {target.label} may see it, so "
                "I did not promote it there. Pick a channel of its audience."
            )


def visible_lesson(s: Session, store: Store, lesson_id: int, viewer: Viewer) -> Lesson:
    """Return the lesson if the viewer may see it; a hidden one does not exist for them."""
    seen = s.scalar(
        select(Lesson.id)
        .join(Product, Product.id == Lesson.product_id)
        .where(Lesson.id == lesson_id, visible(viewer))
    )
    if seen is None:
        raise NotFound(f"There is no lesson #{lesson_id} that you can see.")
    return store.lesson_in(s, lesson_id)


def _standing_of(s: Session, lesson_id: int) -> Promotion | None:
    return s.scalars(
        select(Promotion)
        .where(Promotion.lesson_id == lesson_id, Promotion.ended_at.is_(None))
        .order_by(Promotion.id.desc())
    ).first()


def _practice(s: Session, promotion: Promotion, lesson: Lesson) -> Practice:
    by = s.get(Person, promotion.promoted_by_id) if promotion.promoted_by_id else None
    product = lesson.product
    return Practice(
        promotion_id=promotion.id,
        lesson_id=lesson.id,
        title=lesson_title(product.title, lesson.title),
        lesson=lesson.lesson or lesson.observation,
        recommendation=lesson.recommendation,
        mission=product.mission,
        source_url=product.source_url,
        level=promotion.level,
        why=promotion.why,
        scope=promotion.scope,
        audience=promotion.audience,
        channels=tuple(promotion.channels),
        review_on=promotion.review_on,
        promoted_by=by.name if by else None,
        promoted_on=promotion.promoted_at.date(),
        ended=promotion.ended_at is not None,
    )


def _clean(text: str | None, limit: int, missing: str) -> str:
    value = " ".join((text or "").split())
    if not value:
        raise DomainError(missing)
    return value[:limit]
