"""Answer "what did we learn about X?" with cited lesson cards."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from handlers.chat import Button, ButtonPress, Divider, Element, Fields, Reply, Text, UserRef
from handlers.errors import UserError
from knowledge.search.answer import Answer, Hit, Viewer
from knowledge.storage import Store

if TYPE_CHECKING:
    from handlers.router import Deps

MAX_QUESTION = 2000
PAGE = 5
MAX_SHOWN = 50


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


async def ask(
    question: str,
    *,
    store: Store,
    viewer: Viewer,
    limit: int = PAGE,
    who: UserRef | None = None,
) -> Reply:
    """Answer a question with the closest lessons this viewer may see, and log the question."""
    question = question[:MAX_QUESTION]
    answer = await store.ask(question, viewer=viewer, limit=limit)
    question_id = None
    if who is not None and (answer.query.terms or answer.query.has_filters):
        question_id = await store.log_question(
            question, person_id=viewer.person_id, platform=who.platform, hits=len(answer.hits)
        )
    return answer_reply(answer, question_id=question_id)


async def button(press: ButtonPress, deps: Deps) -> Reply | None:
    """Helpful / not helpful votes and "show more"."""
    from handlers.router import viewer_of  # the router imports this module

    store = deps.store
    match press.action:
        case AskAction.HELPFUL | AskAction.NOT_HELPFUL:
            lesson_id, question_id = _ids(press.value)
            person = await store.person_for(press.who.platform, press.who.user_id)
            helpful = press.action == AskAction.HELPFUL
            changed = await store.record_feedback(
                lesson_id, person_id=person, question_id=question_id, helpful=helpful
            )
            if not changed:
                return Reply.of(Text("You already told me that, thanks."), private=True)
            return Reply.of(
                Text(
                    "Thanks! I noted that this lesson helped."
                    if helpful
                    else "Thanks for saying so. I noted that this lesson did not help, and "
                    "the Policy and Best Practices Officers will see it."
                ),
                private=True,
            )
        case AskAction.MORE:
            question_id, shown = _ids(press.value)
            text = await store.question_text(question_id)
            viewer = await viewer_of(press.who, press.where.channel_name, deps)
            shown = min(shown or PAGE, MAX_SHOWN)
            answer = await store.ask(text, viewer=viewer, limit=shown + PAGE)
            return more_reply(answer, question_id=question_id, shown=shown)
    raise UserError("That button is out of date. Ask your question again.")


def _ids(value: str) -> tuple[int, int | None]:
    first, _, second = value.partition(":")
    if not first.isdigit() or (second and not second.isdigit()):
        raise UserError("That button is out of date. Ask your question again.")
    return int(first), int(second) if second else None


def answer_reply(answer: Answer, *, question_id: int | None = None) -> Reply:
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
        elements += [Divider(), *lesson_card(hit, question_id=question_id)]
    if question_id is not None and len(answer.hits) >= PAGE:
        elements += [Divider(), Button("Show more", AskAction.MORE, f"{question_id}:{PAGE}")]
    return Reply.of(*elements)


def more_reply(answer: Answer, *, question_id: int, shown: int) -> Reply:
    """Build the reply for "show more": the lessons after the ones already shown."""
    hits = answer.hits[shown:]
    if not hits:
        return Reply.of(Text("That's all I have on this question."), private=True)
    elements: list[Element] = [Text(f"{len(hits)} more:")]
    for hit in hits:
        elements += [Divider(), *lesson_card(hit, question_id=question_id)]
    if len(hits) >= PAGE and shown + PAGE < MAX_SHOWN:
        elements += [
            Divider(),
            Button("Show more", AskAction.MORE, f"{question_id}:{shown + PAGE}"),
        ]
    return Reply.of(*elements)


def _heading(answer: Answer) -> str:
    n = len(answer.hits)
    heading = f"Here {'is' if n == 1 else 'are'} the {n} closest lesson{'s' * (n != 1)}"
    if answer.did_you_mean:
        heading += f" (searched for *{answer.did_you_mean}*)"
    if answer.query.relaxed:
        heading = "Nothing matched your type, mission, status or date, so without them: " + heading
    return heading + ":"


def lesson_card(hit: Hit, *, question_id: int | None = None) -> list[Element]:
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
        Button("Helpful", AskAction.HELPFUL, _vote(hit.lesson_id, question_id)),
        Button("Not helpful", AskAction.NOT_HELPFUL, _vote(hit.lesson_id, question_id)),
    ]


def _vote(lesson_id: int, question_id: int | None) -> str:
    return f"{lesson_id}:{question_id}" if question_id is not None else str(lesson_id)


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
