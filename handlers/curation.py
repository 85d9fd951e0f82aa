"""Curation from chat: `/practice boost|down|hide|normal`, priority lessons, practice of the week.

PBPOs move a lesson in search (boosted, down-ranked, hidden, back to normal) with a reason;
PBPOs and mission leaders flag priority lessons, whose list (with their actions' status) goes
to mission leaders weekly and is shown on `/practice priorities`; a PBPO turns the practice of
the week on or off in a channel. The rules are `knowledge.curation` and `knowledge.weekly`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from handlers.chat import ConversationRef, Element, Reply, Text, UserRef
from handlers.errors import UserError
from knowledge.curation import Curation, PriorityLesson, ranking_named
from knowledge.models import SearchRanking
from knowledge.weekly import Weekly

if TYPE_CHECKING:
    from handlers.router import Deps

Verb = Callable[[UserRef, ConversationRef, str, "Deps"], Awaitable[Reply]]
LISTED = 25
_DONE = {
    SearchRanking.BOOST: "⬆ Boosted in search: *{}*. It now outranks close matches.",
    SearchRanking.DOWN: "⬇ Down-ranked in search: *{}*. Close matches now come first.",
    SearchRanking.HIDDEN: "🙈 Hidden from answers: *{}*. It stays on record and in reports.",
    SearchRanking.NORMAL: "Back to its normal place in search: *{}*.",
}


async def _rank(who: UserRef, where: ConversationRef, word: str, text: str, deps: Deps) -> Reply:
    from handlers.practices import lesson_and_rest  # practices imports this module

    lesson_id, why = lesson_and_rest(text)
    ranking = ranking_named(word)
    person = await deps.store.person_for(who.platform, who.user_id)
    done = await Curation(deps.store).rank(
        lesson_id, ranking, actor_id=person, why=why, surface=who.platform,
        channel=where.space,
    )  # fmt: skip
    if not done.changed:
        return Reply.of(Text(f"*{done.title}* is {ranking.value} already."), private=True)
    return Reply.of(Text(_DONE[ranking].format(done.title)), private=True)


async def _flag(who: UserRef, where: ConversationRef, on: bool, text: str, deps: Deps) -> Reply:
    from handlers.practices import lesson_and_rest  # practices imports this module

    lesson_id, why = lesson_and_rest(text)
    person = await deps.store.person_for(who.platform, who.user_id)
    done = await Curation(deps.store).flag(
        lesson_id, on, actor_id=person, why=why, surface=who.platform, channel=where.space
    )
    if not done.changed:
        state = "a priority already" if on else "not a priority"
        return Reply.of(Text(f"*{done.title}* is {state}: nothing changed."), private=True)
    if on:
        line = f"🚩 *{done.title}* is now a priority lesson: mission leaders review it weekly."
    else:
        line = f"*{done.title}* is no longer a priority lesson."
    return Reply.of(Text(line), private=True)


async def _priorities(who: UserRef, where: ConversationRef, text: str, deps: Deps) -> Reply:
    from handlers.router import viewer_of  # the router imports this module

    viewer = await viewer_of(who, where.space, deps)
    missions = frozenset({text.strip()}) if text.strip() else None
    listed = await Curation(deps.store).priority_list(
        viewer, missions=missions, today=deps.store.today()
    )
    return Reply.of(*priority_elements(listed), private=True)


def priority_elements(listed: list[PriorityLesson], *, heading: str = "") -> list[Element]:
    """Return the review list of priority lessons, with their actions' status."""
    if not listed:
        return [Text((heading or "*Priority lessons*") + "\nNo priority lessons right now.")]
    lines = [heading or f"*Priority lessons* ({len(listed)})"]
    for p in listed[:LISTED]:
        why = f" ({p.why})" if p.why else ""
        where = f" · {p.mission}" if p.mission else ""
        lines.append(f"• 🚩 *{p.title}* (lesson #{p.lesson_id}{where}){why}: {p.actions}")
    if len(listed) > LISTED:
        lines.append(f"…and {len(listed) - LISTED} more on the dashboard.")
    return [Text("\n".join(lines))]


async def _weekly(who: UserRef, where: ConversationRef, text: str, deps: Deps) -> Reply:
    word = text.strip().lower()
    if word not in ("on", "off", "start", "stop"):
        raise UserError("Say `/practice weekly on` (or `off`) in the channel that should get it.")
    if not where.channel_name:
        raise UserError("Turn the practice of the week on in a channel, not in a direct message.")
    on = word in ("on", "start")
    person = await deps.store.person_for(who.platform, who.user_id)
    changed = await Weekly(deps.store).set_channel(
        where.platform, where.channel_id, where.channel_name, on=on, actor_id=person,
        surface=who.platform,
    )  # fmt: skip
    if not changed:
        state = "gets" if on else "does not get"
        return Reply.of(Text(f"This channel {state} a practice of the week already."), private=True)
    if on:
        line = (
            "★ This channel now gets a practice of the week, on Mondays: a good practice its "
            "members may all see, a different one each week."
        )
    else:
        line = "This channel no longer gets a practice of the week."
    return Reply.of(Text(line), private=True)


async def _votes(who: UserRef, where: ConversationRef, text: str, deps: Deps) -> Reply:
    from handlers import votes  # what votes do in search: its own module

    return await votes.command(who, where, text, deps)


def _ranker(word: str) -> Verb:
    async def run(who: UserRef, where: ConversationRef, text: str, deps: Deps) -> Reply:
        return await _rank(who, where, word, text, deps)

    return run


def _flagger(on: bool) -> Verb:
    async def run(who: UserRef, where: ConversationRef, text: str, deps: Deps) -> Reply:
        return await _flag(who, where, on, text, deps)

    return run


VERBS: dict[str, Verb] = {
    **{word: _ranker(word) for word in ("boost", "down", "downrank", "down-rank", "hide")},
    **{word: _ranker(word) for word in ("normal", "unhide", "reset")},
    "priority": _flagger(True),
    "prioritise": _flagger(True),
    "prioritize": _flagger(True),
    "unpriority": _flagger(False),
    "deprioritise": _flagger(False),
    "priorities": _priorities,
    "weekly": _weekly,
    "votes": _votes,
}
