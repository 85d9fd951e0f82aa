"""After-Action Review: a conversation in a channel thread, from prompt to tracked actions.

`/aar start <event>` posts the ground rules and the first question as a new channel message
(handlers/reviews/aar_start.py); its thread is the review. Answers are stored as they arrive
(anonymous ones through a private form: handlers/reviews/anonymous.py), the facilitator moves
the review on with buttons or plain words, and closing posts a summary, saves an AAR product in
the lessons index and sends each proposed owner a card (handlers/reviews/proposals.py). The
conversation itself is the shared engine (handlers/reviews/conversation.py); `CONVERSATION`
below declares what is the AAR's: its entry points, states and replies. The state lives in the
database (knowledge/reviews/): a restart loses nothing.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from handlers.chat import (
    Button,
    ButtonPress,
    Command,
    ConversationRef,
    Element,
    FormSubmit,
    Message,
    Reply,
    Text,
)
from handlers.deps import Deps
from handlers.errors import UserError
from handlers.ids import is_id
from handlers.reviews import aar_start, anonymous, proposals
from handlers.reviews.aar_start import active_here, opening_for, thread_review
from handlers.reviews.cards import (
    CONTROLS,
    AarButton,
    AarForm,
    question_elements,
    summary_reply,
    validation_card,
)
from handlers.reviews.conversation import (
    Conversation,
    Look,
    Phase,
    Route,
    Turn,
    always,
    control_word,
    has_words,
    private,
    unusable,
)
from knowledge.models import ReviewStatus
from knowledge.reviews import MAX_ANSWER, Reviews, ReviewView
from knowledge.reviews.participants import Participants
from knowledge.search.answer import Viewer
from knowledge.search.text import words

log = logging.getLogger(__name__)

USAGE = """*After-Action Reviews*
• `/aar start <event>`: start a review in this channel; I open a thread for it
• `/aar schedule <event> <when it ends>`: for example `/aar schedule Election day tomorrow 17:00`
• Mention people to hear from: `/aar start Election day with @Tomás @Priya`
• In the review's thread the facilitator says `next`, `back`, `skip`, `pause`, `resume`, \
`close` or `cancel` (or uses the buttons)
• Each question has a time box (30 minutes unless your admin set another): when it is up I \
post the next question; after the last one the review waits for the facilitator to close it. \
`pause` stops the clock.
• Halfway through a question I remind, privately and once per review, the people mentioned, \
invited or who spoke in the thread but have not answered yet
• `/aar invite @name …` in the thread: add people to hear from (facilitator only)
• `/aar facilitator @name` in the thread: hand the review to someone else"""


# The entry points ----------------------------------------------------------------------------


async def command(cmd: Command, deps: Deps) -> Reply | None:
    """`/aar start <event>` and friends."""
    word, _, rest = cmd.text.strip().partition(" ")
    word = word.lower()
    if word in ("", "help"):
        return Reply.of(Text(USAGE), private=True)
    if word == "start":
        return await aar_start.start(cmd, rest, deps)
    if word == "schedule":
        return await aar_start.schedule(cmd, rest, deps)
    if word in ("facilitator", "handover", "hand"):
        return await aar_start.hand_over(cmd, rest.removeprefix("over").strip(), deps)
    if word == "invite":
        return await aar_start.invite(cmd, rest, deps)
    if (control := control_word(word)) is not None and not rest.strip():
        review = await active_here(cmd.where, deps)
        person = await deps.store.person_for(cmd.who.platform, cmd.who.user_id)
        return await CONVERSATION.steer(review, control, person, None, deps)
    raise UserError(f"I don't know `/aar {word}`.\n{USAGE}")


# The check step: which review a thread message belongs to ------------------------------------


async def find(msg: Message, deps: Deps) -> ReviewView | None:
    """Return the review of a message's thread: the active one, or one closed only just now."""
    if opens_thread(msg):
        return None
    return await thread_review(msg.where, deps)


def opens_thread(message: Message) -> bool:
    """Return True for a message at the root of its own thread (a new mention, not a reply).

    A review runs in a thread that an earlier message started, so such a message is never an
    answer to one, and nobody need look (the check costs a query per mention).
    """
    return message.message_id is not None and message.message_id == message.where.thread_id


# The handle step's routes --------------------------------------------------------------------


def _typed_command(turn: Turn) -> bool:
    """Match "aar pause" typed in the thread: a command, not an answer."""
    return turn.text.partition(" ")[0].lower().lstrip("/") == "aar"


async def _run_command(turn: Turn, deps: Deps) -> Reply | None:
    msg = turn.message
    return await command(Command(msg.who, msg.where, "aar", turn.text.partition(" ")[2]), deps)


def _facilitator_control(turn: Turn) -> bool:
    return turn.control is not None and turn.by_facilitator


async def _steer(turn: Turn, deps: Deps) -> Reply | None:
    assert turn.control is not None
    return await CONVERSATION.steer(turn.review, turn.control, turn.person, None, deps)


def _other_control(turn: Turn) -> bool:
    return turn.control is not None


async def _not_yours(turn: Turn, deps: Deps) -> Reply | None:
    assert turn.control is not None
    await _joined(turn.review, turn.person, deps)
    return private(
        f"Only the facilitator ({turn.review.facilitator_name}) can say `{turn.control.value}` "
        "to the review, so your message was not added as an answer."
    )


async def _answer(turn: Turn, deps: Deps) -> Reply | None:
    review, text, person = turn.review, turn.text, turn.person
    if not text or not has_words(text):
        await _joined(review, person, deps)  # they are here: an answer may follow
    if (refused := unusable(text, "the review")) is not None:
        return refused
    saved = await Reviews(deps.store).add_answer(
        review, step=review.step, text=text, person_id=person, message_id=turn.message.message_id
    )
    notes = []
    if saved.clipped:
        notes.append(
            f"Your answer was {len(text):,} characters long, so I kept the first "
            f"{MAX_ANSWER:,}. Post the rest as another message."
        )
    if saved.review.status == ReviewStatus.PAUSED:
        notes.append(
            f"The review is paused, but your answer was saved to question {review.step + 1}."
        )
    if saved.first_guest:
        notes.append(
            "Saved. I could not find you in the staff directory, so your answer shows as from "
            "*a guest*. Ask a PBPO to add you so your contributions are credited."
        )
    elif len(words(text)) == 1:
        notes.append("Saved. A sentence on *why* helps others learn: edit your message to add it.")
    return private("\n".join(notes)) if notes else None


async def _too_late(turn: Turn, deps: Deps) -> Reply | None:
    return _closed_notice(turn.review, "this message was not added to it")


# The replies that are the AAR's --------------------------------------------------------------


def paused_reply(review: ReviewView) -> Reply:
    """Build the thread's note that the facilitator paused the review."""
    return Reply.of(
        Text(
            f"⏸ The review is paused by {review.facilitator_name}. Answers posted here are "
            "still saved; say `resume` to carry on."
        ),
        Button("Resume", AarButton.RESUME, f"{review.id}:{review.step}"),
    )


def cancelled_reply(review: ReviewView) -> Reply:
    """Build the thread's note that the review was cancelled."""
    return Reply.of(
        Text(
            f"The review of *{review.event}* was cancelled by its facilitator. The answers "
            "given so far are kept with it, but nothing was added to the lessons index."
        )
    )


async def _closing_viewer(review: ReviewView, person: int | None, deps: Deps) -> Viewer:
    """Repeats are searched among what the review's channel may see."""
    return await deps.store.viewer_for(None, channel=review.space)


async def edited(msg: Message, deps: Deps) -> Reply | None:
    """A thread message edited from no words into some: it becomes an answer, if in a review."""
    if msg.where.thread_id is None:
        return None
    review = await thread_review(msg.where, deps)
    if review is None or not review.status.is_active or control_word(msg.text) is not None:
        return None
    person = await deps.store.person_for(msg.who.platform, msg.who.user_id)
    return await _answer(Turn(msg, review, person), deps)


def kept_notice(review: ReviewView) -> Reply:
    """Build the note on an answer edited after closing: the saved record keeps it as it was."""
    return _closed_notice(
        review,
        "its saved record keeps your message as it was. Ask the facilitator"
        f" ({review.facilitator_name}) if it must change",
    )


CONVERSATION = Conversation(
    kind="aar",
    entry_points=command,
    find=find,
    states={
        Phase.ACTIVE: (
            Route(_typed_command, _run_command),
            Route(_facilitator_control, _steer),
            Route(_other_control, _not_yours),
            Route(always, _answer),
        ),
        Phase.ENDED: (Route(_typed_command, _run_command),),
    },
    fallbacks=(Route(always, _too_late),),
    look=Look(
        question=question_elements,
        paused=paused_reply,
        cancelled=cancelled_reply,
        summary=lambda closing, sent, validation: summary_reply(
            closing, sent=sent, validation_sent=validation
        ),
        validation_card=validation_card,
        closing_viewer=_closing_viewer,
        kept=kept_notice,
    ),
    undoable=True,
    edited=edited,
)


# Buttons, forms, edits ----------------------------------------------------------------------


async def button(press: ButtonPress, deps: Deps) -> Reply | None:
    """A click on a review button."""
    try:
        action = AarButton(press.action)
    except ValueError:
        raise UserError("That button is out of date.") from None
    if action == AarButton.ANONYMOUS:
        return await anonymous.form_for(press, deps)
    if action not in CONTROLS:
        return await proposals.button(press, action, deps)
    pressed = await CONVERSATION.press(press, deps)
    retire = await _retired(pressed.review, action, pressed.step, pressed.person, deps)
    return replace(pressed.reply, retire=retire)


async def form(submit: FormSubmit, deps: Deps) -> Reply | None:
    """A submitted review form (anonymous answer, action details)."""
    kind, _, key = submit.form.partition(":")
    if kind == AarForm.ANONYMOUS:
        return await anonymous.submitted(submit, key, deps)
    return await proposals.form(submit, kind, key, deps)


async def posted(key: str, where: ConversationRef, deps: Deps) -> None:
    """The review's opening message was posted: remember its thread."""
    if not is_id(key) or where.thread_id is None:
        log.warning("review opening posted without a usable key or thread: %r %r", key, where)
        return
    await Reviews(deps.store).posted(int(key), where.thread_id)


async def begin_scheduled(review_id: int, deps: Deps) -> Reply:
    """Start a scheduled review; post the reply in its channel (it carries the anchor)."""
    review = await Reviews(deps.store).begin(review_id)
    return opening_for(review, deps)


async def not_shown(key: str, deps: Deps) -> None:
    """A step's question could not be posted: go back to the question people last saw."""
    try:
        review_id, back_to, moved_to = (int(part) for part in key.split(":"))
    except ValueError:
        log.warning("not_shown: an unusable key %r", key)
        return
    await Reviews(deps.store).unstep(review_id, back_to=back_to, moved_to=moved_to)


_DONE_BY = {
    AarButton.NEXT: "Moved on",
    AarButton.BACK: "Went back",
    AarButton.SKIP: "Skipped",
    AarButton.PAUSE: "Paused",
    AarButton.RESUME: "Resumed",
    AarButton.CLOSE: "Closed and saved",
    AarButton.CANCEL: "Cancelled",
}


async def _retired(
    review: ReviewView, action: AarButton, step: int, person: int | None, deps: Deps
) -> tuple[Element, ...]:
    """Return what a question card becomes once a facilitator's button moved the review on."""
    member = await Reviews(deps.store).member(person) if person is not None else None
    who = member.name if member else review.facilitator_name
    done = f"_{_DONE_BY.get(action, 'Done')} by {who}._"
    if action == AarButton.RESUME or not 0 <= step < len(review.questions):
        return (Text(f"{done}"),)
    question = review.questions[step].text
    return (Text(f"*Question {step + 1} of {len(review.questions)}:* {question}\n{done}"),)


async def _joined(review: ReviewView, person: int | None, deps: Deps) -> None:
    """Remember that someone of the directory spoke in a review's thread."""
    if person is not None and person != review.facilitator_id:
        await Participants(deps.store).join(review.id, [person])


def _closed_notice(review: ReviewView, what: str) -> Reply:
    when = f" at {review.closed_at:%H:%M} UTC" if review.closed_at else ""
    return private(f"The review of *{review.event}* was {review.status.value}{when}, so {what}.")
