"""A real `lessons run` process for the reliability tests: start, wait for health, kill, RSS."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from conftest import demo_records

from knowledge.storage import Store


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    """Return a process's resident memory (VmRSS) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")


async def demo_database(template: Path, path: Path) -> str:
    """Copy the migrated template to path, load the demo corpus, return the URL."""
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    store = Store.open(url)
    try:
        await store.import_records(demo_records(store.today()), source="demo")
    finally:
        store.close()
    return url


@dataclass
class BotProcess:
    """A running bot: its URL and process."""

    url: str
    process: asyncio.subprocess.Process

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        return rss_mb(self.pid)


@asynccontextmanager
async def bot_process(
    env: Mapping[str, str], *, start_s: float = 60.0
) -> AsyncIterator[BotProcess]:
    """Run `python -m bot run` on a free loopback port; SIGKILL it at the end."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "LESSONS_LOG_LEVEL": "WARNING", **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await _healthy(proc, url, start_s)
        yield BotProcess(url, proc)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()


async def _healthy(proc: asyncio.subprocess.Process, url: str, start_s: float) -> None:
    async with aiohttp.ClientSession() as session, asyncio.timeout(start_s):
        while True:
            assert proc.returncode is None, "the bot stopped at start"
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
