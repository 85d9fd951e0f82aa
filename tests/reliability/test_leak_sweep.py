"""The standing leak sweep (issue 17): a restricted lesson with a unique marker word, asked for by
people outside its audience on every surface, over real HTTP, on SQLite and PostgreSQL: 0 leaks.

The lesson (an AAR with an action) is restricted to `channel:ops-secret` — a name, linked by a
PBPO to one Slack channel (C0SECRET of workspace T0001) — and to `group:secret-cell`. Outsiders
(a member of staff, a PBPO outside the group) ask for it:

- Slack: a mention in #general, in a look-alike channel named `ops-secret`, in C0SECRET as seen
  from another workspace (T0EVIL), in a DM; the next pages of each answer (*Show more*); a slash
  command; the App Home;
- Teams: a channel named `ops-secret` in another team, a group chat named `ops-secret`, the
  personal chat, and the message extension (the compose box) in the group chat;
- the local chat: #mission-hq and a DM over its WebSocket; the dashboard's pages;
- the shell: `lessons ask`, `lessons report` (md, csv, json), `lessons who`;
- the weekly digests of a manager and a PBPO whose people own its action.

Every answer is also checked the other way: asked in the linked channel, by an insider, the
marker is there, so a sweep that finds nothing could have.
(The bot has no link unfurls, so none are swept.)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

import _fakes  # noqa: F401
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from conftest import run_cli
from fake_slack import (
    FakeSlack,
    app_home_opened,
    app_mention,
    block_actions,
    event_callback,
    form_body,
    message_im,
    signed_headers,
    slash_command,
)
from fake_teams import (
    CA_VARIABLES,
    TENANT,
    FakeTeams,
    Member,
    channel_message,
    compose_query,
    personal,
    personal_message,
)
from sqlalchemy import select

from bot.app import build_app
from bot.local.dashboard import AS_COOKIE
from bot.settings import Settings
from knowledge.models import Lesson, Person, PersonGroup, Product
from knowledge.records import ProductRecord
from knowledge.storage import Store
from scheduler.digests import mission_week, team_week
from scheduler.sql import Db

MARKER = "Xylophagous"
# Nobody outside the audience can know the marker: they ask about the topic, in other words.
QUESTION = "what did we learn about beetles in the ration stores?"
SECRET, TOKEN = "test-signing-secret", "xoxb-test"
AMINA, FARIDA, ELENA = (
    "amina.diallo@un.example",
    "farida.rahimi@un.example",
    "elena.petrova@un.example",
)
Client = TestClient[web.Request, web.Application]
Leaks = list[str]

PRODUCT = {
    "external_id": "test:leak-sweep",
    "type": "aar",
    "title": f"AAR: {MARKER} beetles in the ration stores of Sector East",
    "summary": f"{MARKER} beetles ate a month of rations before anyone looked.",
    "date": "2026-03-01",
    "mission": "MINUSCA",
    "authors": [ELENA],
    "themes": ["logistics"],
    "audience": ["channel:ops-secret", "group:secret-cell"],
    "lessons": [
        {
            "observation": f"{MARKER} beetles bored through the pallets of dry rations.",
            "lesson": f"Inspect ration stores for {MARKER} beetles every week in the rains.",
            "recommendation": "Treat pallets and rotate stock first in, first out.",
            "status": "validated",
            "actions": [
                {
                    "description": f"Fumigate the {MARKER} pallets at the east depot",
                    "owner": "tomas.herrera@un.example",
                    "due": "2026-11-01",
                }
            ],
        }
    ],
}


@pytest.fixture
async def world(demo_store: Store, today: date) -> Store:
    """The demo, the marked lesson, and its audience: #ops-secret linked on Slack (T0001)."""
    record = ProductRecord.from_mapping(PRODUCT, today=today)
    await demo_store.import_records([(1, record)], source="sweep")
    with demo_store.session() as s:
        elena = s.scalars(select(Person).where(Person.email == ELENA)).one()
        s.add(PersonGroup(person_id=elena.id, group="secret-cell"))
    return demo_store


def leaked(surface: str, text: str, leaks: Leaks) -> None:
    if MARKER.lower() in text.lower():
        leaks.append(surface)


async def serve(app: web.Application) -> Client:
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


# Slack ---------------------------------------------------------------------------------------


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as fake:
        fake.add_user("UAMINA01", email=AMINA, name="Amina Diallo")
        fake.add_user("UFARIDA1", email=FARIDA, name="Farida Rahimi")
        fake.add_user("UELENA01", email=ELENA, name="Elena Petrova")
        fake.add_channel("C0GENERAL", "general")
        fake.add_channel("C0SECRET", "ops-secret")
        fake.add_channel("C0LOOK", "ops-secret")  # another channel, the same name
        yield fake


async def slack_post(bot: Client, body: bytes, content_type: str) -> None:
    headers = {**signed_headers(body, SECRET), "Content-Type": content_type}
    async with bot.post("/slack/events", data=body, headers=headers) as response:
        assert response.status == 200


async def slack_calls(slack: FakeSlack, since: int, method: str | None = None) -> str:
    """Return what the bot asked Slack since `since`, once its answer (`method`) arrived."""
    if method is not None:
        before = len(slack.calls_to(method)) - len(
            [c for c in slack.calls[since:] if c.method == method]
        )
        await slack.wait_for(method, before + 1, timeout=20)
    await slack.settle()
    return json.dumps([c.args for c in slack.calls[since:]], ensure_ascii=False)


async def slack_mention(
    bot: Client, slack: FakeSlack, user: str, channel: str, ts: str, team: str | None = None
) -> str:
    """Mention the bot; press every *Show more* of the answer; return all Slack was asked."""
    since = len(slack.calls)
    mention = app_mention(f"<@U0BOT> {QUESTION}", user, channel, ts)
    envelope = event_callback(mention, team_id=team) if team else event_callback(mention)
    await slack_post(bot, json.dumps(envelope).encode(), "application/json")
    said = await slack_calls(slack, since, "chat.postMessage")
    for _ in range(3):
        more = [
            e
            for c in slack.calls[since:]
            for b in c.args.get("blocks") or []
            if isinstance(b, dict) and b.get("type") == "actions"
            for e in b["elements"]
            if str(e.get("action_id", "")).startswith("ask.more")
        ]
        if not more:
            break
        since = len(slack.calls)
        kwargs = {"team_id": team} if team else {}
        press = block_actions(more[-1]["action_id"], more[-1]["value"], user, channel, ts, **kwargs)
        await slack_post(bot, form_body(press), "application/x-www-form-urlencoded")
        said += await slack_calls(slack, since, "chat.postMessage")
    return said


async def test_slack_sweep(world: Store, slack: FakeSlack) -> None:
    settings = Settings(
        slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_api_url=slack.api_url,
        slack_pace_seconds=0,
    )  # fmt: skip
    bot = await serve(build_app(settings, store=world))
    leaks: Leaks = []
    try:
        link = urlencode(slash_command("audience link ops-secret", "UFARIDA1", "C0SECRET"))
        await slack_post(bot, link.encode(), "application/x-www-form-urlencoded")
        (linked,) = await slack.wait_for("response_url")
        assert "Linked" in json.dumps(linked.args)

        for who in ("UAMINA01", "UFARIDA1"):
            for place, channel, team in (
                ("#general", "C0GENERAL", None),
                ("a look-alike #ops-secret", "C0LOOK", None),
                ("#ops-secret seen from T0EVIL", "C0SECRET", "T0EVIL"),
            ):
                said = await slack_mention(bot, slack, who, channel, "1.0001", team)
                leaked(f"slack {place} by {who}", said, leaks)
            since = len(slack.calls)
            dm = event_callback(message_im(QUESTION, who, f"D{who}", "1.0002"))
            await slack_post(bot, json.dumps(dm).encode(), "application/json")
            leaked(f"slack DM by {who}", await slack_calls(slack, since, "chat.postMessage"), leaks)
            since = len(slack.calls)
            command = urlencode(slash_command(QUESTION, who, "C0GENERAL"))
            await slack_post(bot, command.encode(), "application/x-www-form-urlencoded")
            said = await slack_calls(slack, since, "response_url")
            leaked(f"slack /lessons by {who}", said, leaks)
            since = len(slack.calls)
            home = event_callback(app_home_opened(who))
            await slack_post(bot, json.dumps(home).encode(), "application/json")
            said = await slack_calls(slack, since, "views.publish")
            leaked(f"slack App Home of {who}", said, leaks)

        # The linked channel itself finds it: the sweep can see.
        inside = await slack_mention(bot, slack, "UAMINA01", "C0SECRET", "1.0003")
        assert MARKER in inside
    finally:
        await bot.close()
    assert leaks == []


# Teams ---------------------------------------------------------------------------------------

T_AMINA = Member("aad-amina", "29:amina", "Amina Diallo", AMINA)
T_FARIDA = Member("aad-farida", "29:farida", "Farida Rahimi", FARIDA)


@pytest.fixture(scope="module")
def teams() -> Iterator[FakeTeams]:
    with pytest.MonkeyPatch.context() as env, FakeTeams() as f:
        for name in CA_VARIABLES:
            env.setenv(name, str(f.ca_file))
        f.add_member(T_AMINA)
        f.add_member(T_FARIDA)
        yield f


def group_chat(name: str) -> dict[str, Any]:
    return {
        "isGroup": True, "conversationType": "groupChat", "tenantId": TENANT,
        "id": "19:gc-ops@thread.v2", "name": name,
    }  # fmt: skip


async def test_teams_sweep(world: Store, teams: FakeTeams) -> None:
    teams.reset()
    bot = await serve(build_app(Settings.from_env(teams.env()), store=world))
    headers = {"Authorization": f"Bearer {teams.token()}"}
    leaks: Leaks = []

    async def send(activity: dict[str, Any]) -> str:
        since = len(teams.calls)
        async with bot.post("/api/messages", json=activity, headers=headers) as response:
            body = await response.text()
        return body + json.dumps([c.body for c in teams.calls[since:]], ensure_ascii=False)

    try:
        # The audience is linked in one channel of one team: the sweep's control.
        linked = channel_message(
            teams, T_FARIDA, "audience link ops-secret", channel_id="19:ops@thread.tacv2",
            name="ops-secret", team_id="19:team-ops@thread.tacv2",
        )  # fmt: skip
        assert "Linked" in await send(linked)
        for member in (T_AMINA, T_FARIDA):
            other_team = channel_message(
                teams, member, QUESTION, channel_id="19:ops2@thread.tacv2", name="ops-secret",
                team_id="19:team-other@thread.tacv2",
            )  # fmt: skip
            leaked(f"teams channel of another team by {member.name}", await send(other_team), leaks)
            chat = personal_message(teams, member, QUESTION)
            chat["conversation"] = group_chat("ops-secret")
            chat["text"] = f"<at>Lessons Bot</at> {QUESTION}"
            leaked(f"teams group chat by {member.name}", await send(chat), leaks)
            leaked(
                f"teams personal chat of {member.name}",
                await send(personal_message(teams, member, QUESTION)),
                leaks,
            )
            for conversation in (group_chat("ops-secret"), personal(member)):
                query = compose_query(teams, member, "beetles rations", conversation=conversation)
                leaked(f"teams compose box by {member.name}", await send(query), leaks)
        inside = channel_message(
            teams, T_AMINA, QUESTION, channel_id="19:ops@thread.tacv2", name="ops-secret",
            team_id="19:team-ops@thread.tacv2",
        )  # fmt: skip
        assert MARKER in await send(inside)
    finally:
        await bot.close()
    assert leaks == []


# The local chat and the dashboard ------------------------------------------------------------


async def test_local_chat_and_dashboard_sweep(world: Store) -> None:
    bot = await serve(build_app(Settings(), store=world))
    leaks: Leaks = []
    try:
        origin = {"Origin": str(bot.make_url("/")).rstrip("/")}
        for email in (AMINA, FARIDA, None):
            ws = await bot.ws_connect("/ws", headers=origin)

            async def receive(kind: str) -> dict[str, Any]:
                while (frame := await ws.receive_json(timeout=10))["type"] != kind:  # noqa: B023
                    pass
                return frame

            await ws.send_str(json.dumps({"type": "hello", "as": email, "channel": "mission-hq"}))
            state = await receive("state")
            for channel in ("mission-hq", state.get("dm") or "mission-hq"):
                text = f"@lessons {QUESTION}" if channel == "mission-hq" else QUESTION
                await ws.send_str(json.dumps(
                    {"type": "say", "channel": channel, "thread": None, "text": text}
                ))  # fmt: skip
                while not (answer := (await receive("message"))["message"])["bot"]:
                    pass
                leaked(f"local {channel} by {email}", json.dumps(answer), leaks)
            await ws.close()
            cookies = {AS_COOKIE: email} if email else {}
            for path in (
                "/dashboard",
                "/dashboard/lessons?q=beetles",
                "/dashboard/actions",
                f"/dashboard/lessons/{lesson_id(world)}",
            ):
                async with bot.get(path, cookies=cookies) as response:
                    leaked(f"dashboard {path} as {email}", await response.text(), leaks)
        async with bot.get(
            f"/dashboard/lessons/{lesson_id(world)}", cookies={AS_COOKIE: ELENA}
        ) as response:
            assert MARKER in await response.text()  # an insider sees it: the sweep can see
    finally:
        await bot.close()
    assert leaks == []


def lesson_id(store: Store) -> int:
    with store.session() as s:
        return s.scalars(
            select(Lesson.id).join(Product).where(Product.external_id == "test:leak-sweep")
        ).one()


# The shell and the digests --------------------------------------------------------------------


async def test_digests_sweep(world: Store, now: datetime) -> None:
    """A manager and a PBPO of everything, outside the audience, whose people own its action."""
    db = Db(world.engine)
    leaks: Leaks = []
    with world.session() as s:
        farida = s.scalars(select(Person).where(Person.email == FARIDA)).one()
        tomas = s.scalars(select(Person).where(Person.email == "tomas.herrera@un.example")).one()
        tomas.manager_id = farida.id
        farida_id = farida.id
    leaked("manager digest", repr(await team_week(db, world, farida_id, now=now)), leaks)
    leaked("PBPO digest", repr(await mission_week(db, world, farida_id, now=now)), leaks)
    assert leaks == []


def test_cli_sweep(shell: Store, today: date, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    asyncio.run(
        shell.import_records([(1, ProductRecord.from_mapping(PRODUCT, today=today))], source="t")
    )
    leaks: Leaks = []
    for args in (
        ("ask", QUESTION, "--json"),
        ("ask", QUESTION, "--json", "--as", AMINA),
        ("report", "--format", "md"),
        ("report", "--format", "csv"),
        ("report", "--format", "json", "--as", FARIDA),
        ("who", "beetles", "rations"),
        ("who", "beetles", "rations", "--as", AMINA),
    ):
        code, out, err = run_cli(capsys, *args)
        assert code == 0, err
        leaked("lessons " + " ".join(args), out + err, leaks)
    code, out, _ = run_cli(capsys, "ask", QUESTION, "--json", "--as", ELENA)
    assert MARKER in out  # its author sees it: the sweep can see
    assert leaks == []
