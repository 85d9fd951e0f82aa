"""`lessons bench teams` at a tiny size: every phase runs and every message acked is answered.

Real processes and real HTTP both ways (the Teams side, with its issuer, token authority and
connector, is a child process); no timing is asserted, only the shape of the report and that
nothing was lost. The benchmark runs in a process of its own: it trusts its own test CA, and
OpenSSL reads the trusted CAs once per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import teams
from bot import bench_cli
from knowledge.errors import DomainError

ROOT = Path(__file__).resolve().parents[2]


def test_the_teams_benchmark_answers_every_message_it_acks() -> None:
    tiny = "--seconds 1 --concurrency 2 --rate 20 --members 8 --paths bot,bare_aiohttp,sdk_floor"
    run = subprocess.run(
        [sys.executable, "-m", "bench.teams", *tiny.split(), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(run.stdout)

    assert set(report["paths"]) == {"bot", "bare_aiohttp", "sdk_floor"}
    bot = report["paths"]["bot"]
    assert bot["warmup_sent"] >= 8  # every member wrote once before the phases
    for mode in ("rate", "max", "paced"):
        phase = bot[mode]
        assert phase["sent"] > 0
        assert phase["errors"] == 0, phase["error_kinds"]
        assert phase["acked"] == phase["sent"]
        assert phase["failed_answers"] == 0, phase["failures"]
        assert phase["answered"] == phase["acked"] and phase["all_answered"] is True
        assert phase["bot_cpu_ms_per_answer"] is not None and phase["rss_mb"]["end"] > 0
    assert bot["rate"]["sent"] == 20  # 20 messages/s for 1 s
    for name in ("bare_aiohttp", "sdk_floor"):
        for mode in ("rate", "max"):
            phase = report["paths"][name][mode]
            assert phase["sent"] > 0 and phase["acked"] == phase["sent"], phase["error_kinds"]
            assert phase["answered"] is None  # nothing answers there
    assert {"ack_p99_under_250ms", "memory_flat", "all_answered"} <= set(report["goals"])
    assert "sdk_floor" in teams.table(report) and "sdk_floor" in run.stderr


def test_the_cli_says_where_the_benchmarks_live_when_they_are_not_there(
    tmp_path: Path,
) -> None:
    with pytest.raises(DomainError, match="bench/ folder"):
        bench_cli._checkout_module("bench.teams", roots=(tmp_path,))
