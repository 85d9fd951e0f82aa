"""The aiohttp application served on 127.0.0.1: health check and unknown paths."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import FakeSlack

from bot.app import STORE, build_app
from bot.settings import Settings
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/lessons"


async def serve(store: Store) -> Client:
    """Start the app with this store on a free port of 127.0.0.1 and return a client for it."""
    client: Client = TestClient(TestServer(build_app(Settings(), store=store), host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(store: Store) -> AsyncIterator[Client]:
    """Return a client of the app served with the test store (SQLite and PostgreSQL)."""
    client = await serve(store)
    yield client
    await client.close()


async def test_healthz_is_ok_when_the_database_answers(client: Client) -> None:
    response = await client.get("/healthz")

    assert response.status == 200
    assert response.content_type == "application/json"
    assert await response.json() == {"status": "ok"}


async def test_app_uses_the_store_it_is_given(store: Store) -> None:
    assert build_app(Settings(), store=store)[STORE] is store


async def test_healthz_is_503_json_when_the_database_is_unreachable() -> None:
    store = Store.open(UNREACHABLE)
    client = await serve(store)
    try:
        response = await client.get("/healthz")

        assert response.status == 503
        assert response.content_type == "application/json"
        assert await response.json() == {"status": "database unavailable"}
    finally:
        await client.close()


async def test_unknown_path_is_404(client: Client) -> None:
    response = await client.get("/no/such/page")

    assert response.status == 404


async def test_healthz_only_answers_get(client: Client) -> None:
    response = await client.post("/healthz")

    assert response.status == 405


@pytest.mark.parametrize("path", ["/login", "/slack/events", "/api/messages"])
async def test_a_body_that_cannot_be_decoded_is_a_400(store: Store, path: str) -> None:
    # Gzip that is not gzip: aiohttp raises as the route reads the body (it was a 500).
    async with FakeSlack(token="xoxb-x") as slack:
        settings = Settings(
            slack_bot_token="xoxb-x",
            slack_signing_secret="s",
            slack_api_url=slack.api_url,
            teams_sdk=(("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED", "true"),),
        )
        client = TestClient(TestServer(build_app(settings, store=store), host="127.0.0.1"))
        await client.start_server()
        try:
            headers = {
                "Content-Encoding": "gzip",
                "Content-Type": "application/x-www-form-urlencoded",  # the sign-in form's
                "Origin": str(client.make_url("/")).rstrip("/"),
            }
            async with client.post(path, data=b"not gzip at all", headers=headers) as response:
                assert response.status == 400
        finally:
            await client.close()
