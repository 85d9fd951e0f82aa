"""Properties over every route: whatever headers and body a client sends, the answer is below 500,
and a refused request (a 4xx) changes nothing.

Three properties, run on two servers built as `lessons run` builds them: one on loopback (local
chat without a token, Slack for one workspace, Teams), one bound off loopback (the login token,
Slack through OAuth, Teams).

- Any method, route and headers (the Slack signature headers, `Authorization`, `Origin`,
  `Referer`, `Host`, cookies, WebSocket upgrades, content types with any charset…) with a small
  body: never a 5xx, and a refused request leaves the database and the fakes of Slack and
  Teams untouched.
- Correctly signed Slack bodies (events, slash commands, interactions) with any field replaced
  by a value of another shape or removed, as forms or as JSON, with any charset: never a 5xx,
  never the apology for a crash, never an unhandled error logged; refused ones change nothing.
- Frames of any shape on the local chat's WebSocket: an answer or a friendly error, never the
  apology, and the socket lives.

The fast profile runs a fixed set of examples (tests/reliability/hostile.py); `make soak` runs
each property with 3,000.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import aiohttp
import hostile  # noqa: F401  (the hypothesis profile)
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import (
    FakeSlack,
    app_home_opened,
    app_mention,
    block_actions,
    event_callback,
    form_body,
    message_im,
    message_shortcut,
    signed_headers,
    slash_command,
    view_submission,
)
from fake_teams import FakeTeams
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from test_http_fuzz import CLIENT_ID, SECRET, every_surface, no_errors_logged, slack, teams

from bot.app import build_app
from bot.local.auth import Guard
from handlers import router
from knowledge.models import Base
from knowledge.storage import Store

__all__ = ["slack", "teams"]  # the fakes' fixtures, shared with test_http_fuzz
Client = TestClient[web.Request, web.Application]
SQLITE_ONLY = pytest.mark.parametrize("store", ["sqlite"], indirect=True)
USER = "UFUZZ01"
CHANNEL = "C0FUZZ"
APOLOGY = "went wrong on my side"


@dataclass
class Server:
    """One running app, and what it talks to."""

    client: Client
    store: Store
    slack: FakeSlack
    teams: FakeTeams

    def origin(self) -> str:
        return str(self.client.make_url("/")).rstrip("/")

    def footprint(self) -> str:
        """Return a digest of every row of every table and of every call to the fakes."""
        digest = hashlib.sha256()
        with self.store.engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                digest.update(repr((table.name, conn.execute(select(table)).all())).encode())
        calls = [c.method for c in self.slack.calls if c.method != "auth.test"]
        digest.update(repr((calls, [c.path for c in self.teams.calls])).encode())
        return digest.hexdigest()

    def apologies(self, since: int = 0) -> list[str]:
        """Return the apologies for a crash posted to Slack (after the first `since` calls)."""
        calls = self.slack.calls[since:]
        said = [json.dumps(c.args) for c in calls if c.method.startswith("chat.")]
        return [s for s in said if APOLOGY in s]


@pytest.fixture(params=["loopback", "remote"])
async def server(
    request: pytest.FixtureRequest, store: Store, slack: FakeSlack, teams: FakeTeams
) -> AsyncIterator[Server]:
    """Every surface on loopback (no login), or off loopback (login token, Slack OAuth)."""
    slack.add_user(USER, email="fuzz.person@un.example", name="Fuzz Person")
    settings = every_surface(slack, teams)
    guard = None
    if request.param == "remote":
        slack.oauth_app(CLIENT_ID, "fuzz-client-secret")
        settings = replace(
            settings,
            slack_bot_token=None,
            slack_client_id=CLIENT_ID,
            slack_client_secret="fuzz-client-secret",
        )
        guard = Guard.for_bind("0.0.0.0", token="fuzz-login-token")
    app = build_app(settings, store=store, guard=guard)
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield Server(client, store, slack, teams)
    await client.close()


async def send(server: Server, method: str, path: str, **kwargs: Any) -> int:
    """Send one request on a connection of its own and return the status.

    aiohttp closes a connection after a body it could not decode; a request that reused it
    would see the server disconnect, which would hide what this request got.
    """
    url = server.client.make_url(path)
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
        session.request(method, url, allow_redirects=False, **kwargs) as response,
    ):
        await response.read()
        return response.status


async def refused_changes_nothing(server: Server, path: str, status: int, before: str) -> None:
    """A refused request changes nothing; an accepted one is let finish (for the next example).

    Only Slack's listeners go on working after the answer; the other routes are done with it.
    """
    if not path.startswith("/slack/"):
        after = server.footprint()
    elif status >= 400:
        await server.slack.settle(quiet=0.05)
        after = server.footprint()
    else:  # wait until its listener is done: Slack quiet and the database still
        await server.slack.settle(quiet=0.2)
        after, previous = server.footprint(), ""
        while after != previous:
            await asyncio.sleep(0.1)
            previous, after = after, server.footprint()
    if 400 <= status < 500:
        assert after == before


# Any headers on any route ---------------------------------------------------------------------

# Each surface's routes, the headers its code reads first (always sent, with drawn values) and
# others it reads (sometimes sent); the remaining headers are sent now and then.
SURFACES: dict[str, tuple[list[tuple[str, str]], list[str], list[str]]] = {
    "local": (
        [
            ("GET", "/"),
            ("GET", "/healthz"),
            ("GET", "/login"),
            ("POST", "/login"),
            ("GET", "/ws"),
            ("GET", "/dashboard"),
            ("GET", "/dashboard/lessons"),
            ("GET", "/dashboard/lessons/1"),
            ("GET", "/dashboard/actions"),
            ("GET", "/static/chat.js"),
            ("DELETE", "/dashboard"),
        ],
        ["Cookie"],
        ["Origin", "Referer", "Host", "Content-Type", "Upgrade", "Sec-WebSocket-Key"],
    ),
    "slack": (
        [
            ("POST", "/slack/events"),
            ("GET", "/slack/install"),
            ("GET", "/slack/oauth_redirect"),
            ("PUT", "/slack/events"),
        ],
        ["X-Slack-Request-Timestamp", "X-Slack-Signature"],
        ["Content-Type", "Cookie"],
    ),
    "teams": (
        [("POST", "/api/messages"), ("OPTIONS", "/api/messages")],
        ["Authorization"],
        ["Content-Type"],
    ),
}
# Header values the HTTP client can send (it refuses control characters itself).
TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=30)
NOW = str(int(time.time()))
CHARSETS = ["utf-8", "UTF-8", "x-bogus", "latin-1", "utf-16", "", '"utf-8"', "ébène", "utf-8; a=b"]
TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "multipart/form-data",
]
CONTENT_TYPE = st.one_of(
    st.builds(lambda t, c: f"{t}; charset={c}", st.sampled_from(TYPES), st.sampled_from(CHARSETS)),
    st.sampled_from(TYPES),
    TEXT,
)
HEADERS: dict[str, st.SearchStrategy[str]] = {
    "Content-Type": CONTENT_TYPE,
    "X-Slack-Request-Timestamp": st.one_of(
        st.sampled_from([NOW, "abc", "", "1e9", "0x1f", "1.5", f"{NOW}.0", "1 2", " 1", "١٢٣"]),
        TEXT,
    ),
    "X-Slack-Signature": st.one_of(
        st.sampled_from(["v0=" + "ab" * 32, "v0=é", "v0=", "v1=00", "v0=\uff21\uff22"]), TEXT
    ),
    "X-Slack-Retry-Num": TEXT,
    "Authorization": st.one_of(
        st.sampled_from(["Bearer", "Bearer é.é.é", "Bearer a.b.c", "Basic éé"]), TEXT
    ),
    "Origin": st.one_of(st.sampled_from(["http://[", "http://é", "null", "http://a:b:c"]), TEXT),
    "Referer": st.one_of(st.sampled_from(["http://[::1", "//", "http://x/%ff"]), TEXT),
    "Host": st.one_of(st.sampled_from(["[", "[::1", "é", "a:b:c", "localhost:99999"]), TEXT),
    "Cookie": st.one_of(
        st.sampled_from(["lessons_session=é", "lessons_session=%ff", "lessons_as=%00é"]),
        TEXT,
    ),
    "Upgrade": st.sampled_from(["websocket", "WebSocket", "h2c", "é"]),
    "Connection": st.sampled_from(["Upgrade", "close", "keep-alive, Upgrade"]),
    "Sec-WebSocket-Key": TEXT,
    "Sec-WebSocket-Version": st.sampled_from(["13", "8", "é", ""]),
    "Content-Encoding": st.sampled_from(["gzip", "deflate", "br", "x-bogus", "identity"]),
    "Accept-Encoding": TEXT,
    "X-Forwarded-For": TEXT,
}
BODY = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"", b"{}", b"[]", b"token=x", b"payload=%7B%7D", b'{"type":"message"}']),
)


@SQLITE_ONLY
@pytest.mark.parametrize("surface", list(SURFACES))
@given(data=st.data())
async def test_any_headers_on_any_route_never_get_a_5xx(
    server: Server, caplog: pytest.LogCaptureFixture, surface: str, data: st.DataObject
) -> None:
    routes, first, usual = SURFACES[surface]
    method, path = data.draw(st.sampled_from(routes), label="route")
    others = [n for n in HEADERS if n not in first + usual]
    headers = data.draw(
        st.fixed_dictionaries(
            {n: HEADERS[n] for n in first},
            optional={n: HEADERS[n] for n in (usual if data.draw(st.booleans()) else others)},
        ),
        label="headers",
    )
    body = data.draw(BODY, label="body")
    caplog.clear()
    before = server.footprint()

    status = await send(server, method, path, headers=headers, data=body)

    assert status < 500, (method, path, headers, body)
    await refused_changes_nothing(server, path, status, before)
    no_errors_logged(caplog)


# Signed Slack bodies of any shape ------------------------------------------------------------


def slack_bodies() -> dict[str, tuple[str, dict[str, Any]]]:
    """Return a correct body of each kind Slack sends: how it travels ("json", "form",
    "payload") and its fields."""
    action = block_actions("lesson.more", "1", USER, CHANNEL, "1700000000.000100")
    action["authorizations"] = [{"team_id": "T0001", "user_id": "U0BOT", "is_bot": True}]
    view = view_submission("aar.answer", {"answer": "It went well"}, USER)
    view["response_urls"] = []
    return {
        "mention": ("json", event_callback(app_mention("<@U0BOT> hello", USER, CHANNEL))),
        "dm": ("json", event_callback(message_im("hello", USER))),
        "home": ("json", event_callback(app_home_opened(USER))),
        "challenge": ("json", {"type": "url_verification", "challenge": "abc", "token": "x"}),
        "command": ("form", slash_command("help", user_id=USER, channel_id=CHANNEL)),
        "button": ("payload", action),
        "view": ("payload", view),
        "shortcut": ("payload", message_shortcut("lesson.save_message", "x", USER, CHANNEL)),
    }


SLACK_BODIES = slack_bodies()
# Where a field may sit in any of the bodies above ("0": the first item of a list).
FIELDS = [
    "type",
    "token",
    "team",
    "team.id",
    "team_id",
    "enterprise",
    "enterprise_id",
    "is_enterprise_install",
    "user",
    "user.id",
    "user.name",
    "user_id",
    "channel",
    "channel.id",
    "channel.name",
    "channel_id",
    "command",
    "text",
    "trigger_id",
    "response_url",
    "response_urls",
    "callback_id",
    "api_app_id",
    "event_id",
    "authorizations",
    "authorizations.0",
    "authorizations.0.team_id",
    "authorizations.0.is_enterprise_install",
    "event",
    "event.type",
    "event.user",
    "event.channel",
    "event.text",
    "event.ts",
    "event.team",
    "event.channel_type",
    "actions",
    "actions.0",
    "actions.0.action_id",
    "actions.0.value",
    "actions.0.block_id",
    "container",
    "container.type",
    "message",
    "message.ts",
    "message.text",
    "view",
    "view.id",
    "view.callback_id",
    "view.private_metadata",
    "view.state",
    "view.state.values",
    "view.app_installed_team_id",
    "view.team_id",
]
REMOVE = object()
ODD = st.one_of(
    st.just(REMOVE),
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=2),
    st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5)), max_size=2),
    st.just([{}]),
)


def with_changes(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a body with some fields replaced or removed (absent paths are skipped)."""
    body = copy.deepcopy(body)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node: Any = body
        for part in parents:
            node = _child(node, part)
        if isinstance(node, dict) and (last in node or value is not REMOVE):
            if value is REMOVE:
                node.pop(last, None)
            else:
                node[last] = copy.deepcopy(value)
        elif isinstance(node, list) and last == "0" and node:
            if value is REMOVE:
                node.pop(0)
            else:
                node[0] = copy.deepcopy(value)
    return body


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and part == "0" and node:
        return node[0]
    return None


def encoded(kind: str, body: dict[str, Any], as_json: bool) -> tuple[bytes, str]:
    """Return a body as Slack would send it (or as JSON, which Slack only uses for events)."""
    if as_json or kind == "json":
        return json.dumps(body).encode(), "application/json"
    if kind == "payload":
        return form_body(body), "application/x-www-form-urlencoded"
    fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
    return urlencode(fields).encode(), "application/x-www-form-urlencoded"


@SQLITE_ONLY
@pytest.mark.parametrize("server", ["loopback"], indirect=True)
@given(
    name=st.sampled_from(list(SLACK_BODIES)),
    changes=st.dictionaries(st.sampled_from(FIELDS), ODD, max_size=4),
    as_json=st.booleans(),
    charset=st.sampled_from([None, "utf-8", "x-bogus", "latin-1"]),
)
async def test_signed_slack_bodies_of_any_shape_never_get_a_5xx(
    server: Server,
    caplog: pytest.LogCaptureFixture,
    name: str,
    changes: dict[str, Any],
    as_json: bool,
    charset: str | None,
) -> None:
    kind, template = slack_bodies()[name]  # fresh ids (trigger, event) each time
    body, content_type = encoded(kind, with_changes(template, changes), as_json)
    if charset:
        content_type += f"; charset={charset}"
    headers = {**signed_headers(body, SECRET), "Content-Type": content_type}
    caplog.clear()
    before, calls = server.footprint(), len(server.slack.calls)

    status = await send(server, "POST", "/slack/events", headers=headers, data=body)

    assert status < 500, (name, changes, as_json, charset)
    await refused_changes_nothing(server, "/slack/events", status, before)
    assert server.apologies(since=calls) == []
    no_errors_logged(caplog)


# Frames of any shape on the local chat's WebSocket ------------------------------------------

FRAME_TYPES = ["hello", "open", "say", "press", "submit", "edit", "delete", "teleport"]
FRAME_FIELDS = ["as", "channel", "thread", "text", "message", "action", "value", "form", "values"]


@SQLITE_ONLY
@pytest.mark.parametrize("server", ["loopback"], indirect=True)
@given(
    kind=st.one_of(st.sampled_from(FRAME_TYPES), ODD.filter(lambda v: v is not REMOVE)),
    fields=st.dictionaries(st.sampled_from(FRAME_FIELDS), ODD.filter(lambda v: v is not REMOVE)),
)
async def test_websocket_frames_of_any_shape_get_an_answer_and_the_socket_lives(
    server: Server, caplog: pytest.LogCaptureFixture, kind: Any, fields: dict[str, Any]
) -> None:
    caplog.clear()
    ws = await server.client.ws_connect("/ws", headers={"Origin": server.origin()})
    try:
        await ws.send_str(json.dumps({"type": kind, **fields}))
        await ws.send_str(json.dumps({"type": "open", "channel": "logistics"}))  # a probe
        answers: list[dict[str, Any]] = []
        while True:
            message = await ws.receive(timeout=10)
            assert message.type == WSMsgType.TEXT, (kind, fields, message)
            answer = json.loads(message.data)
            if answer["type"] == "history" and answer["channel"] == "logistics":
                break
            answers.append(answer)
    finally:
        await ws.close()

    assert router.SORRY not in [a.get("text") for a in answers]
    no_errors_logged(caplog)
