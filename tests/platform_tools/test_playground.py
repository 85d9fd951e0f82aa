"""Teams as Microsoft's own client shows it: the Microsoft 365 Agents Playground.

`npx agentsplayground -c msteams` (npm `@microsoft/m365agentsplayground`) is a Teams client UI
with a mock connector; it talks to the bot's real `/api/messages` (anonymous auth, local
development only). A real `lessons run` on 127.0.0.1 with a fresh demo database, the
Playground on another port, and Debian's Chromium driven by Playwright: a person opens the
personal chat, asks a question, presses a button on the answer, and asks in a channel with an
@mention. Screenshots go to test-artifacts/screenshots/playground-*.png.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
QUESTION = "what did we learn about elections?"


@dataclass(frozen=True)
class Running:
    """The bot and the Playground in front of it, with their logs."""

    bot_url: str
    playground_url: str
    bot_log: Path
    database: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"{url} exited: {log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer in 30 s: {log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def running(node_tools: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from _start(node_tools, tmp_path_factory.mktemp("playground"), "msteams")


@pytest.fixture(scope="module")
def webchat(node_tools: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    yield from _start(node_tools, tmp_path_factory.mktemp("webchat"), "webchat")


def _start(node_tools: Path, folder: Path, channel: str) -> Iterator[Running]:
    """Run the bot on a fresh demo database and the Playground in a channel's mode before it."""
    bot_port, playground_port = _free_port(), _free_port()
    env = dict(
        os.environ,
        LESSONS_DATABASE_URL=f"sqlite:///{folder / 'lessons.db'}",
        LESSONS_PORT=str(bot_port),
        LESSONS_LOG_LEVEL="INFO",
        CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED="true",
    )
    lessons = [sys.executable, "-m", "bot"]
    subprocess.run([*lessons, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*lessons, "seed-demo"], env=env, check=True, capture_output=True)
    bot_log, playground_log = folder / "bot.log", folder / "playground.log"
    with bot_log.open("wb") as out:
        bot = subprocess.Popen([*lessons, "run"], env=env, stdout=out, stderr=out)
    playground_env = dict(
        os.environ,
        TEAMSAPPTESTER_BROWSER="none",  # it would try to open a browser with xdg-open
        M365_AGENTS_PLAYGROUND_LOGFILE=str(folder / "playground-internal.log"),
    )
    cli = node_tools / "@microsoft" / "m365agentsplayground" / "cli.js"
    command = ["node", str(cli), "-e", f"http://127.0.0.1:{bot_port}/api/messages"]
    command += ["-c", channel, "-p", str(playground_port), "--disable-telemetry"]
    with playground_log.open("wb") as out:
        playground = subprocess.Popen(
            command,
            cwd=folder,
            env=playground_env,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait(f"http://127.0.0.1:{bot_port}/healthz", bot, bot_log)
        _wait(f"http://127.0.0.1:{playground_port}/", playground, playground_log)
        yield Running(
            f"http://127.0.0.1:{bot_port}",
            f"http://localhost:{playground_port}",
            bot_log,
            folder / "lessons.db",
        )
    finally:
        for process in (playground, bot):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
async def page(running: Running, chromium: Path) -> AsyncIterator[Page]:
    async for opened in _page(running, chromium):
        yield opened


@pytest.fixture
async def webchat_page(webchat: Running, chromium: Path) -> AsyncIterator[Page]:
    async for opened in _page(webchat, chromium):
        yield opened


async def _page(running: Running, chromium: Path) -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"]
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        page.set_default_timeout(20_000)
        try:
            await page.goto(running.playground_url)
            yield page
        finally:
            await context.close()
            await browser.close()


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"playground-{name}.png"))


def editor(page: Page) -> object:
    """The compose box (a Lexical editor, not an <input>)."""
    return page.locator("[data-lexical-editor=true]").first


async def no_errors(page: Page, running: Running) -> None:
    """Nothing went wrong on either side: no error in the bot's log, and no call between the
    client and the bot answered 4xx or 5xx in the Playground's own log panel."""
    bot = running.bot_log.read_text(errors="replace")
    assert "Traceback" not in bot and " ERROR " not in f" {bot}", bot[-3000:]
    panel = await page.locator("body").inner_text()
    calls = re.findall(r"\b(\w+(?:/\w+)?) ([1-5]\d\d)\b", panel)
    assert any(status.startswith("2") for _, status in calls), "the log panel shows no call"
    refused = [f"{name} {status}" for name, status in calls if status[0] in "45"]
    assert not refused, refused


async def test_a_person_asks_in_the_personal_chat_and_presses_a_button(
    page: Page, running: Running
) -> None:
    # The install greeting arrives first.
    await expect(page.get_by_text("Lessons Bot").first).to_be_visible()
    await editor(page).click()  # type: ignore[attr-defined]
    await page.keyboard.type(QUESTION)
    await page.keyboard.press("Enter")
    answer = page.get_by_text("closest lessons").last
    await expect(answer).to_be_visible()
    await expect(page.get_by_role("link", name=re.compile("election", re.I)).first).to_be_visible()
    await screenshot(page, "answer")
    await page.get_by_role("button", name="Helpful", exact=True).first.click()
    await expect(page.get_by_text(re.compile("Thanks", re.I)).last).to_be_visible()
    await screenshot(page, "helpful")
    await no_errors(page, running)


async def test_a_person_mentions_the_bot_in_a_channel(page: Page, running: Running) -> None:
    await page.get_by_text("General").first.click()
    await editor(page).click()  # type: ignore[attr-defined]
    await page.keyboard.type("@")
    await (
        page.get_by_role("option")
        .filter(has_text="Test Bot")
        .or_(page.get_by_text("Test Bot", exact=True))
        .first.click()
    )
    await page.keyboard.type(" what did we learn about ballot logistics?")
    await page.get_by_role("button", name="Post").click()
    await expect(page.get_by_text("closest lessons").last).to_be_visible()
    await screenshot(page, "channel")
    await no_errors(page, running)


def votes(running: Running) -> int:
    with sqlite3.connect(running.database) as db:
        count: int = db.execute("SELECT count(*) FROM feedback").fetchone()[0]
        return count


async def test_in_web_chat_a_card_button_reaches_the_bot(
    webchat_page: Page, webchat: Running
) -> None:
    """Web Chat runs no Action.Execute: there the bot's buttons must be Action.Submit."""
    page = webchat_page
    box = page.get_by_placeholder("Type your message")
    await box.fill(QUESTION)
    await box.press("Enter")
    await expect(page.get_by_text("closest lessons").last).to_be_visible()
    before = votes(webchat)
    await page.get_by_role("button", name="Helpful", exact=True).first.click()
    for _ in range(100):
        if votes(webchat) > before:
            break
        await page.wait_for_timeout(100)
    assert votes(webchat) == before + 1, "pressing Helpful in Web Chat sent the bot nothing"
    await screenshot(page, "webchat")
    await no_errors(page, webchat)
