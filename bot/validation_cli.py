"""The `lessons lesson` commands: what awaits someone's validation, and the decisions, from the
shell.

A decision is a manager's or a PBPO's, so each one names who makes it (`--by EMAIL`): the same
rules as in chat decide (a refusal says who can), and the audit trail records the decision from
the surface "cli". Nobody is messaged from the shell: the author sees the outcome on the
lesson's card, the home and the dashboard.
"""

from __future__ import annotations

import argparse
import json

from bot.admin import person_id, printing
from bot.settings import Settings
from knowledge.audit import CLI
from knowledge.capture import Notes, PendingLesson
from knowledge.storage import Store
from knowledge.validation import Outcome, Validations, Verdict

FORMATS = ("table", "json")
_DONE = {
    Verdict.VALIDATE: "validated",
    Verdict.CHANGES: "sent back to its author for changes",
    Verdict.REJECT: "rejected",
}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `lesson` to the `lessons` command."""
    lesson = sub.add_parser("lesson", help="validate, reject or withdraw lessons")
    actions = lesson.add_subparsers(required=True, metavar="ACTION")
    awaiting = actions.add_parser("awaiting", help="the lessons awaiting someone's validation")
    awaiting.add_argument("--as", dest="who", required=True, metavar="EMAIL")
    awaiting.add_argument("--limit", type=int, default=50)
    awaiting.add_argument("--format", choices=FORMATS, default="table")
    awaiting.set_defaults(func=_awaiting)
    validate = actions.add_parser("validate", help="validate an identified lesson")
    _lesson_by(validate)
    validate.add_argument("--note", help="kept with the decision")
    validate.set_defaults(func=_decide, verdict=Verdict.VALIDATE)
    changes = actions.add_parser("changes", help="send a lesson back to its author for changes")
    _lesson_by(changes)
    changes.add_argument("--note", required=True, help="what the author should change")
    changes.set_defaults(func=_decide, verdict=Verdict.CHANGES)
    reject = actions.add_parser("reject", help="reject an identified lesson, with a reason")
    _lesson_by(reject)
    reject.add_argument("--why", dest="note", required=True, help="the reason, kept on record")
    reject.set_defaults(func=_decide, verdict=Verdict.REJECT)
    withdraw = actions.add_parser("withdraw", help="withdraw a lesson: kept on record, unlisted")
    _lesson_by(withdraw)
    withdraw.add_argument("--why", required=True, help="the reason, kept on record")
    withdraw.set_defaults(func=_withdraw)


def _lesson_by(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lesson", type=int, help="the lesson's number")
    parser.add_argument("--by", required=True, metavar="EMAIL", help="who decides")


def _awaiting(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        me = await person_id(store, args.who)
        found = await Notes(store).awaiting_validation(me, limit=max(1, args.limit))
        if args.format == "json":
            return json.dumps(
                {"total": found.total, "lessons": [_json(p) for p in found.lessons]},
                ensure_ascii=False,
                indent=2,
            )
        if not found.validator:
            return f"{args.who} validates no lessons: only managers and PBPOs do."
        if not found.lessons:
            return "Nothing awaits validation."
        lines = [_line(p) for p in found.lessons]
        if found.total > len(found.lessons):
            lines.append(f"… and {found.total - len(found.lessons)} more (--limit to see them).")
        return "\n".join(lines)

    return printing(settings, work)


def _decide(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        actor = await person_id(store, args.by)
        done = await Validations(store).decide(
            args.lesson, args.verdict, actor_id=actor, note=args.note, surface=CLI
        )
        return _said(done, _DONE[args.verdict])

    return printing(settings, work)


def _withdraw(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        actor = await person_id(store, args.by)
        done = await Validations(store).withdraw(
            args.lesson, actor_id=actor, reason=args.why, surface=CLI
        )
        cancelled = f"; {done.cancelled} open action(s) cancelled" if done.cancelled else ""
        return _said(done, "withdrawn") + cancelled

    return printing(settings, work)


def _said(done: Outcome, what: str) -> str:
    released = " Its report is now open to everyone." if done.released else ""
    return f"Lesson #{done.card.lesson_id} {what} by {done.actor}: {done.card.title}.{released}"


def _line(p: PendingLesson) -> str:
    when = p.date.isoformat() if p.date else "-"
    return f"#{p.lesson_id}  {p.mission or '-'}  {when}  {p.kind}  {p.title}  ({p.author or '-'})"


def _json(p: PendingLesson) -> dict[str, object]:
    return {
        "lesson": p.lesson_id,
        "title": p.title,
        "mission": p.mission,
        "date": p.date.isoformat() if p.date else None,
        "author": p.author,
        "kind": p.kind,
    }
