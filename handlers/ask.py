"""Answer "what did we learn about X?" with cited lesson cards."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from enum import StrEnum

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
from handlers.deps import Deps, viewer_of
from handlers.errors import UserError
from handlers.ids import parse_id, parse_ids
from handlers.practices import PracticeAction
from knowledge.lesson_actions import LessonActions, Progress
from knowledge.models import EvidenceLevel
from knowledge.referrals import Contact, Referrals
from knowledge.reviews import Reviews
from knowledge.search.analysis import LANGUAGE_NAMES
from knowledge.search.answer import Answer, Hit, Viewer
from knowledge.search.text import clip, content_words
from knowledge.storage import Store

MAX_QUESTION = 2000
PAGE = 5
MAX_BULLETS = 4  # bullet lines of the short answer above the cards
SHORT_TAKEAWAY = 200
SAME_TAKEAWAY = 0.6  # share of words two takeaways may share before the later one is dropped
NEAREST = 2  # lessons shown under "not quite what you asked?"
COLLEAGUE_ACTION = "colleague.ask"  # handlers.colleagues
MAX_SHOWN = 50
STALE = "That button is out of date. Ask your question again."
_PRIVATE = ":private"  # on "show more" of a private answer: the next page stays private too
_FRAMING = re.compile(
    r"^\W*(?:what\s+(?:did|have|do)\s+we\s+(?:learn(?:ed|t)?|know)\s+(?:about|on|from|regarding)"
    r"|(?:any\s+)?lessons?\s+(?:learn(?:ed|t)\s+)?(?:about|on|regarding))\s+",
    re.IGNORECASE,
)


class AskAction(StrEnum):
    """Buttons on answer cards."""

    HELPFUL = "ask.helpful"
    NOT_HELPFUL = "ask.not_helpful"
    MORE = "ask.more"
    SHARE = "ask.share"


_BADGES = {
    "identified": "◔ identified",
    "validated": "◑ validated",
    "applied": "● applied",
    "rejected": "○ rejected",
    "withdrawn": "⊘ withdrawn",
}
# Who sees *Promote* on lesson cards: the roles that may promote a practice somewhere. The
# button asks again (`knowledge.practices` decides, for that lesson's mission).
PROMOTERS = frozenset({"group:pbpo", "group:admin"})


async def ask(
    question: str,
    *,
    store: Store,
    viewer: Viewer,
    limit: int = PAGE,
    who: UserRef | None = None,
    where: ConversationRef | None = None,
    shareable: bool = False,
) -> Reply:
    """Answer a question with the closest lessons this viewer may see, and log the question.

    Args:
        where: the conversation the answer goes to (see `conversation`), logged with the
            question so that follow-ups there can refine it.
        shareable: the answer is shown privately (a slash command): offer to share it.
    """
    question = question[:MAX_QUESTION]
    answer = await store.ask(question, viewer=viewer, limit=limit)
    question_id = None
    asked = bool(answer.query.terms or answer.query.has_filters)
    if who is not None and asked:
        question_id = await store.log_question(
            question,
            person_id=viewer.person_id,
            platform=who.platform,
            hits=len(answer.hits),
            channel_id=where.channel_id if where else None,
            thread_id=where.thread_id if where else None,
            lessons=[hit.lesson_id for hit in answer.hits],
            answered=answer.answered,
        )
    contacts: list[Contact] = []
    if asked and not answer.answered:
        contacts = await Referrals(store).who_might_know(
            answer.hits[:NEAREST], asker_id=viewer.person_id
        )
    promoter = bool(viewer.principals & PROMOTERS)
    progress = await LessonActions(store).progress(hit.lesson_id for hit in answer.hits)
    reply = answer_reply(
        answer,
        question_id=question_id,
        shareable=shareable,
        promoter=promoter,
        contacts=contacts,
        progress=progress,
    )
    return replace(reply, private=True) if shareable else reply


async def answering_viewer(incoming: Command | Message, deps: Deps) -> Viewer:
    """Return whose access an answer uses.

    An answer to a message in a channel is posted for the whole channel to read, so it shows
    only what the channel's audience may see (never the asker's restricted lessons); a DM or a
    private (slash command) answer uses everything the asker may see.
    """
    where = incoming.where
    if isinstance(incoming, Message) and where.channel_name:
        return await public_viewer(incoming.who, where, deps)
    return await viewer_of(incoming.who, where.space, deps)


async def public_viewer(who: UserRef, where: ConversationRef, deps: Deps) -> Viewer:
    """Return the access of a post everyone in a conversation reads: the conversation's alone.

    The person is kept (their questions are logged as theirs), never their principals.
    """
    person = await deps.store.person_for(who.platform, who.user_id)
    audience = await deps.store.viewer_for(None, channel=where.space)
    return Viewer(person_id=person, principals=audience.principals)


def conversation(incoming: Command | Message) -> ConversationRef:
    """Return where the answer goes: the thread, or the thread a channel message starts.

    The adapters answer a message at the root of a channel in its own thread; DMs (which have
    no channel name) are answered in the conversation itself.
    """
    where = incoming.where
    if (
        isinstance(incoming, Message)
        and where.thread_id is None
        and where.channel_name is not None
        and incoming.message_id
    ):
        return replace(where, thread_id=incoming.message_id)
    return where


async def button(press: ButtonPress, deps: Deps) -> Reply | None:
    """Helpful / not helpful votes, "show more" and "share in channel"."""
    store = deps.store
    match press.action:
        case AskAction.HELPFUL | AskAction.NOT_HELPFUL:
            lesson_id, question_id = _ids(press.value)
            # The card was shown where it was pressed: the voter's own access and that
            # conversation's open the lesson; a forged id of any other lesson is refused.
            viewer = await viewer_of(press.who, press.where.space, deps)
            helpful = press.action == AskAction.HELPFUL
            changed = await store.record_feedback(
                lesson_id,
                viewer=viewer,
                question_id=question_id,
                helpful=helpful,
                guest=f"{press.who.platform}:{press.who.user_id}",
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
            private = press.value.endswith(_PRIVATE)
            question_id, shown = _ids(press.value.removesuffix(_PRIVATE))
            text = await store.question_text(question_id)
            if private or not press.where.channel_name:
                # Shown to the presser alone (or in their own DM): everything they may see.
                viewer = await viewer_of(press.who, press.where.space, deps)
            else:
                # The next page of a public answer is posted for the conversation, like the
                # first: what its audience may see, never the presser's own restricted lessons.
                viewer = await public_viewer(press.who, press.where, deps)
            shown = min(shown or PAGE, MAX_SHOWN)
            answer = await store.ask(text, viewer=viewer, limit=shown + PAGE)
            return more_reply(answer, question_id=question_id, shown=shown, private=private)
        case AskAction.SHARE:
            return await share(press, deps)
    raise UserError(STALE)


async def share(press: ButtonPress, deps: Deps) -> Reply:
    """Share a private answer in its channel: only the lessons everyone there may see."""
    store = deps.store
    question = await store.question(parse_id(press.value, stale=STALE))
    person = await store.person_for(press.who.platform, press.who.user_id)
    if question.person_id != person or question.platform != press.who.platform[:16]:
        raise UserError("Only the person who asked this question can share its answer.")
    viewer = await viewer_of(press.who, press.where.space, deps)
    answer = await store.ask(question.text, viewer=viewer, limit=PAGE)
    if not answer.hits:
        return Reply.of(
            Text("There is nothing to share: no lessons answer that now."), private=True
        )
    # What the channel itself may see (as for AAR posts): restricted lessons stay with their
    # audience, however much the person sharing may see. Hiding lessons only moves the others
    # up, so the channel's first page holds every card of the answer it may see.
    audience = await store.viewer_for(None, channel=press.where.space)
    public = await store.ask(question.text, viewer=audience, limit=PAGE)
    open_ids = {hit.lesson_id for hit in public.hits}
    kept = tuple(hit for hit in answer.hits if hit.lesson_id in open_ids)
    if not kept:
        return Reply.of(
            Text(
                "I shared nothing: every lesson of this answer is restricted, and not everyone "
                "here may see it."
            ),
            private=True,
        )
    member = await Reviews(store).member(person) if person is not None else None
    name = member.name if member else press.who.display_name or "Someone"
    return shared_reply(
        replace(answer, hits=kept),
        name=name,
        question=question.text,
        question_id=question.id,
        left_out=len(answer.hits) - len(kept),
    )


def _ids(value: str) -> tuple[int, int | None]:
    if ":" not in value:
        return parse_id(value, stale=STALE), None
    first, second = parse_ids(value, 2, stale=STALE)
    return first, second


def answer_reply(
    answer: Answer,
    *,
    question_id: int | None = None,
    shareable: bool = False,
    promoter: bool = False,
    contacts: Sequence[Contact] = (),
    progress: Mapping[int, Progress] | None = None,
) -> Reply:
    """Build the reply for an answer: one card per lesson, or "nothing fits" when the search
    found nothing good (see `nothing_fits`).

    A shareable answer is one shown privately: it offers "Share in channel", and its "show
    more" stays private too. A promoter (a PBPO) gets *Promote* on validated lessons.
    """
    if not answer.query.terms and not answer.query.has_filters:
        return Reply.of(
            Text(
                "Ask me what we learned about something, for example "
                "*what did we learn about election security?*"
            )
        )
    if not answer.hits or not answer.answered:
        return Reply.of(*nothing_fits(answer, question_id=question_id, contacts=contacts))
    elements: list[Element] = [Text(_heading(answer))]
    if (short := short_answer(answer)) is not None:
        elements.append(short)
    for n, hit in enumerate(answer.hits, 1):
        shown = (progress or {}).get(hit.lesson_id)
        card = lesson_card(
            hit, question_id=question_id, promoter=promoter, number=n, progress=shown
        )
        elements += [Divider(), *card]
    buttons: list[Element] = []
    if question_id is not None and len(answer.hits) >= PAGE:
        more = f"{question_id}:{PAGE}" + (_PRIVATE if shareable else "")
        buttons.append(Button("Show more", AskAction.MORE, more))
    if question_id is not None and shareable:
        buttons.append(Button("Share in channel", AskAction.SHARE, str(question_id)))
    if buttons:
        elements += [Divider(), *buttons]
    return Reply.of(*elements)


def more_reply(answer: Answer, *, question_id: int, shown: int, private: bool = False) -> Reply:
    """Build the reply for "show more": the lessons after the ones already shown."""
    hits = answer.hits[shown:]
    if not hits:
        return Reply.of(Text("That's all I have on this question."), private=True)
    elements: list[Element] = [Text(f"{len(hits)} more:")]
    for hit in hits:
        elements += [Divider(), *lesson_card(hit, question_id=question_id)]
    if len(hits) >= PAGE and shown + PAGE < MAX_SHOWN:
        more = f"{question_id}:{shown + PAGE}" + (_PRIVATE if private else "")
        elements += [Divider(), Button("Show more", AskAction.MORE, more)]
    return Reply.of(*elements, private=private)


def shared_reply(
    answer: Answer, *, name: str, question: str, question_id: int, left_out: int
) -> Reply:
    """Build the public post of a shared answer, saying how many restricted lessons stayed out."""
    heading = f"{name} shared what we learned about *{quote(_topic(question))}*"
    if answer.query.relaxed:
        heading += " (nothing matched its type, mission, status or date, so without them)"
    elements: list[Element] = [Text(heading + ":")]
    for hit in answer.hits:
        elements += [Divider(), *lesson_card(hit, question_id=question_id)]
    if left_out:
        lessons = (
            "1 restricted lesson was" if left_out == 1 else f"{left_out} restricted lessons were"
        )
        elements += [Divider(), Text(f"_{lessons} left out: not everyone here may see them._")]
    return Reply(tuple(elements), in_thread=False)


def _heading(answer: Answer) -> str:
    n = len(answer.hits)
    heading = f"Here {'is' if n == 1 else 'are'} the {n} closest lesson{'s' * (n != 1)}"
    if answer.did_you_mean:
        heading += f" (searched for *{answer.did_you_mean}*)"
    if answer.query.relaxed:
        heading = "Nothing matched your type, mission, status or date, so without them: " + heading
    return heading + ":"


def short_answer(answer: Answer) -> Text | None:
    """Return two to four bullet lines that answer the question, above the cards, or None.

    Each is the takeaway of a different lesson (extractive: the lesson's own sentence that
    best matches the question), with the number of its card ([1]); a takeaway that says
    nearly what an earlier one said (most of its words shared) is left out, and so is one that
    holds none of the question's words (or their glossary expansions).
    """
    asked = (*answer.query.terms, *answer.corrections.values(), *answer.expansions)
    stems = [_stem(t) for t in asked]
    lines: list[str] = []
    seen: list[set[str]] = []
    for n, hit in enumerate(answer.hits, 1):
        said = set(content_words(hit.takeaway))
        if not said or (stems and not any(w.startswith(stems_) for w in said for stems_ in stems)):
            continue
        if any(len(said & other) >= SAME_TAKEAWAY * min(len(said), len(other)) for other in seen):
            continue
        seen.append(said)
        lines.append(f"• {clip(unlinked(hit.takeaway), SHORT_TAKEAWAY)} [{n}]")
        if len(lines) == MAX_BULLETS:
            break
    if len(lines) < 2:
        return None
    return Text("*In short:*\n" + "\n".join(lines))


def _stem(word: str) -> str:
    """Return a word's start that its other forms share: "elections" → "elect", "QIPs" → "qip"."""
    return word[: max(5, len(word) - 4)] if len(word) > 5 else word.rstrip("s") or word


def lesson_card(
    hit: Hit,
    *,
    question_id: int | None = None,
    promoter: bool = False,
    number: int | None = None,
    progress: Progress | None = None,
) -> list[Element]:
    """Return the card of one lesson: takeaway, source, author, status, evidence and buttons.

    `number` is the card's citation number in the short answer above the cards ([1]).
    """
    title = f"[{hit.title}]({hit.source_url})" if hit.source_url else hit.title
    if number is not None:
        title = f"[{number}] {title}"
    pairs = [
        ("Type", hit.product_type.label),
        ("Mission", hit.mission or "—"),
        ("Date", hit.date.isoformat() if hit.date else "—"),
        ("Author", ", ".join(hit.authors) or "—"),
        ("Status", _BADGES[hit.status.value]),
        ("Language", LANGUAGE_NAMES.get(hit.language, hit.language)),
    ]
    if hit.evidence is not None:
        pairs.append(("Evidence", hit.evidence.badge))
    if progress is not None:
        pairs.append(("Actions", str(progress)))
    # Compact: title, mission, date and status badge on one line, the takeaway, and the rest
    # behind *Details* (fits a 360-pixel thread panel).
    when = hit.date.isoformat() if hit.date else "—"
    parts = [f"*{title}*", hit.mission or "—", when, _BADGES[hit.status.value]]
    if hit.language != "en":  # most lessons are in English: only another language is news
        parts.append(LANGUAGE_NAMES.get(hit.language, hit.language))
    line = " · ".join(parts)
    card: list[Element] = [
        Text(f"{line}\n{hit.takeaway}"),
        Fields(tuple(pairs), folded=True),
        Button("Helpful", AskAction.HELPFUL, _vote(hit.lesson_id, question_id)),
        Button("Not helpful", AskAction.NOT_HELPFUL, _vote(hit.lesson_id, question_id)),
    ]
    if promoter and hit.evidence is not None and hit.evidence.level == EvidenceLevel.LESSON:
        card.append(Button("Promote", PracticeAction.PROMOTE, str(hit.lesson_id)))
    return card


def _vote(lesson_id: int, question_id: int | None) -> str:
    return f"{lesson_id}:{question_id}" if question_id is not None else str(lesson_id)


def nothing_fits(
    answer: Answer, *, question_id: int | None = None, contacts: Sequence[Contact] = ()
) -> list[Element]:
    """Return the reply when nothing good was found: said plainly, at most the NEAREST lessons
    under "not quite what you asked?", who might know, and *Ask a colleague*."""
    if answer.hits:
        lines = [
            f"I found nothing in the lessons that answers *{quote(_topic(answer.query.text))}*."
        ]
        if answer.did_you_mean:
            lines.append(f"Did you mean *{answer.did_you_mean}*?")
        elements: list[Element] = [Text("\n".join(lines))]
    else:
        elements = no_answer(answer, pbpos=not contacts)
    if answer.hits:
        elements.append(Text("*Not quite what you asked?* The nearest lessons:"))
        for hit in answer.hits[:NEAREST]:
            elements += [Divider(), *lesson_card(hit, question_id=question_id)]
    if contacts:
        lines = ["*Who might know:*"]
        for c in contacts:
            mission = f" ({c.mission})" if c.mission else ""
            email = f" [{c.email}](mailto:{c.email})" if c.email else ""
            lines.append(f"• *{c.name}*{mission}{email}: {c.why}")
        elements += [Divider(), Text("\n".join(lines))]
        if question_id is not None:
            elements.append(Button("Ask a colleague", COLLEAGUE_ACTION, str(question_id)))
    return elements


def no_answer(answer: Answer, *, pbpos: bool = True) -> list[Element]:
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
    if answer.contacts and pbpos:
        lines.append(
            "Policy and Best Practices Officers who may know: " + "; ".join(answer.contacts)
        )
    return [Text("\n".join(lines))]


def _topic(question: str) -> str:
    """Return a question without its "what did we learn about" and final question mark."""
    return _FRAMING.sub("", question).strip().rstrip("?!. ") or question


def quote(text: str) -> str:
    """Return user text fit to quote in bold: one line, no stars, no links, not too long."""
    return clip(" ".join(unlinked(text.replace("*", "")).split()), 120)
