"""Who may post to /api/messages: only activities with a valid Bot Framework token.

Every bad token gets a 401 and nothing is processed: no reply, no stored reference, no person,
no recorded event. The tokens come from the fake issuer (fake_teams), checked by the SDK's own
validator with our key set (bot.teams.sdk), on a real server on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_teams import (
    APP_ID,
    CA_VARIABLES,
    KEY_ID,
    FakeTeams,
    Member,
    installed_personal,
    personal_message,
    rsa_key,
)
from microsoft_agents.hosting.core.authorization.jwt import JwtTokenValidator
from sqlalchemy import func, select

from bot.app import build_app
from bot.settings import Settings
from bot.teams import sdk
from bot.teams.errors import TeamsStartupError
from bot.teams.routes import TeamsSurface
from knowledge.models import Person, ProcessedEvent, TeamsReference
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
AMINA = Member("aad-amina", "29:amina", "Amina Diallo", "amina.diallo@un.example")
PREFIX = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
SQLITE_ONLY = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTeams]:
    with pytest.MonkeyPatch.context() as env, FakeTeams() as f:
        for name in CA_VARIABLES:
            env.setenv(name, str(f.ca_file))
        f.add_member(AMINA)
        yield f


@pytest.fixture
def teams(fake: FakeTeams) -> Iterator[FakeTeams]:
    fake.reset()
    fake.anonymous = False
    yield fake
    fake.assert_clean()


@pytest.fixture
async def bot(store: Store, teams: FakeTeams) -> AsyncIterator[Client]:
    client: Client = TestClient(
        TestServer(build_app(Settings.from_env(teams.env()), store=store), host="127.0.0.1")
    )
    await client.start_server()
    yield client
    await client.close()


def counts(store: Store) -> tuple[int, int, int]:
    with store.session() as s:
        return (
            s.scalar(select(func.count()).select_from(TeamsReference)) or 0,
            s.scalar(select(func.count()).select_from(Person)) or 0,
            s.scalar(select(func.count()).select_from(ProcessedEvent)) or 0,
        )


def forged(teams: FakeTeams) -> dict[str, Any]:
    now_ok = teams.token
    return {
        "wrong issuer": now_ok(issuer="https://login.evil.example/common/v2.0"),
        "wrong audience": now_ok(audience="00000000-0000-4000-8000-0000000000ff"),
        "expired": now_ok(expires_in=-3600),
        # The SDK checks exp and nbf only when present, with 300 s of leeway; we require exp
        # and allow sdk.LEEWAY_SECONDS (60 s).
        "no exp": now_ok(expires_in=None),
        "no exp nor nbf": now_ok(expires_in=None, not_before_in=None),
        "expired beyond the leeway": now_ok(expires_in=-(sdk.LEEWAY_SECONDS + 60)),
        "nbf in the future": now_ok(not_before_in=sdk.LEEWAY_SECONDS + 60),
        "bad signature": now_ok(key=rsa_key()),
        "unknown key id": now_ok(kid="someone-elses-key"),
        "alg none": now_ok(algorithm="none"),
        "alg none, no key id": now_ok(algorithm="none", kid=None),
        "HS256 (a shared secret)": now_ok(algorithm="HS256", key=b"k" * 32),
        "garbage": "not.a.jwt",
    }


CASES = [
    "wrong issuer",
    "wrong audience",
    "expired",
    "no exp",
    "no exp nor nbf",
    "expired beyond the leeway",
    "nbf in the future",
    "bad signature",
    "unknown key id",
    "alg none",
    "alg none, no key id",
    "HS256 (a shared secret)",
    "garbage",
]


@SQLITE_ONLY
@pytest.mark.parametrize("case", CASES)
async def test_a_bad_token_gets_401_and_nothing_is_processed(
    bot: Client, teams: FakeTeams, store: Store, case: str
) -> None:
    activity = personal_message(teams, AMINA, "what did we learn about elections?")
    token = forged(teams)[case]
    response = await bot.post(
        "/api/messages", json=activity, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 401
    assert teams.calls == []
    assert counts(store) == (0, 0, 0)


@SQLITE_ONLY
@pytest.mark.parametrize(
    "header", [None, "", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer", "Bearer a b", "bearer  "]
)
async def test_no_usable_authorization_header_gets_401(
    bot: Client, teams: FakeTeams, store: Store, header: str | None
) -> None:
    activity = personal_message(teams, AMINA, "hello")
    headers = {} if header is None else {"Authorization": header}
    response = await bot.post("/api/messages", json=activity, headers=headers)
    assert response.status == 401
    assert teams.calls == [] and counts(store) == (0, 0, 0)


@SQLITE_ONLY
async def test_a_valid_token_is_accepted(bot: Client, teams: FakeTeams, store: Store) -> None:
    response = await bot.post(
        "/api/messages",
        json=installed_personal(teams, AMINA),
        headers={"Authorization": f"Bearer {teams.token()}"},
    )
    assert response.status == 202
    assert counts(store)[0] == 1  # the personal chat's reference was kept
    assert [c.authorized for c in teams.calls] == [True] * len(teams.calls)


@SQLITE_ONLY
@pytest.mark.parametrize(
    "claims",
    [
        {"expires_in": -(sdk.LEEWAY_SECONDS - 30)},  # expired, within the leeway
        {"not_before_in": sdk.LEEWAY_SECONDS - 30},  # not valid yet, within the leeway
        {"not_before_in": None},  # nbf is optional
    ],
    ids=["exp within the leeway", "nbf within the leeway", "no nbf"],
)
async def test_a_token_within_the_leeway_is_accepted(
    bot: Client, teams: FakeTeams, store: Store, claims: dict[str, int | None]
) -> None:
    response = await bot.post(
        "/api/messages",
        json=installed_personal(teams, AMINA),
        headers={"Authorization": f"Bearer {teams.token(**claims)}"},  # type: ignore[arg-type]
    )
    assert response.status == 202
    assert counts(store)[0] == 1


@SQLITE_ONLY
async def test_anonymous_requests_pass_only_when_allowed(teams: FakeTeams, store: Store) -> None:
    teams.anonymous = True
    env = {
        f"{PREFIX}ANONYMOUS_ALLOWED": "true",
        "LESSONS_TEAMS_SERVICE_HOSTS": "any",
    }
    client: Client = TestClient(
        TestServer(build_app(Settings.from_env(env), store=store), host="127.0.0.1")
    )
    await client.start_server()
    try:
        response = await client.post("/api/messages", json=personal_message(teams, AMINA, "help"))
        assert response.status == 202
    finally:
        await client.close()
    (reply,) = teams.sent()
    assert "Lessons Bot" in str(reply)


@SQLITE_ONLY
def test_teams_needs_an_app_id_a_secret_and_a_tenant(store: Store, teams: FakeTeams) -> None:
    env = teams.env()
    for missing in ("CLIENTID", "CLIENTSECRET", "TENANTID"):
        partial = {k: v for k, v in env.items() if k != f"{PREFIX}{missing}"}
        if missing == "TENANTID":
            partial.pop(f"{PREFIX}AUTHORITY")
        with pytest.raises(TeamsStartupError, match=missing):
            TeamsSurface(Settings.from_env(partial), store)


@SQLITE_ONLY
async def test_refused_credentials_stop_the_bot_at_start(store: Store, teams: FakeTeams) -> None:
    env = {**teams.env(), f"{PREFIX}CLIENTSECRET": "wrong"}
    surface = TeamsSurface(Settings.from_env(env), store)
    try:
        with pytest.raises(TeamsStartupError, match="refused"):
            await surface.start()
    finally:
        await surface.stop()
    (request,) = teams.state.token_requests
    assert request["client_id"] == APP_ID and request["grant_type"] == "client_credentials"


def test_issuers_are_always_checked_and_the_sdk_version_is_the_pinned_one() -> None:
    connections = sdk.connections({f"{PREFIX}CLIENTID": APP_ID, f"{PREFIX}TENANTID": "t"})
    assert connections.get_default_connection_configuration().VALIDATE_ISSUER is True
    sdk.check_version()  # 1.9.x is installed (pyproject pins it)


async def test_the_key_set_reads_an_openid_configuration(teams: FakeTeams) -> None:
    keys = sdk.KeySet(f"{teams.issuer_url}/.well-known/openid-configuration")
    key = await keys.get_signing_key(
        "https://ignored.example/keys", {"alg": "RS256", "kid": KEY_ID}
    )
    assert key.key_id == KEY_ID
    direct = sdk.KeySet(f"{teams.issuer_url}/keys")
    assert (await direct.get_signing_key("x", {"alg": "RS256", "kid": KEY_ID})).key_id == KEY_ID


async def test_a_validated_token_is_not_checked_again_until_it_expires(
    teams: FakeTeams, monkeypatch: pytest.MonkeyPatch
) -> None:
    configuration = sdk.connections(teams.env()).get_default_connection_configuration()
    now = [time.time()]
    keys = sdk.KeySet(f"{teams.issuer_url}/keys", wall=lambda: now[0])
    checks: list[str] = []
    check = JwtTokenValidator.validate_token

    async def counted(self: JwtTokenValidator, token: str) -> Any:
        checks.append(token)
        return await check(self, token)

    monkeypatch.setattr(JwtTokenValidator, "validate_token", counted)
    long, short = teams.token(expires_in=3600), teams.token(expires_in=100)
    for _ in range(3):
        assert await sdk.authorize(f"Bearer {long}", configuration, keys) is not None
        assert await sdk.authorize(f"Bearer {short}", configuration, keys) is not None
    assert len(checks) == 2  # each token was checked once
    now[0] += 101  # past the short token's expiry: checked again (the SDK allows some leeway)
    assert await sdk.authorize(f"Bearer {short}", configuration, keys) is not None
    assert await sdk.authorize(f"Bearer {long}", configuration, keys) is not None
    assert len(checks) == 3
    now[0] += sdk.TOKEN_TTL  # and no token is trusted longer than TOKEN_TTL
    assert await sdk.authorize(f"Bearer {long}", configuration, keys) is not None
    assert len(checks) == 4
    for case in CASES:  # a refused token is never remembered
        for _ in range(2):
            assert await sdk.authorize(f"Bearer {forged(teams)[case]}", configuration, keys) is None
