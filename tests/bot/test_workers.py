"""`lessons run --workers N`: one port, N processes, one scheduler; PostgreSQL only.

Real processes on 127.0.0.1: the master and its workers are `python -m bot run --workers 2`;
each check reads what the operating system says (the processes, their exit codes).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import private_schema, run_cli, schema_url

from bot import workers
from knowledge.database import make_engine, upgrade


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def wait(check: object, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def database() -> Iterator[str]:
    with private_schema("lessons_workers") as schema:
        engine = make_engine(schema_url(schema))
        upgrade(engine)
        engine.dispose()
        yield schema_url(schema)


def start(url: str, port: int, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--workers", "2", "--port", str(port)],
        env={**os.environ, "LESSONS_DATABASE_URL": url, "LESSONS_LOG_LEVEL": "INFO", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.postgres
def test_two_workers_serve_one_port_one_runs_the_scheduler_and_a_lost_one_comes_back(
    database: str,
) -> None:
    port = free_port()
    master = start(database, port)
    try:
        assert wait(lambda: len(children(master.pid)) == 2 and healthy(port))
        first = children(master.pid)
        time.sleep(workers.SETTLE)  # one lost sooner would count as one that could not start
        os.kill(first[1], signal.SIGKILL)  # a worker lost: the master starts another
        assert wait(lambda: len(children(master.pid)) == 2 and first[1] not in children(master.pid))
        assert wait(lambda: healthy(port))
    finally:
        master.send_signal(signal.SIGTERM)
        out, err = master.communicate(timeout=60)
    assert master.returncode == 0
    assert "Lessons Bot is running (database: postgresql, 2 workers)." in out
    assert err.count("scheduler: ticking every") == 1  # worker 0 only (it was never lost)


@pytest.mark.postgres
def test_a_worker_that_cannot_start_stops_them_all(database: str) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-refused", "SLACK_SIGNING_SECRET": "s" * 32}
    master = start(database, free_port(), SLACK_API_URL=f"http://127.0.0.1:{free_port()}/", **env)
    _, err = master.communicate(timeout=120)
    assert master.returncode != 0
    assert "lessons:" in err and "Traceback" not in err


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_sqlite_refuses_more_than_one_worker(
    shell: object, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "run", "--workers", "2", "--port", str(free_port()))
    assert code == 2
    assert "needs PostgreSQL" in err and "run one worker" in err
