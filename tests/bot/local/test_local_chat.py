"""The local web chat over real HTTP and WebSocket on 127.0.0.1: asking, buttons, threads,
privacy, actions, bad frames, and the login token and cross-site checks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSServerHandshakeError, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import build_app
from bot.local.auth import COOKIE, Guard
from bot.settings import Settings
from knowledge.models import Feedback, Lesson, LessonStatus, Product, Question, Referral
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
STAFF = "amina.diallo@un.example"
OWNER = "tomas.herrera@un.example"  # owns open actions in the demo corpus
ELECTIONS = "what did we learn about elections?"


async def serve(store: Store, guard: Guard | None = None) -> Client:
    """Serve the whole app with this store on a free port of 127.0.0.1."""
    app = build_app(Settings(), store=store, guard=guard)
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(demo_store: Store) -> AsyncIterator[Client]:
    client = await serve(demo_store)
    yield client
    await client.close()


def origin(client: Client) -> dict[str, str]:
    return {"Origin": str(client.make_url("/")).rstrip("/")}


class Tab:
    """One browser tab speaking the chat protocol."""

    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.dm = ""

    async def send(self, **payload: Any) -> None:
        await self.ws.send_str(json.dumps(payload))

    async def receive(self, kind: str | None = None) -> dict[str, Any]:
        """Return the next frame (of this kind, skipping others)."""
        while True:
            frame: dict[str, Any] = await self.ws.receive_json(timeout=10)
            if kind is None or frame["type"] == kind:
                return frame

    async def until(self, kind: str, check: Any) -> dict[str, Any]:
        while True:
            frame = await self.receive(kind)
            if check(frame):
                return frame


async def tab(client: Client, email: str, channel: str | None = None) -> Tab:
    ws = await client.ws_connect("/ws", headers=origin(client))
    t = Tab(ws)
    await t.send(type="hello", **{"as": email}, channel=channel, thread=None)
    state = await t.receive("state")
    assert state["me"]["email"] == email
    t.dm = state["dm"]
    await t.receive("history")
    return t


async def test_page_and_script_are_served(client: Client) -> None:
    page = await client.get("/")
    assert page.status == 200
    html = await page.text()
    assert 'id="acting-as"' in html and "/static/chat.js" in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    script = await client.get("/static/chat.js")
    assert script.status == 200
    assert "new WebSocket" in await script.text()
    icon = await client.get("/favicon.ico")  # where browsers look first: not a 404
    assert icon.status == 200 and icon.content_type == "image/svg+xml"


async def test_a_question_in_a_dm_gets_lesson_cards_and_a_vote_is_recorded(
    client: Client, demo_store: Store
) -> None:
    t = await tab(client, STAFF)
    await t.send(type="say", channel=t.dm, thread=None, text=ELECTIONS)
    mine = (await t.receive("message"))["message"]
    assert mine["author"] == "Amina Diallo" and not mine["bot"]
    answer = (await t.receive("message"))["message"]
    assert answer["bot"] and answer["thread"] is None  # DMs have no threads
    assert 'data-action="ask.helpful"' in answer["html"]
    value = answer["html"].split('data-action="ask.helpful" data-value="')[1].split('"')[0]

    await t.send(type="press", message=answer["id"], action="ask.helpful", value=value)
    thanks = (await t.receive("message"))["message"]
    assert thanks["private"] and "helped" in thanks["html"]

    with demo_store.session() as s:
        vote = s.scalars(select(Feedback)).one()
        question = s.scalars(select(Question)).one()
    assert vote.helpful is True and str(vote.lesson_id) == value.split(":")[0]
    assert question.text == ELECTIONS and question.hits == 5 and vote.question_id == question.id


async def test_a_mention_in_a_channel_is_answered_in_its_thread(client: Client) -> None:
    t = await tab(client, STAFF, channel="elections-team")
    await t.send(type="say", channel="elections-team", thread=None, text="@lessons " + ELECTIONS)
    question = (await t.receive("message"))["message"]
    answer = (await t.receive("message"))["message"]
    assert answer["thread"] == question["id"] and "closest lessons" in answer["html"]

    await t.send(type="open", channel="elections-team", thread=question["id"])
    history = await t.receive("history")
    assert [m["id"] for m in history["thread_messages"]] == [question["id"], answer["id"]]
    roots = {m["id"]: m for m in history["messages"]}
    assert roots[question["id"]]["replies"] == 1


async def test_channel_chatter_without_a_mention_gets_no_reply(client: Client) -> None:
    t = await tab(client, STAFF, channel="mission-hq")
    await t.send(type="say", channel="mission-hq", thread=None, text="morning all, coffee?")
    await t.receive("message")
    await t.send(type="say", channel="mission-hq", thread=None, text="@lessons help")
    help_question = (await t.receive("message"))["message"]
    reply = (await t.receive("message"))["message"]
    assert reply["bot"] and reply["thread"] == help_question["id"]  # the chatter got nothing


async def test_others_see_channel_messages_but_not_private_ones_or_dms(client: Client) -> None:
    me = await tab(client, STAFF, channel="mission-hq")
    other = await tab(client, OWNER, channel="mission-hq")
    await me.send(type="say", channel="mission-hq", thread=None, text="@lessons " + ELECTIONS)
    seen = (await other.receive("message"))["message"]
    assert seen["author"] == "Amina Diallo"
    answer = (await other.receive("message"))["message"]
    assert answer["bot"]
    await me.receive("message")
    await me.receive("message")

    # A vote's thanks is private; the other tab gets nothing, which a later message proves.
    value = answer["html"].split('data-action="ask.helpful" data-value="')[1].split('"')[0]
    await me.send(type="press", message=answer["id"], action="ask.helpful", value=value)
    assert (await me.receive("message"))["message"]["private"]
    await me.send(type="say", channel=me.dm, thread=None, text="help")
    await other.send(type="say", channel="mission-hq", thread=None, text="next one")
    nxt = (await other.receive("message"))["message"]
    assert nxt["author"] == "Tomás Herrera" and nxt["channel"] == "mission-hq"

    # Opening someone else's DM falls back to a public channel.
    await other.send(type="open", channel=me.dm, thread=None)
    history = await other.receive("history")
    assert history["channel"] == "mission-hq"
    assert all(m["channel"] != me.dm for m in history["messages"])


async def test_my_actions_can_be_snoozed_and_the_card_updates_in_place(client: Client) -> None:
    t = await tab(client, OWNER)
    await t.send(type="say", channel=t.dm, thread=None, text="actions")
    await t.receive("message")
    card = (await t.receive("message"))["message"]
    assert "Your open actions" in card["html"] and card["private"]
    action = card["html"].split('data-action="action.snooze" data-value="')[1].split('"')[0]
    await t.send(type="press", message=card["id"], action="action.snooze", value=action)
    updated = (await t.receive("update"))["message"]
    assert updated["id"] == card["id"] and "Snoozed: now due" in updated["html"]


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2, 3]",
        '{"type": "teleport"}',
        '{"type": "press", "message": "x", "action": "ask.helpful"}',
        '{"type": "press", "message": 999999, "action": "ask.helpful", "value": "1"}',
        '{"type": "submit", "message": null, "form": "action.done:1", "values": []}',
        '{"type": "say", "channel": "mission-hq", "text": "' + "x" * 9000 + '"}',
        '{"type": "say", "channel": "dm:1", "text": "into someone else\'s DM"}',
        '{"type": "edit", "message": 1, "text": "not mine"}',
    ],
)
async def test_bad_frames_get_a_friendly_error_and_the_socket_stays_open(
    client: Client, frame: str
) -> None:
    t = await tab(client, STAFF)
    await t.ws.send_str(frame)
    error = await t.receive("error")
    assert error["text"] and "Traceback" not in error["text"]
    await t.send(type="open", channel="logistics", thread=None)
    assert (await t.receive("history"))["channel"] == "logistics"


async def test_a_websocket_from_another_site_is_refused(client: Client) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/ws", headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403


async def test_a_rebound_host_name_is_refused(client: Client) -> None:
    response = await client.get("/", headers={"Host": "attacker.example"})
    assert response.status == 421


async def test_off_loopback_the_login_token_is_required(demo_store: Store) -> None:
    guard = Guard.for_bind("0.0.0.0")
    assert guard.token
    client = await serve(demo_store, guard)
    try:
        page = await client.get("/", allow_redirects=False)
        assert page.status == 302 and page.headers["Location"] == "/login"
        assert (await client.get("/dashboard", allow_redirects=False)).status == 302
        assert (await client.get("/healthz")).status == 200
        with pytest.raises(WSServerHandshakeError):
            await client.ws_connect("/ws", headers=origin(client))

        wrong = await client.post("/login", data={"token": "guess"}, headers=origin(client))
        assert wrong.status == 401
        forged = await client.post(
            "/login", data={"token": guard.token}, headers={"Origin": "https://evil.example"}
        )
        assert forged.status == 403
        ok = await client.post(
            "/login", data={"token": guard.token}, headers=origin(client), allow_redirects=False
        )
        assert ok.status == 302
        cookie = ok.cookies[COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert guard.token not in cookie.value
        assert (await client.get("/")).status == 200
        ws = await client.ws_connect("/ws", headers=origin(client))
        await ws.close()
    finally:
        await client.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "["},  # not a host name: urlsplit raises on it
        {"Host": "[::1"},
        {"Origin": "http://["},
        {"Referer": "http://[::1"},
    ],
    ids=["host [", "host [::1", "origin http://[", "referer http://[::1"],
)
async def test_a_host_or_origin_that_is_not_a_url_is_refused_not_a_crash(
    client: Client, headers: dict[str, str]
) -> None:
    # A GET needs no Origin; a POST without a good one, or any request to a Host not ours,
    # is refused.
    refused = "Host" in headers
    for method, path in (("GET", "/"), ("GET", "/dashboard"), ("POST", "/login")):
        async with client.request(method, path, headers=headers) as response:
            if refused or method == "POST":
                assert response.status in (403, 421), (method, path, response.status)
            else:
                assert response.status == 200, (method, path, response.status)


async def test_off_loopback_odd_cookies_and_charsets_are_refused_not_a_crash(
    demo_store: Store,
) -> None:
    client = await serve(demo_store, Guard.for_bind("0.0.0.0", token="the-token"))
    try:
        for cookie in (f"{COOKIE}=é", f'{COOKIE}="\\303\\251"'):  # compare_digest: ASCII only
            page = await client.get("/", headers={"Cookie": cookie}, allow_redirects=False)
            assert page.status == 302 and page.headers["Location"] == "/login"
            assert (await client.get("/login", headers={"Cookie": cookie})).status == 200
        form = "application/x-www-form-urlencoded; charset=x-bogus"
        garbled = await client.post(
            "/login", data=b"token=the-token", headers={**origin(client), "Content-Type": form}
        )
        assert garbled.status == 400 and "garbled" in await garbled.text()
    finally:
        await client.close()


async def test_a_pbpo_promotes_a_practice_and_the_channel_sees_its_card(
    client: Client, demo_store: Store
) -> None:
    with demo_store.session() as s:
        lesson = s.scalars(
            select(Lesson.id)
            .join(Product)
            .where(Product.title.startswith("Lessons Learned Study: Community Violence"))
            .where(Lesson.status == LessonStatus.APPLIED)
        ).one()
    reader = await tab(client, STAFF, channel="mission-hq")
    pbpo = await tab(client, "farida.rahimi@un.example", channel="mission-hq")
    said = f"@lessons practice promote {lesson} cut reprisals by half"
    await pbpo.send(type="say", channel="mission-hq", thread=None, text=said)
    told = await pbpo.until("message", lambda f: "now a good practice" in f["message"]["html"])
    assert told["message"]["private"]
    card = await reader.until("message", lambda f: "Good practice" in f["message"]["html"])
    assert card["message"]["bot"] and "cut reprisals by half" in card["message"]["html"]
    assert card["message"]["channel"] == "mission-hq"


def _value(html: str, action: str) -> str:
    return html.split(f'data-action="{action}" data-value="')[1].split('"')[0]


async def test_ask_a_colleague_round_trips_and_the_answer_is_saved_as_a_lesson_note(
    client: Client, demo_store: Store
) -> None:
    """Issue 20: nothing fits → Ask a colleague → the colleague answers on their card → the
    answer comes back in the asker's conversation → saved as an identified lesson note."""
    asker = await tab(client, "nyibol.deng@un.example")  # UNMISS staff
    pbpo = await tab(client, "grace.achieng@un.example")  # UNMISS PBPO
    await asker.send(
        type="say", channel=asker.dm, thread=None, text="lessons about cholera outbreaks in camps"
    )
    answer = await asker.until("message", lambda f: f["message"]["bot"])
    html = answer["message"]["html"]
    assert "I found nothing in the lessons that answers" in html and "Who might know" in html

    await asker.send(
        type="press",
        message=answer["message"]["id"],
        action="colleague.ask",
        value=_value(html, "colleague.ask"),
    )
    told = await asker.until("message", lambda f: "I asked" in f["message"]["html"])
    assert told["message"]["private"] and "Grace Achieng" in told["message"]["html"]

    card = await pbpo.until("message", lambda f: "colleague.answer" in f["message"]["html"])
    assert "Nyibol Deng asks:" in card["message"]["html"]
    referral = _value(card["message"]["html"], "colleague.answer")
    await pbpo.send(
        type="press", message=card["message"]["id"], action="colleague.answer", value=referral
    )
    form = await pbpo.until("message", lambda f: "Answer a colleague" in f["message"]["html"])
    assert form["message"]["private"]
    line = "Chlorinate water points first; the WASH cluster keeps the stocks."
    await pbpo.send(
        type="submit",
        message=card["message"]["id"],
        form=f"colleague.reply:{referral}",
        values={"answer": line, "lesson": ""},
    )
    thanks = await pbpo.until("message", lambda f: "passed your answer" in f["message"]["html"])
    assert thanks["message"]["private"]

    back = await asker.until("message", lambda f: "colleague.save" in f["message"]["html"])
    assert back["message"]["channel"] == asker.dm
    assert "Grace Achieng" in back["message"]["html"] and line in back["message"]["html"]
    await asker.send(
        type="press",
        message=back["message"]["id"],
        action="colleague.save",
        value=_value(back["message"]["html"], "colleague.save"),
    )
    saved = await asker.until("message", lambda f: "lesson note" in f["message"]["html"])
    assert saved["message"]["private"] and "identified" in saved["message"]["html"]

    with demo_store.session() as s:
        note = s.scalars(select(Lesson).where(Lesson.lesson == line)).one()
        assert note.status == LessonStatus.IDENTIFIED
        referral_row = s.get(Referral, int(referral))
        assert referral_row is not None
        assert referral_row.note_id == note.id and referral_row.answer == line
