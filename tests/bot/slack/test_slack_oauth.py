"""The app installed in many workspaces through Slack's OAuth flow, end to end.

Real HTTP on 127.0.0.1 both ways: a browser's requests to the running bot (`/slack/install`,
`/slack/oauth_redirect`), Slack's signed events to `/slack/events`, and the bot's Web API calls
to the fake Slack, which issues the codes and a bot token per workspace. Installations are
stored in the test database (SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import APP_ID, FakeSlack, app_mention, event_callback, signed_headers
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select

from bot.app import build_app
from bot.settings import Settings
from bot.slack.errors import SlackStartupError
from bot.slack.installations import BOTS, INSTALLATIONS, OAUTH_STATES, SIGHTINGS
from bot.slack.oauth import SCOPES
from bot.slack.routes import SlackSurface
from bot.slack.workspaces import NoWorkspaceError, WorkspaceClient
from handlers.chat import Reply, Text, UserRef
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
CLIENT_ID = "2141029472.691202649728"
CLIENT_SECRET = "e1b9e11dfcd19c1982d5de12921e17e8c"
SECRET = "test-signing-secret"
COOKIE = "slack-app-oauth-state"
MANIFEST = Path(__file__).resolve().parents[3] / "manifest.yaml"
# Two workspaces, and an Enterprise Grid organisation with a workspace of its own.
T1, T2, T9, E1 = "T0ALPHA", "T0BRAVO", "T0GRID9", "E0ACME"
ALICE, BOB, GRACE = "U0ALICE", "U0BOB", "W0GRACE"


def oauth_settings(slack: FakeSlack) -> Settings:
    return Settings(
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        slack_pace_seconds=0,
    )


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.oauth_app(CLIENT_ID, CLIENT_SECRET)
        for user, team in ((ALICE, T1), (BOB, T2), (GRACE, T9)):
            fake.add_user(user, email=f"{user.lower()}@example.org")
            fake.users[user]["team_id"] = team
        yield fake


@pytest.fixture
async def bot(store: Store, slack: FakeSlack) -> AsyncIterator[Client]:
    client: Client = TestClient(
        TestServer(build_app(oauth_settings(slack), store=store), host="127.0.0.1")
    )
    await client.start_server()
    yield client
    await client.close()
    slack.assert_clean()  # every Web API call matches Slack's published API


# The browser's side of an installation --------------------------------------------------------


async def start_install(bot: Client) -> tuple[str, str]:
    """Open /slack/install as a browser would; return the state and the cookie it set."""
    response = await bot.get("/slack/install", allow_redirects=False)
    assert response.status == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    cookie = SimpleCookie(response.headers["Set-Cookie"])[COOKIE]
    assert cookie.value == query["state"][0]
    return query["state"][0], f"{COOKIE}={cookie.value}"


async def finish_install(bot: Client, query: dict[str, str], cookie: str | None) -> tuple[int, str]:
    """Come back from Slack to /slack/oauth_redirect; return the status and page."""
    headers = {"Cookie": cookie} if cookie else {}
    response = await bot.get("/slack/oauth_redirect", params=query, headers=headers)
    return response.status, await response.text()


async def install(bot: Client, slack: FakeSlack, team_id: str | None, **grant: Any) -> str:
    """Install the app as a workspace's admin would; return the workspace's bot token."""
    state, cookie = await start_install(bot)
    code = slack.oauth_code(team_id, **grant)
    status, page = await finish_install(bot, {"code": code, "state": state}, cookie)
    assert status == 200, page
    return list(slack.workspaces)[-1]  # the newest bot token: this install's


def rows(store: Store, table: Any) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait for work the bot does after acking (it makes no Slack call to wait for)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the bot did not get there in time"
        await asyncio.sleep(0.05)


def count(store: Store, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# Slack's side: signed events -----------------------------------------------------------------


def bot_user_of(slack: FakeSlack, token: str) -> str:
    return str(slack.workspaces[token]["auth_test"]["user_id"])


async def send_event(bot: Client, payload: dict[str, Any]) -> int:
    body = json.dumps(payload).encode()
    headers = {**signed_headers(body, SECRET), "Content-Type": "application/json"}
    response = await bot.post("/slack/events", data=body, headers=headers)
    await response.read()
    return response.status


def mention(team: str, user: str, bot_user: str, channel: str) -> dict[str, Any]:
    event = app_mention(f"<@{bot_user}> what about convoys?", user, channel, team_id=team)
    return event_callback(event, team_id=team, bot_user_id=bot_user)


def in_organisation(payload: dict[str, Any], enterprise_id: str) -> dict[str, Any]:
    """An event of a workspace in an organisation where the app is installed org-wide."""
    authorization = {**payload["authorizations"][0], "enterprise_id": enterprise_id}
    authorization.update(team_id=None, is_enterprise_install=True)
    return {
        **payload,
        "enterprise_id": enterprise_id,
        "context_enterprise_id": enterprise_id,
        "authorizations": [authorization],
    }


def uninstall_event(kind: str, team: str, **event: Any) -> dict[str, Any]:
    """app_uninstalled / tokens_revoked as Slack sends them (no authorizations)."""
    payload = event_callback({"type": kind, **event}, team_id=team)
    del payload["authorizations"], payload["context_team_id"], payload["context_enterprise_id"]
    return payload


# Installing ----------------------------------------------------------------------------------


def test_the_scopes_asked_for_are_the_manifests() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert set(SCOPES) == set(manifest["oauth_config"]["scopes"]["bot"])
    assert manifest["oauth_config"]["redirect_urls"][0].endswith("/slack/oauth_redirect")


async def test_install_sends_the_browser_to_slack_with_a_state(bot: Client, store: Store) -> None:
    response = await bot.get("/slack/install", allow_redirects=False)
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    assert (location.netloc, location.path) == ("slack.com", "/oauth/v2/authorize")
    query = parse_qs(location.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"][0].split(",") == list(SCOPES)
    state = query["state"][0]
    cookie = response.headers["Set-Cookie"]
    assert f"{COOKIE}={state}" in cookie and "Secure" in cookie and "HttpOnly" in cookie
    assert [r["state"] for r in rows(store, OAUTH_STATES)] == [state]
    assert (await bot.head("/slack/install")).status == 405  # no state for a HEAD


async def test_two_workspaces_install_and_each_is_answered_with_its_own_token(
    bot: Client, slack: FakeSlack, store: Store
) -> None:
    one = await install(bot, slack, T1, team_name="Alpha Mission")
    two = await install(bot, slack, T2, team_name="Bravo Mission")
    assert one != two
    saved = {r["team_id"]: r for r in rows(store, INSTALLATIONS)}
    assert saved.keys() == {T1, T2}
    assert saved[T1]["bot_token"] == one and saved[T1]["team_name"] == "Alpha Mission"
    assert saved[T1]["client_id"] == CLIENT_ID and saved[T1]["app_id"] == APP_ID
    assert saved[T1]["is_enterprise_install"] is False
    [exchange, *_] = slack.calls_to("oauth.v2.access")
    assert exchange.basic_auth == (CLIENT_ID, CLIENT_SECRET)  # not in the body
    assert "client_secret" not in exchange.args

    assert await send_event(bot, mention(T1, ALICE, bot_user_of(slack, one), "C0ALPHA")) == 200
    [first] = await slack.wait_for("chat.postMessage")
    assert first.args["channel"] == "C0ALPHA" and first.token == one
    assert await send_event(bot, mention(T2, BOB, bot_user_of(slack, two), "C0BRAVO")) == 200
    [_, second] = await slack.wait_for("chat.postMessage", count=2)
    assert second.args["channel"] == "C0BRAVO" and second.token == two
    # The directory lookups went out with the right workspace's token too.
    looked_up = {c.args["user"]: c.token for c in slack.calls_to("users.info")}
    assert looked_up == {ALICE: one, BOB: two}
    assert await store.person_for("slack", BOB) is not None


async def test_the_success_page_names_the_workspace(bot: Client, slack: FakeSlack) -> None:
    state, cookie = await start_install(bot)
    code = slack.oauth_code(T1, team_name="Alpha <Mission>")
    response = await bot.get(
        "/slack/oauth_redirect", params={"code": code, "state": state}, headers={"Cookie": cookie}
    )
    page = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert "installed in <strong>Alpha &lt;Mission&gt;</strong>" in page
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert f"{COOKIE}=deleted" in response.headers["Set-Cookie"]  # the state did its job


async def test_an_org_wide_install_answers_each_workspace_of_the_organisation(
    bot: Client, slack: FakeSlack, store: Store
) -> None:
    token = await install(
        bot, slack, None, enterprise_id=E1, enterprise_name="Acme Peace Ops", org_wide=True
    )
    [saved] = rows(store, INSTALLATIONS)
    assert (saved["enterprise_id"], saved["team_id"]) == (E1, None)
    assert saved["is_enterprise_install"] is True
    assert saved["enterprise_url"] == "https://acme-peace-ops.enterprise.slack.com/"

    payload = in_organisation(mention(T9, GRACE, bot_user_of(slack, token), "C0GRID"), E1)
    assert await send_event(bot, payload) == 200
    [answer] = await slack.wait_for("chat.postMessage")
    assert answer.args["channel"] == "C0GRID" and answer.token == token
    [seen] = [r for r in rows(store, SIGHTINGS) if r["slack_id"] == GRACE]
    assert (seen["enterprise_id"], seen["team_id"], seen["is_enterprise_install"]) == (
        E1,
        None,
        True,
    )


# Installs that fail --------------------------------------------------------------------------


@pytest.mark.parametrize("problem", ["no state", "unknown state", "no cookie", "other cookie"])
async def test_a_bad_state_gets_a_friendly_4xx_page_and_nothing_is_stored(
    bot: Client, slack: FakeSlack, store: Store, problem: str
) -> None:
    state, cookie = await start_install(bot)
    query = {"code": slack.oauth_code(T1, team_name="Alpha Mission"), "state": state}
    if problem == "no state":
        del query["state"]
    elif problem == "unknown state":
        query["state"] = "4f2c6a9e-0000-4000-8000-000000000000"
        cookie = f"{COOKIE}={query['state']}"
    elif problem == "no cookie":
        cookie = ""
    else:
        cookie = f"{COOKIE}=someone-elses"
    status, page = await finish_install(bot, query, cookie)
    assert 400 <= status < 500
    assert "was not installed" in page and 'href="/slack/install"' in page
    assert "Traceback" not in page and "invalid_" not in page
    assert slack.calls_to("oauth.v2.access") == []
    assert count(store, INSTALLATIONS) == 0


async def test_a_state_works_once(bot: Client, slack: FakeSlack, store: Store) -> None:
    state, cookie = await start_install(bot)
    code = slack.oauth_code(T1, team_name="Alpha Mission")
    assert (await finish_install(bot, {"code": code, "state": state}, cookie))[0] == 200
    again = slack.oauth_code(T2, team_name="Bravo Mission")
    status, page = await finish_install(bot, {"code": again, "state": state}, cookie)
    assert status == 401 and "expired or was already used" in page
    assert [r["team_id"] for r in rows(store, INSTALLATIONS)] == [T1]


async def test_a_code_slack_refuses_gets_a_friendly_page(
    bot: Client, slack: FakeSlack, store: Store
) -> None:
    state, cookie = await start_install(bot)
    status, page = await finish_install(bot, {"code": "123.456.bogus", "state": state}, cookie)
    assert status == 401 and "Slack did not confirm the installation" in page
    [exchange] = slack.calls_to("oauth.v2.access")
    assert exchange.response == {"ok": False, "error": "invalid_code"}
    assert count(store, INSTALLATIONS) == 0 and count(store, BOTS) == 0


async def test_slack_out_of_reach_gets_a_friendly_page(
    bot: Client, slack: FakeSlack, store: Store
) -> None:
    state, cookie = await start_install(bot)
    slack.drop("oauth.v2.access", times=None)  # every try, the retry included
    code = slack.oauth_code(T1, team_name="Alpha Mission")
    status, page = await finish_install(bot, {"code": code, "state": state}, cookie)
    assert status == 502 and "Slack could not be reached" in page
    assert count(store, INSTALLATIONS) == 0


async def test_a_cancelled_install_says_so(bot: Client, slack: FakeSlack, store: Store) -> None:
    state, cookie = await start_install(bot)
    status, page = await finish_install(bot, {"error": "access_denied", "state": state}, cookie)
    assert status < 500 and "cancelled" in page
    assert count(store, INSTALLATIONS) == 0


# Uninstalling --------------------------------------------------------------------------------


async def test_uninstalling_forgets_that_workspace_only(
    bot: Client, slack: FakeSlack, store: Store
) -> None:
    one = await install(bot, slack, T1, team_name="Alpha Mission")
    two = await install(bot, slack, T2, team_name="Bravo Mission")
    assert await send_event(bot, mention(T1, ALICE, bot_user_of(slack, one), "C0ALPHA")) == 200
    await slack.wait_for("chat.postMessage")

    assert await send_event(bot, uninstall_event("app_uninstalled", T1)) == 200
    await eventually(lambda: {r["team_id"] for r in rows(store, INSTALLATIONS)} == {T2})
    assert {r["team_id"] for r in rows(store, BOTS)} == {T2}
    # Slack would not send T1's events any more; one that slips through is not answered.
    await send_event(bot, mention(T1, ALICE, bot_user_of(slack, one), "C0ALPHA"))
    await slack.settle()
    assert [c.token for c in slack.calls_to("chat.postMessage")] == [one]

    revoked = uninstall_event("tokens_revoked", T2, tokens={"bot": [bot_user_of(slack, two)]})
    assert await send_event(bot, revoked) == 200
    await eventually(lambda: count(store, BOTS) == 0)


# Messages sent outside a request (reminders) -------------------------------------------------


async def test_a_reminder_goes_out_from_the_workspace_the_person_was_seen_in(
    bot: Client, slack: FakeSlack, store: Store
) -> None:
    one = await install(bot, slack, T1, team_name="Alpha Mission")
    two = await install(bot, slack, T2, team_name="Bravo Mission")
    assert await send_event(bot, mention(T2, BOB, bot_user_of(slack, two), "C0BRAVO")) == 200
    await slack.wait_for("chat.postMessage")

    # A second process (the scheduler's) shares only the database with the one that saw Bob.
    later = SlackSurface(oauth_settings(slack), store)
    await later.notifier.send(UserRef("slack", BOB), Reply.of(Text("Your action is due.")))
    [_, reminder] = await slack.wait_for("chat.postMessage", count=2)
    assert reminder.token == two and reminder.args["channel"] == slack.dm_channel(BOB)
    assert [c.token for c in slack.calls_to("conversations.open")] == [two]

    # Someone never seen: found by email in whichever workspace knows them.
    assert await later.notifier.lookup(f"{ALICE.lower()}@example.org") == ALICE
    assert {c.token for c in slack.calls_to("users.lookupByEmail") if c.ok} == {one}
    await later.notifier.send(UserRef("slack", ALICE), Reply.of(Text("Welcome.")))
    [*_, welcome] = await slack.wait_for("chat.postMessage", count=3)
    assert welcome.token == one

    with pytest.raises(NoWorkspaceError):  # several workspaces, and nobody saw this person
        await later.notifier.send(UserRef("slack", "U0NOBODY"), Reply.of(Text("Hello?")))


async def test_with_one_installation_everyone_is_reached_through_it(
    bot: Client, slack: FakeSlack, store: Store
) -> None:
    token = await install(bot, slack, T1, team_name="Alpha Mission")
    later = SlackSurface(oauth_settings(slack), store)
    await later.notifier.send(UserRef("slack", ALICE), Reply.of(Text("Your action is due.")))
    [reminder] = await slack.wait_for("chat.postMessage")
    assert reminder.token == token


# Configuration and start-up ------------------------------------------------------------------


def test_oauth_variables_are_read() -> None:
    settings = Settings.from_env(
        {
            "SLACK_CLIENT_ID": CLIENT_ID,
            "SLACK_CLIENT_SECRET": CLIENT_SECRET,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_REDIRECT_URI": "https://lessons.example.org/slack/oauth_redirect",
        }
    )
    assert settings.slack_enabled and settings.slack_oauth
    assert (settings.slack_client_id, settings.slack_client_secret) == (CLIENT_ID, CLIENT_SECRET)
    assert settings.slack_redirect_uri == "https://lessons.example.org/slack/oauth_redirect"
    assert Settings.from_env({"SLACK_CLIENT_SECRET": "s"}).slack_enabled  # to be refused
    with pytest.raises(ValueError, match="SLACK_REDIRECT_URI must be an http"):
        Settings.from_env({"SLACK_REDIRECT_URI": "lessons.example.org/slack/oauth_redirect"})


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"slack_client_secret": None}, "SLACK_CLIENT_SECRET is not set"),
        ({"slack_client_id": None}, "SLACK_CLIENT_ID is not set"),
        ({"slack_client_id": CLIENT_SECRET}, "SLACK_CLIENT_ID must look like"),
        ({"slack_bot_token": "xoxb-1"}, "not both"),
        ({"slack_signing_secret": None}, "OAuth mode needs SLACK_SIGNING_SECRET"),
        ({"slack_app_token": "xapp-1"}, "unset SLACK_APP_TOKEN"),
    ],
)
def test_a_half_configured_oauth_is_refused_by_name(
    store: Store, changes: dict[str, Any], says: str
) -> None:
    settings = replace(oauth_settings_offline(), **changes)
    with pytest.raises(SlackStartupError, match=says):
        SlackSurface(settings, store)


def oauth_settings_offline() -> Settings:
    return Settings(
        slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET, slack_signing_secret=SECRET
    )


async def test_start_checks_the_installations_not_a_token(
    store: Store, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    surface = SlackSurface(oauth_settings(slack), store)
    await surface.start()
    await surface.stop()
    assert slack.calls == []  # no auth.test: there is no one token to check
    assert "OAuth mode, installed in 0 workspace(s)" in caplog.text


async def test_start_stops_when_the_installations_table_is_missing(
    tmp_path: Path, slack: FakeSlack
) -> None:
    bare = Store.open(f"sqlite:///{tmp_path / 'never-upgraded.db'}")
    try:
        with pytest.raises(SlackStartupError, match="lessons db upgrade"):
            await SlackSurface(oauth_settings(slack), bare).start()
    finally:
        bare.close()


# The fake's oauth.v2.access ------------------------------------------------------------------


async def test_the_fake_trades_a_code_once_for_valid_credentials(slack: FakeSlack) -> None:
    client = WorkspaceClient(base_url=slack.api_url)  # sends the credentials as HTTP Basic
    code = slack.oauth_code(T1, team_name="Alpha Mission", redirect_uri="https://x.test/r")
    with pytest.raises(SlackApiError, match="bad_client_secret"):
        await client.oauth_v2_access(client_id=CLIENT_ID, client_secret="nope", code=code)
    with pytest.raises(SlackApiError, match="bad_redirect_uri"):
        await client.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
    # The refused tries did not use the code up. Credentials in the body work too (Slack
    # prefers HTTP Basic, which slack_sdk sends).
    granted = await AsyncWebClient(base_url=slack.api_url).api_call(
        "oauth.v2.access",
        data={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code": code,
            "redirect_uri": "https://x.test/r",
        },
    )
    assert granted["team"] == {"id": T1, "name": "Alpha Mission"} and granted["enterprise"] is None
    assert granted["token_type"] == "bot" and granted["access_token"].startswith("xoxb-")
    assert granted["authed_user"] == {"id": "U0INSTALLER"}
    identity = await client.auth_test(token=granted["access_token"])
    assert (identity["team_id"], identity["user_id"]) == (T1, granted["bot_user_id"])
    with pytest.raises(SlackApiError, match="invalid_code"):
        await client.oauth_v2_access(
            client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code, redirect_uri="x"
        )
