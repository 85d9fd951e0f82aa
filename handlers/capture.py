"""Capture a lesson from chat: `/lessons new` and "Save as lesson" on a message.

Both open the same form; saving it creates a lesson note with one *identified* lesson (searchable
at once) and sends its validator (the author's manager, else a PBPO) a card about it. Platform
adapters deliver the "Save as lesson" message shortcut as a button press `lesson.save_message`
whose value is JSON: `{"text": the message, "link": its permalink}`.
"""

from __future__ import annotations

import json
import logging
import re
from enum import StrEnum

from handlers import reach
from handlers.chat import (
    Button,
    ButtonPress,
    Command,
    Fields,
    Form,
    FormSubmit,
    Input,
    Message,
    Reply,
    Text,
    UserRef,
)
from handlers.deps import Deps
from handlers.errors import UserError
from handlers.validation import decision_buttons
from knowledge.capture import MAX_TITLE, CapturedNote, Notes, clean_url
from knowledge.errors import DomainError
from knowledge.reviews import Reviews
from knowledge.search.text import clip

log = logging.getLogger(__name__)

COMMAND_WORDS = frozenset({"new", "capture", "log"})
# Whole messages that ask for the form; a question starting with "new" is still a question.
PHRASES = frozenset(
    {
        *COMMAND_WORDS,
        "new lesson",
        "a new lesson",
        "log a lesson",
        "log lesson",
        "capture a lesson",
        "capture lesson",
        "save a lesson",
        "save lesson",
        "save as lesson",
    }
)
PREFILL_TITLE = 80
PREFILL_TEXT = 3_000  # Slack refuses longer initial values in a modal
SHOWN_LESSON = 500
_LESSON_WORD = re.compile(r"^(?:an?\s+)?(?:new\s+)?lesson\b[\s:—-]*", re.IGNORECASE)
UNKNOWN = (
    "I can't save lessons for you yet: you are not in the staff directory, and every lesson "
    "needs an author its validator can reach. Ask a Policy and Best Practices Officer (PBPO) to "
    "add you, then try again. You can still ask me what we learned about anything."
)


class LessonAction(StrEnum):
    """Buttons that open the capture form."""

    NEW = "lesson.new"  # "Log a lesson" on the home
    SAVE_MESSAGE = "lesson.save_message"  # the "Save as lesson" message shortcut


class LessonForm(StrEnum):
    """The capture form."""

    NEW = "lesson.new"


def requested(incoming: Command | Message) -> str | None:
    """Return the title to prefill when the text asks for the capture form ("" for none).

    `/lessons new <title>` prefills the title; a message must be only the request ("new lesson",
    "log a lesson"), so that "new approaches to DDR?" stays a question. None: not a request.
    """
    text = " ".join(incoming.text.split())
    word, _, rest = text.partition(" ")
    if isinstance(incoming, Command) and word.lower().lstrip("/") in COMMAND_WORDS:
        return _LESSON_WORD.sub("", rest).strip()
    if text.lower().lstrip("/").rstrip(".!") in PHRASES:
        return ""
    return None


async def start(who: UserRef, deps: Deps, *, title: str = "") -> Reply:
    """Open the capture form (`/lessons new`, "Log a lesson")."""
    mission = await _mission_of(who, deps)
    return capture_form(title=clip(title, PREFILL_TITLE) if title else "", mission=mission)


async def button(press: ButtonPress, deps: Deps) -> Reply | None:
    """ "Log a lesson" on the home, and "Save as lesson" on a message."""
    match press.action:
        case LessonAction.NEW:
            return await start(press.who, deps)
        case LessonAction.SAVE_MESSAGE:
            return await _from_message(press, deps)
    raise UserError("That button is out of date. Type `/lessons new` to log a lesson.")


async def form(submit: FormSubmit, deps: Deps) -> Reply | None:
    """Save a submitted capture form as a lesson note and ask its validator to validate it."""
    if submit.form.partition(":")[0] != LessonForm.NEW:
        raise UserError("That form is out of date. Type `/lessons new` to log a lesson.")
    person = await deps.store.person_for(submit.who.platform, submit.who.user_id)
    if person is None:
        raise UserError(UNKNOWN)
    values = submit.values
    note = await Notes(deps.store).capture(
        author_id=person,
        title=values.get("title", ""),
        observation=values.get("observation", ""),
        lesson=values.get("lesson", ""),
        recommendation=values.get("recommendation", ""),
        mission=values.get("mission", ""),
        themes=re.split(r"[,;\n]", values.get("themes", "")),
        source_url=values.get("source", ""),
        platform=submit.who.platform,
    )
    reached = await _send_validator(note, deps)
    return saved_reply(note, reached=reached)


def capture_form(
    *, title: str = "", observation: str = "", source: str = "", mission: str = ""
) -> Reply:
    """Build the capture form, prefilled with what is known."""
    return Reply.of(
        Form(
            LessonForm.NEW,
            "Log a lesson",
            (
                Input(
                    "title", f"Title: the lesson in a few words (up to {MAX_TITLE})", False, title
                ),
                Input("observation", "What happened? (the observation)", True, observation, True),
                Input("lesson", "What did we learn?", multiline=True),
                Input(
                    "recommendation",
                    "What should be done differently, and by whom?",
                    multiline=True,
                    optional=True,
                ),
                Input("mission", "Mission or office", initial=mission, optional=True),
                Input("themes", "Themes, comma-separated (e.g. elections, gender)", optional=True),
                Input("source", "Link to the source (https://…)", initial=source, optional=True),
            ),
            submit="Save lesson",
        ),
        private=True,
    )


def saved_reply(note: CapturedNote, *, reached: bool) -> Reply:
    """Build the author's confirmation: saved, identified, and who validates it."""
    words = clip(note.title, 60).replace("`", "'")
    text = (
        f"✅ Saved as a lesson note (*identified*): *{note.title}*. It is in the lessons index "
        f"now: ask me `what did we learn about {words}` to find it."
    )
    validator = note.validator
    if validator is None:
        text += " I found no manager or PBPO to validate it: please tell your PBPO about it."
    elif reached:
        text += f" I asked {validator.name} to validate it."
    else:
        text += f" {validator.name} should validate it (I could not message them here)."
    return Reply.of(Text(text), Button("Log another lesson", LessonAction.NEW), private=True)


def validation_card(note: CapturedNote) -> Reply:
    """Build the card that asks a validator to decide on a new lesson note."""
    title = f"[{note.title}]({note.source_url})" if note.source_url else note.title
    return Reply.of(
        Text(
            f"*Validation requested: a lesson note from {note.author.name}*\n"
            f"*{title}*\n{clip(note.lesson, SHOWN_LESSON)}"
        ),
        Fields(
            (
                ("Mission", note.mission or "—"),
                ("Date", note.date.isoformat()),
                ("Status", "◔ identified"),
                ("Lesson", f"#{note.lesson_id}"),
            )
        ),
        Text(
            "Validate it if we should act on it, ask its author for changes, or reject it with "
            "a reason. It also waits under *Awaiting your validation* on your home (the bot's "
            "Home tab, or type `home`)."
        ),
        *decision_buttons(note.lesson_id),
    )


async def _from_message(press: ButtonPress, deps: Deps) -> Reply:
    message = _message_of(press.value)
    if message is None:
        note = "I couldn't read that message, so the form starts empty: paste what matters."
        form_reply = await start(press.who, deps)
        return Reply.of(Text(note), *form_reply.elements, private=True)
    text, link = message
    mission = await _mission_of(press.who, deps)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    try:
        source = clean_url(link) or ""
    except DomainError:
        source = ""  # a link we would refuse on saving is better left out of the form
    observation = text.strip()
    if len(observation) > PREFILL_TEXT:
        observation = observation[: PREFILL_TEXT - 1].rstrip() + "…"
    return capture_form(
        title=clip(first, PREFILL_TITLE),
        observation=observation,
        source=source,
        mission=mission,
    )


def _message_of(value: str) -> tuple[str, str] | None:
    """Read the shortcut's value (text, link); None when it is not the JSON object expected."""
    try:
        data = json.loads(value) if value else {}
    except ValueError:
        log.info("save_message value is not JSON (%d characters)", len(value))
        return None
    if not isinstance(data, dict):
        return None
    text, link = data.get("text"), data.get("link")
    return (text if isinstance(text, str) else "", link if isinstance(link, str) else "")


async def _mission_of(who: UserRef, deps: Deps) -> str:
    person = await deps.store.person_for(who.platform, who.user_id)
    if person is None:
        raise UserError(UNKNOWN)
    member = await Reviews(deps.store).member(person)
    return (member.mission if member else None) or ""


async def _send_validator(note: CapturedNote, deps: Deps) -> bool:
    """Send the validator the card; False when they cannot be reached on this platform."""
    return await reach.send(note.validator, validation_card(note), deps)
