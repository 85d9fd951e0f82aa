"""*Show more* under a public answer shows the next page for where it is posted (finding 2).

A PBPO asks in a channel everyone reads (Slack #general, a Teams channel, the local chat's
#mission-hq); the answer holds only what the channel may see. Her own view of the same question
has a lesson only PBPOs may read on the second page. She presses *Show more* under the
public answer: the page posted in the channel must not hold it, over real HTTP on each platform.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import _fakes  # noqa: F401
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import FakeSlack, app_mention, block_actions, event_callback, form_body
from fake_slack import signed_headers as slack_signed
from fake_teams import CA_VARIABLES, FakeTeams, Member, channel, channel_message, execute
from fake_teams import text_of as card_text

from bot.app import build_app
from bot.settings import Settings
from handlers.ask import PAGE, AskAction
from handlers.chat import ButtonPress, ConversationRef, UserRef
from handlers.deps import Deps
from handlers.router import dispatch
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
QUESTION = "what did we learn about engagement?"
FARIDA = "farida.rahimi@un.example"  # a PBPO: she may read group:pbpo lessons
SECRET, TOKEN = "test-signing-secret", "xoxb-test"


async def hers_alone(store: Store, channel: str) -> set[str]:
    """Return the titles of the second page of her own view that the channel may not see."""
    person = await store.person_for("local", FARIDA)
    mine = await store.ask(QUESTION, viewer=await store.viewer_for(person), limit=2 * PAGE)
    public = await store.ask(
        QUESTION, viewer=await store.viewer_for(None, channel=channel), limit=2 * PAGE
    )
    seen = {h.lesson_id for h in public.hits}
    titles = {h.title for h in mine.hits[PAGE:] if h.lesson_id not in seen}
    assert titles, "the probe needs a lesson of hers on the second page"
    return titles


async def serve(app: web.Application) -> Client:
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


# Slack ---------------------------------------------------------------------------------------


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as fake:
        fake.add_user("UFARIDA1", email=FARIDA, name="Farida Rahimi")
        fake.add_channel("C0GENERAL", "general")
        yield fake


async def test_slack_show_more_under_a_channel_answer(demo_store: Store, slack: FakeSlack) -> None:
    settings = Settings(
        slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_api_url=slack.api_url,
        slack_pace_seconds=0,
    )  # fmt: skip
    bot = await serve(build_app(settings, store=demo_store))
    try:

        async def post(body: bytes, content_type: str) -> None:
            headers = {**slack_signed(body, SECRET), "Content-Type": content_type}
            async with bot.post("/slack/events", data=body, headers=headers) as response:
                assert response.status == 200

        mention = app_mention(f"<@U0BOT> {QUESTION}", "UFARIDA1", "C0GENERAL", "1700000000.1")
        await post(json.dumps(event_callback(mention)).encode(), "application/json")
        (answer,) = await slack.wait_for("chat.postMessage")
        blocks = answer.args["blocks"]
        more = next(
            e
            for b in blocks
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"].startswith("ask.more")
        )
        before = len(slack.calls)
        press = block_actions(
            more["action_id"], more["value"], "UFARIDA1", "C0GENERAL", answer.args["thread_ts"],
            channel_name="general",
        )  # fmt: skip
        await post(form_body(press), "application/x-www-form-urlencoded")
        await slack.settle()
        page = json.dumps([c.args for c in slack.calls[before:]], ensure_ascii=False)
        assert "more:" in page  # the next page was posted
        assert [t for t in await hers_alone(demo_store, "general") if t in page] == []
    finally:
        await bot.close()


# Teams ---------------------------------------------------------------------------------------

TEAMS_FARIDA = Member("aad-farida", "29:farida", "Farida Rahimi", FARIDA)
GENERAL = "19:general@thread.tacv2"


@pytest.fixture(scope="module")
def teams() -> Iterator[FakeTeams]:
    with pytest.MonkeyPatch.context() as env, FakeTeams() as f:
        for name in CA_VARIABLES:
            env.setenv(name, str(f.ca_file))
        f.add_member(TEAMS_FARIDA)
        yield f


async def test_teams_show_more_under_a_channel_answer(demo_store: Store, teams: FakeTeams) -> None:
    teams.reset()
    bot = await serve(build_app(Settings.from_env(teams.env()), store=demo_store))
    headers = {"Authorization": f"Bearer {teams.token()}"}
    try:
        asked = channel_message(
            teams, TEAMS_FARIDA, QUESTION, channel_id=GENERAL, name="General",
            team_id="19:team@thread.tacv2",
        )  # fmt: skip
        async with bot.post("/api/messages", json=asked, headers=headers) as response:
            assert response.status in (200, 202)
        thread = f"{GENERAL};messageid={asked['id']}"
        (card,) = teams.cards(thread)
        more = _find(card, "ask.more")
        click = execute(
            teams, TEAMS_FARIDA, more, conversation=channel(GENERAL, asked["id"]), card_id="1"
        )
        click["channelData"] = asked["channelData"]
        async with bot.post("/api/messages", json=click, headers=headers) as response:
            body = await response.text()
        cards = teams.cards(thread)[1:]
        page = body + json.dumps([card_text(c) for c in cards], ensure_ascii=False)
        assert "more:" in page
        assert [t for t in await hers_alone(demo_store, "General") if t in page] == []
    finally:
        await bot.close()


def _find(card: Any, verb: str) -> dict[str, Any]:
    if isinstance(card, dict):
        if card.get("verb") == verb:
            return card
        for value in card.values():
            if found := _find_or_none(value, verb):
                return found
    if isinstance(card, list):
        for value in card:
            if found := _find_or_none(value, verb):
                return found
    raise LookupError(verb)


def _find_or_none(value: Any, verb: str) -> dict[str, Any] | None:
    try:
        return _find(value, verb)
    except LookupError:
        return None


# The local chat ------------------------------------------------------------------------------


async def test_local_show_more_under_a_channel_answer(demo_store: Store) -> None:
    bot = await serve(build_app(Settings(), store=demo_store))
    try:
        origin = {"Origin": str(bot.make_url("/")).rstrip("/")}
        ws = await bot.ws_connect("/ws", headers=origin)

        async def receive(kind: str) -> dict[str, Any]:
            while (frame := await ws.receive_json(timeout=10))["type"] != kind:
                pass
            return frame

        await ws.send_str(json.dumps({"type": "hello", "as": FARIDA, "channel": "mission-hq"}))
        await receive("state")
        say = {
            "type": "say",
            "channel": "mission-hq",
            "thread": None,
            "text": f"@lessons {QUESTION}",
        }
        await ws.send_str(json.dumps(say))
        while not (answer := (await receive("message"))["message"])["bot"]:
            pass
        value = answer["html"].split('data-action="ask.more" data-value="')[1].split('"')[0]
        press = {"type": "press", "message": answer["id"], "action": "ask.more", "value": value}
        await ws.send_str(json.dumps(press))
        page = (await receive("message"))["message"]
        assert "more:" in page["html"] and not page["private"]
        assert [t for t in await hers_alone(demo_store, "mission-hq") if t in page["html"]] == []
        await ws.close()
    finally:
        await bot.close()


async def test_a_private_show_more_still_shows_her_own_lessons(demo_store: Store) -> None:
    """The presser's own page, privately (a slash command's answer), keeps what she may see."""
    person = await demo_store.person_for("local", FARIDA)
    assert person is not None
    question_id = await demo_store.log_question(
        QUESTION, person_id=person, platform="local", hits=5
    )
    where = ConversationRef("local", "mission-hq", None, channel_name="mission-hq")
    who = UserRef("local", FARIDA, "Farida Rahimi")
    reply = await dispatch(
        ButtonPress(who, where, AskAction.MORE, f"{question_id}:{PAGE}:private"),
        Deps(store=demo_store),
    )
    assert reply is not None and reply.private
    assert [t for t in await hers_alone(demo_store, "mission-hq") if t in reply.fallback]
