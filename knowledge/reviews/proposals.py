"""Proposed actions on their way to their owners: accept, decline, another date, reassign."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from knowledge.errors import DomainError, NotFound
from knowledge.models import (
    Action,
    ActionStatus,
    Person,
    ProposalStatus,
    ProposedAction,
)
from knowledge.reviews.rows import ReviewRows
from knowledge.reviews.views import ProposalView, name_of, proposal_view, source_name
from knowledge.threads import blocking


class ProposalDesk(ReviewRows):
    """Proposed actions of reviews and lessons, over a Store's sessions."""

    def _get_proposal(self, proposal_id: int) -> ProposalView:
        """Return a proposed action, or raise NotFound."""
        with self.store.session() as s:
            proposal = self._proposal(s, proposal_id)
            return proposal_view(s, proposal, proposal.review)

    proposal = blocking(_get_proposal)

    def _accept(self, proposal_id: int, *, actor_id: int | None) -> ProposalView:
        """Accept a proposed action as its owner: it becomes an open action at once."""
        with self.store.session() as s:
            proposal = self._owned(s, proposal_id, actor_id, "accept it")
            if proposal.lesson_id is None:
                raise DomainError("The lesson this action belonged to was removed.")
            view, now = proposal_view(s, proposal, proposal.review), self.store.clock()
            action = Action(
                lesson_id=proposal.lesson_id,
                description=proposal.description,
                owner_id=proposal.owner_id,
                due_date=proposal.due_date,
                status=ActionStatus.OPEN,
                notes=f"Proposed by {source_name(view.kind, view.event)}.",
                created_at=now,
                updated_at=now,
            )
            s.add(action)
            s.flush()
            if view.kind == "lesson":  # an action on a validated lesson, as Store.add_action
                self.store.action_added(s, action, actor_id=actor_id)
            proposal.action_id, proposal.status = action.id, ProposalStatus.ACCEPTED
            proposal.updated_at = now
            return proposal_view(s, proposal, proposal.review)

    accept = blocking(_accept)

    def _decline(self, proposal_id: int, *, actor_id: int | None, reason: str) -> ProposalView:
        """Decline a proposed action as its owner, with a reason for the facilitator."""
        if not reason.strip():
            raise DomainError("Say briefly why, so the facilitator can find another owner.")
        with self.store.session() as s:
            proposal = self._owned(s, proposal_id, actor_id, "decline it")
            proposal.status, proposal.note = ProposalStatus.DECLINED, reason.strip()[:2000]
            proposal.updated_at = self.store.clock()
            return proposal_view(s, proposal, proposal.review)

    decline = blocking(_decline)

    def _redate(self, proposal_id: int, *, actor_id: int | None, due: date) -> ProposalView:
        """Propose another due date as the owner (the proposal still waits for acceptance)."""
        if due < self.store.today():
            raise DomainError(f"{due.isoformat()} is in the past. Give a date from today on.")
        with self.store.session() as s:
            proposal = self._owned(s, proposal_id, actor_id, "change its date")
            proposal.due_date, proposal.updated_at = due, self.store.clock()
            proposal.note = f"new date proposed by {name_of(s, actor_id)}"
            return proposal_view(s, proposal, proposal.review)

    redate = blocking(_redate)

    def _assign(
        self,
        proposal_id: int,
        *,
        actor_id: int | None,
        owner_id: int,
        due: date,
        description: str | None = None,
    ) -> ProposalView:
        """Give a proposed action an owner and a due date (the facilitator or the owner)."""
        if due < self.store.today():
            raise DomainError(f"{due.isoformat()} is in the past. Give a date from today on.")
        with self.store.session() as s:
            proposal = self._proposal(s, proposal_id, lock=True)
            facilitator = (
                proposal.review.facilitator_id if proposal.review else proposal.proposed_by_id
            )
            if actor_id is None or actor_id not in (facilitator, proposal.owner_id):
                name = name_of(s, facilitator) if facilitator else "the facilitator"
                raise DomainError(f"Only {name} or the proposed owner can assign this action.")
            if proposal.status not in (ProposalStatus.DRAFT, ProposalStatus.PROPOSED):
                raise DomainError(f"This action was {proposal.status.value} already.")
            if s.get(Person, owner_id) is None:
                raise NotFound("That person is not in the directory.")
            proposal.owner_id, proposal.owner_hint, proposal.due_date = owner_id, None, due
            if description and description.strip():
                proposal.description = description.strip()[:2000]
            proposal.status, proposal.note = ProposalStatus.PROPOSED, None
            proposal.updated_at = self.store.clock()
            s.flush()
            s.refresh(proposal)
            return proposal_view(s, proposal, proposal.review)

    assign = blocking(_assign)

    def _owned(
        self, s: Session, proposal_id: int, actor_id: int | None, what: str
    ) -> ProposedAction:
        proposal = self._proposal(s, proposal_id, lock=True)
        if proposal.status == ProposalStatus.DRAFT:
            raise DomainError("This action is still a draft: the facilitator completes it first.")
        if proposal.status != ProposalStatus.PROPOSED:
            raise DomainError(f"This action was {proposal.status.value} already.")
        if actor_id is None or actor_id != proposal.owner_id:
            owner = name_of(s, proposal.owner_id) if proposal.owner_id else "its owner"
            raise DomainError(f"This action was proposed to {owner}: only they can {what}.")
        return proposal
