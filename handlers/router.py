"""One table from what came in to the handler that answers it."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.ask import ask
from handlers.chat import ButtonPress, Command, FormSubmit, Incoming, Message, Reply, Text, UserRef
from handlers.errors import UserError
from handlers.help import help_reply
from knowledge.search.answer import Viewer
from knowledge.storage import Store

HELP_WORDS = frozenset({"help", "?", "hi", "hello", "start", "commands"})


@dataclass(frozen=True, slots=True)
class Deps:
    """What handlers need, handed in by the platform wiring."""

    store: Store


async def dispatch(incoming: Incoming, deps: Deps) -> Reply:
    """Route an incoming event to its handler and return the reply."""
    match incoming:
        case Message(text=text) | Command(text=text) if text.strip().lower() in HELP_WORDS:
            return help_reply()
        case Command(text=text) | Message(text=text):
            viewer = await viewer_of(incoming.who, incoming.where.channel_name, deps)
            return await ask(text, store=deps.store, viewer=viewer)
        case ButtonPress() | FormSubmit():
            raise UserError("That button is not wired up yet on this surface.")
    return Reply.of(Text("I didn't understand that. Try `help`."))


async def viewer_of(who: UserRef, channel: str | None, deps: Deps) -> Viewer:
    """Return the viewer for a platform user (unknown users see only internal lessons)."""
    person = await deps.store.person_for(who.platform, who.user_id)
    return await deps.store.viewer_for(person, channel=channel)
