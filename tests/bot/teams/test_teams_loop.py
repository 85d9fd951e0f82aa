"""The learning loop on Teams, end to end: `new lesson` in the personal chat, validated by the
author's manager, two actions with owners named by name (the due date from Teams' date
picker, and typed in words where the form is plain text), the owners accept and mark them done
with evidence, and the lesson shows *applied* in answers, on `home`, on the dashboard and in
`lessons report`.

Activities carry RS256 tokens from the fake authority (tests/bot/teams/fake_teams.py); replies
and proactive cards land on the fake connector on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_teams import (
    CA_VARIABLES,
    CARD,
    FakeTeams,
    Member,
    execute,
    find_action,
    personal,
    personal_message,
    text_of,
)
from sqlalchemy import select

from bot.app import build_app
from bot.cli import main
from bot.settings import Settings
from knowledge.models import Lesson, LessonStatus, Product
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
AMINA = Member("aad-amina", "29:amina", "Amina Diallo", "amina.diallo@un.example")
NGOZI = Member("aad-ngozi", "29:ngozi", "Ngozi Okafor", "ngozi.okafor@un.example")
TOMAS = Member("aad-tomas", "29:tomas", "Tomás Herrera", "tomas.herrera@un.example")
KWAME = Member("aad-kwame", "29:kwame", "Kwame Asante", "kwame.asante@un.example")
TITLE = "Fuel reserve for night convoys"
RECOMMENDATION = (
    "Keep a fuel reserve for three nights at every team site. "
    "Brief drivers on the night convoy plan before each rotation."
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTeams]:
    with pytest.MonkeyPatch.context() as env, FakeTeams() as f:
        for name in CA_VARIABLES:
            env.setenv(name, str(f.ca_file))
        for member in (AMINA, NGOZI, TOMAS, KWAME):
            f.add_member(member)
        yield f


@pytest.fixture
def teams(fake: FakeTeams) -> Iterator[FakeTeams]:
    fake.reset()
    yield fake
    fake.assert_clean()  # every call carried an issued token; every card was valid 1.5


@pytest.fixture
async def bot(demo_store: Store, teams: FakeTeams) -> AsyncIterator[Client]:
    client: Client = TestClient(
        TestServer(build_app(Settings.from_env(teams.env()), store=demo_store), host="127.0.0.1")
    )
    await client.start_server()
    yield client
    await client.close()


async def post(bot: Client, teams: FakeTeams, activity: dict[str, Any]) -> Any:
    response = await bot.post(
        "/api/messages", json=activity, headers={"Authorization": f"Bearer {teams.token()}"}
    )
    assert response.status in (200, 202), await response.text()
    return await response.json() if response.content_type == "application/json" else None


def chat(member: Member) -> str:
    return f"a:personal-{member.aad}"


def cards_saying(teams: FakeTeams, member: Member, words: str) -> list[dict[str, Any]]:
    return [c for c in teams.cards(chat(member)) if words in text_of(c)]


async def click(
    bot: Client,
    teams: FakeTeams,
    member: Member,
    card: dict[str, Any],
    verb: str,
    inputs: dict[str, str] | None = None,
    value: str | None = None,
) -> dict[str, Any]:
    """Press an Action.Execute of a card; return the card the invoke answered with."""
    if value is None:
        action = find_action(card, verb)
    else:
        action = next(
            a for a in _actions(card) if a["verb"] == verb and a["data"]["lessons.value"] == value
        )
    activity = execute(
        teams, member, action, conversation=personal(member), card_id="1", inputs=inputs
    )
    body = await post(bot, teams, activity)
    assert body["statusCode"] == 200 and body["type"] == CARD, body
    answer: dict[str, Any] = body["value"]
    return answer


def _actions(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if node.get("type") == "Action.Execute" else []
        return found + [a for v in node.values() for a in _actions(v)]
    if isinstance(node, list):
        return [a for v in node for a in _actions(v)]
    return []


def inputs_of(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input."):
                found[node["id"]] = node
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return found


def lesson_of(store: Store) -> tuple[int, LessonStatus] | None:
    with store.session() as s:
        row = s.execute(
            select(Lesson.id, Lesson.status).join(Product).where(Product.title == TITLE)
        ).first()
        return (row[0], row[1]) if row else None


async def test_a_lesson_logged_on_teams_reaches_applied(
    bot: Client,
    teams: FakeTeams,
    demo_store: Store,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for member in (NGOZI, TOMAS, KWAME):  # each has the bot in their personal chat
        await post(bot, teams, personal_message(teams, member, "hello"))
    await post(bot, teams, personal_message(teams, AMINA, "new lesson"))
    [form] = cards_saying(teams, AMINA, "Log a lesson")
    typed = {
        "title": TITLE,
        "lesson": "Night convoys stalled when team sites ran out of fuel.",
        "recommendation": RECOMMENDATION,
    }
    await click(bot, teams, AMINA, form, "lesson.new", typed)
    found = lesson_of(demo_store)
    assert found is not None and found[1] == LessonStatus.IDENTIFIED
    lesson = found[0]

    [request] = cards_saying(teams, NGOZI, "Validate")
    decided = await click(bot, teams, NGOZI, request, "validation.validate", value=str(lesson))
    assert "Validated by Ngozi Okafor" in text_of(decided)
    assert lesson_of(demo_store) == (lesson, LessonStatus.VALIDATED)

    today = demo_store.today()
    picked = (today + timedelta(weeks=3)).isoformat()
    for owner, due in (
        ("Tomás Herrera", picked),
        ("kwame", (today + timedelta(days=20)).isoformat()),
    ):
        opened = await click(bot, teams, NGOZI, decided, "plan.open")
        fields = inputs_of(opened)
        assert fields["due"]["type"] == "Input.Date"
        assert fields["description"]["value"]  # the next recommendation, prefilled
        values = {"description": fields["description"]["value"], "owner": owner, "due": due}
        done = await click(bot, teams, NGOZI, opened, "plan.add:", values)
        assert "Proposed to" in text_of(done)

    for owner in (TOMAS, KWAME):
        [offer] = cards_saying(teams, owner, "An action for you")
        accepted = await click(bot, teams, owner, offer, "aar.accept")
        assert "Accepted" in text_of(accepted)
        assert "aar.accept" not in text_of(accepted)  # the card kept no live button

    for owner in (TOMAS, KWAME):
        await post(bot, teams, personal_message(teams, owner, "actions"))
        listing = cards_saying(teams, owner, "Your open actions")[-1]
        person = await demo_store.person_for("teams", owner.aad) or 0
        [ours] = [a.id for a in await demo_store.actions_of(person) if a.lesson_id == lesson]
        form = await click(bot, teams, owner, listing, "action.done", value=str(ours))
        saved = await click(
            bot, teams, owner, form, "action.done:", {"evidence": "https://example.org/sop-fuel"}
        )
        assert "Done. Thank you" in text_of(saved)
    assert lesson_of(demo_store) == (lesson, LessonStatus.APPLIED)

    await post(bot, teams, personal_message(teams, AMINA, "fuel reserve night convoys"))
    answer = cards_saying(teams, AMINA, "closest lesson")[-1]
    assert TITLE in text_of(answer) and "● applied" in text_of(answer)
    assert "2 of 2 actions done" in text_of(answer)

    await post(bot, teams, personal_message(teams, AMINA, "home"))
    home = cards_saying(teams, AMINA, "here is what waits for you")[-1]
    assert TITLE in text_of(home)

    page = await bot.get(f"/dashboard/lessons/{lesson}")
    html = await page.text()
    assert page.status == 200 and "applied" in html and "2 of 2 done" in html

    monkeypatch.setenv("LESSONS_DATABASE_URL", demo_store.engine.url.render_as_string(False))
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["report", "--format", "md"]) == 0
    recent = capsys.readouterr().out.split("### Recently applied", 1)[1].split("##", 1)[0]
    assert f"#{lesson} {TITLE}" in recent
