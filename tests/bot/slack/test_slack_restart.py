"""An AAR survives the bot being killed mid-review: a new `lessons run` process carries it on."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from conftest import demo_records
from fake_slack import FakeSlack, event_callback, message_channel, signed_headers, slash_command
from sqlalchemy import select

from knowledge.models import Review, ReviewAnswer, ReviewStatus
from knowledge.storage import Store

TOKEN = "xoxb-restart"
SECRET = "restart-signing-secret"
AMINA = "UAMINA01"
CHANNEL = "C0RESTART"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def running(db: Path, slack: FakeSlack) -> AsyncIterator[str]:
    """Run `lessons run` with Slack against the fake; yield its URL; SIGKILL it at the end."""
    port = _free_port()
    env = {
        **os.environ,
        "LESSONS_DATABASE_URL": f"sqlite:///{db}",
        "LESSONS_LOG_LEVEL": "WARNING",
        "LESSONS_SCHEDULER": "off",
        "LESSONS_SLACK_PACE_SECONDS": "0",
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
    }
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                assert proc.returncode is None, "the bot stopped at start"
                try:
                    async with session.get(f"{url}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
        yield url
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)  # no clean shutdown: a crash
        await proc.wait()


async def send(url: str, body: bytes, content_type: str) -> int:
    headers = {**signed_headers(body, SECRET), "Content-Type": content_type}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/slack/events", data=body, headers=headers) as response,
    ):
        return response.status


async def say(url: str, text: str, ts: str, thread: str) -> None:
    message = message_channel(text, AMINA, CHANNEL, ts, thread_ts=thread)
    assert await send(url, json.dumps(event_callback(message)).encode(), "application/json") == 200


def review_of(db: Path) -> tuple[Review | None, list[str]]:
    store = Store.open(f"sqlite:///{db}")
    try:
        with store.session() as s:
            review = s.scalars(select(Review)).first()
            answers = [a.text for a in s.scalars(select(ReviewAnswer).order_by(ReviewAnswer.id))]
            return review, answers
    finally:
        store.close()


async def until(check: Callable[[], Any], timeout: float = 15.0) -> Any:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_killed_bot_carries_the_aar_on_where_it_was(
    tmp_path: Path, sqlite_template: Path
) -> None:
    db = tmp_path / "lessons.db"
    shutil.copy(sqlite_template, db)
    store = Store.open(f"sqlite:///{db}")
    try:
        await store.import_records(demo_records(store.today()), source="demo")
    finally:
        store.close()

    async with FakeSlack(token=TOKEN) as slack:
        slack.add_user(AMINA, email="amina.diallo@un.example", name="Amina Diallo")
        async with running(db, slack) as url:
            start = slash_command("start Polling day in Bangui", user_id=AMINA,
                                  channel_id=CHANNEL, command="/aar")  # fmt: skip
            assert await send(url, urlencode(start).encode(), "application/x-www-form-urlencoded")
            (opening,) = await slack.wait_for("chat.postMessage", timeout=15)
            thread = str(opening.response["ts"])  # type: ignore[index]
            await until(lambda: (r := review_of(db)[0]) is not None and r.thread_id == thread)
            await say(url, "Ballots at all 40 stations by 07:00.", "1700000001.000100", thread)
            await until(lambda: review_of(db)[1] == ["Ballots at all 40 stations by 07:00."])
        # The first process was killed; a new one on the same database takes over.
        async with running(db, slack) as url:
            posts_before = len(slack.calls_to("chat.postMessage"))
            await say(url, "next", "1700000002.000100", thread)
            await until(lambda: len(slack.calls_to("chat.postMessage")) > posts_before)
            review, _ = review_of(db)
            assert review is not None and review.step == 1
            await say(url, "Two stations opened late.", "1700000003.000100", thread)
            await until(lambda: len(review_of(db)[1]) == 2)
            await say(url, "close", "1700000004.000100", thread)
            await until(
                lambda: (r := review_of(db)[0]) is not None and r.status == ReviewStatus.CLOSED
            )

            # The summary holds the answer given before the crash and the one after.
            def summary() -> bool:
                posts = [
                    json.dumps(c.args, ensure_ascii=False)
                    for c in slack.calls_to("chat.postMessage")
                ]
                return any(
                    "Ballots at all 40 stations by 07:00." in p and "Two stations opened late." in p
                    for p in posts
                )

            await until(summary)
