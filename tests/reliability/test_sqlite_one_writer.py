"""Finding 8 of issue 21: one SQLite file serves one `lessons run` or `lessons scheduler`.

A second server or scheduler on the same file is refused at start with a message that says
why and what to do (PostgreSQL for replicas); a SIGKILLed holder never blocks a restart.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bot_process import bot_process, demo_database, free_port

REFUSED = "already serves the SQLite file"


async def second(url: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env={**os.environ, "LESSONS_DATABASE_URL": url, "LESSONS_LOG_LEVEL": "WARNING"},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(
            f"`lessons {' '.join(args)}` was not refused: it kept running"
        ) from None
    return proc.returncode or 0, (out + err).decode()


async def test_a_second_server_or_scheduler_on_one_sqlite_file_is_refused(
    tmp_path: Path, sqlite_template: Path
) -> None:
    url = await demo_database(sqlite_template, tmp_path / "lessons.db")
    env = {"LESSONS_DATABASE_URL": url, "LESSONS_SCHEDULER": "off"}
    async with bot_process(env) as first:
        port = str(free_port())
        status, said = await second(url, "run", "--host", "127.0.0.1", "--port", port)
        assert status != 0 and REFUSED in said and "PostgreSQL" in said, said
        assert f"pid {first.pid}" in said
        status, said = await second(url, "scheduler")
        assert status != 0 and REFUSED in said, said
    # The first one was SIGKILLed: its lock went with it, a new server starts.
    async with bot_process(env) as again:
        assert again.process.returncode is None
