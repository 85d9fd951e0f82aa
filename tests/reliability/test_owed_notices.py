"""Issue 21, finding 5: when Slack takes neither the answer nor the apology, the person is told
once Slack answers again (a pending notice the scheduler posts), and the PBPO digest lists
what the platforms keep refusing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import FakeSlack, app_mention, event_callback, signed_headers
from sqlalchemy import select

from bot import reminders
from bot.app import build_app
from bot.settings import Settings
from handlers.chat import Text
from knowledge.models import PendingNotice, Person
from knowledge.notices import Notices
from knowledge.storage import Store
from scheduler.clock import ManualClock
from scheduler.config import SchedulerSettings
from scheduler.digests import mission_week
from scheduler.jobs import Scheduler
from scheduler.messages import Bundle, reminder_reply
from scheduler.sql import Db

Client = TestClient[web.Request, web.Application]
SECRET = "owed-signing-secret"
TOKEN = "xoxb-owed"
AMINA = "UAMINA01"
CHANNEL = "C0OWED"
SQLITE_ONLY = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as fake:
        fake.add_user(AMINA, email="amina.diallo@un.example", name="Amina Diallo")
        yield fake


def settings(slack: FakeSlack) -> Settings:
    return Settings(
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        slack_pace_seconds=0,
    )


def notices(store: Store) -> list[PendingNotice]:
    with store.session() as s:
        found = list(s.scalars(select(PendingNotice).order_by(PendingNotice.id)))
        s.expunge_all()
        return found


def said(call: Any) -> str:
    return json.dumps(call.args.get("blocks") or call.args.get("text"), ensure_ascii=False)


async def until_kept(store: Store) -> list[PendingNotice]:
    for _ in range(600):
        if found := notices(store):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("no notice was kept")


@SQLITE_ONLY
async def test_an_answer_lost_in_an_outage_is_owned_up_to_once_slack_is_back(
    demo_store: Store, slack: FakeSlack
) -> None:
    client: Client = TestClient(
        TestServer(build_app(settings(slack), store=demo_store), host="127.0.0.1")
    )
    await client.start_server()
    try:
        slack.fail("chat.postMessage", status=503, times=None)  # Slack takes no post at all
        body = json.dumps(
            event_callback(app_mention("<@U0BOT> elections?", AMINA, CHANNEL, "1700000500.1"))
        ).encode()
        headers = {**signed_headers(body, SECRET), "Content-Type": "application/json"}
        response = await client.post("/slack/events", data=body, headers=headers)
        assert response.status == 200
        (kept,) = await until_kept(demo_store)
    finally:
        await client.close()
    assert kept.platform == "slack" and kept.user_key == AMINA and kept.delivered_at is None
    failed_posts = len(slack.calls_to("chat.postMessage"))
    assert failed_posts >= 2  # the answer and the apology both failed

    clock = ManualClock(demo_store.clock() + timedelta(minutes=1))
    scheduler = Scheduler(
        store=demo_store,
        notifiers=reminders.notifiers(settings(slack), demo_store),
        settings=SchedulerSettings(platform_rate=0),
        clock=clock,
        reviews=False,
    )
    try:
        report = await scheduler.tick()  # Slack is still down: nothing lands, nothing lost
        assert report.notices == 0 and notices(demo_store)[0].delivered_at is None
        slack.clear_faults()  # Slack is back
        clock.set(clock() + timedelta(minutes=2))  # past the first backoff (1 min ± 10 %)
        report = await scheduler.tick()
        assert report.notices == 1
        clock.set(clock() + timedelta(hours=2))
        assert (await scheduler.tick()).notices == 0  # told once, never again
    finally:
        await scheduler.aclose()
    told = [
        c
        for c in slack.calls_to("chat.postMessage")[failed_posts:]
        if c.ok and "could not answer your message" in said(c)  # (her reminders go out too)
    ]
    assert len(told) == 1
    assert told[0].args["channel"] == slack.dm_channel(AMINA)
    assert "Slack was not taking my replies" in said(told[0])
    assert notices(demo_store)[0].delivered_at is not None


async def test_two_replicas_never_post_the_same_notice(store: Store) -> None:
    owed = Notices(store.engine, clock=store.clock)
    ids = [await owed.owe("slack", f"U{n}", f"notice {n}", f"Person {n}") for n in range(5)]
    now = store.clock()
    first = owed.claim(now, "replica-a", ["slack"], limit=3)
    second = owed.claim(now, "replica-b", ["slack"])
    assert {o.id for o in first} | {o.id for o in second} == set(ids)
    assert not {o.id for o in first} & {o.id for o in second}
    assert owed.claim(now, "replica-c", ["slack", "teams"]) == []  # all leased
    owed.delivered(first[0].id, "replica-b")  # not its claim: no effect
    later = now + timedelta(minutes=5)  # the leases ran out: the rest is claimable again
    again = owed.claim(later, "replica-c", ["slack"])
    assert {o.id for o in again} == set(ids)
    assert all(o.attempts == 2 for o in again)
    assert owed.claim(later, "replica-d", ["teams"]) == []  # only its platforms


async def test_the_pbpo_digest_lists_notices_owed_for_over_an_hour(store: Store) -> None:
    owed = Notices(store.engine, clock=store.clock)
    now = store.clock()
    fresh = Notices(store.engine, clock=lambda: now - timedelta(minutes=10))
    old = Notices(store.engine, clock=lambda: now - timedelta(hours=3))
    await fresh.owe("slack", "UFRESH", "sorry", "Fresh Person")
    kept = await old.owe("teams", "aad-old", "sorry", "Tomás Herrera")
    (claimed,) = old.claim(now, "replica", ["teams"])
    owed.failed(claimed.id, "replica", "HTTPError: 503 Service Unavailable", now)
    with store.session() as s:
        person = Person(name="Lina PBPO", email="lina@un.example", created_at=now)
        s.add(person)
        s.flush()
        pbpo = person.id
    assert kept
    week = await mission_week(Db(store.engine), store, pbpo, now=now)
    (line,) = [u for u in week.undelivered if "notice" in u]
    assert line.startswith("Tomás Herrera") and "teams: HTTPError: 503" in line
    assert not any("Fresh Person" in u for u in week.undelivered)
    reply = reminder_reply(Bundle("Lina PBPO", mission=week), today=now.date())
    shown = "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))
    assert "Messages the platforms keep refusing" in shown and "Tomás Herrera" in shown
