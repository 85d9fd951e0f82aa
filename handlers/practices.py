"""Good practices from chat: promote, unpromote and list them; curate search; priority lessons.

`/practice promote <lesson>` (or *Promote* on a lesson card) opens a short form: why it
matters, the channels to post it in, its audience, scope and review date. With the reason
typed after the number (`/practice promote 42 saved two convoys`), it is promoted at once to
this channel. The bot posts a good-practice card in each channel through the Notifier. The
rules (PBPOs only, validated lessons only, restricted lessons only to their audience) live in
`knowledge.practices` and `knowledge.curation`; this module reads commands and builds cards.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

from handlers import curation
from handlers.chat import (
    ButtonPress,
    ConversationRef,
    Element,
    Fields,
    Form,
    FormSubmit,
    Input,
    Reply,
    Text,
    UserRef,
)
from handlers.errors import UserError
from handlers.ids import ID_PATTERN, is_id, parse_id
from knowledge.dates import DUE_HINT, read_day
from knowledge.evidence import BADGES
from knowledge.models import EvidenceLevel
from knowledge.practices import Practice, Practices, Target
from knowledge.search.text import clip

if TYPE_CHECKING:
    from handlers.router import Deps

log = logging.getLogger(__name__)
WORDS = frozenset({"practice", "practices"})
SHOWN = 400
LISTED = 20
STALE = "That button is out of date. Type `practice list` to see the good practices."
USAGE = """*Good practices* (PBPOs)
• `/practice promote <lesson>`: a form asks why it matters, where to post it, for whom, \
its scope and review date; `/practice promote <lesson> <why>` promotes it to this channel at once
• `/practice unpromote <lesson> <why>` · `/practice list`: the good practices you may see
• `/practice boost|down|hide|normal <lesson> <why>`: where a lesson ranks in search
• `/practice priority <lesson> <why>` · `/practice unpriority <lesson>` · \
`/practice priorities`: mission leaders get the list weekly, with the actions' status
• `/practice weekly on` (or `off`) in a channel: a practice of the week there
• `/practice votes`: lessons askers' votes move in search · \
`/practice votes undo|restore <lesson> [kind of question]`: set their effect aside, or back"""
_CHANNEL = re.compile(r"<#(\w+)(?:\|([^>]*))?>|(?<![\w<])#([\w-]{1,80})")
_LESSON = re.compile(
    rf"\s*(?:lesson\s+)?#?({ID_PATTERN})(?![0-9])\s*[:,-]?\s*(.*)", re.I | re.S | re.ASCII
)


class PracticeAction(StrEnum):
    """Buttons about good practices; the value is the lesson id."""

    PROMOTE = "practice.promote"


class PracticeForm(StrEnum):
    """Forms about good practices; the id is "<form>:<lesson id>"."""

    PROMOTE = "practice.promote"


def requested(text: str) -> bool:
    """Return True for a practice command ("practice promote 42"), not a question about one."""
    word, _, rest = text.strip().lower().lstrip("/").partition(" ")
    verb = rest.strip().partition(" ")[0]
    return word in WORDS and verb in VERBS


async def command(who: UserRef, where: ConversationRef, text: str, deps: Deps) -> Reply:
    """Run a `/practice …` command (the text without the word "practice")."""
    verb, _, rest = text.strip().partition(" ")
    run = VERBS.get(verb.lower() or "help")
    if run is None:
        return Reply.of(Text(USAGE), private=True)
    return await run(who, where, rest.strip(), deps)


async def _promote(who: UserRef, where: ConversationRef, text: str, deps: Deps) -> Reply:
    lesson_id, why = lesson_and_rest(text)
    person = await deps.store.person_for(who.platform, who.user_id)
    targets, why = targets_in(why)
    if not why:
        title = await Practices(deps.store).check(lesson_id, actor_id=person, channel=where.space)
        named = " ".join("#" + t.partition("|")[2] for t in targets)
        return promote_form(lesson_id, title, channels=named)
    return await promote(who, where, lesson_id, why=why, targets=targets, deps=deps)


async def promote(
    who: UserRef,
    where: ConversationRef,
    lesson_id: int,
    *,
    why: str,
    targets: list[str],
    deps: Deps,
    audience: str = "",
    scope: str | None = None,
    review_on: date | None = None,
    guidance: bool = False,
) -> Reply:
    """Promote a lesson, post its card in each channel, and say where it went."""
    person = await deps.store.person_for(who.platform, who.user_id)
    chosen = [await _target(where, t, deps) for t in targets] or await _here(where, deps)
    practice = await Practices(deps.store).promote(
        lesson_id, actor_id=person, why=why, targets=chosen, audience=audience, scope=scope,
        review_on=review_on, guidance=guidance, surface=who.platform, channel=where.space,
    )  # fmt: skip
    posted = await _post(practice, chosen, who, deps)
    level = "guidance" if practice.level == EvidenceLevel.GUIDANCE else "a good practice"
    line = f"★ Promoted *{practice.title}*: it is now {level}."
    if posted:
        line += " I posted it in " + ", ".join(posted) + "."
    missed = [t.label for t in chosen if t.label not in posted]
    if missed:
        line += " I could not post it in " + ", ".join(missed) + "."
    if not chosen:
        line += " Nothing was posted: name channels with `#channel`, or promote from a channel."
    return Reply.of(Text(line), Fields(_facts(practice)), private=True)


async def _post(practice: Practice, targets: list[Target], who: UserRef, deps: Deps) -> list[str]:
    if deps.notifier is None:
        return []
    card = Reply(tuple(practice_card(practice, by=who.display_name)), in_thread=False)
    posted = []
    for target in targets:
        where = ConversationRef(target.platform, target.channel_id, None, target.channel_name)
        try:
            await deps.notifier.post(where, card)
        except Exception:  # one channel failing must not hide the others; the actor is told
            log.warning("could not post a good practice in %s", target.key, exc_info=True)
            continue
        posted.append(target.label)
    return posted


async def _unpromote(who: UserRef, where: ConversationRef, text: str, deps: Deps) -> Reply:
    lesson_id, why = lesson_and_rest(text)
    if not why:
        raise UserError("Say why: `/practice unpromote 42 superseded by the 2026 SOP`.")
    person = await deps.store.person_for(who.platform, who.user_id)
    done = await Practices(deps.store).unpromote(
        lesson_id, actor_id=person, why=why, surface=who.platform
    )
    return Reply.of(
        Text(f"*{done.title}* is no longer a good practice; it stays a validated lesson."),
        private=True,
    )


async def _list(who: UserRef, where: ConversationRef, text: str, deps: Deps) -> Reply:
    from handlers.router import viewer_of  # the router imports this module

    viewer = await viewer_of(who, where.space, deps)
    practices = await Practices(deps.store).standing(viewer, limit=LISTED + 1)
    if not practices:
        return Reply.of(Text("No good practices yet. PBPOs promote them: " + USAGE), private=True)
    lines = ["*Good practices*"]
    today = deps.store.today()
    for p in practices[:LISTED]:
        due = " ⏰ review due" if p.review_on <= today else ""
        why = clip(p.why, 160)
        lines.append(f"• {BADGES[p.level]}{due}: *{p.title}* (lesson #{p.lesson_id}): {why}")
    if len(practices) > LISTED:
        lines.append("…and more: `lessons practice list` prints them all.")
    return Reply.of(Text("\n".join(lines)), private=True)


async def _help(who: UserRef, where: ConversationRef, text: str, deps: Deps) -> Reply:
    return Reply.of(Text(USAGE), private=True)


def practice_card(practice: Practice, *, by: str | None = None) -> list[Element]:
    """Return the good-practice card posted in channels."""
    title = f"[{practice.title}]({practice.source_url})" if practice.source_url else practice.title
    head = "Guidance" if practice.level == EvidenceLevel.GUIDANCE else "Good practice"
    lines = [f"★ *{head}: {title}*", clip(practice.lesson, SHOWN)]
    if practice.recommendation:
        lines.append(f"_Recommendation:_ {clip(practice.recommendation, SHOWN)}")
    lines.append(f"_Why it matters:_ {practice.why}")
    return [Text("\n".join(lines)), Fields(_facts(practice))]


def promote_form(lesson_id: int, title: str, *, channels: str = "") -> Reply:
    """Return the PBPO's promotion form for one lesson."""
    inputs = (
        Input("why", f"Why does “{clip(title, 80)}” matter? (shown on the card)", multiline=True),
        Input("channels", "Post in channels (#name …; empty: this channel)", initial=channels,
              optional=True),
        Input("audience", "For whom: everyone, group:<name> or #channel", optional=True),
        Input("scope", "Scope (mission, area; empty: the lesson's mission)", optional=True),
        Input("review", f"Review by ({DUE_HINT}; empty: in a year)", optional=True, date=True),
        Input("level", "Level: good practice or guidance", optional=True),
    )  # fmt: skip
    form = Form(f"{PracticeForm.PROMOTE}:{lesson_id}", "Promote a good practice", inputs)
    return Reply.of(form, private=True)


async def button(press: ButtonPress, deps: Deps) -> Reply | None:
    """*Promote* on a lesson card: open the promotion form (if this person may promote)."""
    if press.action != PracticeAction.PROMOTE:
        raise UserError(STALE)
    lesson_id = parse_id(press.value, stale=STALE)
    person = await deps.store.person_for(press.who.platform, press.who.user_id)
    title = await Practices(deps.store).check(lesson_id, actor_id=person, channel=press.where.space)
    return promote_form(lesson_id, title)


async def form(submit: FormSubmit, deps: Deps) -> Reply | None:
    """The promotion form: promote, post the card and say where."""
    kind, _, key = submit.form.partition(":")
    if kind != PracticeForm.PROMOTE or not is_id(key):
        raise UserError(STALE)
    values = submit.values
    targets, _ = targets_in(values.get("channels", ""))
    return await promote(
        submit.who, submit.where, int(key), why=values.get("why", ""), targets=targets,
        deps=deps, audience=values.get("audience", ""), scope=values.get("scope") or None,
        review_on=_date(values.get("review", ""), deps.store.today()),
        guidance="guid" in values.get("level", "").lower(),
    )  # fmt: skip


def lesson_and_rest(text: str) -> tuple[int, str]:
    """Split "42 why it matters" into the lesson number and the rest, or say how."""
    match = _LESSON.fullmatch(text)
    if match is None:
        raise UserError("Name the lesson by its number: `/practice promote 42`. " + USAGE)
    return int(match.group(1)), match.group(2).strip()


def targets_in(text: str) -> tuple[list[str], str]:
    """Take the channels named in text ("#ops", Slack's "<#C1|ops>"); return them and the rest.

    Each channel is kept as "id|name" (a typed "#ops" is both: the local chat and Slack's
    chat.postMessage take a name).
    """
    found = [
        f"{m[1]}|{m[2] or m[1]}" if m[1] else f"{m[3]}|{m[3]}" for m in _CHANNEL.finditer(text)
    ]
    rest = " ".join(_CHANNEL.sub(" ", text).split())
    return found, rest


async def _target(where: ConversationRef, said: str, deps: Deps) -> Target:
    """Return a channel named in a promotion, with what its audience opens.

    A channel named by id (Slack's `<#C1|ops>`, the local chat's `#ops`) is one of the
    workspace the promotion is made in: its identity is that workspace's and its id. A name
    alone opens nothing restricted.
    """
    channel_id, _, name = said.partition("|")
    space = sibling_space(where.space, channel_id) if where.space else None
    principals = (await deps.store.viewer_for(None, channel=space)).principals if space else None
    return Target(where.platform, channel_id, name or None, principals or frozenset())


async def _here(where: ConversationRef, deps: Deps) -> list[Target]:
    """Return the conversation a promotion was made in, if it is a channel (not a DM)."""
    if not where.channel_name:
        return []
    viewer = await deps.store.viewer_for(None, channel=where.space) if where.space else None
    principals = viewer.principals if viewer else frozenset()
    return [Target(where.platform, where.channel_id, where.channel_name, principals)]


def sibling_space(space: str, channel_id: str) -> str | None:
    """Return the identity of another channel of the same workspace ("slack:T1:C1" → C2).

    Teams channels cannot be named in text, so a Teams promotion posts only where it is made.
    """
    platform, _, rest = space.partition(":")
    if platform == "slack":
        owner = rest.partition(":")[0]
        return f"slack:{owner}:{channel_id}" if owner and channel_id else None
    if platform == "local":
        return f"local:{channel_id}" if channel_id else None
    return None


def _date(text: str, today: date) -> date | None:
    return read_day(text, today=today) if text.strip() else None


def _facts(practice: Practice) -> tuple[tuple[str, str], ...]:
    audience = practice.audience.removeprefix("channel:").removeprefix("group:") or "everyone"
    return (
        ("Evidence", BADGES[practice.level]),
        ("Scope", practice.scope or "every mission"),
        ("For", audience),
        ("Promoted", f"{practice.promoted_by or 'a PBPO'}, {practice.promoted_on.isoformat()}"),
        ("Review by", practice.review_on.isoformat()),
        ("Lesson", f"#{practice.lesson_id}"),
    )


VERBS = {
    "promote": _promote,
    "unpromote": _unpromote,
    "demote": _unpromote,
    "list": _list,
    "help": _help,
    **curation.VERBS,
}
