"""Every kind of Adaptive Card the bot sends to Teams, rendered by Microsoft's own renderer.

The real Teams surface (Microsoft 365 Agents SDK, tokens from a local issuer) answers a walk
through its features over HTTP on 127.0.0.1: the install greeting, help, a question and every
button under the answer, a channel question, the message extension, a new lesson's form and
its errors, an AAR, reports. Each card the bot sent (to the connector, or in an invoke's
response) is then parsed and rendered by the `adaptivecards` npm package in Debian's Chromium:
no parse warning, no validation failure, and a rendered element for every card. A screenshot
of them goes to test-artifacts/screenshots/adaptive-cards.png.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_teams import (
    CA_VARIABLES,
    CARD,
    FakeTeams,
    Member,
    channel_message,
    compose_query,
    execute,
    installed_in_team,
    installed_personal,
    personal,
    personal_message,
)
from playwright.async_api import async_playwright

from bot.app import build_app
from bot.settings import Settings
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
AMINA = Member("aad-amina", "29:amina", "Amina Diallo", "amina.diallo@un.example")
CHANNEL = "19:elections@thread.tacv2"
TEAM = "19:team-elections@thread.tacv2"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SQLITE_ONLY = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


@pytest.fixture
def teams() -> Iterator[FakeTeams]:
    with pytest.MonkeyPatch.context() as env, FakeTeams() as fake:
        for name in CA_VARIABLES:
            env.setenv(name, str(fake.ca_file))
        fake.add_member(AMINA)
        yield fake


@pytest.fixture
async def bot(demo_store: Store, teams: FakeTeams) -> AsyncIterator[Client]:
    app = build_app(Settings.from_env(teams.env()), store=demo_store)
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


def _cards_in(body: Any) -> list[dict[str, Any]]:
    """Return the Adaptive Cards anywhere in an invoke's response body."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "AdaptiveCard":
                found.append(node)
                return
            if node.get("contentType") == CARD and isinstance(node.get("content"), dict):
                found.append(node["content"])
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(body)
    return found


def _executes(card: Any) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute":
                actions.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return actions


class Walk:
    """Posts activities to the bot and keeps every card it answers with."""

    def __init__(self, bot: Client, teams: FakeTeams) -> None:
        self.bot, self.teams, self.invoked = bot, teams, []  # type: list[dict[str, Any]]

    async def post(self, activity: dict[str, Any]) -> Any:
        response = await self.bot.post(
            "/api/messages",
            json=activity,
            headers={"Authorization": f"Bearer {self.teams.token()}"},
        )
        assert response.status < 500, response.status
        body = await response.json() if response.content_type == "application/json" else None
        self.invoked.extend(_cards_in(body))
        return body

    def cards(self) -> list[dict[str, Any]]:
        return self.teams.cards() + self.invoked


async def walk(bot: Client, teams: FakeTeams) -> list[dict[str, Any]]:
    w = Walk(bot, teams)
    chat = personal(AMINA)
    await w.post(installed_personal(teams, AMINA))
    await w.post(
        installed_in_team(teams, AMINA, channel_id=CHANNEL, name="elections", team_id=TEAM)
    )
    for text in ("help", "what did we learn about elections?", "home", "my actions", "new lesson"):
        await w.post(personal_message(teams, AMINA, text))
    answer = next(c for c in teams.cards("a:personal-aad-amina") if "election" in json.dumps(c))
    for action in _executes(answer):
        await w.post(execute(teams, AMINA, action, conversation=chat, card_id="1"))
    for text in ("what did we learn about ballot logistics?", "aar start Polling day review"):
        await w.post(
            channel_message(
                teams,
                AMINA,
                f"<at>Lessons</at> {text}",
                channel_id=CHANNEL,
                name="elections",
                team_id=TEAM,
            )
        )
    await w.post(compose_query(teams, AMINA, "elections", conversation=chat))
    return w.cards()


RENDER = """
async ({cards}) => {
  const results = [];
  const host = document.getElementById("cards");
  for (const [i, payload] of cards.entries()) {
    const card = new AdaptiveCards.AdaptiveCard();
    const context = new AdaptiveCards.SerializationContext();
    card.parse(payload, context);
    const problems = [];
    for (let k = 0; k < context.eventCount; k++) {
      problems.push("parse: " + context.getEventAt(k).message);
    }
    for (const event of card.validateProperties().validationEvents) {
      problems.push("validate: " + event.message);
    }
    const element = card.render();
    if (!element) problems.push("render: nothing was rendered");
    else { element.style.margin = "8px"; element.style.width = "360px"; host.appendChild(element); }
    results.push({i, problems});
  }
  return results;
}
"""


@SQLITE_ONLY
async def test_every_card_the_bot_sends_renders_in_microsofts_renderer(
    bot: Client, teams: FakeTeams, node_tools: Path, chromium: Path, tmp_path: Path
) -> None:
    cards = await walk(bot, teams)
    assert len(cards) >= 10, f"only {len(cards)} cards on the walk"
    script = node_tools / "adaptivecards" / "dist" / "adaptivecards.min.js"
    page_file = tmp_path / "cards.html"
    page_file.write_text(
        f'<!doctype html><meta charset="utf-8"><script src="{script.as_uri()}"></script>'
        '<body style="font-family: sans-serif"><div id="cards" '
        'style="display: flex; flex-wrap: wrap"></div></body>',
        encoding="utf-8",
    )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1600, "height": 1200})
            await page.goto(page_file.as_uri())
            results = await page.evaluate(RENDER, {"cards": cards})
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "adaptive-cards.png"), full_page=True)
        finally:
            await browser.close()
    problems = [
        f"card {r['i']}: {p} — {json.dumps(cards[r['i']])[:300]}"
        for r in results
        for p in r["problems"]
    ]
    assert len(results) == len(cards)
    assert not problems, "\n".join(problems[:20])
