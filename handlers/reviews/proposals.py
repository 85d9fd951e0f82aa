"""Proposed actions on their way: the owner's card, and what the owner or facilitator does with it.

A closed review (or a lesson's "Add actions") proposes actions; each owner gets `owner_card` to
accept, reassign, propose another date or decline. Drafts (no owner or date found) wait for the
facilitator to complete them. The buttons and forms are "aar.<verb>".
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from handlers import reach
from handlers.chat import ButtonPress, Form, FormSubmit, Input, Reply, Text
from handlers.errors import UserError
from handlers.reviews.cards import AarButton, AarForm, owner_card, owner_name
from handlers.reviews.conversation import button_ids, private
from knowledge.dates import DUE_HINT, read_day
from knowledge.models import ProposalStatus
from knowledge.reviews import ProposalView, Reviews
from knowledge.search.text import clip

if TYPE_CHECKING:
    from handlers.router import Deps


async def button(press: ButtonPress, action: AarButton, deps: Deps) -> Reply:
    """A proposed owner's (or the facilitator's) button: accept at once, or open its form."""
    person = await deps.store.person_for(press.who.platform, press.who.user_id)
    reviews = Reviews(deps.store)
    proposal = await reviews.proposal(button_ids(press.value, 1)[0])
    if action == AarButton.ACCEPT:
        accepted = await reviews.accept(proposal.id, actor_id=person)
        due = f", due {accepted.due_date.isoformat()}" if accepted.due_date else ""
        return Reply.of(
            Text(
                f"✅ Accepted: *{accepted.description.rstrip(' .;:')}*{due}. It is now one of "
                "your open actions: type `actions` to see them. I will remind you before it is "
                "due."
            ),
            private=True,
            replace=True,
        )
    return _proposal_form(action, proposal, person)


async def form(submit: FormSubmit, kind: str, key: str, deps: Deps) -> Reply:
    """A submitted action form: reassign or complete, another date, or decline."""
    person = await deps.store.person_for(submit.who.platform, submit.who.user_id)
    values = {k: v.strip() for k, v in submit.values.items()}
    proposal_id = button_ids(key, 1)[0]
    reviews = Reviews(deps.store)
    if kind == AarForm.ASSIGN:
        return await _assign(proposal_id, values, person, deps)
    if kind == AarForm.REDATE:
        due = _day(values.get("due", ""), deps)
        proposal = await reviews.redate(proposal_id, actor_id=person, due=due)
        await _tell_facilitator(
            proposal, f"{owner_name(proposal)} proposes {due.isoformat()} instead.", deps
        )
        return Reply.of(
            Text(
                f"I told {proposal.facilitator_name} you propose {due.isoformat()}. Accept it "
                "at that date whenever you are ready:"
            ),
            *owner_card(proposal).elements,
            private=True,
        )
    if kind == AarForm.DECLINE:
        reason = values.get("reason", "")
        proposal = await reviews.decline(proposal_id, actor_id=person, reason=reason)
        await _tell_facilitator(proposal, f"{owner_name(proposal)} declined it: {reason}", deps)
        return private(f"Declined. I told {proposal.facilitator_name}, with your reason.")
    raise UserError("That form is out of date.")


def _proposal_form(action: AarButton, proposal: ProposalView, person: int | None) -> Reply:
    if proposal.status not in (ProposalStatus.DRAFT, ProposalStatus.PROPOSED):
        raise UserError(f"This action was {proposal.status.value} already.")
    owner, facilitator = proposal.owner_id, proposal.facilitator_id
    allowed = (
        {owner, facilitator} if action in (AarButton.REASSIGN, AarButton.COMPLETE) else {owner}
    )
    if person is None or person not in allowed:
        who = f"the facilitator ({proposal.facilitator_name})"
        if action not in (AarButton.REASSIGN, AarButton.COMPLETE):
            who = owner_name(proposal)
        raise UserError(f"Only {who} can do that for this action.")
    key, due = proposal.id, proposal.due_date.isoformat() if proposal.due_date else ""
    inputs: tuple[Input, ...]
    if action == AarButton.REDATE:
        inputs = (Input("due", f"When could you do it? ({DUE_HINT})", date=True),)
        return _form_reply(f"{AarForm.REDATE}:{key}", "Propose another date", inputs)
    if action == AarButton.DECLINE:
        inputs = (Input("reason", "Why not? (the facilitator will see this)", multiline=True),)
        return _form_reply(f"{AarForm.DECLINE}:{key}", "Decline the action", inputs)
    owner_hint = "" if action == AarButton.REASSIGN else (proposal.owner_hint or "")
    inputs = (
        Input("owner", "Owner (a name, @mention or email)", initial=owner_hint),
        Input("due", f"Due date ({DUE_HINT})", initial=due, date=True),
        Input("description", "What should be done?", multiline=True, initial=proposal.description),
    )
    title = "Reassign the action" if action == AarButton.REASSIGN else "Complete the action"
    return _form_reply(f"{AarForm.ASSIGN}:{key}", title, inputs)


async def _assign(
    proposal_id: int, values: dict[str, str], person: int | None, deps: Deps
) -> Reply:
    member = await reach.named(values.get("owner", ""), deps)
    due = _day(values.get("due", ""), deps)
    proposal = await Reviews(deps.store).assign(
        proposal_id,
        actor_id=person,
        owner_id=member.id,
        due=due,
        description=values.get("description") or None,
    )
    reached = await reach.send_to(member.id, owner_card(proposal), deps)
    how = "I sent them a card to accept it." if reached else "I could not message them here."
    return private(f"The action now goes to {member.name}, due {due.isoformat()}. {how}")


async def _tell_facilitator(proposal: ProposalView, news: str, deps: Deps) -> None:
    if proposal.facilitator_id is not None:
        text = f"About the action *{clip(proposal.description, 200)}* ({proposal.event}): {news}"
        await reach.send_to(proposal.facilitator_id, Reply.of(Text(text)), deps)


def _day(text: str, deps: Deps) -> date:
    return read_day(text, today=deps.store.today())


def _form_reply(form_id: str, title: str, inputs: tuple[Input, ...]) -> Reply:
    return Reply.of(Form(form=form_id, title=title, inputs=inputs), private=True)
