"""The learning loop on Slack, end to end: a lesson logged with `/lessons new` is validated by
the author's manager, gets two actions (owners by name, dates in words), the owners accept and
mark them done with evidence, and the lesson shows *applied* in answers, on the App Home, on the
dashboard and in `lessons report`.

Signed requests go to the running bot on 127.0.0.1; what it sends lands on the fake Slack Web
API (tests/fake_slack.py), as in test_slack_app.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import (
    FakeSlack,
    app_home_opened,
    block_actions,
    event_callback,
    form_body,
    signed_headers,
    slash_command,
    view_submission,
)
from sqlalchemy import select

from bot.app import build_app
from bot.cli import main
from bot.settings import Settings
from knowledge.models import Lesson, LessonStatus, Product
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
SECRET = "test-signing-secret"
TOKEN = "xoxb-test"
AMINA, NGOZI = "UAMINA01", "UNGOZI01"  # Ngozi Okafor is Amina Diallo's manager
TOMAS, KWAME = "UTOMAS01", "UKWAME01"
CHANNEL = "C0ELECT"
TITLE = "Fuel reserve for night convoys"
RECOMMENDATION = (
    "Keep a fuel reserve for three nights at every team site. "
    "Brief drivers on the night convoy plan before each rotation."
)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as fake:
        for user, email, name in (
            (AMINA, "amina.diallo", "Amina Diallo"),
            (NGOZI, "ngozi.okafor", "Ngozi Okafor"),
            (TOMAS, "tomas.herrera", "Tomás Herrera"),
            (KWAME, "kwame.asante", "Kwame Asante"),
        ):
            fake.add_user(user, email=f"{email}@un.example", name=name)
        yield fake


@pytest.fixture
async def bot(demo_store: Store, slack: FakeSlack) -> AsyncIterator[Client]:
    settings = Settings(
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=slack.api_url,
        slack_pace_seconds=0,
    )
    client: Client = TestClient(TestServer(build_app(settings, store=demo_store), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()
    slack.assert_clean()  # every Web API call the bot made matches Slack's published API


async def post(bot: Client, body: bytes, content_type: str) -> int:
    headers = {**signed_headers(body, SECRET), "Content-Type": content_type}
    response = await bot.post("/slack/events", data=body, headers=headers)
    await response.read()
    return response.status


async def command(bot: Client, text: str, user: str, *, url: str) -> None:
    fields = slash_command(text, user_id=user, channel_id=CHANNEL, response_url=url)
    assert await post(bot, urlencode(fields).encode(), "application/x-www-form-urlencoded") == 200


async def interact(bot: Client, payload: dict[str, Any]) -> None:
    assert await post(bot, form_body(payload), "application/x-www-form-urlencoded") == 200


def blocks_text(blocks: Any) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def buttons(blocks: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [
        e
        for b in blocks
        if b.get("type") == "actions"
        for e in b["elements"]
        if str(e.get("action_id", "")).startswith(prefix)
    ]


async def eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + 8
    while not (found := check()):
        assert time.monotonic() < deadline, f"the bot did not get there in time: {what}"
        await asyncio.sleep(0.05)
    return found


def said_to(slack: FakeSlack, user: str, words: str) -> Callable[[], list[Any]]:
    """Messages to a user (a DM, or an ephemeral in the channel) that say `words`."""
    dm = slack.dm_channel(user)

    def found() -> list[Any]:
        calls = slack.calls_to("chat.postMessage") + slack.calls_to("chat.postEphemeral")
        return [
            c
            for c in calls
            if c.ok
            and (c.args.get("channel") == dm or c.args.get("user") == user)
            and words in blocks_text(c.args.get("blocks", []))
        ]

    return found


async def press(bot: Client, slack: FakeSlack, user: str, element: dict[str, Any]) -> str:
    """Press a button; return the name of its response_url."""
    name = f"r{time.monotonic_ns()}"
    payload = block_actions(
        element["action_id"],
        element.get("value"),
        user=user,
        channel=CHANNEL,
        response_url=slack.response_url(name),
    )
    await interact(bot, payload)
    return name


async def fill(
    bot: Client, slack: FakeSlack, user: str, opened: int, values: dict[str, str]
) -> dict[str, Any]:
    """Wait for modal number `opened`, submit it with `values` over its prefilled ones."""
    calls = await slack.wait_for("views.open", opened)
    view = calls[opened - 1].args["view"]
    typed = {
        block["block_id"]: values.get(block["block_id"], block["element"].get("initial_value", ""))
        for block in view["blocks"]
        if block["type"] == "input"
    }
    submitted = view_submission(
        view["callback_id"],
        typed,
        user=user,
        private_metadata=view.get("private_metadata", ""),
        blocks=view["blocks"],
    )
    await interact(bot, submitted)
    return view


def lesson_status(store: Store) -> LessonStatus | None:
    with store.session() as s:
        return s.scalars(select(Lesson.status).join(Product).where(Product.title == TITLE)).first()


def lesson_id(store: Store) -> int:
    with store.session() as s:
        return s.scalars(select(Lesson.id).join(Product).where(Product.title == TITLE)).one()


async def test_a_lesson_logged_on_slack_reaches_applied(
    bot: Client,
    slack: FakeSlack,
    demo_store: Store,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Amina logs the lesson: `/lessons new` opens the form as a modal.
    await command(bot, "new", AMINA, url=slack.response_url("new"))
    await fill(
        bot,
        slack,
        AMINA,
        1,
        {
            "title": TITLE,
            "lesson": "Night convoys stalled when team sites ran out of fuel.",
            "recommendation": RECOMMENDATION,
        },
    )
    await eventually(lambda: lesson_status(demo_store) == LessonStatus.IDENTIFIED, "saved")
    lesson = lesson_id(demo_store)

    # Her manager validates it from the card the bot sent him.
    [card] = await eventually(said_to(slack, NGOZI, "Validate"), "validation card")
    [validate] = [
        b for b in buttons(card.args["blocks"], "validation.validate") if b["value"] == str(lesson)
    ]
    name = await press(bot, slack, NGOZI, validate)
    [decided] = await slack.wait_for("response_url", name=name)
    assert decided.args["replace_original"] is True  # the card shows the outcome in place
    assert "Validated by Ngozi Okafor" in blocks_text(decided.args["blocks"])
    assert not buttons(decided.args["blocks"], "validation.validate")
    assert lesson_status(demo_store) == LessonStatus.VALIDATED

    # Two actions, owners by name and dates in words, from "Add actions".
    for n, (owner, due) in enumerate((("Tomás Herrera", "in 3 weeks"), ("kwame", "end of month"))):
        [add] = buttons(decided.args["blocks"], "plan.open")
        await press(bot, slack, NGOZI, add)
        await fill(bot, slack, NGOZI, 2 + n, {"owner": owner, "due": due})
        await eventually(said_to(slack, NGOZI, "Proposed to"), "proposed")
        await eventually(
            lambda n=n: len(said_to(slack, NGOZI, "Proposed to")()) == n + 1, "proposed"
        )

    # Each owner accepts the card the bot sent, which updates in place.
    for owner in (TOMAS, KWAME):
        [offer] = await eventually(said_to(slack, owner, "An action for you"), "owner card")
        [accept] = buttons(offer.args["blocks"], "aar.accept")
        name = await press(bot, slack, owner, accept)
        [accepted] = await slack.wait_for("response_url", name=name)
        assert accepted.args["replace_original"] is True
        assert "Accepted" in blocks_text(accepted.args["blocks"])

    # Each marks theirs done with evidence, from `/lessons actions`.
    opened = 4
    for owner in (TOMAS, KWAME):
        url = f"actions-{owner}"
        await command(bot, "actions", owner, url=slack.response_url(url))
        [listing] = await slack.wait_for("response_url", name=url)
        person = await demo_store.person_for("slack", owner) or 0
        mine = {a.id for a in await demo_store.actions_of(person) if a.lesson_id == lesson}
        [ours] = [
            b for b in buttons(listing.args["blocks"], "action.done") if int(b["value"]) in mine
        ]
        await press(bot, slack, owner, ours)
        await fill(bot, slack, owner, opened, {"evidence": "https://example.org/sop-fuel"})
        opened += 1
    await eventually(lambda: lesson_status(demo_store) == LessonStatus.APPLIED, "applied")

    # Applied in answers, on the App Home, on the dashboard and in `lessons report`.
    await command(bot, "fuel reserve night convoys", AMINA, url=slack.response_url("ask"))
    [answer] = await slack.wait_for("response_url", name="ask")
    assert TITLE in blocks_text(answer.args["blocks"])
    assert "● applied" in blocks_text(answer.args["blocks"])
    assert "2 of 2 actions done" in blocks_text(answer.args["blocks"])

    assert (
        await post(
            bot, json.dumps(event_callback(app_home_opened(AMINA))).encode(), "application/json"
        )
        == 200
    )
    homes = await eventually(
        lambda: [
            c
            for c in slack.calls_to("views.publish")
            if c.args["user_id"] == AMINA and TITLE in blocks_text(c.args["view"])
        ],
        "home",
    )
    assert "applied" in blocks_text(homes[-1].args["view"]).lower()

    page = await bot.get(f"/dashboard/lessons/{lesson}")
    html = await page.text()
    assert page.status == 200 and "applied" in html and "2 of 2 done" in html

    monkeypatch.setenv("LESSONS_DATABASE_URL", demo_store.engine.url.render_as_string(False))
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["report", "--format", "md"]) == 0
    report = capsys.readouterr().out
    recent = report.split("### Recently applied", 1)[1].split("##", 1)[0]
    assert f"#{lesson} {TITLE}" in recent


async def test_a_refused_modal_stays_open_with_the_reason_beside_its_field(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    await command(bot, "new", AMINA, url=slack.response_url("new"))
    [opened] = await slack.wait_for("views.open")
    view = opened.args["view"]
    typed = {"title": TITLE, "lesson": "Night convoys stalled.", "source": "not a link"}
    submitted = view_submission(
        view["callback_id"],
        {
            b["block_id"]: typed.get(b["block_id"], "")
            for b in view["blocks"]
            if b["type"] == "input"
        },
        user=AMINA,
        private_metadata=view.get("private_metadata", ""),
        blocks=view["blocks"],
    )
    body = form_body(submitted)
    headers = {**signed_headers(body, SECRET), "Content-Type": "application/x-www-form-urlencoded"}
    response = await bot.post("/slack/events", data=body, headers=headers)
    assert response.status == 200
    answer = await response.json()
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == ["source"]
    assert "https://" in answer["errors"]["source"]
    assert lesson_status(demo_store) is None  # nothing saved, and the modal keeps the rest


async def test_a_pressed_question_card_retires_in_place(
    bot: Client, slack: FakeSlack, demo_store: Store
) -> None:
    fields = slash_command("start Polling day", user_id=AMINA, channel_id=CHANNEL, command="/aar")
    assert await post(bot, urlencode(fields).encode(), "application/x-www-form-urlencoded") == 200
    [opening] = await slack.wait_for("chat.postMessage")
    assert opening.response is not None
    [nxt] = buttons(opening.args["blocks"], "aar.next")
    payload = block_actions(
        nxt["action_id"],
        nxt["value"],
        user=AMINA,
        channel=CHANNEL,
        message_ts=opening.response["ts"],
        response_url=slack.response_url("next"),
    )
    await interact(bot, payload)
    [retired] = await slack.wait_for("response_url", name="next")
    assert retired.args["replace_original"] is True
    assert "Moved on by Amina Diallo" in blocks_text(retired.args["blocks"])
    assert not [b for b in retired.args["blocks"] if b.get("type") == "actions"]
    await eventually(
        lambda: [
            c
            for c in slack.calls_to("chat.postMessage")
            if "Question 2 of" in blocks_text(c.args.get("blocks", []))
        ],
        "question 2 posted",
    )
