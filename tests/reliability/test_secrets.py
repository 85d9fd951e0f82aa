"""Secrets (tokens, signing secrets, client secrets) never appear in logs, errors or chat.

Each flow runs with known secret values, logging at DEBUG (third-party libraries included),
stdout and stderr captured and every message the bot sent recorded by the fakes, through the
error paths too: a refused token at start-up, refused credentials, failed API calls, a forged
signature, a failed delivery with its reference id, an OAuth install that fails and one that
works. Then no secret may be found anywhere.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import hostile  # noqa: F401  (the hypothesis profile)
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import FakeSlack, app_mention, event_callback, signed_headers
from fake_teams import CA_VARIABLES, FakeTeams, Member, personal_message
from fake_teams import SECRET as TEAMS_SECRET

from bot import logs
from bot.app import build_app
from bot.settings import Settings
from bot.slack.errors import SlackStartupError
from bot.slack.routes import SlackSurface
from bot.teams.errors import TeamsStartupError
from bot.teams.routes import TeamsSurface
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
BOT_TOKEN = "xoxb-1111-2222-SeCrEtBoTtOkEn"
SIGNING_SECRET = "5ecret5igning5ecret0123456789abc"
CLIENT_ID = "2141029472.691202649728"
CLIENT_SECRET = "c1ient5ecretc1ient5ecret0000ffff"
WRONG_TEAMS_SECRET = "Wr0ngTeamsSecretValue~abc"
AMINA = "UAMINA01"
TEAMS_AMINA = Member("aad-amina", "29:amina", "Amina Diallo", "amina.diallo@un.example")
SQLITE_ONLY = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


class Written:
    """The bot's own log output (`bot.logs.configure`, as `lessons run` sets it up) at DEBUG."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handlers: list[logging.Handler] = []

    def install(self, settings: Settings) -> None:
        """Log everything, libraries included, through the bot's handler for these settings."""
        self.handlers.append(logs.configure(replace(settings, log_level="DEBUG"), self.stream))


@pytest.fixture
def written() -> Iterator[Written]:
    root = logging.getLogger()
    level = root.level
    found = Written()
    yield found
    for handler in found.handlers:
        root.removeHandler(handler)
    root.setLevel(level)


def everything(written: Written, capsys: pytest.CaptureFixture[str], *more: object) -> str:
    """Return what the bot logged (tracebacks included) and printed, and whatever else was said."""
    out, err = capsys.readouterr()
    said = [json.dumps(m, default=str) for m in more]
    return "\n".join([written.stream.getvalue(), out, err, *said])


def assert_no_secret(text: str, *secrets: str) -> None:
    found = [s for s in secrets if s in text or s[:16] in text]
    assert found == [], f"secrets leaked: {found}"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=BOT_TOKEN) as fake:
        fake.add_user(AMINA, email="amina.diallo@un.example", name="Amina Diallo")
        yield fake


def slack_settings(slack: FakeSlack) -> Settings:
    return Settings(
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        slack_pace_seconds=0,
    )


def test_settings_never_show_their_secrets() -> None:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": "xapp-1-SeCrEtApPtOkEn",
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "LESSONS_LOGIN_TOKEN": "L0ginT0kenL0ginT0ken",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": WRONG_TEAMS_SECRET,
        "LESSONS_DATABASE_URL": "postgresql+psycopg://bot:Pa55w0rdPa55w0rd@db/lessons",
    }
    settings = Settings.from_env(env)

    shown = repr(settings) + str(settings)

    assert_no_secret(shown, *(v for k, v in env.items() if k != "LESSONS_DATABASE_URL"))
    assert "Pa55w0rdPa55w0rd" not in shown


async def test_slack_flows_and_their_failures_never_show_a_secret(
    demo_store: Store,
    slack: FakeSlack,
    written: Written,
    capsys: pytest.CaptureFixture[str],
) -> None:
    written.install(slack_settings(slack))
    client: Client = TestClient(
        TestServer(build_app(slack_settings(slack), store=demo_store), host="127.0.0.1")
    )
    await client.start_server()
    try:
        slack.fail("chat.postMessage", status=200, error="not_in_channel", times=1)
        body = json.dumps(
            event_callback(app_mention("<@U0BOT> elections?", AMINA, "C0ELECT", "1700000000.1"))
        ).encode()
        headers = {**signed_headers(body, SIGNING_SECRET), "Content-Type": "application/json"}
        assert (await client.post("/slack/events", data=body, headers=headers)).status == 200
        await slack.wait_for("chat.postMessage", count=2)  # failed, then the user is told
        forged = {"X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": str(int(time.time()))}
        assert (await client.post("/slack/events", data=body, headers=forged)).status == 401
        await slack.settle()
    finally:
        await client.close()
    revoked = SlackSurface(
        replace(slack_settings(slack), slack_bot_token="xoxb-9-R3v0kedT0ken"), demo_store
    )
    with pytest.raises(SlackStartupError) as refused:
        await revoked.start()

    said = [c.args for c in slack.calls]
    text = everything(written, capsys, said, str(refused.value))
    assert "reference" in text  # the failure path did run
    assert_no_secret(text, BOT_TOKEN, SIGNING_SECRET, "xoxb-9-R3v0kedT0ken")


@pytest.fixture
async def oauth_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.oauth_app(CLIENT_ID, CLIENT_SECRET)
        fake.add_user(AMINA, email="amina.diallo@un.example")
        fake.users[AMINA]["team_id"] = "T0ALPHA"
        yield fake


async def test_oauth_installs_never_show_the_client_secret_or_issued_tokens(
    store: Store,
    oauth_slack: FakeSlack,
    written: Written,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings(
        slack_client_id=CLIENT_ID,
        slack_client_secret=CLIENT_SECRET,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=oauth_slack.api_url,
        slack_pace_seconds=0,
    )
    written.install(settings)
    client: Client = TestClient(TestServer(build_app(settings, store=store), host="127.0.0.1"))
    await client.start_server()
    pages: list[str] = []
    try:
        for code in ("not-a-code", oauth_slack.oauth_code("T0ALPHA")):
            started = await client.get("/slack/install", allow_redirects=False)
            state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
            cookie = started.headers["Set-Cookie"].split(";")[0]
            finished = await client.get(
                "/slack/oauth_redirect",
                params={"code": code, "state": state},
                headers={"Cookie": cookie},
            )
            pages.append(f"{finished.status} {await finished.text()}")
    finally:
        await client.close()

    issued = list(oauth_slack.workspaces)
    assert pages[0].startswith("4") and pages[1].startswith("200") and issued
    text = everything(written, capsys, pages)
    assert logs.REDACTED in text  # slack_sdk logged the issued token at DEBUG: blanked out
    assert_no_secret(text, CLIENT_SECRET, SIGNING_SECRET, *issued)


@pytest.fixture(scope="module")
def teams() -> Iterator[FakeTeams]:
    with pytest.MonkeyPatch.context() as env, FakeTeams() as fake:
        for name in CA_VARIABLES:
            env.setenv(name, str(fake.ca_file))
        fake.add_member(TEAMS_AMINA)
        yield fake


@SQLITE_ONLY
async def test_teams_flows_and_refused_credentials_never_show_a_secret(
    store: Store,
    teams: FakeTeams,
    written: Written,
    capsys: pytest.CaptureFixture[str],
) -> None:
    teams.reset()
    written.install(Settings.from_env(teams.env()))
    client: Client = TestClient(
        TestServer(build_app(Settings.from_env(teams.env()), store=store), host="127.0.0.1")
    )
    await client.start_server()
    try:
        token = teams.token()
        activity = personal_message(teams, TEAMS_AMINA, "what did we learn about elections?")
        teams.fail_next(500)
        answered = await client.post(
            "/api/messages", json=activity, headers={"Authorization": f"Bearer {token}"}
        )
        assert answered.status < 500 or "reference" in await answered.text()
    finally:
        await client.close()
    wrong = {
        **teams.env(),
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": WRONG_TEAMS_SECRET,
    }
    surface = TeamsSurface(Settings.from_env(wrong), store)
    try:
        with pytest.raises(TeamsStartupError) as refused:
            await surface.start()
    finally:
        await surface.stop()

    text = everything(written, capsys, teams.sent(), str(refused.value))
    assert_no_secret(text, TEAMS_SECRET, WRONG_TEAMS_SECRET)


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ('"GET /slack/oauth_redirect?code=1234.5678.abcdef&state=s HTTP/1.1" 200', "1234.5678"),
        ("Authorization: Bearer abc.DEF-123_x=", "abc.DEF-123_x"),
        ("token xoxp-1-2-3-abcdef and xapp-1-A0-123-ffff", "abcdef"),
        ("jwt eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", "c2lnbmF0dXJl"),
    ],
)
def test_token_shapes_are_redacted_whatever_their_value(line: str, secret: str) -> None:
    redacted = logs.redact(line)

    assert secret not in redacted and logs.REDACTED in redacted
