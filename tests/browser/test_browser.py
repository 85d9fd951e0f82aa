"""The local chat and dashboard in a real browser against a real `lessons run` on 127.0.0.1.

The browser is always Debian's `/usr/bin/chromium` driven by Playwright (never a downloaded
browser); `make test` installs it with apt. Without it these tests skip, except in CI
(`LESSONS_REQUIRE_BROWSER=1`), where they fail. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Locator, Page, async_playwright, expect
from sqlalchemy import create_engine, text

CHROMIUM = Path(os.environ.get("LESSONS_CHROMIUM", "/usr/bin/chromium"))
HAVE_CHROMIUM = CHROMIUM.exists()
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
AAR_QUESTIONS = """\
[[question]]
kind = "expected"
text = "What was supposed to happen?"

[[question]]
kind = "improve"
text = "What can be improved, and how?"

[[question]]
kind = "recommend"
text = "Recommendations: who should do what, by when?"
"""


@dataclass(frozen=True)
class Server:
    """A running bot: its base URL and its SQLite database file."""

    url: str
    database: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Start `lessons run` on a free port with a fresh demo database."""
    folder = tmp_path_factory.mktemp("browser")
    database = folder / "lessons.db"
    questions = folder / "aar.toml"
    questions.write_text(AAR_QUESTIONS, encoding="utf-8")
    port = _free_port()
    env = dict(
        os.environ,
        LESSONS_DATABASE_URL=f"sqlite:///{database}",
        LESSONS_PORT=str(port),
        LESSONS_AAR_QUESTIONS=str(questions),
        LESSONS_LOG_LEVEL="WARNING",
    )
    lessons = [sys.executable, "-m", "bot"]
    subprocess.run([*lessons, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*lessons, "seed-demo"], env=env, check=True, capture_output=True)
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen([*lessons, "run"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"the server exited: {(folder / 'server.log').read_text()}")
                time.sleep(0.1)
        yield Server(url, database)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
async def page(server: Server) -> AsyncIterator[Page]:
    """Debian's Chromium, headless through Playwright, with a fresh page for each test."""
    if not HAVE_CHROMIUM:
        reason = f"{CHROMIUM} is not installed (make test installs Debian's chromium with apt)"
        if os.environ.get("LESSONS_REQUIRE_BROWSER"):
            pytest.fail(reason + "; CI requires it", pytrace=False)
        pytest.skip(reason)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 860})
        page = await context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            await context.close()
            await browser.close()


async def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot as a test artifact and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=False)
    return path


STAFF = "amina.diallo@un.example"


async def act_as(page: Page, server: Server, email: str, channel: str = "") -> None:
    """Open the chat acting as this person (the picker sets the same cookie)."""
    await page.context.add_cookies([{"name": "lessons_as", "value": email, "url": server.url}])
    await page.goto(f"{server.url}/#{channel}")
    await expect(page.locator("#status")).to_have_text("connected")
    await expect(page.locator("#acting-as")).to_have_value(email)


def count(server: Server, sql: str) -> int:
    engine = create_engine(f"sqlite:///{server.database}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


async def test_ask_see_the_answer_card_and_vote_helpful(page: Page, server: Server) -> None:
    await act_as(page, server, STAFF)
    await page.locator("#dm-link").click()
    await expect(page.locator("#channel-title")).to_have_text("Lessons Bot")
    await page.locator("#text").fill("what did we learn about elections?")
    await page.locator("#text").press("Enter")

    answer = page.locator("#messages .msg.bot").filter(has_text="closest lessons").last
    await expect(answer).to_be_visible()
    await expect(answer.locator("dl.fields").first).to_contain_text("Type")
    await screenshot(page, "chat-answer")

    before = count(server, "SELECT count(*) FROM feedback WHERE helpful")
    await answer.get_by_role("button", name="Helpful", exact=True).first.click()
    await expect(page.locator("#messages .msg.private-msg").last).to_contain_text("helped")
    assert count(server, "SELECT count(*) FROM feedback WHERE helpful") == before + 1


async def test_switching_who_you_act_as_changes_your_actions(page: Page, server: Server) -> None:
    await act_as(page, server, "tomas.herrera@un.example")
    await page.locator("#my-actions").click()
    card = page.locator("#messages .msg.bot").filter(has_text="Your open actions").last
    await expect(card).to_be_visible()
    await expect(card.get_by_role("button", name="Snooze a week").first).to_be_visible()

    await page.locator("#acting-as").select_option("amina.diallo@un.example")
    await expect(page.locator("#acting-as")).to_have_value("amina.diallo@un.example")
    await page.locator("#my-actions").click()
    await expect(
        page.locator("#messages .msg.bot").filter(has_text=re.compile("open actions")).last
    ).to_be_visible()
    await expect(page.locator("#messages")).not_to_contain_text("Tomás Herrera")


async def test_dashboard_shows_the_funnel_chart(page: Page, server: Server) -> None:
    await act_as(page, server, "farida.rahimi@un.example")
    await page.goto(f"{server.url}/dashboard")
    funnel = page.locator("svg[role=img]").filter(has_text=re.compile("validated", re.I)).first
    await expect(funnel).to_be_visible()
    await expect(funnel).to_contain_text(re.compile("applied", re.I))
    await screenshot(page, "dashboard")


async def test_run_a_three_question_aar_to_the_end(page: Page, server: Server) -> None:
    await act_as(page, server, "ngozi.okafor@un.example", "elections-team")
    page.once("dialog", lambda dialog: dialog.accept("Polling day in Bangui"))
    await page.locator("#start-aar").click()

    thread = page.locator("#thread")
    await expect(thread).to_be_visible()
    await expect(thread).to_contain_text("What was supposed to happen?")
    answers = [
        "Ballots at all 40 polling stations by 07:00.",
        "Twelve stations opened late because ballot kits left the depot at dawn: "
        "pre-position them the evening before.",
        "@tomas.herrera@un.example should pre-position ballot kits the day before, within 2 weeks.",
    ]
    questions = ["What can be improved", "Recommendations"]
    for i, answer in enumerate(answers):
        await page.locator("#thread-text").fill(answer)
        await page.locator("#thread-text").press("Enter")
        await expect(thread.locator(".msg:not(.bot)").last).to_contain_text(answer[:30])
        if i < len(questions):
            await thread.locator(".msg.bot").get_by_role("button", name="Next").last.click()
            await expect(thread.locator(".msg.bot").last).to_contain_text(questions[i])
    await thread.locator(".msg.bot").get_by_role("button", name="Close and save").last.click()
    summary = thread.locator(".msg.bot").filter(has_text="participant").last
    await expect(summary).to_be_visible()
    await screenshot(page, "aar")
    assert count(server, "SELECT count(*) FROM products WHERE external_id LIKE 'review:%'") == 1

    # The owner accepts the proposed action from their inbox; it becomes one of their actions.
    await page.locator("#acting-as").select_option("tomas.herrera@un.example")
    await page.locator("#dm-link").click()
    card = page.locator("#messages .msg.bot").filter(has_text="pre-position").last
    await card.get_by_role("button", name="Accept").click()
    await expect(page.locator("#messages .msg.bot").last).to_contain_text("ccept")
    await page.locator("#my-actions").click()
    await expect(
        page.locator("#messages .msg.bot").filter(has_text="Your open actions").last
    ).to_contain_text("pre-position ballot kits")

    # …and the AAR answers "what did we learn about" its event at once.
    await page.locator("#text").fill("what did we learn about polling day in Bangui?")
    await page.locator("#text").press("Enter")
    await expect(
        page.locator("#messages .msg.bot").filter(has_text="closest lesson").last
    ).to_contain_text("Polling day in Bangui")


LOOP_TITLE = "Fuel reserve for night convoys"
LOOP_RECOMMENDATION = (
    "Keep a fuel reserve for three nights at every team site. "
    "Brief drivers on the night convoy plan before each rotation."
)


async def open_dm(page: Page, email: str) -> None:
    await page.locator("#acting-as").select_option(email)
    await expect(page.locator("#acting-as")).to_have_value(email)
    await page.locator("#dm-link").click()
    await expect(page.locator("#channel-title")).to_have_text("Lessons Bot")


async def say_in_dm(page: Page, text: str) -> None:
    await page.locator("#text").fill(text)
    await page.locator("#text").press("Enter")


def one_value(server: Server, sql: str) -> int:
    return count(server, sql)


async def test_a_lesson_logged_in_the_local_chat_reaches_applied(
    page: Page, server: Server
) -> None:
    bot = page.locator("#messages .msg.bot")
    await act_as(page, server, STAFF)
    await open_dm(page, STAFF)
    await say_in_dm(page, "/lessons new")
    form = page.locator("form.reply-form").last
    await form.locator("[name=title]").fill(LOOP_TITLE)
    await form.locator("[name=lesson]").fill("Night convoys stalled when team sites ran dry.")
    await form.locator("[name=recommendation]").fill(LOOP_RECOMMENDATION)
    await form.locator("button[type=submit]").click()
    saved = bot.filter(has_text="Saved as a lesson note").filter(has_text=LOOP_TITLE)
    await expect(saved.last).to_contain_text("I asked Ngozi Okafor to validate it")
    await expect(page.locator('form.reply-form[data-form="lesson.new"]')).to_have_count(0)
    lesson = one_value(
        server,
        "SELECT lessons.id FROM lessons JOIN products ON products.id = lessons.product_id "
        f"WHERE products.title = '{LOOP_TITLE}'",
    )

    # Her manager validates it from the card in his inbox; the card shows the outcome.
    await open_dm(page, "ngozi.okafor@un.example")
    card = bot.filter(has_text="Validation requested").filter(has_text=LOOP_TITLE).last
    await card.locator(f'button[data-action="validation.validate"][data-value="{lesson}"]').click()
    decided = bot.filter(has_text="Validated by Ngozi Okafor").last
    await expect(decided).to_be_visible()
    await expect(decided.locator('button[data-action="validation.validate"]')).to_have_count(0)

    # Two actions: owners by name, dates in words. A mistake keeps what was typed.
    await decided.locator('button[data-action="plan.open"]').click()
    form = page.locator('form.reply-form[data-form^="plan.add"]').last
    await expect(form.locator("[name=description]")).to_have_value(re.compile("fuel reserve"))
    await form.locator("[name=owner]").fill("Tomaz Herera")
    await form.locator("[name=due]").fill("in 3 weeks")
    await form.locator("button[type=submit]").click()
    form = page.locator('form.reply-form[data-form^="plan.add"]').last
    await expect(form).to_contain_text("Did you mean Tomás Herrera")
    await expect(form.locator("[name=owner]")).to_have_value("Tomaz Herera")
    await expect(form.locator("[name=due]")).to_have_value("in 3 weeks")
    await form.locator("[name=owner]").fill("Tomás Herrera")
    await form.locator("button[type=submit]").click()
    proposed = bot.filter(has_text="Proposed to Tomás Herrera").last
    await expect(proposed).to_be_visible()
    await proposed.locator('button[data-action="plan.open"]').click()
    form = page.locator('form.reply-form[data-form^="plan.add"]').last
    await expect(form.locator("[name=description]")).to_have_value(re.compile("Brief drivers"))
    await form.locator("[name=owner]").fill("kwame")
    await form.locator("[name=due]").fill("end of month")
    await form.locator("button[type=submit]").click()
    await expect(bot.filter(has_text="Proposed to Kwame Asante").last).to_be_visible()

    # Each owner accepts, then marks it done with evidence.
    for owner, words in (
        ("tomas.herrera@un.example", "fuel reserve"),
        ("kwame.asante@un.example", "Brief drivers"),
    ):
        await open_dm(page, owner)
        offer = bot.filter(has_text="An action for you").filter(has_text=words).last
        await offer.get_by_role("button", name="Accept").click()
        await expect(bot.filter(has_text="Accepted").filter(has_text=words).last).to_be_visible()
        action = one_value(
            server,
            f"SELECT id FROM actions WHERE lesson_id = {lesson} AND description LIKE '%{words}%'",
        )
        await say_in_dm(page, "actions")
        listing = bot.filter(has_text="Your open actions").last
        await listing.locator(f'button[data-action="action.done"][data-value="{action}"]').click()
        done = page.locator(f'form.reply-form[data-form="action.done:{action}"]').last
        await done.locator("[name=evidence]").fill("https://example.org/sop-fuel")
        await done.locator("button[type=submit]").click()
        await expect(
            page.locator(f'form.reply-form[data-form="action.done:{action}"]')
        ).to_have_count(0)
    status = "SELECT count(*) FROM lessons WHERE id = {} AND status = 'applied'"
    assert one_value(server, status.format(lesson)) == 1

    # Applied in answers, on `home`, on the dashboard and in `lessons report`.
    await open_dm(page, STAFF)
    await say_in_dm(page, "fuel reserve night convoys")
    answer = bot.filter(has_text="closest lesson").last
    await expect(answer).to_contain_text(LOOP_TITLE)
    await expect(answer).to_contain_text("applied")
    await expect(answer).to_contain_text("2 of 2 actions done")
    await say_in_dm(page, "home")
    await expect(bot.filter(has_text="here is what waits for you").last).to_contain_text(LOOP_TITLE)
    await page.goto(f"{server.url}/dashboard/lessons/{lesson}")
    await expect(page.locator("h1")).to_contain_text("applied")
    await expect(page.locator("body")).to_contain_text("2 of 2 done")
    await screenshot(page, "lesson-applied")
    env = dict(os.environ, LESSONS_DATABASE_URL=f"sqlite:///{server.database}")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "report", env=env, stdout=asyncio.subprocess.PIPE
    )
    report = (await process.communicate())[0].decode()
    recent = report.split("### Recently applied", 1)[1].split("##", 1)[0]
    assert f"#{lesson} {LOOP_TITLE}" in recent


async def test_a_pbpo_links_a_channel_to_an_audience_from_inside_it(
    page: Page, server: Server
) -> None:
    """Staff are refused; a PBPO's link opens the audience's lessons there, and only there."""
    question = "@lessons what did we learn about a back-channel with an armed group?"
    secret = "A discreet back-channel"  # restricted to channel:mediation-support

    async def say(text: str) -> None:
        await page.locator("#text").fill(text)
        await page.locator("#text").press("Enter")

    await act_as(page, server, "tomas.herrera@un.example", "logistics")
    await say("@lessons audience link mediation-support")
    refusal = page.locator(".msg.private-msg").filter(has_text="Only a PBPO").last
    await expect(refusal).to_be_visible()
    await screenshot(page, "audience-link-refused")
    assert count(server, "SELECT count(*) FROM audience_links") == 0

    await page.locator("#acting-as").select_option("farida.rahimi@un.example")
    await expect(page.locator("#acting-as")).to_have_value("farida.rahimi@un.example")
    await say(question)
    before = page.locator(".msg.bot").filter(has_text="closest lessons").last
    await expect(before).to_be_visible()
    await expect(before).not_to_contain_text(secret)  # the name is not the channel's
    await say("@lessons audience link mediation-support")
    linked = page.locator(".msg.private-msg").filter(has_text="Linked").last
    await expect(linked).to_contain_text("local:logistics")
    await screenshot(page, "audience-link")
    await say(question)
    after = page.locator(".msg.bot").filter(has_text=secret).last
    await expect(after).to_be_visible()
    assert count(server, "SELECT count(*) FROM audience_links") == 1


async def test_a_refused_form_stays_open_with_what_was_typed(page: Page, server: Server) -> None:
    await act_as(page, server, STAFF)
    await open_dm(page, STAFF)
    await say_in_dm(page, "/lessons new")
    form = page.locator('form.reply-form[data-form="lesson.new"]').last
    await form.locator("[name=title]").fill("Radio checks before patrols")
    await form.locator("[name=lesson]").fill("Patrols without radio checks lost contact.")
    await form.locator("[name=source]").fill("not a link")
    await form.locator("button[type=submit]").click()
    error = form.locator("[name=source] + .form-error")
    await expect(error).to_contain_text("https://")
    await expect(form.locator("[name=title]")).to_have_value("Radio checks before patrols")
    await expect(form.locator("[name=title]")).to_be_enabled()
    await form.locator("[name=source]").fill("")
    await form.locator("button[type=submit]").click()
    await expect(
        bot_messages(page).filter(has_text="Radio checks before patrols").last
    ).to_contain_text("Saved as a lesson note")


def bot_messages(page: Page) -> Locator:
    return page.locator("#messages .msg.bot")
