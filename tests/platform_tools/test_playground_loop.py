"""The learning loop in Microsoft's own Teams client: the Microsoft 365 Agents Playground.

A real `lessons run` on 127.0.0.1 (fresh demo database, anonymous Teams auth for local
development) and the Playground (`-c msteams`) before it, driven by Playwright in Debian's
Chromium. The Playground shows one signed-in person at a time, so it is started once per
person, each time with a `.m365agentsplayground.yml` naming them (their email ties them to the
demo directory):

1. Amina types `new lesson`, fills the card's form and saves the lesson (identified).
2. Ngozi, her manager, opens `home`, presses the lesson's button, validates it, and adds two
   actions from the validated card's form: owners named by name, due dates in words.
3. Amina types `actions`, accepts both, marks each done with evidence (the form), and asks a
   question whose answer shows the lesson *applied*.

Screenshots go to test-artifacts/screenshots/playground-loop-*.png.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, async_playwright, expect

from .test_playground import ARTIFACTS, _free_port, _wait

TITLE = "Fuel reserve for night convoys"
# The Playground wants a signed-in person and at least five others in its roster.
PEOPLE = (
    ("amina", "Amina Diallo", "amina.diallo@un.example"),
    ("ngozi", "Ngozi Okafor", "ngozi.okafor@un.example"),
    ("tomas", "Tomas Herrera", "tomas.herrera@un.example"),
    ("kwame", "Kwame Asante", "kwame.asante@un.example"),
    ("farida", "Farida Rahimi", "farida.rahimi@un.example"),
    ("sofia", "Sofia Lindqvist", "sofia.lindqvist@un.example"),
)


@dataclass(frozen=True)
class Bot:
    url: str
    log: Path
    database: Path
    folder: Path
    playground_port: int  # every session on the same port: the bot's saved chats stay valid


def _person(n: int, key: str, name: str, email: str, pad: str) -> str:
    given, surname = name.split()
    return (
        f"id: user-{key}\n{pad}name: {name}\n{pad}userPrincipleName: {email}\n"
        f"{pad}aadObjectId: 00000000-0000-0000-0000-0000000000{50 + n}\n"
        f"{pad}givenName: {given}\n{pad}surname: {surname}\n{pad}email: {email}\n"
    )


def playground_config(who: str) -> str:
    """The Playground's config file with `who` signed in (its schema: the package's default)."""
    me = next(n for n, p in enumerate(PEOPLE) if p[0] == who)
    others = "".join("  - " + _person(n, *p, "    ") for n, p in enumerate(PEOPLE) if p[0] != who)
    return (
        'version: "0.1.1"\ntenantId: 00000000-0000-0000-0000-0000000000001\n'
        "bot:\n  id: 00000000-0000-0000-0000-00000000000011\n  name: Test Bot\n"
        f"currentUser:\n  {_person(me, *PEOPLE[me], '  ')}users:\n{others}"
        "personalChat:\n  id: __PERSONAL_CHAT_ID__\n"
        "groupChat:\n  id: __GROUP_CHAT_ID__\n  name: Group Chat\n"
        "team:\n  id: team-id\n  name: My Team\n"
        "  aadGroupId: 00000000-0000-0000-0000-000000000031\n"
        "  channels:\n    - id: channel-announcements-id\n      name: Announcements\n"
    )


@pytest.fixture(scope="module")
def bot(node_tools: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    folder = tmp_path_factory.mktemp("playground-loop")
    port = _free_port()
    env = dict(
        os.environ,
        LESSONS_DATABASE_URL=f"sqlite:///{folder / 'lessons.db'}",
        LESSONS_PORT=str(port),
        LESSONS_LOG_LEVEL="INFO",
        LESSONS_SCHEDULER="off",
        CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED="true",
    )
    lessons = [sys.executable, "-m", "bot"]
    subprocess.run([*lessons, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*lessons, "seed-demo"], env=env, check=True, capture_output=True)
    log = folder / "bot.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*lessons, "run"], env=env, stdout=out, stderr=out)
    try:
        _wait(f"http://127.0.0.1:{port}/healthz", process, log)
        yield Bot(f"http://127.0.0.1:{port}", log, folder / "lessons.db", folder, _free_port())
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _playground(command: list[str], folder: Path, port: int) -> subprocess.Popen[bytes]:
    """Start the Playground in `folder` (where its config file is) and wait for it."""
    log = folder / "playground.log"
    env = dict(os.environ, TEAMSAPPTESTER_BROWSER="none")
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL
        )
    _wait(f"http://127.0.0.1:{port}/", process, log)
    return process


@asynccontextmanager
async def signed_in(bot: Bot, node_tools: Path, chromium: Path, who: str) -> AsyncIterator[Page]:
    """The Playground with `who` signed in, open in Chromium at their personal chat."""
    folder = bot.folder / who
    folder.mkdir(exist_ok=True)
    (folder / ".m365agentsplayground.yml").write_text(playground_config(who))
    port = bot.playground_port
    cli = node_tools / "@microsoft" / "m365agentsplayground" / "cli.js"
    command = ["node", str(cli), "-e", f"{bot.url}/api/messages", "-c", "msteams"]
    command += ["-p", str(port), "--disable-telemetry"]
    process = await asyncio.to_thread(_playground, command, folder, port)
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"]
            )
            context = await browser.new_context(viewport={"width": 1280, "height": 1000})
            page = await context.new_page()
            page.set_default_timeout(30_000)
            try:
                await page.goto(f"http://localhost:{port}")
                await expect(page.get_by_text(re.compile(PEOPLE_NAMES[who])).first).to_be_visible()
                yield page
            finally:
                await context.close()
                await browser.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


PEOPLE_NAMES = {key: name for key, name, _ in PEOPLE}


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"playground-loop-{name}.png"))


async def say(page: Page, text: str) -> None:
    """Type a message in the compose box (a Lexical editor) and send it."""
    await page.locator("[data-lexical-editor=true]").first.click()
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")


def last_card(page: Page, saying: str) -> Locator:
    """The newest Adaptive Card that shows `saying`."""
    return page.locator(".ac-adaptiveCard").filter(has_text=saying).last


def lesson_status(bot: Bot) -> str | None:
    with sqlite3.connect(bot.database) as db:
        row = db.execute(
            "SELECT l.status FROM lessons l JOIN products p ON p.id = l.product_id "
            "WHERE p.title = ?",
            (TITLE,),
        ).fetchone()
    return str(row[0]) if row else None


def no_errors(bot: Bot) -> None:
    log = bot.log.read_text(errors="replace")
    assert "Traceback" not in log and " ERROR " not in f" {log}", log[-3000:]


async def test_a_lesson_goes_round_the_loop_in_the_playground(
    bot: Bot, node_tools: Path, chromium: Path
) -> None:
    async with signed_in(bot, node_tools, chromium, "amina") as page:
        await say(page, "new lesson")
        form = last_card(page, "Log a lesson")
        await expect(form).to_be_visible()
        await form.get_by_label(re.compile("^Title")).fill(TITLE)
        await form.get_by_label(re.compile("^What happened")).fill(
            "Night convoys stalled when team sites ran out of fuel."
        )
        await form.get_by_label(re.compile("^What did we learn")).fill(
            "A fuel reserve at each team site keeps night convoys moving."
        )
        await form.get_by_label(re.compile("^What should be done")).fill(
            "Keep a fuel reserve for three nights at every team site. "
            "Brief drivers on the night convoy plan before each rotation."
        )
        await shot(page, "1-new-lesson")
        await form.get_by_role("button", name="Save lesson").click()
        await expect(last_card(page, "Saved as a lesson note")).to_be_visible()
        await expect(page.get_by_role("button", name="Save lesson")).to_have_count(0)
        await shot(page, "2-logged")
    assert lesson_status(bot) == "identified"

    async with signed_in(bot, node_tools, chromium, "ngozi") as page:
        await say(page, "home")
        review = page.get_by_role("button", name=re.compile(f"Review #\\d+: {TITLE}"))
        await review.click()
        card = last_card(page, TITLE)
        await expect(card.get_by_role("button", name="Validate")).to_be_visible()
        await shot(page, "3-to-validate")
        await card.get_by_role("button", name="Validate").click()
        await expect(page.get_by_text(re.compile("Validated by Ngozi Okafor")).last).to_be_visible()
        await shot(page, "4-validated")
        today = datetime.now(UTC).date()  # Teams' date picker sends ISO dates
        for owner, due in (
            ("Amina Diallo", today + timedelta(weeks=3)),
            ("amina", today + timedelta(days=20)),
        ):
            await page.get_by_role(
                "button", name=re.compile("^Add (actions|the next|another)")
            ).last.click()
            form = last_card(page, "Add an action")
            await expect(form).to_be_visible()
            await form.get_by_label(re.compile("^Owner")).fill(owner)
            await form.get_by_label(re.compile("^Due date")).fill(due.isoformat())
            await shot(page, f"5-action-{owner.split()[0]}")
            await form.get_by_role("button", name="Propose").click()
            await expect(
                page.get_by_text(re.compile("Proposed to Amina Diallo")).last
            ).to_be_visible()
        await shot(page, "6-proposed")
    assert lesson_status(bot) == "validated"

    async with signed_in(bot, node_tools, chromium, "amina") as page:
        await say(page, "actions")
        await expect(last_card(page, "Actions proposed to you (2)")).to_be_visible()
        listing = page.locator(".ac-adaptiveCard").last  # updated in place from here on
        await shot(page, "7-proposed-to-me")
        for left in (1, 0):
            await listing.get_by_role("button", name=re.compile(r"^Accept #\d+")).first.click()
            await expect(listing.get_by_text("Accepted:")).to_be_visible()
            await expect(listing.get_by_role("button", name=re.compile("^Accept"))).to_have_count(
                left
            )
        await shot(page, "8-accepted")
        for _ in range(2):
            # Overdue first (a demo action), then ours: the first of ours is the second card.
            await listing.get_by_role("button", name="Done", exact=True).nth(1).click()
            form = last_card(page, "Mark as done")
            await expect(form.get_by_label(re.compile("^What changed"))).to_be_visible()
            await form.get_by_label(re.compile("^What changed")).fill(
                "https://example.org/sop-fuel (the SOP now says so)"
            )
            await shot(page, "9-done-form")
            await form.get_by_role("button", name=re.compile("^(Mark as done|Save|Done)")).click()
            await expect(page.get_by_text(re.compile("Done. Thank you")).last).to_be_visible()
        await shot(page, "10-done")
        assert lesson_status(bot) == "applied"
        cards = page.locator(".ac-adaptiveCard")
        before = await cards.count()
        await say(page, "fuel reserve night convoys")
        await expect(cards).to_have_count(before + 1)  # the answer
        answer = cards.last
        await expect(answer.get_by_text(TITLE).first).to_be_visible()
        shown = await answer.inner_text()
        assert re.search(re.escape(TITLE) + r"[^\n]*\n?[^\n]*● applied", shown), shown
        await answer.get_by_text(TITLE).first.scroll_into_view_if_needed()
        await shot(page, "11-applied-in-answer")

        await page.get_by_text("General").first.click()  # and in the team's channel
        await page.locator("[data-lexical-editor=true]").first.click()
        await page.keyboard.type("@")
        await (
            page.get_by_role("option")
            .filter(has_text="Test Bot")
            .or_(page.get_by_text("Test Bot", exact=True))
            .first.click()
        )
        await page.keyboard.type(" what did we learn about fuel reserves for night convoys?")
        await page.get_by_role("button", name="Post").click()
        in_channel = last_card(page, "closest lesson")
        await expect(in_channel.get_by_text(TITLE).first).to_be_visible()
        await in_channel.get_by_text(TITLE).first.scroll_into_view_if_needed()
        await shot(page, "12-applied-in-channel")
    no_errors(bot)
