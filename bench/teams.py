"""Benchmark of the Teams surface (`lessons bench teams`): a message with a valid token → answer.

Two processes, as in production: this one runs the server under test, and a child
(`bench.teams_side`) plays Teams — the issuer of the Bot Framework tokens and its key set, the
token authority msal gets the bot's reply tokens from, the connector service the replies go to
(it counts them as answers), and the load generator. Every path gets the same loads as
`lessons bench slack` (`rate`: 50 messages/s open loop; `max`: C connections; `paced`, the
bot only: C senders that each wait for their answer):

* **the bot**: `build_app` with Teams on, against a store holding the demo corpus;
* **a bare aiohttp endpoint** that reads the body and answers 202 (the floor of HTTP);
* **the Agents SDK's floor**: the SDK's token validation (its `JwtTokenValidator`, only pointed
  at the local key set) and its `CloudAdapter` with stock settings running an `AgentApplication`
  whose message handler does nothing;
* **the Slack bot** in the same run (`lessons bench slack`'s bot phases), so that the CPU each
  answered message costs on Teams can be compared with Slack's at the same machine load.

A Teams turn acks when it has run, reply included: for the bot, ack and answer times are close.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from jwt import PyJWK
from microsoft_agents.hosting.aiohttp import CloudAdapter, start_agent_process
from microsoft_agents.hosting.core import MemoryStorage, TurnContext
from microsoft_agents.hosting.core.app import AgentApplication, ApplicationOptions
from microsoft_agents.hosting.core.app.state import TurnState
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import (
    _JwkClientManager,
)

from bench import certs
from bench import slack as slack_bench
from bench.slack import StoreFactory, cpu_time, sampling_rss
from bench.slack_side import JSON, RATE, SlackSide
from bench.teams_side import MEMBERS, TeamsSide
from bot.app import build_app
from bot.settings import Settings
from bot.teams import sdk
from knowledge.importers import open_source

log = logging.getLogger(__name__)

PATH = "/api/messages"
GRACE = 10.0
GOAL_ACK_P99_MS = 250.0
GOAL_CPU_RATIO = 1.5
FLAT_MB = 10.0
MODES = ("rate", "max", "paced")
PATHS = ("bot", "bare_aiohttp", "sdk_floor", "slack_bot")


def run(**options: Any) -> JSON:
    """Run every phase on every path and return the figures (see `run_async`)."""
    return asyncio.run(run_async(**options))


async def run_async(
    *,
    seconds: float = 20.0,
    concurrency: int = 32,
    rate: float = RATE,
    grace: float = GRACE,
    backend: str = "sqlite",
    stores: StoreFactory | None = None,
    glossary: Path | None = None,
    paths: tuple[str, ...] = PATHS,
    members: int = MEMBERS,
) -> JSON:
    """Start the Teams side; load the bot, a bare endpoint, the SDK's floor, then Slack's bot.

    `stores` makes an empty, migrated store for a backend (default: a temporary SQLite file);
    `paths` names the paths to load (default: all four).
    """
    report: JSON = {
        "machine": slack_bench._machine(),
        "backend": backend,
        "seconds": seconds,
        "concurrency": concurrency,
        "rate": rate,
        "members": members,
        "paths": {},
    }
    make_store = stores or (lambda b: slack_bench._temporary_sqlite(b, glossary))
    with tempfile.TemporaryDirectory(prefix="lessons-teams-bench-") as folder:
        certs.trust(certs.make(Path(folder)))
        async with TeamsSide.open(Path(folder), members) as teams:
            phases = Phases(
                teams, seconds=seconds, concurrency=concurrency, rate=rate, members=members
            )
            if "bot" in paths:
                report["paths"]["bot"] = await _bench_bot(
                    phases, grace=grace, backend=backend, stores=make_store, glossary=glossary
                )
            if "bare_aiohttp" in paths:
                async with serving(bare_app()) as url:
                    report["paths"]["bare_aiohttp"] = await phases.floor(url)
            if "sdk_floor" in paths:
                async with serving(sdk_floor_app(teams.env())) as url:
                    report["paths"]["sdk_floor"] = await phases.floor(url)
    if "slack_bot" in paths:
        async with SlackSide.start() as side:
            report["paths"]["slack_bot"] = await slack_bench._bench_bot(
                side,
                seconds=seconds,
                concurrency=concurrency,
                rate=rate,
                grace=grace,
                backend=backend,
                stores=make_store,
                glossary=glossary,
                profile=None,
            )
    report["goals"] = goals(report)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


class Phases:
    """The loads of one run, against any URL, with this process's CPU measured."""

    def __init__(
        self, side: TeamsSide, *, seconds: float, concurrency: int, rate: float, members: int
    ) -> None:
        self.side, self.seconds, self.concurrency, self.rate = side, seconds, concurrency, rate
        self.members = members

    async def warm(self, url: str, grace: float) -> int:
        """Send until every member has written once (each is linked to the directory once)."""
        sent = 0
        while sent < self.members:
            warm = await self.side.load(url, "max", seconds=2.0, concurrency=8, grace=grace)
            sent += warm["sent"]
        return sent

    async def one(self, url: str, mode: str, *, grace: float | None) -> JSON:
        """Run one phase, with the CPU this process spent on it."""
        with cpu_time() as cpu:
            figures = await self.side.load(
                url,
                mode,
                seconds=self.seconds,
                rate=self.rate,
                concurrency=self.concurrency,
                grace=grace,
            )
        figures.update(cpu(figures))
        figures["bot_cpu_ms_per_ack"] = (
            round(figures["bot_cpu_s"] * 1000 / figures["acked"], 2) if figures["acked"] else None
        )
        return figures

    async def floor(self, url: str) -> JSON:
        """A floor path: the rate and max loads, acks only."""
        return {mode: await self.one(url, mode, grace=None) for mode in ("rate", "max")}


async def _bench_bot(
    phases: Phases, *, grace: float, backend: str, stores: StoreFactory, glossary: Path | None
) -> JSON:
    with stores(backend) as store:
        await store.import_records(
            open_source(slack_bench.DEMO).records(today=store.today()), source="demo corpus"
        )
        env = {
            **phases.side.env(),
            "LESSONS_DATABASE_URL": store.engine.url.render_as_string(hide_password=False),
            **({"LESSONS_GLOSSARY": str(glossary)} if glossary else {}),
        }
        result: JSON = {}
        app = build_app(Settings.from_env(env), store=store)
        async with serving(app) as url, sampling_rss() as rss:
            result["warmup_sent"] = await phases.warm(url, grace)
            for mode in MODES:
                result[mode] = await phases.one(url, mode, grace=grace)
                result[mode]["rss_mb"] = rss.mark()
            result["rss_mb"] = rss.summary()
    return result


# The servers under test ----------------------------------------------------------------------


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve an app on 127.0.0.1 (a free port, no access log); yield its messages URL."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}{PATH}"
    finally:
        await runner.cleanup()


def bare_app() -> web.Application:
    """The floor of HTTP: an aiohttp endpoint that reads the body and answers 202."""

    async def accepted(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post(PATH, accepted)
    return app


class StockKeys(_JwkClientManager):
    """The SDK's own key handling (a PyJWKClient per key set, read in a thread), at our URL."""

    def __init__(self, url: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.url = url
        self._jwks: str | None = None

    async def get_signing_key(self, jwks_uri: str, header: dict[str, Any]) -> PyJWK:
        """Return the key from the local issuer's key set, as the SDK would from Microsoft's."""
        if self._jwks is None:
            self._jwks = await asyncio.to_thread(sdk.KeySet(self.url).resolve, self.url)
        key: PyJWK = await super().get_signing_key(self._jwks, header)
        return key


def sdk_floor_app(env: dict[str, str]) -> web.Application:
    """The Agents SDK's floor: its token validation, its adapter, an empty message turn."""
    connections = sdk.connections(env)
    configuration = connections.get_default_connection_configuration()
    keys = StockKeys(env["LESSONS_TEAMS_JWKS_URL"])
    adapter = CloudAdapter(connection_manager=connections)
    agent: AgentApplication[TurnState] = AgentApplication[TurnState](
        ApplicationOptions(
            storage=MemoryStorage(),
            start_typing_timer=False,
            turn_state_factory=TurnState,
        ),
        connection_manager=connections,
    )

    async def nothing(_context: TurnContext, _state: TurnState) -> None:
        return None

    agent.activity("message")(nothing)

    async def messages(request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "").partition(" ")[2]
        try:
            claims = await sdk.Validator(configuration, keys).validate_token(header)
        except Exception:
            return web.json_response({"error": "unauthorized"}, status=401)
        with warnings.catch_warnings():  # the SDK reads its claims from this plain key
            warnings.simplefilter("ignore", web.NotAppKeyWarning)
            request["claims_identity"] = claims
        response = await start_agent_process(request, agent, adapter)
        return response or web.Response(status=202)

    app = web.Application()
    app.router.add_post(PATH, messages)
    app.on_cleanup.append(lambda _app: _closed(connections))
    return app


async def _closed(connections: Any) -> None:
    sdk.close(connections)


# Goals and the table -------------------------------------------------------------------------


def goals(report: JSON) -> JSON:
    """Check the issue's goals against the figures of a run."""
    bot = report["paths"].get("bot")
    slack = report["paths"].get("slack_bot")
    if bot is None:
        return {}
    found: JSON = {
        "ack_p99_ms_at_rate": bot["rate"]["ack_ms"]["p99"],
        "ack_p99_under_250ms": (bot["rate"]["ack_ms"]["p99"] or 1e9) < GOAL_ACK_P99_MS
        and bool(bot["rate"]["all_answered"]),
        "all_answered": all(bot[m]["all_answered"] for m in MODES),
        "rss_growth_mb": bot["rss_mb"]["growth_mb"],
        "memory_flat": bot["rss_mb"]["growth_mb"] <= FLAT_MB,
    }
    if slack:
        ratios = {
            mode: _ratio(bot[mode]["bot_cpu_ms_per_answer"], slack[mode]["bot_cpu_ms_per_answer"])
            for mode in MODES
        }
        found["cpu_ratio_to_slack"] = ratios
        found["cpu_within_1_5x_slack"] = all(
            r is not None and r <= GOAL_CPU_RATIO for r in ratios.values()
        )
    return found


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def table(report: JSON) -> str:
    """Format a report as a plain-text table (what `lessons bench teams` prints)."""
    head = (
        f"{'path':<13} {'load':<12} {'sent':>6} {'acks/s':>7} {'ack p50':>8} {'ack p99':>8} "
        f"{'answered':>11} {'ans/s':>6} {'ans p50':>8} {'ans p99':>8} {'cpu ms':>7}"
    )
    machine = report["machine"]
    lines = [
        f"Teams messages: {report['seconds']:g} s per phase, concurrency {report['concurrency']}, "
        f"{report['backend']}, {machine['cores']} cores, load average "
        f"{machine['load_average_at_start']} → {machine.get('load_average_at_end')}",
        head,
        "-" * len(head),
    ]
    for name, phases in report["paths"].items():
        lines += [_row(name, phases[m]) for m in MODES if isinstance(phases.get(m), dict)]
    lines += ["", *_summary_lines(report)]
    return "\n".join(lines)


def _row(name: str, p: JSON) -> str:
    num = slack_bench._num
    load = p["mode"] if p["mode"] != "rate" else f"{p['rate']:g}/s"
    load += f" c={p['concurrency']}" if p["concurrency"] else ""
    load += "" if p["errors"] == 0 else f" ({p['errors']} err)"
    answered = "-" if p["answered"] is None else f"{p['answered']}/{p['acked']}"
    cpu = p.get("bot_cpu_ms_per_answer") or p.get("bot_cpu_ms_per_ack")
    return (
        f"{name:<13} {load:<12} {p['sent']:>6} {p['acks_per_s']:>7.0f} "
        f"{num(p['ack_ms']['p50']):>8} {num(p['ack_ms']['p99']):>8} {answered:>11} "
        f"{num(p['answered_per_s']):>6} {num(p['answer_ms']['p50']):>8} "
        f"{num(p['answer_ms']['p99']):>8} {num(cpu):>7}"
    )


def _summary_lines(report: JSON) -> list[str]:
    g, bot = report["goals"], report["paths"].get("bot")
    if bot is None:
        return []
    rss = bot["rss_mb"]
    yes = slack_bench._yes
    lines = [
        "cpu ms: the server process's CPU per answered message (per ack for the floors)",
        f"bot RSS: {rss['start']} MB at start, {rss['max']} MB max, {rss['end']} MB at the end "
        f"({rss['growth_mb']:+.1f} MB across the last phase)",
        f"goal ack p99 < 250 ms at {report['rate']:g}/s, all answered: "
        f"{yes(g['ack_p99_under_250ms'])} ({g['ack_p99_ms_at_rate']} ms)",
        f"goal memory flat: {yes(g['memory_flat'])}",
    ]
    if "cpu_ratio_to_slack" in g:
        lines.append(
            f"goal CPU per answer within 1.5x Slack's: {yes(g['cpu_within_1_5x_slack'])} "
            f"(Teams / Slack: {g['cpu_ratio_to_slack']})"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.teams`: the whole benchmark on SQLite."""
    parser = argparse.ArgumentParser(prog="python -m bench.teams", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--paths", default=",".join(PATHS), help=f"comma-separated, of {', '.join(PATHS)}"
    )
    parser.add_argument("--rate", type=float, default=RATE, help="messages/s of the rate phase")
    parser.add_argument("--members", type=int, default=MEMBERS, help="people writing to the bot")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    paths = tuple(p for p in args.paths.split(",") if p in PATHS)
    report = run(
        seconds=args.seconds,
        concurrency=args.concurrency,
        rate=args.rate,
        paths=paths,
        members=args.members,
    )
    print(table(report), file=sys.stderr if args.json else sys.stdout)
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
