"""Forged interactions over real HTTP change nothing (issue 17, findings 4-7).

Each platform gets the bot's own requests, well signed (Slack's signing secret, Teams RS256
tokens from the local issuer, the local chat's WebSocket), carrying values the bot never put in
a button: the id of a lesson the presser may not see, ids in other scripts' digits or with a
NUL, a "did the change work?" nobody asked them, an anonymous AAR answer aimed at another
channel's review, twenty votes from one guest. Every table but bookkeeping is compared before
and after: 0 changes. Each probe has its honest twin that does change something, so a probe
that changes nothing because it missed its target would fail.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import _fakes  # noqa: F401
import pytest
from aiohttp import ClientWebSocketResponse, web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import (
    FakeSlack,
    block_actions,
    form_body,
    signed_headers,
    slash_command,
    view_submission,
)
from fake_teams import CA_VARIABLES, FakeTeams, Member, execute, personal
from sqlalchemy import select, text

from bot.app import build_app
from bot.settings import Settings
from knowledge.models import (
    Feedback,
    Lesson,
    Notification,
    NotificationStatus,
    Person,
    Product,
    ReviewAnswer,
)
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
SECRET = "test-signing-secret"
TOKEN = "xoxb-test"
AMINA, TOMAS = "UAMINA01", "UTOMAS01"
RESTRICTED = "demo:minusca-mediation-backchannel-2024"  # channel:mediation-support
OPEN = "demo:minusca-elections-2020"
# Tables an interaction may touch without changing what anyone did, may do or may see.
BOOKKEEPING = {"questions", "question_lessons", "processed_events", "chat_messages", "meta",
               "search_words", "slack_installations", "teams_references"}  # fmt: skip


def lesson_of(store: Store, external_id: str) -> int:
    with store.session() as s:
        return s.scalars(
            select(Lesson.id).join(Product).where(Product.external_id == external_id).limit(1)
        ).one()


def any_open_lesson(store: Store) -> int:
    with store.session() as s:
        return s.scalars(
            select(Lesson.id)
            .join(Product)
            .where(~Product.audience.any())
            .order_by(Lesson.id)
            .limit(1)
        ).one()


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but bookkeeping."""
    with store.connection() as conn:
        names = sorted(t.name for t in Lesson.metadata.sorted_tables if t.name not in BOOKKEEPING)
        return {
            name: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{name}"'))), key=repr)
            for name in names
        }


def changed(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> dict[str, int]:
    """Return how many rows each table gained or lost (or changed)."""
    counts = {}
    for name, rows in before.items():
        old, new = {repr(r) for r in rows}, {repr(r) for r in after[name]}
        if old != new:
            counts[name] = len(old ^ new)
    return counts


# Slack ---------------------------------------------------------------------------------------


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as fake:
        fake.add_user(AMINA, email="amina.diallo@un.example", name="Amina Diallo")
        fake.add_user(TOMAS, email="tomas.herrera@un.example", name="Tomás Herrera")
        fake.add_channel("C0GENERAL", "general")
        fake.add_channel("C0ELECT", "elections-team")
        yield fake


@pytest.fixture
async def slack_bot(demo_store: Store, slack: FakeSlack) -> AsyncIterator[Client]:
    settings = Settings(
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        slack_pace_seconds=0,
    )
    client: Client = TestClient(TestServer(build_app(settings, store=demo_store), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


async def signed(bot: Client, body: bytes, content_type: str) -> int:
    headers = {**signed_headers(body, SECRET), "Content-Type": content_type}
    async with bot.post("/slack/events", data=body, headers=headers) as response:
        await response.read()
        return response.status


async def interact(bot: Client, payload: dict[str, Any]) -> int:
    return await signed(bot, form_body(payload), "application/x-www-form-urlencoded")


async def meet(bot: Client, slack: FakeSlack, *users: str) -> None:
    """Have Slack users press a stale button once: the bot links them to the directory."""
    for user in users:
        await press(bot, slack, "ask.more", "stale", user)


async def press(bot: Client, slack: FakeSlack, action: str, value: str, user: str = AMINA) -> int:
    payload = block_actions(action, value, user, "C0GENERAL", "1700000000.000100")
    status = await interact(bot, payload)
    await slack.settle()
    return status


async def test_slack_votes_on_a_lesson_the_presser_may_not_see_change_nothing(
    slack_bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    restricted, opened = lesson_of(demo_store, RESTRICTED), any_open_lesson(demo_store)
    await meet(slack_bot, slack, AMINA)
    forged = {
        "restricted": str(restricted),
        "restricted with a question": f"{restricted}:1",
        "Arabic-Indic digits": "".join(chr(0x0660 + int(d)) for d in str(opened)),
        "a trailing NUL": f"{opened}\x00",
        "full-width digits": "".join(chr(0xFF10 + int(d)) for d in str(opened)),
        "a sign": f"+{opened}",
        "too long": "9" * 40,
    }
    before = snapshot(demo_store)
    for value in forged.values():
        for action in ("ask.helpful", "ask.not_helpful"):
            assert await press(slack_bot, slack, action, value) == 200

    assert changed(before, snapshot(demo_store)) == {}
    apologies = [c for c in slack.calls if "went wrong" in json.dumps(c.args)]
    assert apologies == []

    # The honest vote on a lesson she may see is recorded: the probes aimed right.
    assert await press(slack_bot, slack, "ask.helpful", str(opened)) == 200
    assert changed(before, snapshot(demo_store)) == {"feedback": 1}


async def test_slack_did_the_change_work_answers_only_the_person_asked(
    slack_bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    opened = any_open_lesson(demo_store)
    await meet(slack_bot, slack, AMINA)
    before = snapshot(demo_store)
    for action in ("reminders.worked", "reminders.not_yet"):
        for value in (str(opened), str(lesson_of(demo_store, RESTRICTED)), "١٢"):
            assert await press(slack_bot, slack, action, value) == 200
    assert changed(before, snapshot(demo_store)) == {}

    # Asked (a follow-up row in the ledger for her), she may answer.
    amina = await demo_store.person_for("local", "amina.diallo@un.example")
    with demo_store.session() as s:
        s.add(
            Notification(
                kind="followup", subject_id=opened, recipient_id=amina, period="2026-W48",
                status=NotificationStatus.SENT, next_attempt_at=demo_store.clock(),
                planned_at=demo_store.clock(), updated_at=demo_store.clock(),
            )
        )  # fmt: skip
    asked = snapshot(demo_store)
    assert await press(slack_bot, slack, "reminders.worked", str(opened)) == 200
    assert changed(asked, snapshot(demo_store)) == {"lesson_events": 1}


async def start_aar(bot: Client, slack: FakeSlack, store: Store) -> int:
    body = urlencode(
        slash_command("start Polling day", user_id=AMINA, channel_id="C0ELECT", command="/aar")
    )
    assert await signed(bot, body.encode(), "application/x-www-form-urlencoded") == 200
    await slack.settle()
    with store.session() as s:
        (review_id,) = s.execute(text("SELECT max(id) FROM reviews")).one()
    return int(review_id)


async def test_slack_an_anonymous_answer_cannot_be_aimed_at_another_channels_review(
    slack_bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    review = await start_aar(slack_bot, slack, demo_store)
    await meet(slack_bot, slack, TOMAS)
    before = snapshot(demo_store)
    elsewhere = json.dumps({"channel": "C0GENERAL", "thread": ""})
    there = json.dumps({"channel": "C0ELECT", "thread": ""})
    for user, metadata, callback in (
        (TOMAS, elsewhere, f"aar.anonymous:{review}:0"),  # written by hand, from another channel
        (TOMAS, there, f"aar.anonymous:{review}:0"),  # by hand, naming the review's channel
        (TOMAS, there, f"aar.anonymous:{review}:0:{'0' * 24}"),  # a made-up seal
    ):
        payload = view_submission(callback, {"answer": "Forged words."}, user, metadata)
        assert await interact(slack_bot, payload) == 200
    await slack.settle()
    assert changed(before, snapshot(demo_store)) == {}

    # Pressing *Answer anonymously* in another channel opens nothing for that review either.
    button = block_actions("aar.anonymous", f"{review}:0", TOMAS, "C0GENERAL", "1.000200")
    assert await interact(slack_bot, {**button, "trigger_id": "1.2.3"}) == 200
    await slack.settle()
    assert slack.calls_to("views.open") == []

    # In the review's own channel it opens a sealed form, and that form is saved.
    button = block_actions("aar.anonymous", f"{review}:0", TOMAS, "C0ELECT", "1.000300")
    assert await interact(slack_bot, {**button, "trigger_id": "1.2.4"}) == 200
    (opened,) = await slack.wait_for("views.open")
    view = opened.args["view"]
    sealed = view_submission(
        view["callback_id"], {"answer": "Honest words."}, TOMAS, view["private_metadata"],
        blocks=view["blocks"],
    )  # fmt: skip
    other = view_submission(
        view["callback_id"], {"answer": "Forged words."}, AMINA, view["private_metadata"],
        blocks=view["blocks"],
    )  # fmt: skip
    assert await interact(slack_bot, other) == 200  # someone else's sealed form: refused
    assert await interact(slack_bot, sealed) == 200
    await slack.settle()
    with demo_store.session() as s:
        assert s.scalars(select(ReviewAnswer.text)).all() == ["Honest words."]


# Teams ---------------------------------------------------------------------------------------

TEAMS_AMINA = Member("aad-amina", "29:amina", "Amina Diallo", "amina.diallo@un.example")


@pytest.fixture(scope="module")
def fake_teams() -> Iterator[FakeTeams]:
    with pytest.MonkeyPatch.context() as env, FakeTeams() as f:
        for name in CA_VARIABLES:
            env.setenv(name, str(f.ca_file))
        f.add_member(TEAMS_AMINA)
        yield f


@pytest.fixture
async def teams_bot(demo_store: Store, fake_teams: FakeTeams) -> AsyncIterator[Client]:
    fake_teams.reset()
    app = build_app(Settings.from_env(fake_teams.env()), store=demo_store)
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


async def teams_press(bot: Client, fake: FakeTeams, action: str, value: str) -> int:
    button = {
        "verb": action,
        "data": {"lessons.kind": "button", "lessons.action": action, "lessons.value": value},
    }
    activity = execute(fake, TEAMS_AMINA, button, conversation=personal(TEAMS_AMINA), card_id="1")
    headers = {"Authorization": f"Bearer {fake.token()}"}
    async with bot.post("/api/messages", json=activity, headers=headers) as response:
        await response.read()
        return response.status


async def test_teams_forged_votes_and_follow_ups_change_nothing(
    teams_bot: Client, fake_teams: FakeTeams, demo_store: Store
) -> None:
    restricted, opened = lesson_of(demo_store, RESTRICTED), any_open_lesson(demo_store)
    await teams_press(teams_bot, fake_teams, "ask.more", "stale")  # the bot meets her
    before = snapshot(demo_store)
    for action, value in (
        ("ask.helpful", str(restricted)),
        ("ask.not_helpful", f"{restricted}:1"),
        ("ask.helpful", "".join(chr(0x0660 + int(d)) for d in str(opened))),
        ("ask.helpful", f"{opened}\x00"),
        ("reminders.worked", str(opened)),
        ("reminders.not_yet", str(restricted)),
    ):
        assert await teams_press(teams_bot, fake_teams, action, value) in (200, 202)
    assert changed(before, snapshot(demo_store)) == {}

    assert await teams_press(teams_bot, fake_teams, "ask.helpful", str(opened)) in (200, 202)
    assert changed(before, snapshot(demo_store)) == {"feedback": 1}


# The local chat ------------------------------------------------------------------------------


async def local_tab(client: Client, who: str | None) -> tuple[ClientWebSocketResponse, str]:
    origin = {"Origin": str(client.make_url("/")).rstrip("/")}
    ws = await client.ws_connect("/ws", headers=origin)
    await ws.send_str(json.dumps({"type": "hello", "as": who, "channel": None, "thread": None}))
    while (frame := await ws.receive_json(timeout=10))["type"] != "state":
        pass
    return ws, str(frame["dm"] or "mission-hq")


async def receive(ws: ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while (frame := await ws.receive_json(timeout=10))["type"] != kind:
        pass
    return frame


@pytest.fixture
async def local(demo_store: Store) -> AsyncIterator[Client]:
    client: Client = TestClient(
        TestServer(build_app(Settings(), store=demo_store), host="127.0.0.1")
    )
    await client.start_server()
    yield client
    await client.close()


async def ask_in(ws: ClientWebSocketResponse, channel: str) -> dict[str, Any]:
    text_ = "@lessons what did we learn about elections?"
    await ws.send_str(
        json.dumps({"type": "say", "channel": channel, "thread": None, "text": text_})
    )
    while True:
        message = (await receive(ws, "message"))["message"]
        if message["bot"] and "closest lessons" in message["html"]:
            return message


def votes(store: Store) -> list[tuple[int, str]]:
    with store.session() as s:
        return sorted((f.lesson_id, f.voter) for f in s.scalars(select(Feedback)))


async def test_local_chat_a_guest_votes_once_per_lesson_and_forged_ids_are_refused(
    local: Client, demo_store: Store
) -> None:
    ws, _ = await local_tab(local, None)
    answer = await ask_in(ws, "mission-hq")
    value = answer["html"].split('data-action="ask.helpful" data-value="')[1].split('"')[0]
    lesson = value.partition(":")[0]
    for _ in range(20):
        await ws.send_str(json.dumps(
            {"type": "press", "message": answer["id"], "action": "ask.helpful", "value": value}
        ))  # fmt: skip
        await receive(ws, "message")
    assert [lesson_id for lesson_id, _ in votes(demo_store)] == [int(lesson)]

    before = snapshot(demo_store)
    restricted = lesson_of(demo_store, RESTRICTED)
    for forged in (f"{lesson}\x00", "".join(chr(0x0660 + int(d)) for d in lesson), str(restricted)):
        await ws.send_str(json.dumps(
            {"type": "press", "message": answer["id"], "action": "ask.not_helpful",
             "value": forged}
        ))  # fmt: skip
        refusal = (await receive(ws, "message"))["message"]
        assert "⚠️" in refusal["html"], refusal
    assert changed(before, snapshot(demo_store)) == {}

    # Another guest (another tab) is another voter: their vote counts too.
    other, _ = await local_tab(local, None)
    await other.send_str(json.dumps(
        {"type": "press", "message": answer["id"], "action": "ask.helpful", "value": value}
    ))  # fmt: skip
    await receive(other, "message")
    assert len(votes(demo_store)) == 2
    await ws.close()
    await other.close()


async def test_a_person_votes_once_per_lesson_under_the_unique_index(demo_store: Store) -> None:
    """The database itself refuses a second vote by one voter on one lesson."""
    opened = any_open_lesson(demo_store)
    amina = await demo_store.person_for("local", "amina.diallo@un.example")
    viewer = await demo_store.viewer_for(amina)
    for helpful in (True, True, False, True):
        await demo_store.record_feedback(opened, viewer=viewer, question_id=None, helpful=helpful)
    with demo_store.session() as s:
        rows = s.scalars(select(Feedback).where(Feedback.lesson_id == opened)).all()
        assert [(r.voter, r.helpful) for r in rows] == [(f"person:{amina}", True)]
        person = s.get(Person, amina)
        assert person is not None
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), demo_store.session() as s:
        s.add(Feedback(lesson_id=opened, voter=f"person:{amina}", helpful=False,
                       at=demo_store.clock()))  # fmt: skip
