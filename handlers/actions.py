"""Follow-up actions: "my actions", and done / snooze / new date / blocked / hand over."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from handlers import reach
from handlers.chat import (
    Button,
    ButtonPress,
    Divider,
    Element,
    Fields,
    Form,
    FormSubmit,
    Input,
    Reply,
    Text,
    UserRef,
    unlinked,
)
from handlers.errors import UserError
from handlers.ids import parse_id
from handlers.reviews.cards import AarButton, owner_card
from knowledge import access
from knowledge.dates import DUE_HINT, read_day
from knowledge.lesson_actions import LessonActions
from knowledge.models import ActionStatus
from knowledge.permissions import Operation
from knowledge.reviews import Reviews
from knowledge.roles import Roles
from knowledge.storage import ActionView, Store

if TYPE_CHECKING:
    from handlers.router import Deps

MAX_LISTED = 20
SNOOZE_DAYS = 7


class ActionButton(StrEnum):
    """Buttons on action cards; the value is the action id."""

    DONE = "action.done"
    SNOOZE = "action.snooze"
    SNOOZE_DAY = "action.snooze_day"  # on reminders: snooze 1 day (SNOOZE is a week)
    DUE = "action.due"
    BLOCKED = "action.blocked"
    HANDOVER = "action.handover"
    LIST = "action.list"
    ACCEPT = "action.accept"  # a proposal accepted from the list: the list stays, refreshed


async def mine(who: UserRef, deps: Deps) -> Reply:
    """List my open actions, overdue first, each with what I can do about it."""
    return await _listing(who, deps)


async def _listing(who: UserRef, deps: Deps, note: str | None = None) -> Reply:
    """The actions proposed to me (to accept), then my open actions."""
    person = await _person(who, deps.store)
    actions = await as_seen(await deps.store.actions_of(person), person, deps.store)
    proposed = await LessonActions(deps.store).proposed_to(person, limit=MAX_LISTED)
    reply = actions_reply(actions, today=deps.store.today(), note=None if proposed else note)
    if not proposed:
        return reply
    # Proposed but not yet accepted: the owner's card may never have reached them (or is
    # far up the chat), so the list offers the same buttons; Accept keeps the list.
    elements: list[Element] = [Text(note)] if note else []
    elements.append(
        Text(f"*Actions proposed to you* ({len(proposed)}): accept them to make them yours")
    )
    for proposal in proposed:
        card = owner_card(proposal, numbered=True).elements
        elements += [Divider(), *(_accept_here(e) for e in card)]
    if actions:
        elements += [Divider(), *reply.elements]
    return Reply.of(*elements, private=True)


def _accept_here(element: Element) -> Element:
    if isinstance(element, Button) and element.action == AarButton.ACCEPT:
        return replace(element, action=ActionButton.ACCEPT)
    return element


async def as_seen(actions: list[ActionView], person: int | None, store: Store) -> list[ActionView]:
    """Return actions as a message to this person may show them (see `knowledge.access`)."""
    if not actions:
        return actions
    viewer = await store.viewer_for(person)
    seen = await store.visible_lessons(viewer, {a.lesson_id for a in actions})
    return [
        access.action_for(a, visible=a.lesson_id in seen, own=a.owner_id == person) for a in actions
    ]


def actions_reply(actions: list[ActionView], *, today: date, note: str | None = None) -> Reply:
    """Build the "my actions" card: overdue first, buttons on each."""
    elements: list[Element] = [Text(note)] if note else []
    if not actions:
        elements.append(Text("You have no open actions. Nothing is waiting on you: well done! 🎉"))
        return Reply.of(*elements, private=True)
    overdue = sum(a.is_overdue(today) for a in actions)
    heading = f"*Your open actions* ({len(actions)}"
    heading += f", {overdue} overdue)" if overdue else ")"
    elements.append(Text(heading))
    for action in actions[:MAX_LISTED]:
        elements += [Divider(), *action_card(action, today=today)]
    if len(actions) > MAX_LISTED:
        elements.append(Text(f"…and {len(actions) - MAX_LISTED} more on the dashboard."))
    return Reply.of(*elements, private=True)


def action_card(action: ActionView, *, today: date) -> list[Element]:
    """Return one action with its lesson, due date, status and buttons."""
    if action.due_date is None:
        due = "no due date"
    elif action.is_overdue(today):
        days = (today - action.due_date).days
        due = f"⚠️ {action.due_date.isoformat()} ({days} day{'s' * (days != 1)} overdue)"
    else:
        due = action.due_date.isoformat()
    value = str(action.id)
    return [
        Text(f"*{action.description}*\nFrom the lesson: _{action.lesson_title}_"),
        Fields(
            (
                ("Due", due),
                ("Status", action.status.value.replace("_", " ")),
                ("Mission", action.mission or "—"),
            )
        ),
        Button("Done", ActionButton.DONE, value),
        Button("Snooze a week", ActionButton.SNOOZE, value),
        Button("New due date", ActionButton.DUE, value),
        Button("Blocked", ActionButton.BLOCKED, value),
        Button("Hand over", ActionButton.HANDOVER, value),
    ]


async def button(press: ButtonPress, deps: Deps) -> Reply | None:
    """A click on an action card."""
    store = deps.store
    if press.action == ActionButton.LIST:
        return await mine(press.who, deps)
    if press.action == ActionButton.ACCEPT:
        proposal_id = parse_id(press.value)
        accepted = await Reviews(store).accept(
            proposal_id, actor_id=await _person(press.who, store)
        )
        due = f", due {accepted.due_date.isoformat()}" if accepted.due_date else ""
        note = f"✅ Accepted: *{accepted.description.rstrip(' .;:')}*{due}."
        return replace(await _listing(press.who, deps, note), replace=True)
    action = await _owned(press.value, press.who, store)
    match press.action:
        case ActionButton.DONE:
            return _form(
                ActionButton.DONE,
                action,
                "Mark as done",
                Input("evidence", "What changed? (a link or a sentence of evidence)", True),
            )
        case ActionButton.SNOOZE | ActionButton.SNOOZE_DAY:
            days = 1 if press.action == ActionButton.SNOOZE_DAY else SNOOZE_DAYS
            start = max(action.due_date or store.today(), store.today())
            new_due = start + timedelta(days=days)
            person = await _person(press.who, store)
            await store.update_action(
                action.id,
                actor_id=person,
                due_date=new_due,
                note="snoozed a day" if days == 1 else "snoozed a week",
                surface=press.who.platform,
            )
            return await _refreshed(press.who, deps, f"Snoozed: now due {new_due.isoformat()}.")
        case ActionButton.DUE:
            return _form(
                ActionButton.DUE,
                action,
                "New due date",
                Input("due", f"New due date ({DUE_HINT})", date=True),
                Input("why", "Why it moves (optional)", optional=True),
            )
        case ActionButton.BLOCKED:
            return _form(
                ActionButton.BLOCKED,
                action,
                "What is blocking it?",
                Input("reason", "What is in the way, and who could unblock it?", True),
            )
        case ActionButton.HANDOVER:
            return _form(
                ActionButton.HANDOVER,
                action,
                "Hand over to someone",
                Input("email", "Who takes it over? (a name, @mention or email)"),
                Input("why", "A note for them (optional)", True, optional=True),
            )
    raise UserError("That button is out of date. Type `actions` to see your actions.")


async def form(submit: FormSubmit, deps: Deps) -> Reply | None:
    """A submitted action form: `action.done:12` and friends."""
    store = deps.store
    kind, _, action_id = submit.form.partition(":")
    action = await _owned(action_id, submit.who, store)
    person = await _person(submit.who, store)
    values = {k: v.strip() for k, v in submit.values.items()}
    surface = submit.who.platform
    match kind:
        case ActionButton.DONE:
            await store.move_action(
                action.id,
                ActionStatus.DONE,
                actor_id=person,
                evidence=values.get("evidence"),
                surface=surface,
            )
            note = "Done. Thank you: that is how a lesson becomes learned."
        case ActionButton.DUE:
            due = _parse_date(values.get("due", ""), today=store.today())
            await store.update_action(
                action.id,
                actor_id=person,
                due_date=due,
                note=values.get("why") or None,
                surface=surface,
            )
            note = f"Now due {due.isoformat()}."
        case ActionButton.BLOCKED:
            await store.move_action(
                action.id,
                ActionStatus.BLOCKED,
                actor_id=person,
                reason=values.get("reason"),
                surface=surface,
            )
            note = "Marked as blocked. Your manager will see what is in the way."
        case ActionButton.HANDOVER:
            new_owner = await reach.named(values.get("email", ""), deps)
            if new_owner.id == person:
                raise UserError("That is you: pick someone else to hand over to.")
            why = values.get("why") or None
            await store.update_action(
                action.id,
                actor_id=person,
                owner_id=new_owner.id,
                note=why,
                surface=surface,
            )
            reached = await _tell_new_owner(new_owner.id, action, submit.who, why, deps)
            note = f"Handed over to {new_owner.name}."
            if not reached:
                note += " I could not message them here: please let them know."
        case _:
            raise UserError("That form is out of date. Type `actions` to see your actions.")
    return await _refreshed(submit.who, deps, note)


async def _refreshed(who: UserRef, deps: Deps, note: str) -> Reply:
    reply = await _listing(who, deps, note=f"✅ {note}")
    return Reply(reply.elements, private=True, replace=True)


async def _tell_new_owner(
    owner_id: int, action: ActionView, by: UserRef, why: str | None, deps: Deps
) -> bool:
    giver = by.display_name or by.user_id
    person = await deps.store.person_for(by.platform, by.user_id)
    if person is not None and (member := await Reviews(deps.store).member(person)) is not None:
        giver = member.name
    # The card shows the new owner only what they may see (knowledge.access).
    (action,) = await as_seen([await deps.store.action(action.id)], owner_id, deps.store)
    heading = f"{giver} handed an action over to you."
    if why:
        heading += f"\nTheir note: “{unlinked(why)}”"
    card = Reply.of(Text(heading), *action_card(action, today=deps.store.today()))
    return await reach.send_to(owner_id, card, deps)


def _form(kind: ActionButton, action: ActionView, title: str, *inputs: Input) -> Reply:
    return Reply.of(
        Text(f"*{action.description}*"),
        Form(f"{kind}:{action.id}", title, inputs),
        private=True,
    )


async def _person(who: UserRef, store: Store) -> int:
    person = await store.person_for(who.platform, who.user_id)
    if person is None:
        raise UserError(
            "I don't know you yet, so you have no actions. Ask a Policy and Best Practices "
            "Officer to add you to the directory."
        )
    return person


async def _owned(value: str, who: UserRef, store: Store) -> ActionView:
    action_id = parse_id(
        value, stale="That button is out of date. Type `actions` to see your actions."
    )
    action = await store.action(action_id)
    person = await _person(who, store)
    # The card's moves (done, snooze, new date, blocked, hand over) are its owner's to make.
    await Roles(store).check_action(action.id, Operation.MANAGE_OWN_ACTION, actor_id=person)
    if action.status.is_closed:
        raise UserError("That action is already closed. Type `actions` to see your open ones.")
    return action


def _parse_date(text: str, *, today: date) -> date:
    return read_day(text, today=today)
