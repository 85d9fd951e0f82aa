"""Nothing acknowledged is lost (issue 21, finding 2): `lessons run` SIGKILLed after its ack.

Over real HTTP, a real `lessons run` process gets AAR answers (in the review's thread) and a
question (an @mention) from people it has not met yet (users.info is slow: each event is
mid-way when the kill lands), acknowledges them all, and is SIGKILLed 0, 5, 20 or 50 ms
after the last ack. The next process saves every answer and answers every question, once.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from bot_process import bot_process, demo_database
from fake_slack import (
    FakeSlack,
    app_mention,
    event_callback,
    message_channel,
    signed_headers,
    slash_command,
    socket_envelope,
)
from sqlalchemy import select

from knowledge.models import Review, ReviewAnswer
from knowledge.storage import Store

TOKEN = "xoxb-inbox-kill"
SECRET = "inbox-kill-signing-secret"
AMINA = "UAMINA01"
CHANNEL = "C0INBOX"
DELAYS_MS = (0, 5, 20, 50)
ANSWERS_PER_ROUND = 3


def environment(url: str, slack: FakeSlack) -> dict[str, str]:
    return {
        "LESSONS_DATABASE_URL": url,
        "LESSONS_SCHEDULER": "off",
        "LESSONS_SLACK_PACE_SECONDS": "0",
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
    }


async def send(url: str, body: bytes, content_type: str) -> int:
    headers = {**signed_headers(body, SECRET), "Content-Type": content_type}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/slack/events", data=body, headers=headers) as response,
    ):
        await response.read()
        return response.status


def event(payload: dict[str, Any]) -> bytes:
    return json.dumps(event_callback(payload)).encode()


def saved(url: str) -> tuple[Review | None, list[str]]:
    store = Store.open(url)
    try:
        with store.session() as s:
            review = s.scalars(select(Review)).first()
            answers = [a.text for a in s.scalars(select(ReviewAnswer).order_by(ReviewAnswer.id))]
            return review, answers
    finally:
        store.close()


async def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def answers_to(slack: FakeSlack, ts: str) -> list[Any]:
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("thread_ts") == ts and c.ok and c.args.get("channel") == CHANNEL
    ]


async def test_events_acknowledged_before_a_kill_are_handled_after_restart(
    tmp_path: Path, sqlite_template: Path
) -> None:
    url = await demo_database(sqlite_template, tmp_path / "lessons.db")
    sent_answers: list[str] = []
    questions: list[str] = []
    async with FakeSlack(token=TOKEN) as slack:
        slack.add_user(AMINA, email="amina.diallo@un.example", name="Amina Diallo")
        async with bot_process(environment(url, slack)) as bot:
            start = slash_command(
                "start Polling day in Bangui", user_id=AMINA, channel_id=CHANNEL, command="/aar"
            )
            body = urlencode(start).encode()
            assert await send(bot.url, body, "application/x-www-form-urlencoded") == 200
            (opening,) = await slack.wait_for("chat.postMessage", timeout=15)
            thread = str(opening.response["ts"])  # type: ignore[index]
            await until(lambda: (r := saved(url)[0]) is not None and r.thread_id == thread)
        slack.slow("users.info", 0.3)  # every newcomer's event is mid-way when the kill lands
        for round_, delay in enumerate(DELAYS_MS):
            async with bot_process(environment(url, slack)) as bot:
                bodies = []
                for k in range(ANSWERS_PER_ROUND):
                    user = f"UR{round_}K{k}XXXX"
                    slack.add_user(user, email=f"r{round_}k{k}@un.example", name=f"R{round_} K{k}")
                    text = f"Round {round_} answer {k}: ballots arrived late at station {k}."
                    ts = f"18000{round_}{k}000.000100"
                    sent_answers.append(text)
                    bodies.append(event(message_channel(text, user, CHANNEL, ts, thread_ts=thread)))
                asker = f"UR{round_}ASKER"
                slack.add_user(asker, email=f"r{round_}asker@un.example", name=f"Asker {round_}")
                question_ts = f"18100{round_}0000.000100"
                questions.append(question_ts)
                ask = "<@U0BOT> what did we learn about elections?"
                bodies.append(event(app_mention(ask, asker, CHANNEL, question_ts)))
                statuses = await asyncio.gather(
                    *(send(bot.url, b, "application/json") for b in bodies)
                )
                assert statuses == [200] * len(bodies)  # every one acknowledged…
                await asyncio.sleep(delay / 1000)
                bot.process.send_signal(signal.SIGKILL)  # …then the process is gone
                await bot.process.wait()
        async with bot_process(environment(url, slack)):
            try:
                await until(lambda: len(saved(url)[1]) >= len(sent_answers))
                await until(lambda: all(answers_to(slack, ts) for ts in questions))
            except AssertionError:
                pass  # what is missing is said below
            await asyncio.sleep(1.0)  # anything sent twice would have arrived by now
        _, answers = saved(url)
    told = [
        (c.method, json.dumps(c.args)[:300])
        for c in slack.calls
        if c.method in ("chat.postEphemeral", "chat.postMessage")
        and c.args.get("channel") != CHANNEL
    ]
    assert not told, told
    assert sorted(answers) == sorted(sent_answers)  # every answer saved, once
    for ts in questions:
        assert len(answers_to(slack, ts)) == 1, ts  # every question answered, once


async def test_a_review_whose_opening_post_was_cut_by_a_kill_carries_on_after_restart(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """Finding 3: killed during the AAR's opening post, the review is resumed, not orphaned."""
    url = await demo_database(sqlite_template, tmp_path / "lessons.db")
    async with FakeSlack(token=TOKEN) as slack:
        slack.add_user(AMINA, email="amina.diallo@un.example", name="Amina Diallo")
        slack.slow("chat.postMessage", 1.0, times=1)  # the opening is on its way at the kill
        async with bot_process(environment(url, slack)) as bot:
            start = slash_command(
                "start Polling day in Bangui", user_id=AMINA, channel_id=CHANNEL, command="/aar"
            )
            body = urlencode(start).encode()
            assert await send(bot.url, body, "application/x-www-form-urlencoded") == 200
            await asyncio.sleep(0.5)
            bot.process.send_signal(signal.SIGKILL)
            await bot.process.wait()
        async with bot_process(environment(url, slack)):
            review = await until(lambda: (r := saved(url)[0]) is not None and r.thread_id and r)
        openings = [c for c in slack.calls_to("chat.postMessage") if c.ok]
    assert len(openings) == 1  # posted once: the restart found it by its key
    assert review.thread_id == openings[0].response["ts"]  # type: ignore[index]
    store = Store.open(url)
    try:
        with store.session() as s:
            assert (
                len(list(s.scalars(select(Review)))) == 1
            )  # one review, not an orphan and another
    finally:
        store.close()


async def test_socket_mode_envelopes_acknowledged_before_a_kill_are_handled_after_restart(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """Socket Mode keeps an envelope in the inbox before its ack, as HTTP does: Slack never
    sends an acknowledged envelope again, so after the kill only the inbox has it."""
    url = await demo_database(sqlite_template, tmp_path / "lessons.db")
    app_token = "xapp-1-A0INBOX-1-kill"
    async with FakeSlack(token=TOKEN, app_token=app_token) as slack:
        env = {**environment(url, slack), "SLACK_APP_TOKEN": app_token}
        del env["SLACK_SIGNING_SECRET"]
        slack.add_user(AMINA, email="amina.diallo@un.example", name="Amina Diallo")
        async with bot_process(env):
            await slack.wait_socket()
            start = slash_command(
                "start Polling day in Bangui", user_id=AMINA, channel_id=CHANNEL, command="/aar"
            )
            await slack.socket_send(socket_envelope(start, type="slash_commands"))
            (opening,) = await slack.wait_for("chat.postMessage")
            thread = str(opening.response["ts"])  # type: ignore[index]
            await until(lambda: (r := saved(url)[0]) is not None and r.thread_id == thread)
        slack.slow("users.info", 0.5)  # every newcomer's event is mid-way when the kill lands
        sent = []
        async with bot_process(env) as bot:
            await slack.wait_socket()
            for k in range(ANSWERS_PER_ROUND):
                user = f"USOCK{k}XXXX"
                slack.add_user(user, email=f"sock{k}@un.example", name=f"Sock {k}")
                text = f"Socket answer {k}: the radios failed at station {k}."
                sent.append(text)
                ts = f"1820000{k}000.000100"
                envelope = socket_envelope(
                    event_callback(message_channel(text, user, CHANNEL, ts, thread_ts=thread))
                )
                ack = await slack.socket_send(envelope)
                assert ack["envelope_id"] == envelope["envelope_id"]  # acknowledged…
            bot.process.send_signal(signal.SIGKILL)  # …then the process is gone
            await bot.process.wait()
        assert len(saved(url)[1]) < len(sent)  # the kill did cut the work short
        async with bot_process(env):
            await until(lambda: len(saved(url)[1]) >= len(sent))
            await asyncio.sleep(1.0)  # anything saved twice would be by now
        assert sorted(saved(url)[1]) == sorted(sent)  # every answer saved, once
