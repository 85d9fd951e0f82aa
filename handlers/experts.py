""" "Who knows about X?" in chat, and `/lessons who <topic>`: people to contact, peer to peer.

The people are those who wrote or applied the lessons closest to the topic that the asker may
see (in a channel, what the channel's audience may see, as answers do), and only those lessons'
titles are named. A slash command is answered privately.
"""

from __future__ import annotations

from handlers import ask
from handlers.chat import Command, Message, Reply, Text
from handlers.deps import Deps
from handlers.errors import UserError
from knowledge.experts import Expert, Experts, asked_topic

WORDS = frozenset({"who", "experts", "expert"})
TITLES = 2  # lessons named per person


def topic_of(incoming: Command | Message) -> str | None:
    """Return the topic of "who knows about X?" or `/lessons who X`, else None."""
    text = incoming.text.strip()
    found = asked_topic(text)
    if found is not None:
        return found
    word = text.lower().lstrip("/").partition(" ")[0]
    if isinstance(incoming, Command) and word in WORDS:
        return " ".join(text.split()[1:]).strip(" ?") or ""
    return None


async def who_knows(incoming: Command | Message, topic: str, deps: Deps) -> Reply:
    """Name the people who wrote or applied the closest lessons the asker may see."""
    if not topic:
        raise UserError("Name a topic: `/lessons who election security`.")
    viewer = await ask.answering_viewer(incoming, deps)
    found = await Experts(deps.store).who_knows(topic, viewer=viewer)
    private = isinstance(incoming, Command)
    if not found:
        hits = len((await deps.store.ask(topic, viewer=viewer, limit=5)).hits)
        if hits:
            lessons = "1 lesson" if hits == 1 else f"{hits} lessons"
            said = (
                f"I found {lessons} on *{topic}*, but none names its author or someone who "
                f"applied it. Ask: *what did we learn about {topic}?* to read them."
            )
        else:
            said = (
                f"I found nobody who wrote or applied a lesson on *{topic}* yet. "
                f"Try other words, or ask: *what did we learn about {topic}?*"
            )
        return Reply.of(Text(said), private=private)
    lines = [f"*Who knows about {topic}*"] + [_line(e) for e in found]
    lines.append("_People who wrote or applied the closest lessons; contact them directly._")
    return Reply.of(Text("\n".join(lines)), private=private)


def _line(expert: Expert) -> str:
    mission = f" ({expert.mission})" if expert.mission else ""
    parts = []
    if expert.authored:
        parts.append("wrote " + _titles(expert.authored))
    if expert.applied:
        parts.append("applied " + _titles(expert.applied))
    contact = f" [{expert.email}](mailto:{expert.email})" if expert.email else ""
    return f"• *{expert.name}*{mission}{contact}: " + "; ".join(parts)


def _titles(titles: list[str]) -> str:
    shown = ", ".join(f"_{t}_" for t in titles[:TITLES])
    more = len(titles) - TITLES
    return shown + (f" and {more} more" if more > 0 else "")
