"""The `lessons roles` and `lessons audit` commands: roles and the audit trail from the shell.

Whoever runs the command line has the database at hand, so they act as an admin: their grants
and revocations are recorded in the audit trail from the surface "cli", without a person.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime, time
from typing import Any

from bot.settings import Settings
from knowledge import database
from knowledge.audit import CLI, Audit, AuditRow, parse_subject
from knowledge.errors import DomainError
from knowledge.roles import Holder, Roles, role_named
from knowledge.storage import Store

FORMATS = ("table", "csv", "json")
FORMULA_START = ("=", "+", "-", "@")
CSV_COLUMNS = (
    *("id", "at", "person_id", "person", "surface", "operation", "subject"),
    *("before", "after", "note"),
)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `roles` and `audit` to the `lessons` command."""
    roles = sub.add_parser("roles", help="grant, revoke and list roles (admins' work)")
    actions = roles.add_subparsers(required=True, metavar="ACTION")
    for name, help_text in (("grant", "give a person a role"), ("revoke", "take a role away")):
        change = actions.add_parser(name, help=help_text)
        change.add_argument("email")
        change.add_argument("role", help="staff, manager, pbpo, mission_leader or admin")
        change.add_argument("--scope", default="", metavar="MISSION", help="a mission or office")
        change.set_defaults(func=_grant if name == "grant" else _revoke)
    listing = actions.add_parser("list", help="who holds which role (or one person's roles)")
    listing.add_argument("email", nargs="?")
    listing.set_defaults(func=_list)
    trail = sub.add_parser("audit", help="show or export the audit trail")
    trail.add_argument("--since", metavar="DATE", help="from this date (or ISO time, UTC) on")
    trail.add_argument("--subject", metavar="KIND:ID", help="one subject, e.g. lesson:42")
    trail.add_argument("--format", choices=FORMATS, default="table")
    trail.add_argument("--limit", type=int, help="only the last N changes")
    trail.set_defaults(func=_audit)


def open_store(settings: Settings) -> Store:
    """Open the store for a command, refusing a schema that is not up to date."""
    store = Store.open(settings.database_url, glossary_path=settings.glossary)
    if not database.is_current(store.engine):
        store.close()
        raise DomainError("The database schema is not up to date: run `lessons db upgrade`.")
    return store


def printing(settings: Settings, work: Callable[[Store], Coroutine[Any, Any, str]]) -> int:
    """Open the store, print what `work` says of it, close the store; exit code 0."""
    store = open_store(settings)
    try:
        print(asyncio.run(work(store)))
    finally:
        store.close()
    return 0


def _grant(args: argparse.Namespace, settings: Settings) -> int:
    return _change(args, settings, grant=True)


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    return _change(args, settings, grant=False)


def _change(args: argparse.Namespace, settings: Settings, *, grant: bool) -> int:
    role = role_named(args.role)
    store = open_store(settings)

    async def change() -> str:
        person = await person_id(store, args.email)
        roles = Roles(store)
        act = roles.grant if grant else roles.revoke
        done = await act(person, role, scope=args.scope, actor_id=None, surface=CLI, checked=False)
        what = f"{role.value}" + (f" ({done.scope})" if done.scope else "")
        verb = "granted to" if grant else "revoked from"
        if not done.changed:
            verb = "already held by" if grant else "not held by"
        return f"{what} {verb} {done.holder.name}: now {_roles(done.holder)}."

    try:
        print(asyncio.run(change()))
    finally:
        store.close()
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings)

    async def holders() -> list[Holder]:
        person = await person_id(store, args.email) if args.email else None
        return await Roles(store).holders(person)

    try:
        found = asyncio.run(holders())
    finally:
        store.close()
    if not found:
        print("Nobody holds a role beyond staff yet.")
    for holder in found:
        print(f"{holder.name} <{holder.email or '-'}>: {_roles(holder)}")
    return 0


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    since = _since(args.since) if args.since else None
    subject = parse_subject(args.subject) if args.subject else None
    store = open_store(settings)
    try:
        rows = asyncio.run(Audit(store).events(since=since, subject=subject, limit=args.limit))
    finally:
        store.close()
    print(render(rows, args.format), end="")
    return 0


def render(rows: list[AuditRow], fmt: str) -> str:
    """Return audit rows as an aligned table, CSV or a JSON array."""
    if fmt == "json":
        return json.dumps([r.as_json() for r in rows], ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(
            out, lineterminator="\n", quoting=csv.QUOTE_ALL
        )  # a CR stays in its cell
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            data = r.as_json()
            writer.writerow(
                csv_cell(value)
                for value in [
                    *(data[k] for k in ("id", "at", "person_id", "person", "surface", "operation")),
                    *(r.subject, _json(r.before), _json(r.after), r.note or ""),
                ]
            )
        return out.getvalue()
    if not rows:
        return "No changes recorded.\n"
    lines = [
        f"{r.at:%Y-%m-%d %H:%M}Z  {(r.person or '(command line)')[:24]:<24}  {r.surface:<7}  "
        f"{r.operation:<16}  {r.subject:<12}  {_change_text(r)}"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def csv_cell(value: object) -> str:
    """Return a CSV cell a spreadsheet shows as text and never runs as a formula.

    Names and notes are typed by people (a Slack display name, a withdrawal reason): one that
    starts with `=`, `+`, `-`, `@` (after any spaces), a tab or a carriage return gets a `'`
    in front, as OWASP advises against CSV injection (`=cmd|' /C calc'!A0`).
    """
    text = "" if value is None else str(value)
    if text.lstrip(" \u00a0").startswith(FORMULA_START) or text.startswith(("\t", "\r")):
        return "'" + text
    return text


def _change_text(row: AuditRow) -> str:
    keys = list(dict.fromkeys([*row.before, *row.after]))
    parts = [f"{k}: {_value(row.before.get(k))} → {_value(row.after.get(k))}" for k in keys]
    if row.note:
        parts.append(f"“{row.note}”")
    return "; ".join(parts)


def _value(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return "none" if value is None else str(value)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _roles(holder: Holder) -> str:
    return ", ".join(holder.labels) or "no role"


async def person_id(store: Store, email: str) -> int:
    """Return the id of the person of the directory with this email, or raise DomainError."""
    person = await store.person_by_email(email.strip())
    if person is None:
        raise DomainError(f"Nobody with the email {email} is in the staff directory.")
    return person.id


def _since(text: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DomainError(f"--since must be a date like 2026-11-01, not '{text}'.") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
