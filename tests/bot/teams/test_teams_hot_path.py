"""What a Teams turn costs the bot: nothing rewritten, fetched or opened again that it already has.

End to end against the fake Teams (fake_teams) on 127.0.0.1, with the real Agents SDK: a
second message from a chat rewrites no reference (else every message would empty the answer
caches), tokens and signing keys are fetched once, and replies reuse one connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_teams import CA_VARIABLES, FakeTeams, Member, installed_personal, personal_message
from microsoft_agents.hosting.core.app.proactive import Conversation
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import (
    _JwkClientManager,
)
from sqlalchemy import select

from bot import reminders
from bot.app import build_app
from bot.settings import Settings
from bot.teams.notifier import TeamsNotifier
from handlers.chat import Reply, Text, UserRef
from knowledge.models import TeamsReference
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
AMINA = Member("aad-amina", "29:amina", "Amina Diallo", "amina.diallo@un.example")
QUESTION = "what did we learn about elections?"
pytestmark = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


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
    yield fake
    fake.assert_clean()


@pytest.fixture
async def bot(demo_store: Store, teams: FakeTeams) -> AsyncIterator[Client]:
    client: Client = TestClient(
        TestServer(build_app(Settings.from_env(teams.env()), store=demo_store), host="127.0.0.1")
    )
    await client.start_server()
    yield client
    await client.close()


async def ask(bot: Client, teams: FakeTeams, text: str = QUESTION) -> int:
    activity: dict[str, Any] = personal_message(teams, AMINA, text)
    response = await bot.post(
        "/api/messages", json=activity, headers={"Authorization": f"Bearer {teams.token()}"}
    )
    return response.status


async def test_a_second_message_rewrites_no_reference_and_keeps_the_caches(
    bot: Client, teams: FakeTeams, demo_store: Store
) -> None:
    assert await ask(bot, teams) == 202
    with demo_store.session() as s:
        saved = s.scalars(select(TeamsReference.updated_at)).one()
    generation = demo_store.writes.generation
    assert await ask(bot, teams, "what did we learn about logistics?") == 202
    # The SDK gives every request an id of its own; a reference keeps none, so it is unchanged.
    with demo_store.session() as s:
        assert s.scalars(select(TeamsReference.updated_at)).one() == saved
    assert demo_store.writes.generation == generation  # the answer caches were not emptied
    assert len(teams.cards("a:personal-aad-amina")) == 2


async def test_replies_reuse_one_kept_alive_connection(bot: Client, teams: FakeTeams) -> None:
    for n in range(4):
        assert await ask(bot, teams, f"what did we learn about convoys {n}?") == 202
    replies = [c for c in teams.calls if c.method == "POST" and "/activities/" in c.path]
    assert len(replies) == 4
    assert len({c.peer for c in replies}) == 1  # one kept-alive connection, not one per reply
    assert len({c.body["replyToId"] for c in replies}) == 4
    # Sent straight through the turn's connector, a reply still says all TurnContext would.
    reply = replies[-1].body
    assert replies[-1].path.endswith(f"/activities/{reply['replyToId']}")
    assert reply["from"]["id"].startswith("28:") and reply["recipient"]["id"] == AMINA.teams_id
    assert reply["conversation"]["id"] == "a:personal-aad-amina"
    assert reply["serviceUrl"] == teams.service_url and reply["channelId"] == "msteams"


async def test_the_signing_key_is_read_once_not_for_every_request(
    bot: Client, teams: FakeTeams, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    sdk_read = _JwkClientManager.get_signing_key

    async def counted(self: _JwkClientManager, jwks_uri: str, header: dict[str, Any]) -> Any:
        reads.append(header["kid"])
        return await sdk_read(self, jwks_uri, header)

    monkeypatch.setattr(_JwkClientManager, "get_signing_key", counted)
    for _ in range(3):
        assert await ask(bot, teams) == 202
    assert len(reads) == 1


async def test_concurrent_proactive_sends_get_one_token(
    bot: Client, teams: FakeTeams, demo_store: Store
) -> None:
    response = await bot.post(
        "/api/messages",
        json=installed_personal(teams, AMINA),
        headers={"Authorization": f"Bearer {teams.token()}"},
    )
    assert response.status == 202
    teams.reset()
    (notifier,) = reminders.notifiers(Settings.from_env(teams.env()), demo_store)
    assert isinstance(notifier, TeamsNotifier)
    try:
        sent = await asyncio.gather(
            *(notifier.send(UserRef("teams", AMINA.aad), Reply.of(Text(f"R{n}"))) for n in range(5))
        )
    finally:
        await notifier.aclose()
    assert all(sent)
    assert len(teams.state.token_requests) == 1  # not one per send, however many at once


async def test_an_unchanged_conversation_is_not_rebuilt_and_a_removed_one_is_kept_again(
    bot: Client, teams: FakeTeams, demo_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    build = Conversation.from_turn_context.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Conversation], context: Any) -> Conversation:
        built.append(context.activity.conversation.id)
        return build(cls, context)  # type: ignore[no-any-return]

    monkeypatch.setattr(Conversation, "from_turn_context", classmethod(counted))
    for _ in range(3):
        assert await ask(bot, teams) == 202
    assert built == ["a:personal-aad-amina"]  # the SDK's reference was built once
    removed = installed_personal(teams, AMINA)
    removed["membersRemoved"] = removed.pop("membersAdded")
    response = await bot.post(
        "/api/messages", json=removed, headers={"Authorization": f"Bearer {teams.token()}"}
    )
    assert response.status == 202
    with demo_store.session() as s:
        assert s.scalars(select(TeamsReference)).all() == []
    assert await ask(bot, teams) == 202  # back: its reference is kept again
    with demo_store.session() as s:
        assert len(s.scalars(select(TeamsReference)).all()) == 1
