"""`lessons bench slack|teams --workers N`: the bot as `lessons run --workers K`, K = 1 then N.

The bot runs as production runs it, a `python -m bot run --workers K` process tree on PostgreSQL
(a temporary schema holding the demo corpus; the scheduler off), against the same child process
playing Slack or Teams as `lessons bench slack` / `lessons bench teams`. For each K the phases
are a warm-up, the fixed rate, C connections as fast as they go (`max`), and C senders that each
wait for their answer (`paced`). The CPU is every process of the tree (master and workers, all
threads) read from /proc, the memory the sum of their VmRSS. The answered rates of N workers
against one are the point: on a machine with more cores than the workers use, N workers should
answer nearly N times as much; here the load generator and PostgreSQL share the same cores.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bench import certs
from bench import slack as slack_bench
from bench.slack import StoreFactory
from bench.slack_side import JSON, PATH, RATE, SECRET, TOKEN, SlackSide
from bench.teams_side import MEMBERS, TeamsSide
from knowledge.importers import open_source

MODES = ("rate", "max", "paced")
GOAL_SCALING = 1.6
TICKS = os.sysconf("SC_CLK_TCK")


def run(**options: Any) -> JSON:
    """Run `run_async` in a new event loop."""
    return asyncio.run(run_async(**options))


async def run_async(
    *,
    platform: str,
    workers: int,
    stores: StoreFactory,
    seconds: float = 20.0,
    concurrency: int = 32,
    rate: float = RATE,
    grace: float = 10.0,
) -> JSON:
    """Load the bot served by 1, then `workers`, processes; return the figures of each."""
    report: JSON = {
        "machine": slack_bench._machine(),
        "platform": platform,
        "backend": "postgresql",
        "seconds": seconds,
        "concurrency": concurrency,
        "rate": rate,
        "workers": {},
    }
    with tempfile.TemporaryDirectory(prefix="lessons-workers-bench-") as folder:
        async with _side(platform, Path(folder)) as side, _demo(stores) as url:
            for count in sorted({1, workers}):
                env = {**_platform_env(platform, side), "LESSONS_DATABASE_URL": url}
                async with serving(env, count) as (bot_url, tree):
                    report["workers"][str(count)] = await _phases(
                        side, platform, bot_url, tree, seconds, concurrency, rate, grace
                    )
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["scaling"] = scaling(report, workers)
    return report


async def _phases(
    side: SlackSide,
    platform: str,
    url: str,
    tree: Tree,
    seconds: float,
    concurrency: int,
    rate: float,
    grace: float,
) -> JSON:
    members = MEMBERS if platform == "teams" else 0
    sent = 0
    while True:  # every Teams member links to the directory once; Slack's four users too
        warm = await side.load(url, "max", seconds=2.0, concurrency=8, grace=grace)
        sent += warm["sent"]
        if sent >= members:
            break
    result: JSON = {"warmup_sent": sent}
    for mode in MODES:
        before = tree.cpu_seconds()
        figures = await side.load(
            url, mode, seconds=seconds, rate=rate, concurrency=concurrency, grace=grace
        )
        spent = tree.cpu_seconds() - before
        answered = figures.get("answered") or 0
        figures["bot_cpu_s"] = round(spent, 2)
        figures["bot_cpu_ms_per_answer"] = round(spent * 1000 / answered, 2) if answered else None
        figures["bot_rss_mb"] = tree.rss_mb()
        figures["bot_processes"] = len(tree.pids())
        result[mode] = figures
    return result


def scaling(report: JSON, workers: int) -> JSON:
    """Answered/s of N workers over one worker's, per phase; and the issue's goal."""
    one, many = report["workers"].get("1"), report["workers"].get(str(workers))
    if not one or not many or workers == 1:
        return {}
    ratios = {
        mode: round(many[mode]["answered_per_s"] / one[mode]["answered_per_s"], 2)
        if one[mode]["answered_per_s"]
        else None
        for mode in ("max", "paced")
    }
    best = max((r for r in ratios.values() if r is not None), default=0.0)
    return {"answered_ratio": ratios, "at_least_1_6x": best >= GOAL_SCALING}


@asynccontextmanager
async def _demo(stores: StoreFactory) -> AsyncIterator[str]:
    with stores("postgres") as store:
        records = open_source(slack_bench.DEMO).records(today=store.today())
        await store.import_records(records, source="demo corpus")
        yield store.engine.url.render_as_string(hide_password=False)


def _side(platform: str, folder: Path) -> AbstractAsyncContextManager[Any]:
    if platform == "teams":
        certs.trust(certs.make(folder))  # the bot's processes inherit the variables
        return TeamsSide.open(folder)
    return SlackSide.start()


def _platform_env(platform: str, side: Any) -> dict[str, str]:
    if platform == "teams":
        return dict(side.env())
    return {
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": side.api_url,
        "LESSONS_SLACK_PACE_SECONDS": "0",
    }


class Tree:
    """A process and its children, read from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def pids(self) -> list[int]:
        """Return the master and its workers."""
        found = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        children = [int(p) for p in found.read_text().split()] if found.exists() else []
        return [self.pid, *children]

    def cpu_seconds(self) -> float:
        """Return the user and system time of every process of the tree (all threads)."""
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / TICKS

    def rss_mb(self) -> float:
        """Return the summed VmRSS of the tree."""
        total = 0.0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
            except OSError:
                continue
        return round(total, 1)


@asynccontextmanager
async def serving(env: dict[str, str], workers: int) -> AsyncIterator[tuple[str, Tree]]:
    """Run `python -m bot run --workers K` on a free port; yield its events URL and tree."""
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--workers",
        str(workers),
        "--port",
        str(port),
        env={
            **os.environ,
            "LESSONS_SCHEDULER": "off",
            "LESSONS_LOG_LEVEL": "WARNING",
            "LESSONS_HOST": "127.0.0.1",
            **env,
        },
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        await _healthy(process, port)
        path = "/api/messages" if "LESSONS_TEAMS_JWKS_URL" in env else PATH
        yield f"http://127.0.0.1:{port}{path}", Tree(process.pid)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _healthy(process: asyncio.subprocess.Process, port: int) -> None:
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"the bot stopped at start (status {process.returncode})")
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the bot did not become healthy within 120 s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def table(report: JSON) -> str:
    """Format a report as a plain-text table."""
    num = slack_bench._num
    lines = [
        f"{report['platform']} on PostgreSQL, lessons run --workers K: {report['seconds']:g} s per "
        f"phase, concurrency {report['concurrency']}, {report['machine']['cores']} cores, load "
        f"average {report['machine']['load_average_at_start']} → "
        f"{report['machine'].get('load_average_at_end')}",
        f"{'K':>2} {'load':<12} {'sent':>6} {'acks/s':>7} {'ack p99':>8} {'answered':>11} "
        f"{'ans/s':>6} {'ans p99':>8} {'cpu ms':>7} {'rss MB':>7}",
    ]
    for count, phases in report["workers"].items():
        for mode in MODES:
            p = phases[mode]
            load = f"{p['rate']:g}/s" if mode == "rate" else f"{mode} c={p['concurrency']}"
            answered = "-" if p["answered"] is None else f"{p['answered']}/{p['acked']}"
            lines.append(
                f"{count:>2} {load:<12} {p['sent']:>6} {p['acks_per_s']:>7.0f} "
                f"{num(p['ack_ms']['p99']):>8} {answered:>11} {num(p['answered_per_s']):>6} "
                f"{num(p['answer_ms']['p99']):>8} {num(p['bot_cpu_ms_per_answer']):>7} "
                f"{p['bot_rss_mb']:>7}"
            )
    if report["scaling"]:
        lines.append(f"answered/s, N workers over 1: {report['scaling']['answered_ratio']}")
    return "\n".join(lines)
