"""One conversation engine for After-Action Reviews and End of Assignment interviews.

In the manner of python-telegram-bot's ConversationHandler, a `Conversation` declares in one
place its entry points (the commands that start or steer it), its states (what a message does
while the review is active, and once it has ended) and its fallbacks. An incoming message goes
through two steps:

1. `check`: find the review this message belongs to, once (an AAR by its thread, an interview
   by its direct message). None: the message is not part of a review, and the router goes on.
2. `handle`: the `Turn` (the message, its review and its author) goes to the first route of
   the review's state that matches it; every step reads the review from the turn, never again
   from the database.

The moves (`steer`), closing (`close`), the facilitator's buttons (`press`) and edits of
answers (`change`) are the same for both kinds; `Look` holds the replies in which they differ.
AAR and EoAR keep only what is theirs: handlers/reviews/aar.py and handlers/reviews/eoar.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from handlers import reach
from handlers.chat import ButtonPress, Command, Deletion, Edit, Element, Message, Reply, Text
from handlers.errors import UserError
from handlers.ids import parse_ids
from handlers.reviews.cards import CONTROLS, owner_card
from handlers.validation import request as request_validation
from knowledge.models import ProposalStatus
from knowledge.reviews import Closing, Control, Reviews, ReviewView
from knowledge.search.answer import Viewer
from knowledge.search.text import clip

if TYPE_CHECKING:
    from handlers.router import Deps


class Phase(StrEnum):
    """The states of a review's conversation, as a message sees them."""

    ACTIVE = "active"  # running or paused: answers and control words
    ENDED = "ended"  # closed or cancelled a short while ago: late messages are returned


@dataclass(frozen=True, slots=True)
class Turn:
    """A message that belongs to a review: the check step found the review, once."""

    message: Message
    review: ReviewView
    person: int | None = None  # its author in the directory (looked up while ACTIVE)

    @property
    def text(self) -> str:
        """Return the message's text, stripped."""
        return self.message.text.strip()

    @property
    def control(self) -> Control | None:
        """Return the control word the message is, or None for an answer."""
        return control_word(self.message.text)

    @property
    def by_facilitator(self) -> bool:
        """Return True when the facilitator (an interview's author) sent the message."""
        return self.person is not None and self.person == self.review.facilitator_id


Step = Callable[[Turn, "Deps"], Awaitable[Reply | None]]


@dataclass(frozen=True, slots=True)
class Route:
    """One handler of a state: the first route whose `when` holds handles the turn."""

    when: Callable[[Turn], bool]
    step: Step


def always(turn: Turn) -> bool:
    """Match every turn (the last route of a state)."""
    return True


@dataclass(frozen=True, slots=True)
class Look:
    """The replies in which the kinds of review differ."""

    question: Callable[[ReviewView], list[Element]]  # the current question and its buttons
    paused: Callable[[ReviewView], Reply]
    cancelled: Callable[[ReviewView], Reply]
    summary: Callable[[Closing, dict[int, bool], bool | None], Reply]  # after closing
    validation_card: Callable[[Closing], Reply]  # what the validator is asked
    closing_viewer: Callable[[ReviewView, int | None, Deps], Awaitable[Viewer]]
    kept: Callable[[ReviewView], Reply]  # an answer edited after closing: the record keeps it


@dataclass(frozen=True, slots=True)
class Pressed:
    """What a facilitator's button did: the review as the button saw it, and the reply."""

    review: ReviewView
    step: int  # the question the button was pressed on
    person: int | None  # who pressed it
    reply: Reply


@dataclass(frozen=True, slots=True)
class Conversation:
    """A kind of review as a conversation: entry points, states, fallbacks, in one place."""

    kind: str  # the review kind, and the prefix of its buttons
    entry_points: Callable[[Command, Deps], Awaitable[Reply | None]]  # `/aar …`, `/lessons eoar`
    find: Callable[[Message, Deps], Awaitable[ReviewView | None]]  # the check step's one lookup
    states: Mapping[Phase, Sequence[Route]]
    fallbacks: Sequence[Route]
    look: Look
    undoable: bool = False  # a move whose question could not be posted is rolled back
    ended_button: Callable[[ReviewView], str] | None = None  # refuse buttons of ended ones
    # A message edited into an answer (it had no words before): the step that adds it, if any.
    edited: Callable[[Message, Deps], Awaitable[Reply | None]] | None = None

    async def check(self, msg: Message, deps: Deps) -> Turn | None:
        """Return the turn of a message that belongs to a review of this kind, else None."""
        review = await self.find(msg, deps)
        return None if review is None else Turn(msg, review)

    async def handle(self, turn: Turn, deps: Deps) -> Reply | None:
        """Hand a turn to the first route of its state (then the fallbacks) that matches it."""
        phase = Phase.ACTIVE if turn.review.status.is_active else Phase.ENDED
        if phase == Phase.ACTIVE:
            who = turn.message.who
            turn = replace(turn, person=await deps.store.person_for(who.platform, who.user_id))
        for route in (*self.states.get(phase, ()), *self.fallbacks):
            if route.when(turn):
                return await route.step(turn, deps)
        return None

    async def press(self, press: ButtonPress, deps: Deps) -> Pressed:
        """A facilitator's button ("<kind>.next" with "<review>:<step>"): steer the review."""
        control = CONTROLS.get(press.action)
        if control is None or not press.action.startswith(f"{self.kind}."):
            raise UserError("That button is out of date.")
        review_id, step = button_ids(press.value, 2)
        review = await Reviews(deps.store).get(review_id)
        if review.kind != self.kind:
            raise UserError("That button is out of date.")
        if self.ended_button is not None and not review.status.is_active:
            raise UserError(self.ended_button(review))
        person = await deps.store.person_for(press.who.platform, press.who.user_id)
        return Pressed(review, step, person, await self.steer(review, control, person, step, deps))

    async def steer(
        self,
        review: ReviewView,
        control: Control,
        person: int | None,
        step: int | None,
        deps: Deps,
    ) -> Reply:
        """Move, pause, resume, cancel or close a review (the facilitator only).

        `step` is the question a button was pressed on: a stale button does not move twice.
        """
        if control == Control.CLOSE:
            return await self.close(review, person, deps)
        reviews = Reviews(deps.store)
        updated = await reviews.control(review.id, control, actor_id=person, step=step)
        if control == Control.PAUSE:
            return self.look.paused(updated)
        if control == Control.CANCEL:
            return self.look.cancelled(updated)
        lead = [Text("▶️ We carry on.")] if control == Control.RESUME else []
        shown = Reply.of(*lead, *self.look.question(updated))
        if self.undoable and updated.step != review.step:  # the move holds once it is shown
            return replace(shown, undo=f"{self.kind}:{updated.id}:{review.step}:{updated.step}")
        return shown

    async def close(self, review: ReviewView, person: int | None, deps: Deps) -> Reply:
        """Close a review: save its record, send the owners their cards, ask for validation."""
        viewer = await self.look.closing_viewer(review, person, deps)
        closing = await Reviews(deps.store).close(review.id, actor_id=person, viewer=viewer)
        sent, validation = await send_closing(closing, self.look.validation_card, deps)
        return self.look.summary(closing, sent, validation)


async def change(
    event: Edit | Deletion, conversations: Sequence[Conversation], deps: Deps
) -> Reply | None:
    """An edited or deleted message: update or remove the answer it holds, in any review."""
    where = event.where
    text = event.text.strip() if isinstance(event, Edit) else ""
    usable = bool(text) and has_words(text)
    changed = await Reviews(deps.store).edit_answer(
        where.platform, where.channel_id, event.message_id, text if usable else None
    )
    if changed is None:
        if not (isinstance(event, Edit) and usable):
            return None
        # A message that was not an answer (emoji only, say) may have become one.
        msg = Message(event.who, where, text, direct=False, message_id=event.message_id)
        for conversation in conversations:
            if conversation.edited is not None:
                return await conversation.edited(msg, deps)  # kinds whose edits may answer
        return None
    if not changed.applied:
        kind = next(c for c in conversations if c.kind == changed.review.kind)
        return kind.look.kept(changed.review)
    if isinstance(event, Edit) and not usable:
        return private("Your message has no words in it now, so I took it out of the review.")
    return None


async def send_closing(
    closing: Closing, card: Callable[[Closing], Reply], deps: Deps
) -> tuple[dict[int, bool], bool | None]:
    """Send each proposed owner their card and the validator the request (an AAR or an EoAR).

    Return who was reached, by proposal id, and whether the validation request was sent
    (None: nobody to ask).
    """
    sent: dict[int, bool] = {}
    for proposal in closing.proposals:
        if proposal.status == ProposalStatus.PROPOSED:
            sent[proposal.id] = await reach.send_to(proposal.owner_id, owner_card(proposal), deps)
    validation = None
    if closing.validator is not None and closing.product_id is not None:
        heading = list(card(closing).elements)
        validation = await request_validation(closing.product_id, closing.validator, heading, deps)
    return sent, validation


def unusable(text: str, where: str) -> Reply | None:
    """Explain why a message cannot be an answer (no text, no words), or None when it can.

    `where` names what it would be added to: "the review", "your report".
    """
    if not text:
        return private(f"That message had no text, so I did not add it to {where}.")
    if not has_words(text):
        return private(
            f"I keep only words in {where}, so “{clip(text, 20)}” was not added. Say in a "
            "few words what you mean, and it will be."
        )
    return None


def control_word(text: str) -> Control | None:
    """Return the control a whole message is ("Next.", " pause "), or None for an answer."""
    word = text.strip().lower().rstrip(".!?… ").lstrip("/")
    return Control(word) if word in Control.__members__.values() else None


def has_words(text: str) -> bool:
    """Return True when a text has a letter or a digit (an emoji alone is no answer)."""
    return any(c.isalnum() for c in text)


def button_ids(value: str, count: int) -> tuple[int, ...]:
    """Read the ids a button value or form key carries ("12:3"), or explain it is stale."""
    return parse_ids(value, count)


def private(text: str) -> Reply:
    """Build a reply only its reader sees."""
    return Reply.of(Text(text), private=True)
