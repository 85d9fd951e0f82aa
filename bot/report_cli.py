"""The `lessons report` and `lessons who` commands: the learning report and "who knows about X?".

Whoever runs the command line has the database at hand, so by default the report covers every
mission, as an admin's would, but only lessons open to everyone: restricted lessons reach only
their audience on every surface, exports included. `--as EMAIL` reports as that person instead:
their scope (a PBPO's missions, a manager's people) and the restricted lessons they may see.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path

from bot.settings import Settings
from knowledge import database
from knowledge.errors import DomainError
from knowledge.experts import Experts
from knowledge.learning_report import LearningReport, LearningReports, parse_since
from knowledge.report_export import FORMATS, export
from knowledge.search.answer import Viewer
from knowledge.storage import Store


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `report` and `who` to the `lessons` command."""
    report = sub.add_parser(
        "report", help="the learning report: lessons, actions, usefulness, unanswered questions"
    )
    report.add_argument("--mission", metavar="M", help="only this mission")
    report.add_argument(
        "--since", metavar="DATE", help="since this day (2026-01-15, 2026-01, 2026)"
    )
    report.add_argument("--format", choices=FORMATS, default="md")
    report.add_argument("--as", dest="who", metavar="EMAIL", help="report as this person")
    report.add_argument("--output", "-o", type=Path, metavar="FILE", help="write to FILE")
    report.set_defaults(func=_report)
    who = sub.add_parser("who", help="who knows about a topic: authors and appliers of lessons")
    who.add_argument("topic", nargs="+")
    who.add_argument("--as", dest="who", metavar="EMAIL", help="ask as this person")
    who.set_defaults(func=_who)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    since = parse_since(args.since) if args.since else None
    store = _open(settings)
    try:
        report = asyncio.run(_build(store, args.who, args.mission, since))
    finally:
        store.close()
    text = export(report, args.format)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DomainError(f"I could not write {args.output}: {exc.strerror}.") from None
    print(f"Report written to {args.output}.", file=sys.stderr)
    return 0


async def _build(
    store: Store, email: str | None, mission: str | None, since: date | None
) -> LearningReport:
    reports = LearningReports(store)
    if email is None:
        return await reports.for_command_line(mission=mission, since=since)
    person = await _person(store, email)
    return await reports.for_person(person, mission=mission, since=since)


def _who(args: argparse.Namespace, settings: Settings) -> int:
    topic = " ".join(args.topic)
    store = _open(settings)

    async def find() -> list[str]:
        person = await _person(store, args.who) if args.who else None
        viewer = await store.viewer_for(person) if person is not None else Viewer(None)
        found = await Experts(store).who_knows(topic, viewer=viewer)
        if not found:
            return [await nobody_named(store, topic, viewer)]
        return [
            f"{e.name} ({e.mission or 'no mission'}) <{e.email or '-'}>: "
            + "; ".join(
                filter(
                    None,
                    [
                        "wrote " + ", ".join(e.authored) if e.authored else "",
                        "applied " + ", ".join(e.applied) if e.applied else "",
                    ],
                )
            )
            for e in found
        ]

    try:
        lines = asyncio.run(find())
    finally:
        store.close()
    print("\n".join(lines) if lines else f"Nobody has written or applied a lesson on {topic} yet.")
    return 0


async def nobody_named(store: Store, topic: str, viewer: Viewer) -> str:
    """Say why nobody is named: no lesson on the topic, or lessons that name nobody."""
    hits = len((await store.ask(topic, viewer=viewer, limit=5)).hits)
    if not hits:
        return f"Nobody has written or applied a lesson on {topic} yet."
    lessons = "1 lesson" if hits == 1 else f"{hits} lessons"
    return (
        f"Found {lessons} on {topic}, but none names its author or someone who applied it: "
        f"`lessons ask {topic}` shows them."
    )


def _open(settings: Settings) -> Store:
    store = Store.open(settings.database_url, glossary_path=settings.glossary)
    if not database.is_current(store.engine):
        store.close()
        raise DomainError("The database schema is not up to date: run `lessons db upgrade`.")
    return store


async def _person(store: Store, email: str) -> int:
    person = await store.person_by_email(email.strip())
    if person is None:
        raise DomainError(f"Nobody with the email {email} is in the staff directory.")
    return person.id
