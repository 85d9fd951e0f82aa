"""Finding 10 of issue 21, on Teams: a connector answer that is not JSON.

A proxy in front of the connector answers a reply Teams took with an HTML page (200) or plain
text: the reply was sent, so the user gets no apology and the turn no 502.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import _fakes  # noqa: F401
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_teams import CA_VARIABLES, FakeTeams, Member, personal_message, text_of

from bot.app import build_app
from bot.settings import Settings
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
AMINA = Member("aad-amina", "29:amina", "Amina Diallo", "amina.diallo@un.example")
pytestmark = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTeams]:
    with pytest.MonkeyPatch.context() as env, FakeTeams() as f:
        for name in CA_VARIABLES:
            env.setenv(name, str(f.ca_file))
        f.add_member(AMINA)
        yield f


@pytest.fixture
async def bot(demo_store: Store, fake: FakeTeams) -> AsyncIterator[Client]:
    fake.reset()
    client: Client = TestClient(
        TestServer(build_app(Settings.from_env(fake.env()), store=demo_store), host="127.0.0.1")
    )
    await client.start_server()
    yield client
    await client.close()


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (200, "<html><body>Signed in through the proxy</body></html>", "text/html"),
        (201, "ok", "text/plain"),
    ],
)
async def test_a_reply_the_connector_took_with_an_odd_answer_is_not_apologised_for(
    bot: Client, fake: FakeTeams, status: int, body: str, content_type: str
) -> None:
    async def ask(text: str) -> int:
        activity = personal_message(fake, AMINA, text)
        response = await bot.post(
            "/api/messages", json=activity, headers={"Authorization": f"Bearer {fake.token()}"}
        )
        return response.status

    assert await ask("what did we learn about elections?") == 202  # Amina is known now
    before = len(fake.cards())
    fake.answer_raw_next(status, body, content_type)  # the next call: the answer's reply
    assert await ask("what did we learn about logistics?") == 202
    said = [text_of(card) for card in fake.cards()[before:]]
    assert len(said) == 1 and "went wrong" not in said[0], said
