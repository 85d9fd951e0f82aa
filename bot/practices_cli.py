"""The `lessons practice` commands: promote, unpromote and list good practices; curate search;
flag and list priority lessons, from the shell.

A promotion or a curation is a PBPO's (or a mission leader's) decision, so each change names
who makes it (`--by EMAIL`): the same rules as in chat decide, and the audit trail records
them from the surface "cli". Listing reads everything (whoever runs the command line has the
database at hand) and says which practices are restricted, and to whom. A promotion from the
shell posts no card: the channels' practice of the week picks it up.
"""

from __future__ import annotations

import argparse
import json
from datetime import date

from bot.admin import person_id, printing
from bot.settings import Settings
from knowledge.audit import CLI
from knowledge.curation import Curation, ranking_named
from knowledge.evidence import BADGES
from knowledge.practices import Practice, Practices
from knowledge.storage import Store

FORMATS = ("table", "json")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `practice` to the `lessons` command."""
    practice = sub.add_parser("practice", help="good practices, search curation, priorities")
    actions = practice.add_subparsers(required=True, metavar="ACTION")
    promote = actions.add_parser("promote", help="promote a validated lesson to a good practice")
    _lesson_by_why(promote)
    promote.add_argument("--audience", default="", help="everyone, group:<name> or #channel")
    promote.add_argument("--scope", help="mission or area (default: the lesson's mission)")
    promote.add_argument("--review", type=date.fromisoformat, metavar="YYYY-MM-DD")
    promote.add_argument("--guidance", action="store_true", help="promote it as guidance")
    promote.set_defaults(func=_promote)
    unpromote = actions.add_parser("unpromote", help="end a lesson's promotion (kept on record)")
    _lesson_by_why(unpromote)
    unpromote.set_defaults(func=_unpromote)
    listing = actions.add_parser("list", help="every standing good practice")
    listing.add_argument("--format", choices=FORMATS, default="table")
    listing.set_defaults(func=_list)
    rank = actions.add_parser("rank", help="boost, down-rank, hide or restore a lesson in search")
    rank.add_argument("lesson", type=int)
    rank.add_argument("ranking", help="boost, down, hide or normal")
    rank.add_argument("--by", required=True, metavar="EMAIL", help="the PBPO who decides")
    rank.add_argument("--why", default="", help="kept with the decision")
    rank.set_defaults(func=_rank)
    flag = actions.add_parser("priority", help="flag a lesson as a priority (or --off)")
    flag.add_argument("lesson", type=int)
    flag.add_argument("--by", required=True, metavar="EMAIL")
    flag.add_argument("--why", default="")
    flag.add_argument("--off", action="store_true", help="clear the flag")
    flag.set_defaults(func=_flag)
    priorities = actions.add_parser("priorities", help="the priority lessons and their actions")
    priorities.add_argument("--mission", help="only this mission's")
    priorities.set_defaults(func=_priorities)


def _lesson_by_why(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lesson", type=int, help="the lesson's number")
    parser.add_argument("--by", required=True, metavar="EMAIL", help="the PBPO who decides")
    parser.add_argument("--why", required=True, help="why it matters (or why it ends)")


def _promote(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        done = await Practices(store).promote(
            args.lesson, actor_id=await person_id(store, args.by), why=args.why,
            audience=args.audience, scope=args.scope, review_on=args.review,
            guidance=args.guidance, surface=CLI,
        )  # fmt: skip
        return f"Promoted lesson #{done.lesson_id}: {_line(done)}"

    return printing(settings, work)


def _unpromote(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        actor = await person_id(store, args.by)
        done = await Practices(store).unpromote(
            args.lesson, actor_id=actor, why=args.why, surface=CLI
        )
        return f"Lesson #{done.lesson_id} is no longer a good practice: {done.title}"

    return printing(settings, work)


def _list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        found = await Practices(store).standing(None, limit=10_000)
        if args.format == "json":
            return json.dumps([_json(p) for p in found], ensure_ascii=False, indent=2)
        return "\n".join(f"#{p.lesson_id}  {_line(p)}" for p in found) or "No good practices yet."

    return printing(settings, work)


def _rank(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        ranking = ranking_named(args.ranking)
        actor = await person_id(store, args.by)
        done = await Curation(store).rank(
            args.lesson, ranking, actor_id=actor, why=args.why, surface=CLI
        )
        state = "now" if done.changed else "already"
        return f"Lesson #{done.lesson_id} is {state} {done.ranking.value} in search: {done.title}"

    return printing(settings, work)


def _flag(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        actor = await person_id(store, args.by)
        done = await Curation(store).flag(
            args.lesson, not args.off, actor_id=actor, why=args.why, surface=CLI
        )
        state = "a priority" if done.priority else "not a priority"
        said = "is now" if done.changed else "is already"
        return f"Lesson #{done.lesson_id} {said} {state}: {done.title}"

    return printing(settings, work)


def _priorities(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        missions = frozenset({args.mission}) if args.mission else None
        found = await Curation(store).priority_list(None, missions=missions, today=store.today())
        lines = [
            f"#{p.lesson_id}  {p.mission or '-'}  {p.title}  [{p.actions}]"
            + (f"  ({p.why})" if p.why else "")
            for p in found
        ]
        return "\n".join(lines) or "No priority lessons."

    return printing(settings, work)


def _line(p: Practice) -> str:
    audience = f"  restricted to {p.audience}" if p.audience else ""
    return (
        f"{BADGES[p.level]}  {p.title}  (scope {p.scope or 'every mission'}, review by "
        f"{p.review_on.isoformat()}, by {p.promoted_by or '-'} on {p.promoted_on.isoformat()})"
        f"{audience}: {p.why}"
    )


def _json(p: Practice) -> dict[str, object]:
    return {
        "lesson": p.lesson_id,
        "title": p.title,
        "level": p.level.value,
        "why": p.why,
        "scope": p.scope,
        "audience": p.audience or "everyone",
        "channels": list(p.channels),
        "review_on": p.review_on.isoformat(),
        "promoted_by": p.promoted_by,
        "promoted_on": p.promoted_on.isoformat(),
    }
