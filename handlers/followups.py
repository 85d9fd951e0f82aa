"""Follow-ups: "only AARs", "since 2022" narrow the last question of their thread.

A reply in a thread where the bot answered a question (no mention needed), or a direct message
soon after one's own question, is read as a follow-up when it holds filters only: the last
question is asked again with them, and logged as the thread's new last question. Anything else
there (chatter, thanks, a new topic) is not a follow-up: the router stays quiet in threads. A
whole question of its own ("what did we learn in MINUSCA", "#gender lessons last 3 years")
starts afresh, and a combination that would leave nothing is not made: the new message is
answered alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

from handlers import ask
from handlers.ask import MAX_QUESTION, quote
from handlers.chat import Command, Message, Reply, Text
from handlers.deps import Deps
from knowledge.models import ProductType
from knowledge.search.query import Query, framed
from knowledge.search.text import STOP_WORDS, fold, words

# Outside a thread (a DM, a slash command) a follow-up narrows only the asker's own question,
# and only this soon after it; in a thread it narrows the thread's last question, whoever asks.
WINDOW = timedelta(minutes=30)
MAX_WORDS = 12

Parser = Callable[[str], Query]

# Words a follow-up may hold besides its filters ("just the applied ones, please").
_FILLER = frozenset(
    "only just also too now then instead again please ok okay so well ones those these them same "
    "show give narrow filter limit restrict results answers published dated written".split()
)
_KINDS = ("types", "missions", "themes", "statuses", "dates")
_TYPE_WORDS = {
    ProductType.AAR: "AARs",
    ProductType.EOAR: "EoARs",
    ProductType.PRACTICE_NOTE: "practice notes",
    ProductType.SURVEY_OF_PRACTICE: "surveys of practice",
    ProductType.LESSONS_LEARNED_STUDY: "LL studies",
}
_MONTHS = (
    "january february march april may june july august september october november december"
).split()


async def follow_up(incoming: Command | Message, deps: Deps) -> Reply | None:
    """Answer a follow-up that narrows the last question asked here ("only AARs").

    Return None when the message is not such a follow-up, or nothing was asked here before.
    """
    store, where = deps.store, incoming.where
    direct = not isinstance(incoming, Message) or incoming.direct
    if (not direct and where.thread_id is None) or not incoming.text.strip():
        return None
    if len(incoming.text.split()) > MAX_WORDS:
        return None
    parse = await store.question_parser()
    if not narrows(incoming.text, parse):
        return None  # no filter in it: whatever was asked before, this cannot narrow it
    person = await store.person_for(incoming.who.platform, incoming.who.user_id)
    outside = where.thread_id is None  # a DM or a slash command: only one's own question counts
    previous = await store.last_question(
        where.platform, where.channel_id, where.thread_id, own=outside, person_id=person
    )
    if previous is None or (outside and previous.asked_at < store.clock() - WINDOW):
        return None
    question = refined(previous.text, incoming.text, parse)
    if question is None:
        return None
    viewer = await ask.answering_viewer(incoming, deps)
    combined = await store.ask(question[:MAX_QUESTION], viewer=viewer, limit=ask.PAGE)
    alone = not combined.hits or combined.query.relaxed
    if alone:
        # The combination empties the answer: answer the new message alone, rather than
        # dropping every filter of both.
        question = incoming.text
        lead = Text(
            f"Nothing matched *{quote(previous.text)}* together with *{quote(incoming.text)}*, "
            f"so this answers *{quote(incoming.text)}* alone."
        )
    else:
        lead = Text(f"Following up on *{quote(previous.text)}* with *{quote(incoming.text)}*.")
    reply = await ask.ask(
        question,
        store=store,
        viewer=viewer,
        who=incoming.who,
        where=ask.conversation(incoming),
        shareable=isinstance(incoming, Command),
    )
    return replace(reply, elements=(lead, *reply.elements))


def narrows(follow_up: str, parse: Parser) -> bool:
    """Return True when a message holds a filter, or names a mission on its own ("just MINUSCA").

    Only such a message can narrow a question (see `refined`); telling it apart needs no
    earlier question, so the router asks this first.
    """
    query = parse(follow_up)
    return query.has_filters or any(
        term not in _FILLER and parse(f"in {term}").missions for term in query.terms
    )


def refined(previous: str, follow_up: str, parse: Parser) -> str | None:
    """Return the previous question narrowed by a follow-up made of filters only, or None.

    A follow-up may repeat the question's words and hold filler ("just", "please"), but no new
    topic: "only AARs", "since 2022", "just MINUSCA", "and in 2019?". Its filters replace those
    of the same kind in the question ("in 2019" after "since 2022"); they are added in words
    the parser reads back exactly.
    """
    if whole_question(follow_up):
        return None
    query, before = parse(follow_up), parse(previous)
    missions = set(query.missions)
    for term in query.terms:
        if term in _FILLER or term in before.terms:
            continue
        bare = parse(f"in {term}").missions  # "just MINUSCA": a mission named on its own
        if not bare:
            return None  # a new topic, or chatter: not a follow-up
        missions |= bare
    narrowing = replace(query, terms=(), missions=frozenset(missions))
    if not narrowing.has_filters:
        return None
    filters = _filters(narrowing)
    kept = _without(previous, [k for k in _KINDS if filters[k]], parse)
    added = _phrase(narrowing, parse)
    return f"{kept[: MAX_QUESTION - len(added) - 1]} {added}"


def whole_question(message: str) -> bool:
    """Return True for a message that is a question of its own, never a follow-up.

    It opens with framing ("what did we learn in MINUSCA", "any lessons on …"), or asks for
    lessons in its own words ("#gender lessons last 3 years") without opening as a refinement
    does ("only", "just", "what about", "and …").
    """
    if framed(message):
        return True
    folded = fold(message)
    return _ASKS_FOR_LESSONS.search(folded) is not None and _REFINING.match(folded) is None


_ASKS_FOR_LESSONS = re.compile(r"\b(?:lessons?|learn(?:ed|t|ing)?|practices?)\b")
_REFINING = re.compile(
    r"^\W*(?:(?:and|but|ok|okay|so|now|then)\b\W*)*"
    r"(?:only|just|what\s+about|how\s+about|and|but|also|same|now)\b"
)


def _filters(query: Query) -> dict[str, object]:
    dates = (query.since, query.until) if query.since or query.until else ()
    return {
        "types": query.types,
        "missions": query.missions,
        "themes": query.themes,
        "statuses": query.statuses,
        "dates": dates,
    }


def _without(question: str, kinds: list[str], parse: Parser) -> str:
    """Cut the filters of these kinds out of a question, keeping its words and other filters."""
    tokens = question.split()
    if len(tokens) > 60:  # a long question keeps its filters: the follow-up's are added
        return question
    for kind in kinds:
        while _filters(parse(" ".join(tokens)))[kind]:
            cut = _cut(tokens, kind, parse)
            if cut is None:
                break
            tokens = cut
    return " ".join(tokens)


def _cut(tokens: list[str], kind: str, parse: Parser) -> list[str] | None:
    """Return the tokens without the shortest run that holds a filter of this kind.

    The stop words just before the run go with it ("in 2019", not "2019"), when that changes
    nothing else.
    """
    before = parse(" ".join(tokens))
    was = _filters(before)

    def only_this_kind(rest: list[str]) -> bool:
        after = parse(" ".join(rest))
        now = _filters(after)
        return (
            now[kind] != was[kind]
            and after.terms == before.terms
            and all(now[k] == was[k] for k in _KINDS if k != kind)
        )

    for size in range(1, 6):
        for start in range(len(tokens) - size + 1):
            end = start + size
            if only_this_kind(tokens[:start] + tokens[end:]):
                while (
                    start > 0
                    and set(words(tokens[start - 1])) <= STOP_WORDS
                    and only_this_kind(tokens[: start - 1] + tokens[end:])
                ):
                    start -= 1
                return tokens[:start] + tokens[end:]
    return None


def _phrase(query: Query, parse: Parser) -> str:
    """Write a query's filters in words the parser reads back as the same filters."""
    parts = [_TYPE_WORDS.get(t, f"type:{t.value}") for t in sorted(query.types)]
    parts += [f"only {status.value}" for status in sorted(query.statuses)]
    parts += [f"#{theme}" for theme in sorted(query.themes)]
    for mission in sorted(query.missions):
        named = f"in {mission}"
        parts.append(named if parse(named).missions == {mission} else f'mission:"{mission}"')
    if query.since:
        parts.append(f"since {_month(query.since)}")
    if query.until:
        after = query.until + timedelta(days=1)  # "before May 2022" ends on 30 April 2022
        parts.append(f"before {_month(after if after.day == 1 else _next_month(after))}")
    return " ".join(parts)


def _month(day: date) -> str:
    return str(day.year) if day.month == 1 else f"{_MONTHS[day.month - 1]} {day.year}"


def _next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
