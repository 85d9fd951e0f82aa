"""One table from what came in to the handler that answers it."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from handlers import (
    actions,
    ask,
    audiences,
    capture,
    colleagues,
    experts,
    followups,
    home,
    plan,
    practices,
    reminders,
    reports,
    roles,
    validation,
)
from handlers.chat import (
    ButtonPress,
    Command,
    ConversationRef,
    Deletion,
    Edit,
    FormSubmit,
    Incoming,
    Message,
    Notifier,
    Reply,
    Text,
    UserRef,
    cleaned,
)
from handlers.errors import UnknownCommand
from handlers.help import help_reply
from handlers.reviews import aar, eoar
from handlers.reviews.conversation import Conversation, Turn, change
from knowledge.errors import DomainError, database_trouble
from knowledge.search.answer import Viewer
from knowledge.storage import Store

log = logging.getLogger(__name__)

_LESSONS_PREFIX = re.compile(r"^\s*/lessons\s+(?=\S)", re.IGNORECASE)
HELP_WORDS = frozenset({"help", "?", "hi", "hello", "start", "commands"})
SORRY = (
    "Sorry, something went wrong on my side and I could not finish that. Nothing you sent was "
    "lost; please try again in a minute."
)
# When the database could not take part, what the user sent was not recorded: say so plainly.
NOT_SAVED = {
    "busy": (
        "Sorry, I am too busy to take that in right now, so it was *not* saved. Please send it "
        "again in a minute."
    ),
    "unreachable": (
        "Sorry, I could not reach the lessons database just now, so that was *not* saved. "
        "Please send it again in a minute."
    ),
}


def not_saved(exc: BaseException) -> str | None:
    """Return what to tell a user when exc means the database could not take part, else None."""
    trouble = database_trouble(exc)
    return NOT_SAVED[trouble] if trouble else None


@dataclass(frozen=True, slots=True)
class Deps:
    """What handlers need, handed in by the platform wiring."""

    store: Store
    notifier: Notifier | None = None


# Buttons and forms are routed by the prefix of their action or form id: "aar.next" → aar.
BUTTONS: dict[str, Callable[[ButtonPress, Deps], Awaitable[Reply | None]]] = {}
FORMS: dict[str, Callable[[FormSubmit, Deps], Awaitable[Reply | None]]] = {}


def _register() -> None:
    BUTTONS.update(
        {
            "ask": ask.button,
            "colleague": colleagues.button,
            "action": actions.button,
            "aar": aar.button,
            "eoar": eoar.button,
            "lesson": capture.button,
            "home": home.button,
            "plan": plan.button,
            "practice": practices.button,
            "reminders": reminders.button,
            "validation": validation.button,
        }
    )
    FORMS.update(
        {
            "action": actions.form,
            "colleague": colleagues.form,
            "aar": aar.form,
            "lesson": capture.form,
            "home": home.form,
            "plan": plan.form,
            "practice": practices.form,
            "validation": validation.form,
        }
    )


_register()


async def dispatch(incoming: Incoming, deps: Deps) -> Reply | None:
    """Route an incoming event to its handler and return the reply (None: nothing to say).

    Errors a user can fix come back as a private message that says how; anything else is logged
    and answered with an apology, never a stack trace.
    """
    try:
        return await _route(cleaned(incoming), deps)
    except DomainError as exc:
        return Reply((Text(f"⚠️ {exc.message}"),), private=True, field=exc.field)
    except Exception as exc:
        if trouble := database_trouble(exc):  # not a bug: no stack trace, no SQL in the log
            log.warning("database %s on %s", trouble, type(incoming).__name__)
        else:
            log.exception("handler failed on %s", type(incoming).__name__)
        return Reply.of(Text(not_saved(exc) or SORRY), private=True)


async def posted(anchor: str, where: ConversationRef, deps: Deps) -> None:
    """Tell the handler that asked for it where an anchored reply was posted."""
    kind, _, key = anchor.partition(":")
    if kind == "aar":
        await aar.posted(key, where, deps)
    elif kind == "eoar":
        await eoar.posted(key, where, deps)


async def not_posted(undo: str, deps: Deps) -> None:
    """Tell the handler that asked for it that a reply could not be posted: roll its move back."""
    kind, _, key = undo.partition(":")
    if kind == "aar":
        await aar.not_shown(key, deps)


async def _route(incoming: Incoming, deps: Deps) -> Reply | None:
    match incoming:
        case Message(who=UserRef(bot=True)) | Edit(who=UserRef(bot=True)):
            return None  # our own posts (and other bots') coming back are never answers
        case Edit() | Deletion():
            return await change(incoming, REVIEWS, deps)
        case Message() if (found := await _review_turn(incoming, deps)) is not None:
            conversation, turn = found
            return await conversation.handle(turn, deps)
        case Message(direct=False):
            return await followups.follow_up(incoming, deps)  # None unless it narrows a question
        case Command(name="aar"):
            return await aar.CONVERSATION.entry_points(incoming, deps)
        case Command(name="practice"):
            return await practices.command(incoming.who, incoming.where, incoming.text, deps)
        case Message(text=text) if _LESSONS_PREFIX.match(text):
            # "/lessons new" typed where there are no slash commands (Teams): the same words.
            bare = replace(incoming, text=_LESSONS_PREFIX.sub("", text, count=1))
            return await _route(bare, deps)
        case Message(text=text) | Command(text=text) if text.strip().lower() in HELP_WORDS:
            return help_reply(incoming.who.platform)
        case Command(text=text) | Message(text=text):
            word, _, rest = text.strip().partition(" ")
            match word.lower().lstrip("/"):
                case "aar":
                    return await _enter(aar.CONVERSATION, incoming, "aar", rest, deps)
                case "actions" | "action" | "plan" if lesson := plan.requested(text):
                    return await plan.command(incoming.who, lesson, deps)
                case "actions" | "todo" | "my-actions":
                    return await actions.mine(incoming.who, deps)
                case "reminders":
                    return await reminders.command(incoming.who, rest, deps)
                case "audience" | "audiences" if audiences.requested(text):
                    return await audiences.command(incoming.who, incoming.where, text, deps)
                case "role" | "roles" if roles.requested(text):
                    return await roles.command(incoming.who, text, deps)
                case "practice" | "practices" if practices.requested(text):
                    return await practices.command(incoming.who, incoming.where, rest, deps)
                case "report" | "usefulness" if reports.requested(text):
                    return await reports.command(incoming.who, text, deps)
                case _ if (topic := experts.topic_of(incoming)) is not None:
                    return await experts.who_knows(incoming, topic, deps)
                case "withdraw" if validation.requested(text):
                    return await validation.withdraw_command(incoming.who, text, deps)
                case _ if eoar.requested(text):
                    return await _enter(eoar.CONVERSATION, incoming, "lessons", text, deps)
                case "home" if home.requested(incoming):
                    return await home.home(incoming.who, deps)
                case _ if (title := capture.requested(incoming)) is not None:
                    return await capture.start(incoming.who, deps, title=title)
            if (narrowed := await followups.follow_up(incoming, deps)) is not None:
                return narrowed
            viewer = await ask.answering_viewer(incoming, deps)
            return await ask.ask(
                text,
                store=deps.store,
                viewer=viewer,
                who=incoming.who,
                where=ask.conversation(incoming),
                shareable=isinstance(incoming, Command),  # slash commands are answered privately
            )
        case ButtonPress(action=action):
            on_button = BUTTONS.get(action.partition(".")[0])
            if on_button is None:
                raise UnknownCommand(action)
            return await on_button(incoming, deps)
        case FormSubmit(form=form):
            on_form = FORMS.get(form.partition(".")[0])
            if on_form is None:
                raise UnknownCommand(form)
            return await on_form(incoming, deps)
    return Reply.of(Text("I didn't understand that. Try `help`."))


# The review conversations a message may belong to: an AAR's thread, an interview's DM.
REVIEWS: tuple[Conversation, ...] = (aar.CONVERSATION, eoar.CONVERSATION)


async def _review_turn(message: Message, deps: Deps) -> tuple[Conversation, Turn] | None:
    """Find the review a message belongs to (the check step), once, and its conversation."""
    for conversation in REVIEWS:
        if (turn := await conversation.check(message, deps)) is not None:
            return conversation, turn
    return None


async def _enter(
    conversation: Conversation, incoming: Command | Message, name: str, text: str, deps: Deps
) -> Reply | None:
    """Start or steer a review through its conversation's entry points (`/aar …`, `eoar`)."""
    return await conversation.entry_points(_as_command(incoming, name, text), deps)


def _as_command(incoming: Command | Message, name: str, text: str) -> Command:
    return Command(incoming.who, incoming.where, name, text)


async def viewer_of(who: UserRef, channel: str | None, deps: Deps) -> Viewer:
    """Return the viewer for a platform user (unknown users see only internal lessons)."""
    person = await deps.store.person_for(who.platform, who.user_id)
    return await deps.store.viewer_for(person, channel=channel)
