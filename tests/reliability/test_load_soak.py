"""Load and soak of a real `lessons run` process (`make soak`; skipped unless LESSONS_SOAK=1).

The bot runs as its own process with Slack and Teams both on, against the fakes on 127.0.0.1.
First a load: signed `app_mention` events, signed slash commands (both on /slack/events) and
Teams activities with valid tokens (on /api/messages), each kind by C connections for a bounded
time and count: ack p50/p99, errors, acks/s. Then a soak: the three kinds mixed at a fixed rate
for LESSONS_SOAK_SECONDS (600), the bot's RSS sampled every 10 s and judged flat by the slope
over the last 2/3 of the samples. The figures go to LESSONS_SOAK_REPORT
(bench-results/soak.json); docs/reliability.md records a run.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _fakes  # noqa: F401
import pytest
from bot_process import bot_process, demo_database
from fake_slack import FakeSlack
from fake_teams import CA_VARIABLES, FakeTeams
from load_kit import (
    KINDS,
    SECRET,
    SLACK_USERS,
    TEAMS_MEMBERS,
    TOKEN,
    Requests,
    closed_loop,
    flatness,
    open_loop,
)

log = logging.getLogger(__name__)

pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(not os.environ.get("LESSONS_SOAK"), reason="long: run with `make soak`"),
]


def _setting(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


LOAD_SECONDS = _setting("LESSONS_LOAD_SECONDS", 30)
LOAD_CONCURRENCY = int(_setting("LESSONS_LOAD_CONCURRENCY", 16))
LOAD_LIMIT = 50_000  # requests per kind, whatever the time
SOAK_SECONDS = _setting("LESSONS_SOAK_SECONDS", 600)
SOAK_RATE = _setting("LESSONS_SOAK_RATE", 6)  # requests/s, the three kinds in turn (< capacity)
SAMPLE_EVERY = 10.0
FLAT_MB = 10.0  # growth over the last 2/3 of the soak that still counts as flat


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    with FakeTeams() as fake:
        fake.check_cards = False  # the Teams tests check every card; here it would be the load
        for member in TEAMS_MEMBERS:
            fake.add_member(member)
        yield fake


async def test_load_then_soak(tmp_path: Path, sqlite_template: Path, teams: FakeTeams) -> None:
    url = await demo_database(sqlite_template, tmp_path / "lessons.db")
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds")}
    report["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    report["load_average_before"] = os.getloadavg()
    async with FakeSlack(token=TOKEN) as slack:
        for user, (email, name) in SLACK_USERS.items():
            slack.add_user(user, email=email, real_name=name)
        requests = Requests(slack, teams)
        async with bot_process(_environment(url, slack, teams)) as bot:
            report["load"] = await _load(bot.url, requests)
            # The answers to what was acked are still being posted: let them drain first.
            await slack.settle(quiet=2.0, timeout=300)
            report["rss_after_load_mb"] = bot.rss_mb()
            kinds = iter(KINDS * int(SOAK_RATE * SOAK_SECONDS + 1))
            tally, samples = await open_loop(
                bot.url,
                lambda: requests.build(next(kinds)),
                rate=SOAK_RATE,
                seconds=SOAK_SECONDS,
                every=SAMPLE_EVERY,
                sample=bot.rss_mb,
            )
        apologies = [c for c in slack.calls if "something went wrong" in json.dumps(c.args)]
    report["soak"] = {"rate": SOAK_RATE, **tally.figures(), "rss": flatness(samples)}
    report["soak"]["rss_samples"] = samples
    report["slack_apologies"] = len(apologies)
    report["load_average_after"] = os.getloadavg()
    _write(report)
    for kind in KINDS:
        assert report["load"][kind]["errors"] == {}, report["load"][kind]
        assert report["load"][kind]["acked"] > 0
    assert report["soak"]["errors"] == {}, report["soak"]
    assert not apologies, apologies[:3]
    assert report["soak"]["rss"]["tail_growth_mb"] < FLAT_MB, report["soak"]["rss"]


def _environment(url: str, slack: FakeSlack, teams: FakeTeams) -> dict[str, str]:
    """The bot's settings: SQLite at url, Slack and Teams on their fakes, no scheduler."""
    return {
        "LESSONS_DATABASE_URL": url,
        "LESSONS_SCHEDULER": "off",
        "LESSONS_SLACK_PACE_SECONDS": "0",
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        **teams.env(),
        **dict.fromkeys(CA_VARIABLES, str(teams.ca_file)),
    }


async def _load(url: str, requests: Requests) -> dict[str, Any]:
    """Load each kind of request in turn with C connections; return the figures of each."""
    figures: dict[str, Any] = {"concurrency": LOAD_CONCURRENCY}
    for kind in KINDS:
        tally = await closed_loop(
            url,
            lambda kind=kind: requests.build(kind),
            concurrency=LOAD_CONCURRENCY,
            seconds=LOAD_SECONDS,
            limit=LOAD_LIMIT,
        )
        figures[kind] = tally.figures()
    return figures


def _write(report: dict[str, Any]) -> None:
    path = Path(os.environ.get("LESSONS_SOAK_REPORT", "bench-results/soak.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    log.warning("soak figures written to %s", path)
