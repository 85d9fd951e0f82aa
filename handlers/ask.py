"""Answer "what did we learn about X?" with cited lesson cards."""

from __future__ import annotations

from enum import StrEnum

from handlers.chat import Button, Divider, Element, Fields, Reply, Text
from knowledge.search.answer import Answer, Hit, Viewer
from knowledge.storage import Store

MAX_QUESTION = 2000


class AskAction(StrEnum):
    """Buttons on answer cards."""

    HELPFUL = "ask.helpful"
    NOT_HELPFUL = "ask.not_helpful"
    MORE = "ask.more"


_BADGES = {
    "identified": "◔ identified",
    "validated": "◑ validated",
    "applied": "● applied",
    "rejected": "○ rejected",
}


async def ask(question: str, *, store: Store, viewer: Viewer, limit: int = 5) -> Reply:
    """Answer a question with the closest lessons this viewer may see."""
    answer = await store.ask(question[:MAX_QUESTION], viewer=viewer, limit=limit)
    return answer_reply(answer)


def answer_reply(answer: Answer) -> Reply:
    """Build the reply for an answer: one card per lesson, or help when there is none."""
    if not answer.query.terms and not answer.query.has_filters:
        return Reply.of(
            Text(
                "Ask me what we learned about something, for example "
                "*what did we learn about election security?*"
            )
        )
    if not answer.hits:
        return Reply.of(*no_answer(answer))
    elements: list[Element] = [Text(_heading(answer))]
    for hit in answer.hits:
        elements += [Divider(), *lesson_card(hit)]
    elements += [Divider(), Button("Show more", AskAction.MORE, answer.query.text[:500])]
    return Reply.of(*elements)


def _heading(answer: Answer) -> str:
    n = len(answer.hits)
    heading = f"Here {'is' if n == 1 else 'are'} the {n} closest lesson{'s' * (n != 1)}"
    if answer.did_you_mean:
        heading += f" (searched for *{answer.did_you_mean}*)"
    if answer.query.relaxed:
        heading = "Nothing matched your type, mission, status or date, so without them: " + heading
    return heading + ":"


def lesson_card(hit: Hit) -> list[Element]:
    """Return the card of one lesson: takeaway, source, author, status and feedback buttons."""
    title = f"[{hit.title}]({hit.source_url})" if hit.source_url else hit.title
    pairs = [
        ("Type", hit.product_type.label),
        ("Mission", hit.mission or "—"),
        ("Date", hit.date.isoformat() if hit.date else "—"),
        ("Author", ", ".join(hit.authors) or "—"),
        ("Status", _BADGES[hit.status.value]),
    ]
    return [
        Text(f"*{title}*\n{hit.takeaway}"),
        Fields(tuple(pairs)),
        Button("Helpful", AskAction.HELPFUL, str(hit.lesson_id)),
        Button("Not helpful", AskAction.NOT_HELPFUL, str(hit.lesson_id)),
    ]


def no_answer(answer: Answer) -> list[Element]:
    """Return help for a question with no answer: did-you-mean, themes, who to ask."""
    lines = ["I found no lessons on that yet."]
    if answer.did_you_mean:
        lines.append(f"Did you mean *{answer.did_you_mean}*?")
    if answer.query.has_filters:
        lines.append("Your filters may be too narrow: try without the type, mission or dates.")
    if answer.related_themes:
        lines.append(
            "Themes with many lessons: " + ", ".join(f"#{t}" for t in answer.related_themes)
        )
    if answer.contacts:
        lines.append(
            "Policy and Best Practices Officers who may know: " + "; ".join(answer.contacts)
        )
    return [Text("\n".join(lines))]
