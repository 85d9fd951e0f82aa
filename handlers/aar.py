"""After-Action Review: a conversation in a channel thread, from prompt to tracked actions.

`/aar start <event>` posts the ground rules and the first question as a new channel message;
its thread is the review. Answers are stored as they arrive (anonymous ones through a private
form), the facilitator moves the review on with buttons or plain words, and closing posts a
summary, saves an AAR product in the lessons index and sends each proposed owner a card.
The state lives in the database (knowledge/reviews.py): a restart loses nothing.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from handlers import reach
from handlers.chat import (
    Button,
    ButtonPress,
    Command,
    ConversationRef,
    Deletion,
    Divider,
    Edit,
    Element,
    Fields,
    Form,
    FormSubmit,
    Input,
    Message,
    Reply,
    Text,
    UserRef,
    unlinked,
)
from handlers.errors import UserError
from handlers.ids import is_id, parse_ids
from handlers.validation import request as request_validation
from knowledge.dates import DUE_HINT, DateError, PastDate, parse_moment, read_day, zone
from knowledge.models import ProposalStatus, ReviewStatus
from knowledge.participants import Participants
from knowledge.reviews import (
    DEFAULT_QUESTIONS,
    MAX_ANSWER,
    Closing,
    Control,
    Member,
    ProposalView,
    Question,
    QuestionKind,
    Repeat,
    Reviews,
    ReviewView,
    find_mentions,
    load_questions,
)
from knowledge.search.answer import Answer
from knowledge.search.text import clip, words

if TYPE_CHECKING:
    from handlers.aar_clock import Tock
    from handlers.deps import Deps

log = logging.getLogger(__name__)

QUESTIONS_ENV = "LESSONS_AAR_QUESTIONS"
DELAY_ENV = "LESSONS_AAR_DELAY_HOURS"
DEFAULT_DELAY = timedelta(hours=2)
MINUTES_ENV = "LESSONS_AAR_QUESTION_MINUTES"
DEFAULT_QUESTION_TIME = timedelta(minutes=30)
MAX_QUESTION_MINUTES = 24 * 60
CLOSED_GRACE = timedelta(hours=6)  # late messages in a closed review's thread are answered
SHOWN_ANSWER = 300
SHOWN_PER_QUESTION = 8
TEXT_LIMIT = 2800  # Slack shows at most 3,000 characters in one section
MAX_WHEN_WORDS = 12  # the longest "when it ends" phrase split_schedule tries
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


class AarButton(StrEnum):
    """Buttons of reviews: controls carry "<review>:<step>", owner cards the proposal id."""

    NEXT = "aar.next"
    BACK = "aar.back"
    SKIP = "aar.skip"
    PAUSE = "aar.pause"
    RESUME = "aar.resume"
    CLOSE = "aar.close"
    CANCEL = "aar.cancel"
    ANONYMOUS = "aar.anonymous"
    ACCEPT = "aar.accept"
    REASSIGN = "aar.reassign"
    REDATE = "aar.redate"
    DECLINE = "aar.decline"
    COMPLETE = "aar.complete"


class AarForm(StrEnum):
    """Forms of reviews; the id is "<form>:<key>"."""

    ANONYMOUS = "aar.anonymous"  # key "<review>:<step>"
    ASSIGN = "aar.assign"  # key "<proposal>": reassign, or complete a draft
    REDATE = "aar.redate"
    DECLINE = "aar.decline"


_CONTROLS = {AarButton(f"aar.{c.value}"): c for c in Control}


def question_set() -> tuple[Question, ...]:
    """Return the questions new reviews ask: the file in LESSONS_AAR_QUESTIONS, or the policy's."""
    path = os.environ.get(QUESTIONS_ENV, "").strip()
    return load_questions(Path(path), fallback=DEFAULT_QUESTIONS) if path else DEFAULT_QUESTIONS


def start_delay() -> timedelta:
    """Return how long after a scheduled event ends its review starts (LESSONS_AAR_DELAY_HOURS)."""
    raw = os.environ.get(DELAY_ENV, "").strip()
    if not raw:
        return DEFAULT_DELAY
    try:
        hours = float(raw)
    except ValueError:
        hours = -1.0
    if not 0 <= hours <= 24 * 14:  # also refuses nan and inf
        log.warning("%s=%r is not 0 to 336 hours; using %s", DELAY_ENV, raw, DEFAULT_DELAY)
        return DEFAULT_DELAY
    return timedelta(hours=hours)


def question_time() -> timedelta:
    """Return each question's time box (LESSONS_AAR_QUESTION_MINUTES; 0 turns it off)."""
    raw = os.environ.get(MINUTES_ENV, "").strip()
    if not raw:
        return DEFAULT_QUESTION_TIME
    try:
        minutes = float(raw)
    except ValueError:
        minutes = -1.0
    if not 0 <= minutes <= MAX_QUESTION_MINUTES:  # also refuses nan and inf
        log.warning(
            "%s=%r is not a number of minutes from 0 (no time box) to %s; using %s",
            MINUTES_ENV,
            raw,
            MAX_QUESTION_MINUTES,
            DEFAULT_QUESTION_TIME,
        )
        return DEFAULT_QUESTION_TIME
    return timedelta(minutes=minutes)


async def tick(deps: Deps, now: datetime) -> list[Tock]:
    """Run the review clock once: due starts, time-boxed questions, reminders (the scheduler).

    See `handlers.aar_clock.tick`; it lives there because it builds on this module.
    """
    from handlers import aar_clock  # imported here: the clock imports this module

    return await aar_clock.tick(deps, now)


def control_word(text: str) -> Control | None:
    """Return the control a whole message is ("Next.", " pause "), or None for an answer."""
    word = text.strip().lower().rstrip(".!?… ").lstrip("/")
    return Control(word) if word in Control.__members__.values() else None


# Incoming ----------------------------------------------------------------------------------


async def command(cmd: Command, deps: Deps) -> Reply | None:
    """`/aar start <event>` and friends."""
    word, _, rest = cmd.text.strip().partition(" ")
    word = word.lower()
    if word in ("", "help"):
        return Reply.of(Text(USAGE), private=True)
    if word == "start":
        return await _start(cmd, rest, deps)
    if word == "schedule":
        return await _schedule(cmd, rest, deps)
    if word in ("facilitator", "handover", "hand"):
        return await _hand_over(cmd, rest.removeprefix("over").strip(), deps)
    if word == "invite":
        return await _invite(cmd, rest, deps)
    if (control := control_word(word)) is not None and not rest.strip():
        review = await _active_here(cmd.where, deps)
        person = await deps.store.person_for(cmd.who.platform, cmd.who.user_id)
        return await _steer(review, control, person, None, deps)
    raise UserError(f"I don't know `/aar {word}`.\n{USAGE}")


async def runs_in(where: ConversationRef, deps: Deps) -> bool:
    """Return True when a review runs in this thread (or closed there only just now)."""
    return where.thread_id is not None and await _thread_review(where, deps) is not None


async def message(msg: Message, deps: Deps) -> Reply | None:
    """An answer or a facilitator word in a review thread."""
    review = await _thread_review(msg.where, deps)
    if review is None:
        return None
    word, _, rest = msg.text.strip().partition(" ")
    if word.lower().lstrip("/") == "aar":  # "aar pause", typed: a command, not an answer
        return await command(Command(msg.who, msg.where, "aar", rest), deps)
    if not review.status.is_active:
        return _closed_notice(review, "this message was not added to it")
    person = await deps.store.person_for(msg.who.platform, msg.who.user_id)
    control = control_word(msg.text)
    if control is not None:
        if person is not None and person == review.facilitator_id:
            return await _steer(review, control, person, None, deps)
        await _joined(review, person, deps)
        return _private(
            f"Only the facilitator ({review.facilitator_name}) can say `{control.value}` to "
            "the review, so your message was not added as an answer."
        )
    return await _answer(review, msg, person, deps)


async def button(press: ButtonPress, deps: Deps) -> Reply | None:
    """A click on a review button."""
    person = await deps.store.person_for(press.who.platform, press.who.user_id)
    reviews = Reviews(deps.store)
    try:
        action = AarButton(press.action)
    except ValueError:
        raise UserError("That button is out of date.") from None
    if action in _CONTROLS or action == AarButton.ANONYMOUS:
        review_id, step = button_ids(press.value, 2)
        review = await reviews.get(review_id)
        if review.kind != "aar":
            raise UserError("That button is out of date.")
        if action == AarButton.ANONYMOUS:
            if (press.where.platform, press.where.channel_id) != (
                review.platform,
                review.channel_id,
            ):
                raise UserError(ELSEWHERE)
            seal = await deps.store.seal(_anonymous_key(review.id, step, press.who))
            return _anonymous_form(review, step, seal)
        reply = await _steer(review, _CONTROLS[action], person, step, deps)
        return replace(reply, retire=await _retired(review, action, step, person, deps))
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


async def form(submit: FormSubmit, deps: Deps) -> Reply | None:
    """A submitted review form (anonymous answer, action details)."""
    kind, _, key = submit.form.partition(":")
    person = await deps.store.person_for(submit.who.platform, submit.who.user_id)
    values = {k: v.strip() for k, v in submit.values.items()}
    if kind == AarForm.ANONYMOUS:
        ids, _, seal = key.rpartition(":")
        review_id, step = button_ids(ids, 2)
        # The form was handed to this person from the review's own conversation (its seal
        # says so): a form id written by hand, or another channel's review, adds nothing.
        expected = await deps.store.seal(_anonymous_key(review_id, step, submit.who))
        if not hmac.compare_digest(seal, expected):
            raise UserError(ELSEWHERE)
        return await _anonymous(review_id, step, values.get("answer", ""), person, deps)
    proposal_id = button_ids(key, 1)[0]
    reviews = Reviews(deps.store)
    if kind == AarForm.ASSIGN:
        return await _assign(proposal_id, values, person, deps)
    if kind == AarForm.REDATE:
        due = _day(values.get("due", ""), deps)
        proposal = await reviews.redate(proposal_id, actor_id=person, due=due)
        await _tell_facilitator(
            proposal, f"{_owner(proposal)} proposes {due.isoformat()} instead.", deps
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
        await _tell_facilitator(proposal, f"{_owner(proposal)} declined it: {reason}", deps)
        return _private(f"Declined. I told {proposal.facilitator_name}, with your reason.")
    raise UserError("That form is out of date.")


async def change(event: Edit | Deletion, deps: Deps) -> Reply | None:
    """An edited or deleted message: update or remove a stored answer."""
    where = event.where
    text = event.text.strip() if isinstance(event, Edit) else ""
    usable = bool(text) and has_words(text)
    reviews = Reviews(deps.store)
    changed = await reviews.edit_answer(
        where.platform, where.channel_id, event.message_id, text if usable else None
    )
    if changed is None:
        if isinstance(event, Edit) and usable and where.thread_id is not None:
            # A message that was not an answer (emoji only, say) became one.
            review = await _thread_review(where, deps)
            if review is not None and review.status.is_active and control_word(text) is None:
                msg = Message(event.who, where, text, direct=False, message_id=event.message_id)
                person = await deps.store.person_for(event.who.platform, event.who.user_id)
                return await _answer(review, msg, person, deps)
        return None
    if not changed.applied and changed.review.kind == "eoar":
        return _private(
            "Your End of Assignment Report was saved already, so it keeps your message as it "
            "was. Ask your validator to correct it if it must change."
        )
    if not changed.applied:
        return _closed_notice(
            changed.review,
            "its saved record keeps your message as it was. Ask the facilitator"
            f" ({changed.review.facilitator_name}) if it must change",
        )
    if isinstance(event, Edit) and not usable:
        return _private("Your message has no words in it now, so I took it out of the review.")
    return None


async def posted(key: str, where: ConversationRef, deps: Deps) -> None:
    """The review's opening message was posted: remember its thread."""
    if not is_id(key) or where.thread_id is None:
        log.warning("review opening posted without a usable key or thread: %r %r", key, where)
        return
    await Reviews(deps.store).posted(int(key), where.thread_id)


async def begin_scheduled(review_id: int, deps: Deps) -> Reply:
    """Start a scheduled review; post the reply in its channel (it carries the anchor)."""
    review = await Reviews(deps.store).begin(review_id)
    return opening_for(review)


# Starting ------------------------------------------------------------------------------------


async def _start(cmd: Command, text: str, deps: Deps) -> Reply:
    person = await _known(cmd.who, deps)
    where = cmd.where
    event, mentioned = await _mentions(text, deps)
    review = await Reviews(deps.store).start(
        event=event,
        platform=where.platform,
        channel_id=where.channel_id,
        thread_id=where.thread_id,
        channel_name=where.channel_name,
        space=where.space,
        facilitator_id=person,
        questions=question_set(),
    )
    await Participants(deps.store).join(review.id, [m.id for m in mentioned])
    return opening_for(review)


def opening_for(review: ReviewView) -> Reply:
    """Build a review's opening as posted: a new channel message whose thread becomes the review."""
    opening = opening_reply(review, time_box=question_time())
    if review.thread_id is not None:
        return opening
    return Reply(opening.elements, in_thread=False, anchor=f"aar:{review.id}")


def opening_reply(review: ReviewView, *, time_box: timedelta | None = None) -> Reply:
    """Build the opening message: the event, the ground rules and the first question."""
    clock = ""
    if time_box:
        clock = (
            f"• Each question stays open for {duration_text(time_box)}; then I post the next one "
            "(`pause` stops the clock). Halfway through, I remind anyone mentioned or who joined "
            "the thread but has not answered yet, privately and only once.\n"
        )
    rules = (
        f"*After-Action Review: {review.event}*\nFacilitated by {review.facilitator_name}. "
        "We have a few questions, one at a time.\n"
        "• *Blameless*: we look at what happened and why, never at who to blame.\n"
        "• *Honest reflection on failures is welcome*: it is how we learn.\n"
        "• Answer in this thread, or press *Answer anonymously*: then nobody, the facilitator "
        "included, sees who wrote it.\n"
        f"• {review.facilitator_name} moves us on with the buttons, or by saying `next`, "
        "`back`, `skip`, `pause`, `resume`, `close` or `cancel` in the thread.\n"
        f"{clock}"
        "• When we close, I post a summary, propose actions from the recommendations and "
        "save the review in the lessons index."
    )
    return Reply.of(Text(rules), Divider(), *question_elements(review))


def question_elements(review: ReviewView) -> list[Element]:
    """Return the current question with its buttons."""
    question, value = review.question, f"{review.id}:{review.step}"
    lines = [f"*Question {review.step + 1} of {len(review.questions)}:* {question.text}"]
    if question.kind == QuestionKind.RECOMMEND:
        lines.append(
            "_Name an owner and a date for each, for example: @Amina Diallo to update the "
            "polling-station checklist by 15 Jan._"
        )
    lines.append("_Answer in this thread, or anonymously with the button._")
    elements: list[Element] = [
        Text("\n".join(lines)),
        Button("Answer anonymously", AarButton.ANONYMOUS, value),
    ]
    return elements + steering_buttons("aar", review, value)


def steering_buttons(prefix: str, review: ReviewView, value: str) -> list[Element]:
    """Return the facilitator's buttons on the current question ("aar." or "eoar." ones)."""
    buttons: list[Element] = []
    if review.step > 0:
        buttons.append(Button("Back", f"{prefix}.back", value))
    if not review.is_last:
        buttons += [
            Button("Next", f"{prefix}.next", value),
            Button("Skip", f"{prefix}.skip", value),
        ]
    buttons += [
        Button("Pause", f"{prefix}.pause", value),
        Button("Close and save", f"{prefix}.close", value),
        Button("Cancel", f"{prefix}.cancel", value),
    ]
    return buttons


async def _schedule(cmd: Command, text: str, deps: Deps) -> Reply:
    person = await _known(cmd.who, deps)
    reviews = Reviews(deps.store)
    member = await reviews.member(person)
    tz = member.timezone if member else "UTC"
    event, ends = split_schedule(text, now=deps.store.clock(), tz=tz)
    event, mentioned = await _mentions(event, deps)
    where = cmd.where
    review = await reviews.start(
        event=event,
        platform=where.platform,
        channel_id=where.channel_id,
        thread_id=where.thread_id,
        channel_name=where.channel_name,
        space=where.space,
        facilitator_id=person,
        questions=question_set(),
        starts_at=ends + start_delay(),
    )
    await Participants(deps.store).join(review.id, [m.id for m in mentioned])
    viewer = await deps.store.viewer_for(None, channel=where.space)
    before = await deps.store.ask(event, viewer=viewer, limit=3)
    return scheduled_reply(review, ends, before)


def split_schedule(text: str, *, now: datetime, tz: str) -> tuple[str, datetime]:
    """Split "<event> <when it ends>" at the longest ending that reads as a future time."""
    parts = text.split()
    past: DateError | None = None
    # An ending is a few words ("on the 3rd of December 2026 at 4 pm"): trying every split
    # of a long text would read each tail again, quadratic in its length.
    for i in range(max(1, len(parts) - MAX_WHEN_WORDS), len(parts)):
        try:
            ends = parse_moment(" ".join(parts[i:]), now=now, tz=tz)
        except PastDate as exc:
            past = past or exc
            continue
        except DateError:
            continue
        event = " ".join(parts[:i]).rstrip(" ,;:|-\u2013").strip()
        for glue in (" ends", " ending", " on", " at"):
            event = event.removesuffix(glue)
        if event:
            return event, ends
    if past is not None:
        raise UserError(f"{past.message} If the event is over, use `/aar start <event>` now.")
    raise UserError(
        "Give the event and when it ends, for example `/aar schedule Election day tomorrow "
        "17:00` or `/aar schedule Town hall 2026-12-03 16:00`."
    )


def scheduled_reply(review: ReviewView, ends: datetime, before: Answer) -> Reply:
    """Build the reply to a scheduled review: when it starts, and what we learned last time."""
    place = ends.tzinfo
    starts = (review.starts_at or ends).astimezone(place)
    elements: list[Element] = [
        Text(
            f"🗓 *After-Action Review scheduled: {review.event}*\nThe event ends "
            f"{ends:%a %d %b %Y %H:%M} ({zone(str(place)).key}); I will start the review here "
            f"at {starts:%a %d %b %H:%M}, facilitated by {review.facilitator_name}."
        ),
        Divider(),
        Text("*Before you start: what we learned last time*"),
    ]
    if not before.hits:
        elements.append(Text("No earlier lessons on this yet: this review will be the first."))
    for hit in before.hits:
        year = f", {hit.date.year}" if hit.date else ""
        elements.append(Text(f"• *{hit.title}* ({hit.product_type.label}{year})\n{hit.takeaway}"))
    return Reply.of(*elements)


async def _hand_over(cmd: Command, who: str, deps: Deps) -> Reply:
    review = await _active_here(cmd.where, deps)
    person = await deps.store.person_for(cmd.who.platform, cmd.who.user_id)
    member = await _resolve(who, deps)
    updated = await Reviews(deps.store).hand_over(review.id, actor_id=person, to_id=member.id)
    return Reply.of(
        Text(f"{updated.facilitator_name} is now the facilitator of this review."),
        *question_elements(updated),
    )


async def _invite(cmd: Command, text: str, deps: Deps) -> Reply:
    review = await _active_here(cmd.where, deps)
    person = await deps.store.person_for(cmd.who.platform, cmd.who.user_id)
    if person is None or person != review.facilitator_id:
        raise UserError(f"Only the facilitator ({review.facilitator_name}) can invite people.")
    _, owners = find_mentions(text, await Reviews(deps.store).members())
    found = list({o.member.id: o.member for o in owners if o.member is not None}.values())
    unknown = [o.hint for o in owners if o.member is None and o.hint]
    missing = f" I could not find {', '.join(unknown)} in the staff directory." if unknown else ""
    if not found:
        raise UserError(
            "Mention who to hear from, for example `/aar invite @Tomás Herrera @Priya Raman`."
            + missing
        )
    await Participants(deps.store).join(review.id, [m.id for m in found])
    names = ", ".join(m.name for m in found)
    lines = [f"Noted: {names}."]
    if question_time():
        lines.append(
            "If they have not answered by half time of a question, I remind each of them once, "
            "privately."
        )
    else:
        lines.append(f"Reminders are off here ({MINUTES_ENV} is 0), so I will not remind them.")
    return _private(" ".join(lines) + missing)


async def _mentions(text: str, deps: Deps) -> tuple[str, list[Member]]:
    """Split "<event> with @a @b" into the event and the people it mentions.

    When nobody mentioned is in the directory, the text stays whole: "Town hall @Bangui office"
    names a place, not a person.
    """
    if "@" not in text and "<at>" not in text.lower():
        return text, []
    event, owners = find_mentions(text, await Reviews(deps.store).members())
    found = [o.member for o in owners if o.member is not None]
    return (event if found else text), found


async def _joined(review: ReviewView, person: int | None, deps: Deps) -> None:
    """Remember that someone of the directory spoke in a review's thread."""
    if person is not None and person != review.facilitator_id:
        await Participants(deps.store).join(review.id, [person])


def duration_text(span: timedelta) -> str:
    """Say a time box in words: "30 minutes", "2 hours"."""
    minutes = round(span.total_seconds() / 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' * (hours != 1)}"
    return f"{minutes} minute{'s' * (minutes != 1)}"


# The conversation ----------------------------------------------------------------------------


async def _steer(
    review: ReviewView, control: Control, person: int | None, step: int | None, deps: Deps
) -> Reply:
    if control == Control.CLOSE:
        return await _close(review, person, deps)
    updated = await Reviews(deps.store).control(review.id, control, actor_id=person, step=step)
    if control == Control.PAUSE:
        return Reply.of(
            Text(
                f"⏸ The review is paused by {updated.facilitator_name}. Answers posted here are "
                "still saved; say `resume` to carry on."
            ),
            Button("Resume", AarButton.RESUME, f"{updated.id}:{updated.step}"),
        )
    if control == Control.CANCEL:
        return Reply.of(
            Text(
                f"The review of *{updated.event}* was cancelled by its facilitator. The answers "
                "given so far are kept with it, but nothing was added to the lessons index."
            )
        )
    lead = [Text("▶️ We carry on.")] if control == Control.RESUME else []
    shown = Reply.of(*lead, *question_elements(updated))
    if updated.step != review.step:  # the move holds only once the question is shown
        return replace(shown, undo=f"aar:{updated.id}:{review.step}:{updated.step}")
    return shown


async def not_shown(key: str, deps: Deps) -> None:
    """A step's question could not be posted: go back to the question people last saw."""
    try:
        review_id, back_to, moved_to = (int(part) for part in key.split(":"))
    except ValueError:
        log.warning("not_shown: an unusable key %r", key)
        return
    await Reviews(deps.store).unstep(review_id, back_to=back_to, moved_to=moved_to)


async def _answer(review: ReviewView, msg: Message, person: int | None, deps: Deps) -> Reply | None:
    text = msg.text.strip()
    if not text or not has_words(text):
        await _joined(review, person, deps)  # they are here: an answer may follow
    if not text:
        return _private("That message had no text, so I did not add it to the review.")
    if not has_words(text):
        return _private(
            f"I keep only words in the review, so “{clip(text, 20)}” was not added. Say in a "
            "few words what you mean, and it will be."
        )
    saved = await Reviews(deps.store).add_answer(
        review.id, step=review.step, text=text, person_id=person, message_id=msg.message_id
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
    return _private("\n".join(notes)) if notes else None


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


def _anonymous_key(review_id: int, step: int, who: UserRef) -> str:
    return f"aar.anonymous:{review_id}:{step}:{who.platform}:{who.user_id}"


def _anonymous_form(review: ReviewView, step: int, seal: str) -> Reply:
    if not review.status.is_active:
        raise UserError(f"The review of '{review.event}' is {review.status.value}.")
    if not 0 <= step < len(review.questions):
        raise UserError("That button is out of date.")
    question = review.questions[step].text
    return Reply.of(
        Form(
            form=f"{AarForm.ANONYMOUS}:{review.id}:{step}:{seal}",
            title="Answer anonymously",
            inputs=(Input("answer", f"Question {step + 1}: {question}", multiline=True),),
            submit="Send anonymously",
        ),
        private=True,
    )


async def _anonymous(review_id: int, step: int, text: str, person: int | None, deps: Deps) -> Reply:
    reviews = Reviews(deps.store)
    review = await reviews.get(review_id)
    if review.kind != "aar":
        raise UserError("That form is out of date.")
    if not text:
        raise UserError("The answer was empty, so nothing was added.")
    if not has_words(text):
        raise UserError("I keep only words in the review: say in a few words what you mean.")
    if not review.status.is_active:
        raise UserError(
            f"The review of '{review.event}' is {review.status.value}, so your answer was not "
            f"added. Here it is, so you can keep it:\n\n{clip(text, 2500)}"
        )
    saved = await reviews.add_answer(
        review.id, step=step, text=text, person_id=person, anonymous=True
    )
    notifier = deps.notifier
    if notifier is not None and review.thread_id and notifier.platform == review.platform:
        quoted = f"“{unlinked(clip(text, 2500).strip())}”"  # no "> ": not every surface quotes
        thread = ConversationRef(
            review.platform, review.channel_id, review.thread_id, review.channel_name
        )
        await notifier.post(
            thread, Reply.of(Text(f"💬 *Anonymous answer* to question {step + 1}:\n{quoted}"))
        )
    cut = f" I kept the first {MAX_ANSWER:,} characters." if saved.clipped else ""
    return _private(
        f"✅ Saved anonymously to question {step + 1}. Nobody, the facilitator included, can "
        f"see who wrote it.{cut}"
    )


# Closing -------------------------------------------------------------------------------------


async def _close(review: ReviewView, person: int | None, deps: Deps) -> Reply:
    viewer = await deps.store.viewer_for(None, channel=review.space)
    closing = await Reviews(deps.store).close(review.id, actor_id=person, viewer=viewer)
    sent, validation = await send_closing(closing, validation_card, deps)
    return summary_reply(closing, sent=sent, validation_sent=validation)


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
            sent[proposal.id] = await _send(proposal.owner_id, owner_card(proposal), deps)
    validation = None
    if closing.validator is not None and closing.product_id is not None:
        heading = list(card(closing).elements)
        validation = await request_validation(closing.product_id, closing.validator, heading, deps)
    return sent, validation


def summary_reply(
    closing: Closing, *, sent: dict[int, bool], validation_sent: bool | None
) -> Reply:
    """Build the summary: answers by question, participants, the record, actions, repeats."""
    review = closing.review
    n, count = closing.participants, len(closing.answers)
    head = (
        f"*After-Action Review closed: {review.event}*\n{n} participant{'s' * (n != 1)} · "
        f"{count} answer{'s' * (count != 1)}"
    )
    if closing.guests:
        head += f" ({closing.guests} from people not in the staff directory)"
    elements: list[Element] = [Text(head)]
    for step, question in enumerate(review.questions):
        elements += text_chunks(_answers_lines(step, question, closing))
    elements.append(Divider())
    elements.append(Text(_record_text(closing, validation_sent)))
    elements += proposal_elements(closing, sent)
    if closing.repeats:
        elements += text_chunks(["*Seen before*", *(repeat_line(r) for r in closing.repeats)])
    return Reply.of(*elements)


def _answers_lines(step: int, question: Question, closing: Closing) -> list[str]:
    answers = [a for a in closing.answers if a.step == step]
    lines = [f"*{step + 1}. {question.text}*"]
    for a in answers[:SHOWN_PER_QUESTION]:
        author = "anonymous" if a.anonymous else (a.author or "a guest")
        lines.append(f"• {unlinked(clip(a.text, SHOWN_ANSWER))} — _{author}_")
    if len(answers) > SHOWN_PER_QUESTION:
        lines.append(f"…and {len(answers) - SHOWN_PER_QUESTION} more in the saved record.")
    if not answers:
        lines.append("_(no answers)_")
    return lines


def _record_text(closing: Closing, validation_sent: bool | None) -> str:
    if closing.product_id is None:
        return "Nobody answered, so nothing was added to the lessons index."
    k = closing.lessons
    text = (
        f"Saved in the lessons index as *{closing.product_title}* with {k} "
        f"lesson{'s' * (k != 1)}, status *identified*. Ask me `what did we learn about "
        f"{closing.review.event}` to find it."
    )
    validator = closing.validator
    if validator is None:
        return text + " I found no manager or PBPO to validate it: please ask your PBPO."
    if validation_sent:
        return text + f" I asked {validator.name} to validate it."
    return text + f" {validator.name} should validate it (I could not message them here)."


def proposal_elements(
    closing: Closing, sent: dict[int, bool], *, drafts_for: str | None = None
) -> list[Element]:
    """List the proposed actions, and the drafts someone (the facilitator) must complete."""
    proposed = [p for p in closing.proposals if p.status != ProposalStatus.DRAFT]
    drafts = [p for p in closing.proposals if p.status == ProposalStatus.DRAFT]
    elements: list[Element] = []
    if proposed:
        lines = ["*Proposed actions* (each owner gets a card to accept)"]
        for p in proposed:
            due = p.due_date.isoformat() if p.due_date else "no date"
            reached = "card sent" if sent.get(p.id) else "I could not message them here"
            lines.append(f"• {clip(p.description, 200)} → {p.owner_name}, due {due} ({reached})")
        elements += text_chunks(lines)
    if drafts:
        who = drafts_for or closing.review.facilitator_name
        lines = [f"*For {who} to complete* (owner or date unclear)"]
        lines += [f"• {clip(p.description, 200)} — {p.note}" for p in drafts]
        elements += text_chunks(lines)
        elements += [
            Button(f"Complete: {clip(p.description, 30)}", AarButton.COMPLETE, str(p.id))
            for p in drafts[:10]
        ]
    return elements


def repeat_line(r: Repeat) -> str:
    """Say which earlier lesson a new one resembles, and where that one stands."""
    year = f", {r.year}" if r.year else ""
    status = f"{r.status} before"
    if r.open_actions == 1:
        status += "; its action is still open"
    elif r.open_actions > 1:
        status += f"; {r.open_actions} of its actions are still open"
    return f"• “{clip(r.lesson, 120)}”: this resembles '{r.title}' ({r.kind}{year}) — {status}"


def validation_card(closing: Closing) -> Reply:
    """Build the request to validate a closed review's lessons."""
    review = closing.review
    return Reply.of(
        Text(
            f"*Validation requested: AAR {review.event}*\n{review.facilitator_name} closed an "
            f"After-Action Review with {closing.participants} participants. Its lessons are "
            "*identified*; please review them and validate the ones we should act on."
        ),
        Fields(
            (
                ("Lessons", str(closing.lessons)),
                ("Proposed actions", str(len(closing.proposals))),
                ("Record", closing.product_title or "—"),
            )
        ),
    )


# Proposed actions ----------------------------------------------------------------------------


def owner_card(proposal: ProposalView, *, numbered: bool = False) -> Reply:
    """Build the card a proposed owner gets: accept, reassign, another date, decline.

    `numbered` puts the proposal's number on the buttons, for a card listing several.
    """
    value = str(proposal.id)
    n = f" #{proposal.id}" if numbered else ""
    return Reply.of(
        Text(f"*An action for you from {proposal.source}*\n{proposal.description}"),
        Fields(
            (
                ("Due", proposal.due_date.isoformat() if proposal.due_date else "—"),
                ("Proposed by", proposal.facilitator_name),
            )
        ),
        Button(f"Accept{n}", AarButton.ACCEPT, value),
        Button(f"Reassign{n}", AarButton.REASSIGN, value),
        Button(f"Other date{n}", AarButton.REDATE, value),
        Button(f"Decline{n}", AarButton.DECLINE, value),
    )


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
            who = _owner(proposal)
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
    member = await _resolve(values.get("owner", ""), deps)
    due = _day(values.get("due", ""), deps)
    proposal = await Reviews(deps.store).assign(
        proposal_id,
        actor_id=person,
        owner_id=member.id,
        due=due,
        description=values.get("description") or None,
    )
    reached = await _send(member.id, owner_card(proposal), deps)
    how = "I sent them a card to accept it." if reached else "I could not message them here."
    return _private(f"The action now goes to {member.name}, due {due.isoformat()}. {how}")


async def _tell_facilitator(proposal: ProposalView, news: str, deps: Deps) -> None:
    if proposal.facilitator_id is not None:
        text = f"About the action *{clip(proposal.description, 200)}* ({proposal.event}): {news}"
        await _send(proposal.facilitator_id, Reply.of(Text(text)), deps)


# Helpers -------------------------------------------------------------------------------------


async def _send(person_id: int | None, reply: Reply, deps: Deps) -> bool:
    """Send a card to a person on the notifier's platform; False when they cannot be reached."""
    return await reach.send_to(person_id, reply, deps)


async def _thread_review(where: ConversationRef, deps: Deps) -> ReviewView | None:
    if where.thread_id is None:
        return None
    return await Reviews(deps.store).in_thread(
        where.platform,
        where.channel_id,
        where.thread_id,
        closed_since=deps.store.clock() - CLOSED_GRACE,
    )


async def _active_here(where: ConversationRef, deps: Deps) -> ReviewView:
    review = await _thread_review(where, deps)
    if review is None or not review.status.is_active:
        raise UserError("No review runs here: use this inside the thread of a running review.")
    return review


async def _known(who: UserRef, deps: Deps) -> int:
    person = await deps.store.person_for(who.platform, who.user_id)
    if person is None:
        raise UserError(
            "I could not find you in the staff directory, and a review needs a facilitator I "
            "can name (its record, actions and validation go through them). Ask a PBPO to add "
            "you, then start again."
        )
    return person


async def _resolve(text: str, deps: Deps) -> Member:
    return await reach.named(text, deps)


def _day(text: str, deps: Deps) -> date:
    return read_day(text, today=deps.store.today())


def _owner(proposal: ProposalView) -> str:
    return proposal.owner_name or "its owner"


def _closed_notice(review: ReviewView, what: str) -> Reply:
    when = f" at {review.closed_at:%H:%M} UTC" if review.closed_at else ""
    return _private(f"The review of *{review.event}* was {review.status.value}{when}, so {what}.")


ELSEWHERE = (
    "That answer form was not opened by you from that review's conversation, so nothing was "
    "added. Press *Answer anonymously* in the review's thread."
)


def button_ids(value: str, count: int) -> tuple[int, ...]:
    """Read the ids a button value or form key carries ("12:3"), or explain it is stale."""
    return parse_ids(value, count)


def text_chunks(lines: list[str]) -> list[Text]:
    """Join lines into as few Texts as fit the platforms' limits."""
    chunks: list[list[str]] = [[]]
    for line in lines:
        if chunks[-1] and sum(len(x) + 1 for x in chunks[-1]) + len(line) > TEXT_LIMIT:
            chunks.append([])
        chunks[-1].append(line)
    return [Text("\n".join(chunk)) for chunk in chunks if chunk]


def has_words(text: str) -> bool:
    """Return True when a text has a letter or a digit (an emoji alone is no answer)."""
    return any(c.isalnum() for c in text)


def _form_reply(form_id: str, title: str, inputs: tuple[Input, ...]) -> Reply:
    return Reply.of(Form(form=form_id, title=title, inputs=inputs), private=True)


def _private(text: str) -> Reply:
    return Reply.of(Text(text), private=True)
