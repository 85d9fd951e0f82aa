"""End of Assignment Reports as an interview in the person's direct messages with the bot.

`/lessons eoar` (or the scheduler's EoAR reminder, through `start_eoar`) sends the first question
to the person's DM, wherever the command was typed: a report is personal and candid, so it is
written one to one. The same conversation engine as After-Action Reviews runs it
(handlers/reviews/conversation.py: stored state, one question at a time, `next`, `back`, `skip`,
`pause`, `resume`, `close`, `cancel`), without anonymity or a time box: only the person
answers, at their own pace. While it is paused, the DM is free for ordinary questions again.

Closing saves an End of Assignment Report in the lessons index: authored by the person, its
lessons *identified*, visible only to them, their manager and their mission's PBPOs until
validated; their manager (else a mission PBPO) is asked to validate it, and recommendations for
the successor become proposed actions, as an AAR's do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from handlers import reach
from handlers.chat import (
    Button,
    ButtonPress,
    Command,
    ConversationRef,
    Divider,
    Element,
    Fields,
    Message,
    Reply,
    Text,
    UserRef,
    unlinked,
)
from handlers.errors import UserError
from handlers.ids import is_id
from handlers.reviews.cards import (
    SHOWN_ANSWER,
    SHOWN_PER_QUESTION,
    EoarButton,
    proposal_elements,
    repeat_line,
    steering_buttons,
    text_chunks,
)
from handlers.reviews.config import eoar_question_set
from handlers.reviews.conversation import (
    Conversation,
    Look,
    Phase,
    Route,
    Turn,
    always,
    control_word,
    private,
    unusable,
)
from knowledge.models import ReviewStatus
from knowledge.reviews import MAX_ANSWER, Closing, QuestionKind, ReviewView
from knowledge.reviews.interviews import KIND, Interviews, Opened
from knowledge.search.answer import Viewer
from knowledge.search.text import clip, words

if TYPE_CHECKING:
    from handlers.deps import Deps

log = logging.getLogger(__name__)

CLOSED_GRACE = timedelta(minutes=10)  # a late message in the DM is returned, not searched

REQUESTS = frozenset(
    {
        "eoar",
        "eoar start",
        "start eoar",
        "end of assignment",
        "end-of-assignment",
        "end of assignment report",
    }
)

USAGE = """*Your End of Assignment Report*
I ask five questions here, one at a time: key achievements, lessons, good practices, gaps, \
and recommendations for your successor.
• Answer in as many messages as you like, then say `next`. `back`, `skip`, `pause`, \
`resume`, `close` (save the report) and `cancel` work too.
• While we are paused, I answer your questions here as usual; `/lessons eoar` picks up where \
we left off.
• Your report stays visible only to you, your manager and your mission's PBPOs until it is \
validated."""

UNKNOWN = (
    "I can't write an End of Assignment Report with you yet: you are not in the staff "
    "directory, and the report needs an author and a validator. Ask a PBPO to add you."
)


@dataclass(frozen=True, slots=True)
class Started:
    """What starting an interview did: `resumed` one already running, `reached` the person."""

    review_id: int
    resumed: bool
    reached: bool


def requested(text: str) -> bool:
    """Return True when a whole command or message asks for the interview (`eoar`)."""
    return " ".join(text.lower().split()).lstrip("/") in REQUESTS


async def start_eoar(person_id: int, deps: Deps) -> Started:
    """Start a person's interview in their DM with the bot, or send where it stands.

    The scheduler's EoAR reminder calls this; `reached` is False when the notifier could not
    reach them (the interview then waits, unsent, for `/lessons eoar`).
    """
    platform = deps.notifier.platform if deps.notifier else "local"
    opened = await Interviews(deps.store).open(
        person_id, platform=platform, questions=eoar_question_set(deps.settings)
    )
    reached = await reach.send_to(person_id, opening_for(opened), deps)
    return Started(opened.review.id, opened.resumed, reached)


async def command(who: UserRef, where: ConversationRef, deps: Deps) -> Reply | None:
    """`/lessons eoar`: the interview goes to the person's DM; a channel gets a private note."""
    person = await deps.store.person_for(who.platform, who.user_id)
    if person is None:
        raise UserError(UNKNOWN)
    started = await start_eoar(person, deps)
    if not started.reached:
        raise UserError(
            "I could not send you a direct message, so your End of Assignment interview could "
            "not start. Open a direct message with me and type `/lessons eoar` there."
        )
    review = await Interviews(deps.store).get(started.review_id)
    if (review.platform, review.channel_id) == (where.platform, where.channel_id):
        return None  # typed in our DM: the question is right there
    how = "goes on" if started.resumed else "has started"
    return Reply.of(
        Text(
            f"📝 Your End of Assignment interview {how} in our direct messages: I sent you "
            f"question {review.step + 1} of {len(review.questions)} there. It is one to one, "
            "so nobody in this channel sees your answers."
        ),
        private=True,
    )


def opening_for(opened: Opened) -> Reply:
    """Build the interview's opening (or where it stands), anchored to learn the DM it lands in."""
    review = opened.review
    if opened.resumed:
        lead = Text(
            f"*Your End of Assignment interview* goes on: we are on question {review.step + 1} "
            f"of {len(review.questions)}. Say `help` for how it works."
        )
    else:
        lead = Text(
            f"*Your End of Assignment Report*\nBefore you leave your post, let's record what "
            f"you learned for your successor and colleagues: {len(review.questions)} questions, "
            "one at a time, here in our direct messages.\n"
            "• Answer in as many messages as you like, then say `next` (or use the buttons). "
            "`back`, `skip`, `pause`, `resume`, `close` and `cancel` work too.\n"
            "• Everything you write here is saved as an answer until we pause or close; use "
            "`/lessons <question>` to ask me something meanwhile.\n"
            "• When you close, I save it as an End of Assignment Report, *identified*, visible "
            "only to you, your manager and your mission's PBPOs until it is validated, and ask "
            "your manager (or a PBPO) to validate it."
        )
    reply = Reply.of(lead, Divider(), *question_elements(review))
    return Reply(reply.elements, anchor=f"eoar:{review.id}")


def question_elements(review: ReviewView) -> list[Element]:
    """Return the current question with its buttons."""
    value = f"{review.id}:{review.step}"
    question = review.question
    lines = [f"*Question {review.step + 1} of {len(review.questions)}:* {question.text}"]
    if question.kind == QuestionKind.RECOMMEND:
        lines.append(
            "_Name an owner and a date where you can, for example: @Amina Diallo to brief the "
            "new team on the checklist by 15 Jan. I list the others for you to complete._"
        )
    return [Text("\n".join(lines)), *steering_buttons("eoar", review, value)]


async def posted(key: str, where: ConversationRef, deps: Deps) -> None:
    """The interview's prompt landed in a DM: the interview runs there."""
    if not is_id(key):
        log.warning("interview prompt posted without a usable key: %r", key)
        return
    await Interviews(deps.store).bind(int(key), where.platform, where.channel_id)


# The check step: which interview a direct message belongs to ---------------------------------


async def find(msg: Message, deps: Deps) -> ReviewView | None:
    """Return the interview of a direct message (active, or closed just now), else None."""
    if not msg.direct or msg.where.channel_name is not None:
        return None  # interviews run in DMs, which have no channel name
    where = msg.where
    review = await Interviews(deps.store).in_conversation(
        where.platform, where.channel_id, closed_since=deps.store.clock() - CLOSED_GRACE
    )
    if review is None:
        return None
    if review.status == ReviewStatus.PAUSED and control_word(msg.text) is None:
        return None  # paused: the DM answers questions again
    return review


# The handle step's routes --------------------------------------------------------------------


def _not_author(turn: Turn) -> bool:
    return not turn.by_facilitator


async def _only_they(turn: Turn, deps: Deps) -> Reply | None:
    return private(f"This is {turn.review.facilitator_name}'s interview: only they answer it.")


def _asks_help(turn: Turn) -> bool:
    return turn.text.lower().rstrip("?! ") == "help"


async def _help(turn: Turn, deps: Deps) -> Reply | None:
    return Reply.of(Text(USAGE), *question_elements(turn.review))


def _is_control(turn: Turn) -> bool:
    return turn.control is not None


async def _steer(turn: Turn, deps: Deps) -> Reply | None:
    assert turn.control is not None
    return await CONVERSATION.steer(turn.review, turn.control, turn.person, None, deps)


async def _answer(turn: Turn, deps: Deps) -> Reply | None:
    review, text = turn.review, turn.text
    if (refused := unusable(text, "your report")) is not None:
        return refused
    saved = await Interviews(deps.store).add_answer(
        review,
        step=review.step,
        text=text,
        person_id=turn.person,
        message_id=turn.message.message_id,
    )
    done = "say `close` to save your report" if review.is_last else "say `next`"
    notes = [f"✅ Saved to question {review.step + 1}. Add more if you like, or {done}."]
    if saved.clipped:
        notes.append(
            f"Your message was {len(text):,} characters long, so I kept the first "
            f"{MAX_ANSWER:,}. Send the rest as another message."
        )
    elif len(words(text)) == 1:
        notes.append("A sentence on *why* helps your successor: add it in another message.")
    return private("\n".join(notes))


async def _too_late(turn: Turn, deps: Deps) -> Reply | None:
    return _closed_notice(turn.review, turn.text)


# The replies that are the interview's --------------------------------------------------------


def paused_reply(review: ReviewView) -> Reply:
    """Build the note that the interview is paused, and the DM free again."""
    return Reply.of(
        Text(
            "⏸ Paused. What you wrote so far is saved, and I answer your questions here as "
            "usual again. Say `resume` (or type `/lessons eoar`) to carry on."
        ),
        Button("Resume", EoarButton.RESUME, f"{review.id}:{review.step}"),
    )


def cancelled_reply(review: ReviewView) -> Reply:
    """Build the note that the interview was cancelled."""
    return Reply.of(
        Text(
            "Cancelled: nothing was added to the lessons index. Start again whenever you "
            "like with `/lessons eoar`."
        )
    )


async def _closing_viewer(review: ReviewView, person: int | None, deps: Deps) -> Viewer:
    """Repeats are searched among what the author may see."""
    return await deps.store.viewer_for(person)


async def _entry(cmd: Command, deps: Deps) -> Reply | None:
    return await command(cmd.who, cmd.where, deps)


def _ended_button(review: ReviewView) -> str:
    return f"This End of Assignment interview was {review.status.value} already."


def summary_reply(
    closing: Closing, *, sent: dict[int, bool], validation_sent: bool | None
) -> Reply:
    """Build the author's summary: answers by question, the report saved, actions, repeats."""
    review = closing.review
    if closing.product_id is None:
        return Reply.of(
            Text(
                "You answered no question, so there was nothing to save. Start again with "
                "`/lessons eoar` whenever you are ready."
            )
        )
    elements: list[Element] = [Text("*Your End of Assignment Report is saved* ✅")]
    for step, question in enumerate(review.questions):
        answers = [a.text for a in closing.answers if a.step == step]
        lines = [f"*{step + 1}. {question.text}*"]
        lines += [f"• {clip(t, SHOWN_ANSWER)}" for t in answers[:SHOWN_PER_QUESTION]]
        if len(answers) > SHOWN_PER_QUESTION:
            more = len(answers) - SHOWN_PER_QUESTION
            lines.append(f"…and {more} more in the saved report.")
        lines += [] if answers else ["_(no answer)_"]
        elements += text_chunks(lines)
    elements += [Divider(), Text(_record_text(closing, validation_sent))]
    elements += proposal_elements(closing, sent, drafts_for="you")
    if closing.repeats:
        elements += text_chunks(["*Seen before*", *(repeat_line(r) for r in closing.repeats)])
    return Reply.of(*elements)


def _record_text(closing: Closing, validation_sent: bool | None) -> str:
    k = closing.lessons
    text = (
        f"Saved in the lessons index as *{closing.product_title}* with {k} "
        f"lesson{'s' * (k != 1)}, status *identified*. Until it is validated, only you, your "
        "manager and your mission's PBPOs can see it."
    )
    validator = closing.validator
    if validator is None:
        return text + " I found no manager or PBPO to validate it: please tell your PBPO."
    if validation_sent:
        return text + f" I asked {validator.name} to validate it."
    return text + f" {validator.name} should validate it (I could not message them here)."


def validation_card(closing: Closing) -> Reply:
    """Build the request to validate a new End of Assignment Report."""
    name = closing.review.facilitator_name
    return Reply.of(
        Text(
            f"*Validation requested: End of Assignment Report of {name}*\n{name} completed an "
            "End of Assignment interview. Its lessons are *identified*, and until they are "
            "validated only they, their manager and their mission's PBPOs can see the report. "
            "Please review it and validate the lessons we should act on."
        ),
        Fields(
            (
                ("Lessons", str(closing.lessons)),
                ("Proposed actions", str(len(closing.proposals))),
                ("Record", closing.product_title or "—"),
            )
        ),
        Text("It waits under *Awaiting your validation* on your home (type `home`)."),
    )


def kept_notice(review: ReviewView) -> Reply:
    """Build the note on an answer edited after the report was saved: it keeps it as it was."""
    return private(
        "Your End of Assignment Report was saved already, so it keeps your message as it "
        "was. Ask your validator to correct it if it must change."
    )


def _closed_notice(review: ReviewView, text: str) -> Reply:
    when = f" at {review.closed_at:%H:%M} UTC" if review.closed_at else ""
    kept = ""
    if text:
        kept = f" Here it is, so you can keep it:\n“{unlinked(clip(text, 2500).strip())}”\n"
    return private(
        f"Your End of Assignment interview was {review.status.value}{when}, so this message was "
        f"not added to it.{kept} Start a new one with `/lessons eoar`, or ask me something with "
        "`/lessons <question>`."
    )


CONVERSATION = Conversation(
    kind=KIND,
    entry_points=_entry,
    find=find,
    states={
        Phase.ACTIVE: (
            Route(_not_author, _only_they),
            Route(_asks_help, _help),
            Route(_is_control, _steer),
            Route(always, _answer),
        ),
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
    ended_button=_ended_button,
)


async def button(press: ButtonPress, deps: Deps) -> Reply | None:
    """A click on an interview's button."""
    return (await CONVERSATION.press(press, deps)).reply
