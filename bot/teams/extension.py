"""The search message extension: find lessons from the compose box, insert one as a card.

The card goes into whatever conversation the compose box belongs to, for everyone there to
read, so the search shows only lessons open to all (and to the channel's own audience in a
channel): restricted lessons never leave through the compose box.
"""

from __future__ import annotations

from typing import Any

from bot.teams import render
from bot.teams.incoming import Query
from handlers import unfurl
from handlers.ask import lesson_card
from handlers.chat import ConversationRef, Reply, UserRef
from handlers.deps import Deps
from knowledge.search.answer import Viewer

THUMBNAIL = "application/vnd.microsoft.card.thumbnail"
COMMAND = "searchLessons"


async def search_response(query: Query, deps: Deps) -> dict[str, Any]:
    """Return the `composeExtension` answer to a search: one lesson card per result."""
    if not query.text:
        return _result([])
    store = deps.store
    person = await store.person_for(query.who.platform, query.who.user_id)
    audience = await store.viewer_for(None, channel=query.where.space)
    viewer = Viewer(person_id=person, principals=audience.principals)
    answer = await store.ask(query.text, viewer=viewer, limit=query.skip + query.count)
    attachments = []
    for hit in answer.hits[query.skip :]:
        content = render.card(Reply.of(*lesson_card(hit)))
        preview = {"title": _plain(hit.title, 120), "text": _plain(hit.takeaway, 240)}
        attachments.append(
            {
                "contentType": render.CONTENT_TYPE,
                "content": content,
                "preview": {"contentType": THUMBNAIL, "content": preview},
            }
        )
    return _result(attachments)


async def link_response(
    url: str, who: UserRef, where: ConversationRef, deps: Deps
) -> dict[str, Any]:
    """Return the `composeExtension` answer to a pasted link: the lesson's card as the
    conversation may see it ("restricted" for a lesson outside its audience), or no card."""
    reply = await unfurl.unfurl(url, who, where, deps) if url else None
    if reply is None:
        return _result([])
    content = render.card(reply)
    preview = {"title": _plain(render.fallback(reply), 120)}
    attachments = [
        {
            "contentType": render.CONTENT_TYPE,
            "content": content,
            "preview": {"contentType": THUMBNAIL, "content": preview},
        }
    ]
    return _result(attachments)


def _result(attachments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "composeExtension": {
            "type": "result",
            "attachmentLayout": "list",
            "attachments": attachments,
        }
    }


def _plain(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
