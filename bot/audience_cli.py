"""`lessons audience report|link|unlink`: channel audiences and the channels linked to them.

A lesson restricted to `channel:<name>` opens only in conversations linked to that audience by
their platform identity (see `knowledge.audiences`). The report lists every channel audience
products name, how many products, and where it is linked; an audience linked nowhere is flagged
for a PBPO to link (`/lessons audience link <name>` inside the channel). From the shell, a PBPO
or admin named by `--by` links by identity (`--space slack:T0123:C0456`), audited as `cli`.
"""

from __future__ import annotations

import argparse
import json

from bot.admin import person_id, printing
from bot.settings import Settings
from knowledge.audiences import PLATFORMS, Audiences, AudienceStatus
from knowledge.audit import CLI
from knowledge.errors import DomainError
from knowledge.storage import Store


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `audience report|link|unlink` to the `lessons` command."""
    audience = sub.add_parser("audience", help="channel audiences and the channels linked to them")
    verbs = audience.add_subparsers(required=True)
    report = verbs.add_parser("report", help="every channel audience: products, links, flagged")
    report.add_argument("--format", choices=("table", "json"), default="table")
    report.set_defaults(func=_report)
    for verb in ("link", "unlink"):
        parser = verbs.add_parser(verb, help=f"{verb} a channel audience and a channel, by id")
        parser.add_argument("audience", help="the audience, e.g. channel:elections-team")
        parser.add_argument(
            "--space", required=True, metavar="ID",
            help="the channel's identity: slack:<team>:<channel>, teams:<tenant>:<team>:<channel>, "
            "teams:<tenant>:chat:<id> or local:<channel>",
        )  # fmt: skip
        parser.add_argument("--name", help="the channel's name, for people to read")
        parser.add_argument("--by", required=True, metavar="EMAIL", help="the PBPO who links")
        parser.set_defaults(func=_link, on=verb == "link")


def _report(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        found = await Audiences(store).report()
        if args.format == "json":
            return json.dumps([s.as_json() for s in found], ensure_ascii=False, indent=2)
        return report_text(found)

    return printing(settings, work)


def report_text(found: list[AudienceStatus]) -> str:
    """Return the report for people: one audience a line, flagged ones first."""
    if not found:
        return "No lessons are restricted to a channel."
    flagged = [s for s in found if s.flagged]
    lines = []
    for status in sorted(found, key=lambda s: (not s.flagged, s.audience)):
        products = f"{status.products} product{'s' * (status.products != 1)}"
        if status.by_id:
            where = "named by its channel's id: nothing to link"
        elif status.links:
            where = "linked to " + ", ".join(
                f"{k.space}" + (f" (#{k.channel_name})" if k.channel_name else "")
                for k in status.links
            )
        else:
            name = status.audience.removeprefix("channel:")
            where = f"NOT LINKED: opens nowhere; a PBPO says `/lessons audience link {name}` in it"
        lines.append(f"{'⚑' if status.flagged else ' '} {status.audience}  {products}  {where}")
    lines.append(
        f"{len(found)} channel audience{'s' * (len(found) != 1)}, {len(flagged)} flagged for a "
        "PBPO to link. A channel's name alone opens nothing, on any platform or workspace."
    )
    return "\n".join(lines)


def _link(args: argparse.Namespace, settings: Settings) -> int:
    if not str(args.space).startswith(PLATFORMS):
        raise DomainError(
            "Name the channel by its identity: slack:<team>:<channel>, "
            "teams:<tenant>:<team>:<channel>, teams:<tenant>:chat:<id> or local:<channel>."
        )

    async def work(store: Store) -> str:
        changed, products = await Audiences(store).link(
            args.audience, space=args.space, channel_name=args.name,
            actor_id=await person_id(store, args.by), surface=CLI, on=args.on,
        )  # fmt: skip
        verb = "Linked" if args.on else "Unlinked"
        if not changed:
            verb = "Already linked" if args.on else "Not linked"
        count = f"{products} product{'s' * (products != 1)}"
        return f"{verb}: {args.audience} ({count}) and {args.space}."

    return printing(settings, work)
