"""`lessons bench slack --workers 2` at a tiny size: both process trees answer everything.

Real `lessons run --workers K` processes on PostgreSQL (a temporary schema), the Slack side a
child process; no timing is asserted, only the shape of the report and that nothing was lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
def test_the_workers_benchmark_loads_one_then_two_workers(postgres_schema: str) -> None:
    tiny = "bench slack --workers 2 --seconds 1 --concurrency 2 --json"
    run = subprocess.run(
        [sys.executable, "-m", "bot", *tiny.split()],
        cwd=ROOT,
        env={**os.environ, "LESSONS_TEST_POSTGRES_URL": POSTGRES_URL},
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(run.stdout)
    assert set(report["workers"]) == {"1", "2"}
    for count, processes in (("1", 1), ("2", 3)):  # two workers and their master
        for mode in ("rate", "max", "paced"):
            phase = report["workers"][count][mode]
            assert phase["errors"] == 0 and phase["acked"] == phase["sent"] > 0
            assert phase["all_answered"] is True, phase["failures"]
            assert phase["bot_processes"] == processes and phase["bot_cpu_s"] > 0
    assert set(report["scaling"]["answered_ratio"]) == {"max", "paced"}
    assert "answered/s, N workers over 1" in run.stderr
