"""Benchmark of the Slack surface (`lessons bench slack`): signed `app_mention` → answer posted.

Two processes, like production: this one runs the server under test (the real bot, a bare
aiohttp endpoint, or a Bolt `AsyncApp` that only verifies and acks), and a child process
(`python -m bench.slack_side`) plays Slack: it sends correctly signed
`event_callback` bodies over keep-alive connections and serves a minimal Web API sink
(`auth.test`, `users.info`, `conversations.open`, `chat.postMessage`, …) that counts the
answers. The two talk over the child's stdin/stdout, one JSON line per command.

Each server gets the same loads:

* `rate`: a fixed rate (50 events/s) for N seconds, open loop; ack latency is measured from
  the moment each event was due, so a stalled server cannot hide its queue.
* `max`: as fast as C concurrent connections go for N seconds; acks/s, then answers counted
  at the sink until all have arrived or a short grace has passed.
* `paced` (the bot only): C senders that each wait for their answer before sending again, the
  rate the bot sustains with at most C events in flight.

The bot process's resident memory (VmRSS) is sampled each second while the bot runs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager, suppress
from importlib import metadata
from pathlib import Path
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bench.search import rss_mb
from bench.slack_side import (
    GRACE,
    JSON,
    PATH,
    RATE,
    SECRET,
    TOKEN,
    SlackSide,
)
from bot.app import build_app
from bot.settings import Settings
from knowledge import database
from knowledge.importers import open_source
from knowledge.storage import Store

log = logging.getLogger(__name__)

StoreFactory = Callable[[str], AbstractContextManager[Store]]
DEMO = Path(__file__).resolve().parents[1] / "knowledge" / "demo" / "corpus.json"


# Goals of the Slack issue.
GOAL_ACK_P99_MS = 100.0
GOAL_ANSWERED_PER_S = 1000.0
GOAL_SHARE_OF_BOLT = 0.20
FLAT_MB = 10.0


# ---------------------------------------------------------------------------------------------
# The benchmark (the bot's process)


def run(
    *,
    seconds: float = 20.0,
    concurrency: int = 32,
    rate: float = RATE,
    grace: float = GRACE,
    backend: str = "sqlite",
    stores: StoreFactory | None = None,
    glossary: Path | None = None,
    profile: Path | None = None,
) -> JSON:
    """Run every phase on every path and return the figures (see `run_async`)."""
    return asyncio.run(
        run_async(
            seconds=seconds,
            concurrency=concurrency,
            rate=rate,
            grace=grace,
            backend=backend,
            stores=stores,
            glossary=glossary,
            profile=profile,
        )
    )


async def run_async(
    *,
    seconds: float = 20.0,
    concurrency: int = 32,
    rate: float = RATE,
    grace: float = GRACE,
    backend: str = "sqlite",
    stores: StoreFactory | None = None,
    glossary: Path | None = None,
    profile: Path | None = None,
) -> JSON:
    """Start the Slack side, then load the bot, a bare endpoint and Bolt's ack-only app.

    `stores` makes an empty, migrated store for a backend (default: a temporary SQLite file);
    the demo corpus is loaded into it. With `profile`, the bot's `max` phase runs under
    cProfile and the statistics are written there.
    """
    report: JSON = {
        "machine": _machine(),
        "backend": backend,
        "seconds": seconds,
        "concurrency": concurrency,
        "rate": rate,
        "grace_s": grace,
        "paths": {},
    }
    async with SlackSide.start() as slack:
        report["paths"]["bot"] = await _bench_bot(
            slack,
            seconds=seconds,
            concurrency=concurrency,
            rate=rate,
            grace=grace,
            backend=backend,
            stores=stores or (lambda b: _temporary_sqlite(b, glossary)),
            glossary=glossary,
            profile=profile,
        )
        async with serving(bare_app()) as url:
            report["paths"]["bare_aiohttp"] = {
                "rate": await slack.load(url, "rate", seconds=seconds, rate=rate),
                "max": await slack.load(url, "max", seconds=seconds, concurrency=concurrency),
            }
        async with serving(bolt_ack_only_app(slack.api_url)) as url:
            report["paths"]["bolt_ack_only"] = {
                "rate": await slack.load(url, "rate", seconds=seconds, rate=rate),
                "max": await slack.load(url, "max", seconds=seconds, concurrency=concurrency),
            }
    report["goals"] = goals(report)
    return report


async def _bench_bot(
    slack: SlackSide,
    *,
    seconds: float,
    concurrency: int,
    rate: float,
    grace: float,
    backend: str,
    stores: StoreFactory,
    glossary: Path | None,
    profile: Path | None,
) -> JSON:
    with stores(backend) as store:
        records = open_source(DEMO).records(today=store.today())
        await store.import_records(records, source="demo corpus")
        settings = Settings(
            database_url=store.engine.url.render_as_string(hide_password=False),
            glossary=glossary,
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
            slack_api_url=slack.api_url,
            slack_pace_seconds=0,
        )
        result: JSON = {}
        async with serving(build_app(settings, store=store)) as url, sampling_rss() as rss:
            # Warm-up: every user linked to the directory (users.info), caches and pools filled.
            warm = await slack.load(
                url, "max", seconds=max(0.5, seconds / 10), concurrency=4, grace=grace
            )
            result["warmup_answered"] = warm["answered"]
            with cpu_time() as cpu:
                result["rate"] = await slack.load(
                    url, "rate", seconds=seconds, rate=rate, grace=grace
                )
            result["rate"].update(cpu(result["rate"]), rss_mb=rss.mark())
            profiler = cProfile.Profile() if profile else None
            with cpu_time() as cpu:
                if profiler is not None:
                    profiler.enable()
                result["max"] = await slack.load(
                    url, "max", seconds=seconds, concurrency=concurrency, grace=grace
                )
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(str(profile))
            result["max"].update(cpu(result["max"]), rss_mb=rss.mark())
            with cpu_time() as cpu:
                result["paced"] = await slack.load(
                    url, "paced", seconds=seconds, concurrency=concurrency, grace=grace
                )
            result["paced"].update(cpu(result["paced"]), rss_mb=rss.mark())
            result["rss_mb"] = rss.summary()
    return result


@contextmanager
def cpu_time() -> Iterator[Callable[[JSON], JSON]]:
    """Measure this process's CPU time (every thread) over a phase.

    Yields a function that turns a phase's figures into the CPU figures: seconds, the share
    of one core used over the phase's wall time (sending and draining), and ms per answer.
    """
    before, wall = os.times(), time.monotonic()
    spent: list[float] = []
    try:
        yield lambda phase: _cpu_figures(spent, wall, phase)
    finally:
        after = os.times()
        spent += [after.user - before.user + after.system - before.system, time.monotonic()]


def _cpu_figures(spent: list[float], wall: float, phase: JSON) -> JSON:
    cpu, ended = spent
    answered = phase.get("answered") or 0
    return {
        "bot_cpu_s": round(cpu, 2),
        "bot_cores_busy": round(cpu / (ended - wall), 2),
        "bot_cpu_ms_per_answer": round(cpu * 1000 / answered, 2) if answered else None,
    }


def goals(report: JSON) -> JSON:
    """Check the issue's goals against the figures of a run."""
    bot = report["paths"]["bot"]
    bolt = report["paths"]["bolt_ack_only"]["max"]
    sustained = [p for p in ("max", "paced") if bot[p]["all_answered"]]
    best = max((bot[p]["answered_per_s"] for p in sustained), default=0.0)
    share = best / bolt["acks_per_s"] if bolt["acks_per_s"] else 0.0
    rss = bot["rss_mb"]
    return {
        "ack_p99_ms_at_rate": bot["rate"]["ack_ms"]["p99"],
        "ack_p99_under_100ms": bot["rate"]["ack_ms"]["p99"] < GOAL_ACK_P99_MS
        and bot["rate"]["all_answered"],
        "sustained_answered_per_s": best,
        "answered_1000_per_s": best >= GOAL_ANSWERED_PER_S,
        "share_of_bolt_ack_only": round(share, 3),
        "share_at_least_20_percent": share >= GOAL_SHARE_OF_BOLT,
        "rss_growth_mb": rss["growth_mb"],
        "memory_flat": rss["growth_mb"] <= FLAT_MB,
    }


def table(report: JSON) -> str:
    """Format a report as a plain-text table (what `lessons bench slack` prints)."""
    head = (
        f"{'path':<14} {'load':<18} {'sent':>7} {'acks/s':>8} {'ack p50':>8} {'ack p99':>8} "
        f"{'answered':>9} {'answers/s':>9} {'ans p50':>8} {'ans p99':>8}"
    )
    lines = [
        f"Slack events: {report['seconds']:g} s per phase, concurrency {report['concurrency']}, "
        f"{report['backend']}, {report['machine']['cores']} cores",
        head,
        "-" * len(head),
    ]
    for name, phases in report["paths"].items():
        for mode in ("rate", "max", "paced"):
            p = phases.get(mode)
            if not isinstance(p, dict):
                continue
            load = (f"{p['rate']:g}/s" if mode == "rate" else f"{mode} c={p['concurrency']}") + (
                "" if p["errors"] == 0 else f" ({p['errors']} err)"
            )
            answered = "-" if p["answered"] is None else f"{p['answered']}/{p['acked']}"
            lines.append(
                f"{name:<14} {load:<18} {p['sent']:>7} {p['acks_per_s']:>8.0f} "
                f"{p['ack_ms']['p50']:>8.1f} {p['ack_ms']['p99']:>8.1f} {answered:>9} "
                f"{_num(p['answered_per_s']):>9} {_num(p['answer_ms']['p50']):>8} "
                f"{_num(p['answer_ms']['p99']):>8}"
            )
    bot = report["paths"]["bot"]
    rss = bot["rss_mb"]
    g = report["goals"]
    lines += [
        "",
        "bot CPU (all threads): "
        + ", ".join(
            f"{mode} {bot[mode]['bot_cores_busy']} cores busy, "
            f"{bot[mode]['bot_cpu_ms_per_answer']} ms per answer"
            for mode in ("rate", "max", "paced")
        ),
        f"bot RSS: {rss['start']} MB at start, {rss['max']} MB max, {rss['end']} MB at the end "
        f"({rss['growth_mb']:+.1f} MB across the last phase, at steady state)",
        f"goal ack p99 < 100 ms at {report['rate']:g}/s: {_yes(g['ack_p99_under_100ms'])} "
        f"({g['ack_p99_ms_at_rate']} ms)",
        f"goal >= 1,000 answered/s sustained: {_yes(g['answered_1000_per_s'])} "
        f"({g['sustained_answered_per_s']:.0f}/s, {g['share_of_bolt_ack_only']:.0%} of bolt's "
        f"ack-only rate; >= 20 %: {_yes(g['share_at_least_20_percent'])})",
        f"goal memory flat: {_yes(g['memory_flat'])}",
    ]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _yes(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _machine() -> JSON:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "aiohttp": version("aiohttp"),
        "slack_bolt": version("slack_bolt"),
        "slack_sdk": version("slack_sdk"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


@contextmanager
def _temporary_sqlite(backend: str, glossary: Path | None = None) -> Iterator[Store]:
    if backend != "sqlite":
        raise ValueError("without a store factory only the sqlite backend is available")
    with tempfile.TemporaryDirectory(prefix="lessons-slack-bench-") as folder:
        store = Store.open(f"sqlite:///{folder}/bench.db", glossary_path=glossary)
        database.upgrade(store.engine)
        try:
            yield store
        finally:
            store.close()


# The servers under test ----------------------------------------------------------------------


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve an app on 127.0.0.1 (a free port, no access log); yield its events URL."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}{PATH}"
    finally:
        await runner.cleanup()


def bare_app() -> web.Application:
    """The floor: an aiohttp endpoint that reads the body and answers 200."""

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response()

    app = web.Application()
    app.router.add_post(PATH, ok)
    return app


def bolt_ack_only_app(api_url: str) -> web.Application:
    """Bolt's own aiohttp server: signature verification and an `app_mention` ack, no work."""
    bolt = AsyncApp(
        client=AsyncWebClient(token=TOKEN, base_url=api_url),
        signing_secret=SECRET,
    )

    async def ack_only(ack: Any) -> None:
        await ack()

    bolt.event("app_mention")(ack_only)
    app: web.Application = bolt.web_app(path=PATH)
    return app


class RssSampler:
    """Samples this process's VmRSS once a second."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._marks: list[int] = []

    async def sample(self) -> None:
        """Sample until cancelled."""
        while True:
            self.samples.append(rss_mb())
            await asyncio.sleep(1.0)

    def mark(self) -> JSON:
        """Return start, max and end of the samples since the previous mark."""
        start = self._marks[-1] if self._marks else 0
        self.samples.append(rss_mb())
        self._marks.append(len(self.samples) - 1)
        window = self.samples[start:]
        return {"start": window[0], "max": max(window), "end": window[-1]}

    def summary(self) -> JSON:
        """Start, max and end of the whole run, and the growth at steady state.

        RSS steps up once when the load goes from 50 events/s to C connections (more tasks in
        flight, more pooled connections and page caches). The growth that tells a leak is the
        one across the last phase, which runs at the same concurrency as the one before it:
        its last sample minus the sample at the previous mark.
        """
        base = self.samples[self._marks[-2]] if len(self._marks) > 1 else self.samples[0]
        return {
            "start": self.samples[0],
            "max": max(self.samples),
            "end": self.samples[-1],
            "growth_mb": round(self.samples[-1] - base, 1),
            "samples": self.samples,
        }


@asynccontextmanager
async def sampling_rss() -> AsyncIterator[RssSampler]:
    """Sample RSS each second while the block runs."""
    sampler = RssSampler()
    task = asyncio.create_task(sampler.sample())
    try:
        yield sampler
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.slack`: the whole benchmark (the Slack side is bench.slack_side)."""
    parser = argparse.ArgumentParser(prog="python -m bench.slack", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", type=Path, help="cProfile the bot's max phase into this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    report = run(seconds=args.seconds, concurrency=args.concurrency, profile=args.profile)
    print(table(report), file=sys.stderr if args.json else sys.stdout)
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
