"""`lessons votes report|undo|restore`: what askers' votes do in search, from the shell.

The report lists every lesson votes move (the command line has the database at hand), most
moved first: for which kind of question, by how much, by how many votes, and the undos that
stand. Undo and restore are a PBPO's decision (`--by EMAIL`), checked and audited as in chat.
"""

from __future__ import annotations

import argparse
import json

from bot.admin import person_id, printing
from bot.settings import Settings
from handlers.votes import report_lines, said
from knowledge.audit import CLI
from knowledge.storage import Store
from knowledge.votes import VoteEffects


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `votes` to the `lessons` command."""
    votes = sub.add_parser("votes", help="what Helpful / Not helpful votes do in search")
    actions = votes.add_subparsers(required=True, metavar="ACTION")
    report = actions.add_parser("report", help="lessons votes move, by how much, by how many")
    report.add_argument("--json", action="store_true")
    report.set_defaults(func=_report)
    for name, text in (
        ("undo", "set aside the votes' effect on a lesson (a kind of question, or all)"),
        ("restore", "undo an undo: the lesson's votes count again"),
    ):
        parser = actions.add_parser(name, help=text)
        parser.add_argument("lesson", type=int)
        parser.add_argument("--kind", default="", help="the kind of question (default: every)")
        parser.add_argument("--by", required=True, metavar="EMAIL", help="the PBPO who decides")
        parser.add_argument("--why", default="", help="kept in the audit trail")
        parser.set_defaults(func=_undo if name == "undo" else _restore)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        found = await VoteEffects(store).report(None, everything=True)
        if args.json:
            return json.dumps([m.as_json() for m in found.moves], ensure_ascii=False, indent=2)
        return "\n".join(report_lines(found))

    return printing(settings, work)


def _undo(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        actor = await person_id(store, args.by)
        done = await VoteEffects(store).undo(
            args.lesson, args.kind, actor_id=actor, why=args.why, surface=CLI
        )
        return said(done, restored=False) + f"\nTo restore: lessons votes restore {args.lesson}"

    return printing(settings, work)


def _restore(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        actor = await person_id(store, args.by)
        done = await VoteEffects(store).restore(
            args.lesson, args.kind, actor_id=actor, why=args.why, surface=CLI
        )
        return said(done, restored=True)

    return printing(settings, work)
