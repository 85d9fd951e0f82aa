"""Actions on any validated lesson: who may add them, proposals to their owners, progress.

An After-Action Review proposes actions when it closes; every other lesson (a note logged in
chat, an End of Assignment Report, an imported product) gets them here. Its validator, its
authors and the PBPOs of its mission (`Operation.ADD_ACTION`) turn each recommendation (or a
line of their own) into a proposed action with an owner and a due date. The proposal is the
same one a review makes (`knowledge.reviews`): its owner accepts, reassigns, proposes another
date or declines it, and an accepted one is an open action. When the lesson's last action is
done the store moves it to *applied*, and the "did the change work?" follow-up is planned
from that date as for every applied lesson.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from knowledge import audit
from knowledge.errors import DomainError, NotAllowed, NotFound
from knowledge.models import (
    Action,
    ActionStatus,
    Lesson,
    LessonStatus,
    Person,
    PersonRole,
    Product,
    ProductAuthor,
    ProposalStatus,
    ProposedAction,
    Role,
)
from knowledge.permissions import Operation, can
from knowledge.reports import lesson_title, visible
from knowledge.reviews import ProposalView, proposal_view, split_recommendations
from knowledge.roles import actor_of, lesson_subject
from knowledge.search.answer import Viewer
from knowledge.search.text import fold
from knowledge.storage import Store

MAX_DESCRIPTION = 2_000
OPEN_TO_ACTIONS = (LessonStatus.VALIDATED, LessonStatus.APPLIED)


@dataclass(frozen=True, slots=True)
class ActionLine:
    """One action of a lesson, or a proposal still waiting for its owner."""

    description: str
    owner: str | None
    due_date: date | None
    status: str  # an ActionStatus value, or "proposed" / "declined" / "draft"

    @property
    def done(self) -> bool:
        """Return True when the action is done."""
        return self.status == ActionStatus.DONE.value


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a lesson's actions are: done of all that count (cancelled ones do not)."""

    done: int
    total: int
    waiting: int = 0  # proposals their owners have not accepted yet

    def __str__(self) -> str:
        text = f"{self.done} of {self.total} action{'s' * (self.total != 1)} done"
        if self.waiting:
            text += f", {self.waiting} waiting for {'its' if self.waiting == 1 else 'their'} owner"
        return text if (self.total or self.waiting) else "no actions yet"


@dataclass(frozen=True, slots=True)
class LessonPlan:
    """A lesson as "Add actions" shows it: its recommendations, its actions and proposals."""

    lesson_id: int
    title: str
    status: LessonStatus
    recommendations: tuple[str, ...]
    uncovered: tuple[str, ...]  # recommendations no action or open proposal carries yet
    lines: tuple[ActionLine, ...]
    progress: Progress


class LessonActions:
    """Adding actions to validated lessons, over a Store's sessions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def plan(self, lesson_id: int, *, actor_id: int | None) -> LessonPlan:
        """Return a lesson's plan, if this person may add actions to it (else NotAllowed)."""
        viewer = await self.store.viewer_for(actor_id)
        return await asyncio.to_thread(self._plan, lesson_id, actor_id, viewer)

    def _plan(self, lesson_id: int, actor_id: int | None, viewer: Viewer) -> LessonPlan:
        with self.store.session() as s:
            lesson = self._lesson(s, lesson_id, viewer)
            self._check(s, lesson, actor_id)
            return plan_of(s, lesson)

    async def may_add(self, lesson_id: int, *, actor_id: int | None) -> bool:
        """Return True when this person may add actions to this lesson now."""
        return await asyncio.to_thread(self._may_add, lesson_id, actor_id)

    def _may_add(self, lesson_id: int, actor_id: int | None) -> bool:
        with self.store.session() as s:
            lesson = s.get(Lesson, lesson_id)
            return lesson is not None and _allowed(s, lesson, actor_id)

    async def propose(
        self,
        lesson_id: int,
        *,
        actor_id: int | None,
        description: str,
        owner_id: int,
        due: date,
        surface: str = audit.SYSTEM,
    ) -> ProposalView:
        """Propose an action on a validated lesson to its owner (they accept it, or not)."""
        viewer = await self.store.viewer_for(actor_id)
        return await asyncio.to_thread(
            self._propose, lesson_id, actor_id, description, owner_id, due, surface, viewer
        )

    def _propose(
        self,
        lesson_id: int,
        actor_id: int | None,
        description: str,
        owner_id: int,
        due: date,
        surface: str,
        viewer: Viewer,
    ) -> ProposalView:
        text = " ".join(description.split())
        if not text:
            raise DomainError("Say what should be done: an action needs a description.")
        if due < self.store.today():
            raise DomainError(f"{due.isoformat()} is in the past. Give a date from today on.")
        with self.store.session() as s:
            lesson = self._lesson(s, lesson_id, viewer)
            self._check(s, lesson, actor_id)
            if s.get(Person, owner_id) is None:
                raise NotFound("That person is not in the directory.")
            now = self.store.clock()
            proposal = ProposedAction(
                review_id=None,
                lesson_id=lesson.id,
                description=text[:MAX_DESCRIPTION],
                owner_id=owner_id,
                due_date=due,
                status=ProposalStatus.PROPOSED,
                proposed_by_id=actor_id,
                created_at=now,
                updated_at=now,
            )
            s.add(proposal)
            s.flush()
            audit.record(
                s,
                at=now,
                person_id=actor_id,
                surface=surface,
                operation="propose_action",
                kind="lesson",
                subject_id=lesson.id,
                before={},
                after={"owner_id": owner_id, "due_date": due, "proposal_id": proposal.id},
                note=text[:200],
            )
            s.refresh(proposal)
            return proposal_view(s, proposal, None)

    async def progress(self, lesson_ids: Iterable[int]) -> dict[int, Progress]:
        """Return the progress of each lesson's actions (lessons with none are left out)."""
        ids = sorted(set(lesson_ids))
        return await asyncio.to_thread(self._progress, ids) if ids else {}

    def _progress(self, lesson_ids: list[int]) -> dict[int, Progress]:
        with self.store.session() as s:
            return progress_of(s, lesson_ids)

    async def awaiting(self, person_id: int, *, limit: int = 5) -> list[LessonPlan]:
        """Return validated lessons with no action yet that this person may add actions to."""
        return await asyncio.to_thread(self._awaiting, person_id, limit)

    def _awaiting(self, person_id: int, limit: int) -> list[LessonPlan]:
        with self.store.session() as s:
            person = s.get(Person, person_id)
            if person is None:
                return []
            has_action = select(Action.lesson_id)
            has_proposal = select(ProposedAction.lesson_id).where(
                ProposedAction.lesson_id.is_not(None),
                ProposedAction.status.in_((ProposalStatus.PROPOSED, ProposalStatus.DRAFT)),
            )
            mine = select(ProductAuthor.product_id).where(ProductAuthor.person_id == person_id)
            managed = (
                select(ProductAuthor.product_id)
                .join(Person, Person.id == ProductAuthor.person_id)
                .where(Person.manager_id == person_id)
            )
            scopes = [
                scope
                for (scope,) in s.execute(
                    select(PersonRole.scope).where(
                        PersonRole.person_id == person_id, PersonRole.role == Role.PBPO
                    )
                )
            ]
            reach = (
                (Lesson.validated_by_id == person_id)
                | Lesson.product_id.in_(mine)
                | Lesson.product_id.in_(managed)
            )
            if "" in scopes:
                reach = reach | Product.mission.is_not(None)
            elif scopes:
                reach = reach | func.lower(Product.mission).in_([m.lower() for m in scopes])
            lessons = s.scalars(
                select(Lesson)
                .join(Product, Product.id == Lesson.product_id)
                .where(
                    Lesson.status == LessonStatus.VALIDATED,
                    Lesson.id.not_in(has_action),
                    Lesson.id.not_in(has_proposal),
                    reach,
                )
                .order_by(Lesson.validated_at.desc(), Lesson.id.desc())
                .limit(limit * 4)
            ).all()
            plans = [plan_of(s, lesson) for lesson in lessons if _allowed(s, lesson, person_id)]
            return plans[:limit]

    async def proposed_to(self, person_id: int, *, limit: int = 5) -> list[ProposalView]:
        """Return the actions proposed to this person that wait for their answer (oldest first).

        Proposals of reviews and of lessons alike: the home shows them with the owner's card,
        so an action proposed from the shell (or a card that never arrived) can be accepted.
        """
        return await asyncio.to_thread(self._proposed_to, person_id, limit)

    def _proposed_to(self, person_id: int, limit: int) -> list[ProposalView]:
        with self.store.session() as s:
            proposals = s.scalars(
                select(ProposedAction)
                .where(
                    ProposedAction.owner_id == person_id,
                    ProposedAction.status == ProposalStatus.PROPOSED,
                )
                .order_by(ProposedAction.id)
                .limit(limit)
            ).all()
            return [proposal_view(s, p, p.review) for p in proposals]

    # Inside a session ----------------------------------------------------------------------

    def _lesson(self, s: Session, lesson_id: int, viewer: Viewer) -> Lesson:
        seen = s.scalar(
            select(Lesson.id)
            .join(Product, Product.id == Lesson.product_id)
            .where(Lesson.id == lesson_id, visible(viewer))
        )
        if seen is None:
            raise NotFound(f"There is no lesson #{lesson_id} that you can see.")
        return self.store.lesson_in(s, lesson_id)

    def _check(self, s: Session, lesson: Lesson, actor_id: int | None) -> None:
        if lesson.status not in OPEN_TO_ACTIONS:
            raise DomainError(
                f"Actions follow validation: this lesson is {lesson.status.value}, so it "
                "cannot take actions" + (" until it is validated." if _waits(lesson) else ".")
            )
        if not _allowed(s, lesson, actor_id):
            decision = can(actor_of(s, actor_id), Operation.ADD_ACTION, lesson_subject(s, lesson))
            raise NotAllowed(
                f"Only its validator, {decision.who_can} can add actions to this lesson."
            )


def _waits(lesson: Lesson) -> bool:
    return lesson.status == LessonStatus.IDENTIFIED


def _allowed(s: Session, lesson: Lesson, actor_id: int | None) -> bool:
    """Its validator, its authors, their managers and the mission's PBPOs may add actions."""
    if actor_id is None:
        return False
    if lesson.validated_by_id == actor_id:
        return True
    return bool(can(actor_of(s, actor_id), Operation.ADD_ACTION, lesson_subject(s, lesson)))


def plan_of(s: Session, lesson: Lesson) -> LessonPlan:
    """Return a lesson's recommendations, actions, waiting proposals and progress."""
    recommendations = tuple(split_recommendations(lesson.recommendation or ""))
    if not recommendations and (lesson.recommendation or "").strip():
        recommendations = (" ".join(lesson.recommendation.split()),)
    proposals = s.scalars(
        select(ProposedAction)
        .where(
            ProposedAction.lesson_id == lesson.id,
            ProposedAction.status.in_(
                (ProposalStatus.PROPOSED, ProposalStatus.DRAFT, ProposalStatus.DECLINED)
            ),
        )
        .order_by(ProposedAction.id)
    ).all()
    lines = [
        ActionLine(a.description, a.owner.name if a.owner else None, a.due_date, a.status.value)
        for a in lesson.actions
    ]
    lines += [
        ActionLine(p.description, p.owner.name if p.owner else None, p.due_date, p.status.value)
        for p in proposals
    ]
    taken = [
        fold(line.description) for line in lines if line.status != ProposalStatus.DECLINED.value
    ]
    uncovered = tuple(r for r in recommendations if not _covered(fold(r), taken))
    return LessonPlan(
        lesson_id=lesson.id,
        title=lesson_title(lesson.product.title, lesson.title),
        status=lesson.status,
        recommendations=recommendations,
        uncovered=uncovered,
        lines=tuple(lines),
        progress=progress_of(s, [lesson.id]).get(lesson.id, Progress(0, 0)),
    )


def _covered(recommendation: str, taken: list[str]) -> bool:
    head = recommendation[:60]
    return any(head in t or t[:60] in recommendation for t in taken)


def progress_of(s: Session, lesson_ids: list[int]) -> dict[int, Progress]:
    """Return done / total actions (cancelled ones aside) and waiting proposals per lesson."""
    counts: dict[int, list[int]] = {}
    rows = s.execute(
        select(Action.lesson_id, Action.status, func.count())
        .where(Action.lesson_id.in_(lesson_ids))
        .group_by(Action.lesson_id, Action.status)
    )
    for lesson_id, status, n in rows:
        entry = counts.setdefault(lesson_id, [0, 0, 0])
        if status == ActionStatus.NOT_DOING:
            continue
        entry[1] += n
        if status == ActionStatus.DONE:
            entry[0] += n
    waiting = s.execute(
        select(ProposedAction.lesson_id, func.count())
        .where(
            ProposedAction.lesson_id.in_(lesson_ids),
            ProposedAction.status == ProposalStatus.PROPOSED,
        )
        .group_by(ProposedAction.lesson_id)
    )
    for waiting_id, n in waiting:
        if waiting_id is not None:
            counts.setdefault(waiting_id, [0, 0, 0])[2] += n
    return {k: Progress(*v) for k, v in counts.items()}
