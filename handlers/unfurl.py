"""Unfurls: a lesson's address pasted in a conversation shows as the lesson's card.

A lesson's address is the bot's own lesson page (`…/dashboard/lessons/<id>`): the platforms
only send links on the hosts the app declares (Slack's `unfurl_domains`, the Teams package's
link handler), which are the bot's own.

What a conversation sees is what everyone in it may see: an unfurl is for the conversation,
not for the person who pasted the link (`ask.public_viewer`, the rule public answers use).
A lesson restricted to an audience the conversation is not in unfurls only as
`access.RESTRICTED`, with no title, takeaway or author; an address that names no lesson
unfurls as nothing (the platform keeps the plain link).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from handlers.ask import lesson_card, public_viewer
from handlers.chat import Button, ConversationRef, Element, Reply, Text, UserRef
from handlers.deps import Deps
from handlers.ids import is_id
from knowledge.access import RESTRICTED
from knowledge.errors import NotFound

_PAGE = re.compile(r"^/dashboard/lessons/([^/]+)/?$")
MAX_LINKS = 5  # Slack asks an app to unfurl at most a few links per message


def lesson_of_page(url: str) -> int | None:
    """Return the lesson id of a link to the bot's own lesson page, or None."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    found = _PAGE.match(parts.path)
    if found is None or not is_id(found.group(1)):
        return None
    return int(found.group(1))


async def unfurl(url: str, who: UserRef, where: ConversationRef, deps: Deps) -> Reply | None:
    """Return the card a link unfurls into in this conversation, or None for no unfurl."""
    lesson_id = lesson_of_page(url)
    if lesson_id is None:
        return None
    viewer = await public_viewer(who, where, deps)
    hits = await deps.store.lesson_hits(viewer, [lesson_id])
    if not hits:
        try:
            await deps.store.lesson(lesson_id)
        except NotFound:
            return None
        return Reply.of(Text(f"🔒 {RESTRICTED[0].upper()}{RESTRICTED[1:]}."))
    elements: list[Element] = [
        e
        for e in lesson_card(hits[0])
        if not isinstance(e, Button)  # no votes on an unfurl
    ]
    return Reply.of(*elements)
