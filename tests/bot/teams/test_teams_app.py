"""Teams end to end: signed activities to the running bot on 127.0.0.1, replies delivered to a
fake connector on 127.0.0.1, tokens from a fake authority over HTTPS (real Microsoft 365 Agents
SDK, real msal, real HTTP both ways; see fake_teams). Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fake_slack import FakeSlack, app_mention, event_callback, signed_headers
from fake_teams import (
    CA_VARIABLES,
    CARD,
    FakeTeams,
    Member,
    channel,
    channel_message,
    compose_query,
    execute,
    find_action,
    installed_in_team,
    installed_personal,
    personal,
    personal_message,
    submit,
    text_of,
)
from sqlalchemy import select

from bot import reminders
from bot.app import build_app
from bot.settings import Settings
from bot.teams.notifier import TeamsNotifier
from bot.teams.routes import TeamsSurface
from handlers.chat import ConversationRef, Reply, Text, UserRef
from knowledge.models import (
    Action,
    ActionStatus,
    Lesson,
    LessonStatus,
    Product,
    Promotion,
    Review,
    ReviewAnswer,
    TeamsReference,
    UnreachablePerson,
)
from knowledge.storage import Store
from scheduler.clock import ManualClock
from scheduler.config import SchedulerSettings
from scheduler.jobs import Scheduler

Client = TestClient[web.Request, web.Application]
AMINA = Member("aad-amina", "29:amina", "Amina Diallo", "amina.diallo@un.example")
TOMAS = Member("aad-tomas", "29:tomas", "Tomás Herrera", "tomas.herrera@un.example")
STRANGER = Member("aad-stranger", "29:stranger", "New Person", "new.person@un.example")
FARIDA = Member("aad-farida", "29:farida", "Farida Rahimi", "farida.rahimi@un.example", False)
CHANNEL = "19:elections@thread.tacv2"
TEAM = "19:team-elections@thread.tacv2"
NAME = "elections-team"
QUESTION = "what did we learn about elections?"
# The main flows run on SQLite and PostgreSQL (the `store` fixture's two backends); the rest
# exercise Teams, not the database, and run on SQLite only to keep the suite quick.
SQLITE_ONLY = pytest.mark.parametrize("store", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTeams]:
    with pytest.MonkeyPatch.context() as env, FakeTeams() as f:
        for name in CA_VARIABLES:
            env.setenv(name, str(f.ca_file))
        for member in (AMINA, TOMAS, STRANGER, FARIDA):
            f.add_member(member)
        yield f


@pytest.fixture
def teams(fake: FakeTeams) -> Iterator[FakeTeams]:
    fake.reset()
    yield fake
    fake.assert_clean()  # every call carried an issued token; every card was valid 1.5


async def serve(app: web.Application) -> Client:
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def bot(demo_store: Store, teams: FakeTeams) -> AsyncIterator[Client]:
    client = await serve(build_app(Settings.from_env(teams.env()), store=demo_store))
    yield client
    await client.close()


async def post(bot: Client, teams: FakeTeams, activity: dict[str, Any]) -> tuple[int, Any]:
    response = await bot.post(
        "/api/messages", json=activity, headers={"Authorization": f"Bearer {teams.token()}"}
    )
    body = await response.json() if response.content_type == "application/json" else None
    return response.status, body


def cards_to(teams: FakeTeams, conversation: str) -> list[dict[str, Any]]:
    return teams.cards(conversation)


async def test_a_personal_question_gets_a_lesson_card(
    bot: Client, teams: FakeTeams, demo_store: Store
) -> None:
    status, _ = await post(bot, teams, personal_message(teams, AMINA, QUESTION))
    assert status == 202
    (card,) = cards_to(teams, "a:personal-aad-amina")
    assert card["version"] == "1.5" and "closest lessons" in text_of(card)
    assert find_action(card, "ask.helpful")["type"] == "Action.Execute"
    # Amina was found in the directory by the email the roster (TeamsInfo) gave.
    assert await demo_store.person_for("teams", AMINA.aad) == await demo_store.person_for(
        "local", AMINA.email
    )


@SQLITE_ONLY
async def test_a_channel_mention_is_answered_in_its_thread_and_chatter_is_ignored(
    bot: Client, teams: FakeTeams
) -> None:
    asked = channel_message(teams, AMINA, QUESTION, channel_id=CHANNEL, name=NAME, team_id=TEAM)
    assert (await post(bot, teams, asked))[0] == 202
    thread = f"{CHANNEL};messageid={asked['id']}"
    (card,) = cards_to(teams, thread)
    assert "closest lessons" in text_of(card)
    chatter = channel_message(
        teams, AMINA, "lunch?", channel_id=CHANNEL, name=NAME, team_id=TEAM, mention=False
    )
    assert (await post(bot, teams, chatter))[0] == 202
    assert len(teams.sent()) == 1  # nothing said about lunch


async def my_actions(bot: Client, teams: FakeTeams) -> dict[str, Any]:
    await post(bot, teams, personal_message(teams, TOMAS, "actions"))
    (card,) = cards_to(teams, "a:personal-aad-tomas")
    return card


async def test_snooze_on_my_actions_updates_the_card_in_place(
    bot: Client, teams: FakeTeams
) -> None:
    card = await my_actions(bot, teams)
    snooze = find_action(card, "action.snooze")
    click = execute(teams, TOMAS, snooze, conversation=personal(TOMAS), card_id="1")
    status, body = await post(bot, teams, click)
    assert status == 200
    assert body["statusCode"] == 200 and body["type"] == CARD
    assert "Snoozed: now due" in text_of(body["value"])
    assert len(teams.sent()) == 1  # the card was updated through the invoke, nothing posted


@SQLITE_ONLY
async def test_done_with_evidence_opens_a_form_in_the_card_then_saves(
    bot: Client, teams: FakeTeams, demo_store: Store
) -> None:
    card = await my_actions(bot, teams)
    done = find_action(card, "action.done")
    action_id = int(done["data"]["lessons.value"])
    _, form = await post(
        bot, teams, execute(teams, TOMAS, done, conversation=personal(TOMAS), card_id="1")
    )
    assert form["type"] == CARD
    inputs = [e for e in form["value"]["body"][-1]["items"] if e["type"] == "Input.Text"]
    assert [i["id"] for i in inputs] == ["evidence"]
    save = find_action(form["value"], "action.done:")
    evidence = {"evidence": "Checklist in the SOP binder, signed off 24 Nov"}
    _, saved = await post(
        bot,
        teams,
        execute(teams, TOMAS, save, conversation=personal(TOMAS), card_id="1", inputs=evidence),
    )
    assert "Done. Thank you" in text_of(saved["value"])
    with demo_store.session() as s:
        assert s.get(Action, action_id).status == ActionStatus.DONE


@SQLITE_ONLY
async def test_an_action_submit_click_updates_the_card_it_came_from(
    bot: Client, teams: FakeTeams
) -> None:
    card = await my_actions(bot, teams)
    snooze = find_action(card, "action.snooze")
    click = submit(teams, TOMAS, snooze["data"], conversation=personal(TOMAS), card_id="17")
    assert (await post(bot, teams, click))[0] == 202
    (update,) = [c for c in teams.calls if c.method == "PUT"]
    assert update.path.endswith("/activities/17")
    assert "Snoozed: now due" in text_of(update.body)


@SQLITE_ONLY
async def test_a_vote_is_thanked_with_a_toast(bot: Client, teams: FakeTeams) -> None:
    await post(bot, teams, personal_message(teams, AMINA, QUESTION))
    (card,) = cards_to(teams, "a:personal-aad-amina")
    vote = find_action(card, "ask.helpful")
    _, body = await post(
        bot, teams, execute(teams, AMINA, vote, conversation=personal(AMINA), card_id="1")
    )
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert "Thanks" in body["value"]


@SQLITE_ONLY
async def test_a_private_answer_in_a_channel_goes_to_the_personal_chat(
    bot: Client, teams: FakeTeams
) -> None:
    asked = channel_message(teams, TOMAS, "actions", channel_id=CHANNEL, name=NAME, team_id=TEAM)
    await post(bot, teams, asked)
    assert teams.sent(f"{CHANNEL};messageid={asked['id']}") == []  # nothing in the channel
    created = [c for c in teams.calls if c.method == "POST" and c.path == "/v3/conversations"]
    assert created and created[0].body["members"] == [{"id": TOMAS.teams_id}]
    (card,) = cards_to(teams, "a:personal-aad-tomas")
    assert "Your open actions" in text_of(card)


def answers(store: Store) -> list[str]:
    with store.session() as s:
        return [a.text for a in s.scalars(select(ReviewAnswer).order_by(ReviewAnswer.id))]


async def test_an_aar_runs_in_a_channel_thread(
    bot: Client, teams: FakeTeams, demo_store: Store
) -> None:
    start = channel_message(
        teams, AMINA, "aar start Polling day in Bangui", channel_id=CHANNEL, name=NAME,
        team_id=TEAM,
    )  # fmt: skip
    await post(bot, teams, start)
    thread = start["id"]  # the review runs in the thread of the message that started it
    (opening,) = cards_to(teams, f"{CHANNEL};messageid={thread}")
    assert "Polling day in Bangui" in text_of(opening)
    with demo_store.session() as s:
        assert s.scalars(select(Review.thread_id)).one() == thread
    answer = "Ballots at all 40 stations by 07:00."
    said = channel_message(
        teams, AMINA, answer, channel_id=CHANNEL, name=NAME, team_id=TEAM, thread=thread,
        mention=False,
    )  # fmt: skip
    assert (await post(bot, teams, said))[0] == 202
    assert answers(demo_store) == [answer]
    edited = {**said, "type": "messageUpdate", "text": "Ballots at all 40 stations by 06:30."}
    edited["channelData"] = {**said["channelData"], "eventType": "editMessage"}
    await post(bot, teams, edited)
    assert answers(demo_store) == ["Ballots at all 40 stations by 06:30."]

    # Next on the card: the card retires in place (who moved on, no buttons), and question 2
    # is posted in the thread.
    nxt = find_action(opening, "aar.next")
    where = channel(CHANNEL, thread)
    status, body = await post(
        bot, teams, execute(teams, AMINA, nxt, conversation=where, card_id=thread)
    )
    assert status == 200 and body["type"] == CARD
    assert "Moved on by Amina Diallo" in text_of(body["value"])
    assert "Action.Execute" not in text_of(body["value"])
    assert "Question 2 of" in text_of(cards_to(teams, f"{CHANNEL};messageid={thread}")[-1])


@SQLITE_ONLY
async def test_an_anchored_post_starts_a_new_thread_at_the_top_of_the_channel(
    bot: Client, teams: FakeTeams, demo_store: Store
) -> None:
    asked = channel_message(teams, AMINA, "help", channel_id=CHANNEL, name=NAME, team_id=TEAM)
    await post(bot, teams, asked)  # the bot now holds the channel's reference
    teams.reset()
    surface = TeamsSurface(Settings.from_env(teams.env()), demo_store)
    landed_at: list[ConversationRef] = []

    async def posted(anchor: str, where: ConversationRef) -> None:
        landed_at.append(where)

    surface.notifier.posted = posted
    try:
        where = ConversationRef("teams", CHANNEL, "1700000000999", channel_name=NAME)
        landed = await surface.notifier.post(
            where, Reply((Text("An AAR opens here"),), in_thread=False, anchor="aar:1")
        )
    finally:
        await surface.stop()
    (call,) = teams.calls
    assert call.path == f"/v3/conversations/{CHANNEL}/activities"  # top level, not a thread
    assert landed is not None and landed.thread_id == call_id(teams)
    assert landed_at == [landed]


def call_id(teams: FakeTeams) -> str:
    return str(next(teams._ids) - 1)


@SQLITE_ONLY
async def test_the_message_extension_finds_lessons_to_insert(bot: Client, teams: FakeTeams) -> None:
    query = compose_query(teams, AMINA, "elections", conversation=channel(CHANNEL))
    status, body = await post(bot, teams, query)
    assert status == 200
    result = body["composeExtension"]
    assert result["type"] == "result" and result["attachments"]
    first = result["attachments"][0]
    assert first["contentType"] == CARD and first["preview"]["content"]["title"]
    from fake_teams import card_schema_errors

    assert all(card_schema_errors(a["content"]) == [] for a in result["attachments"])


async def test_install_keeps_the_reference_and_a_nudge_arrives_later(
    bot: Client, teams: FakeTeams, demo_store: Store
) -> None:
    assert (await post(bot, teams, installed_personal(teams, TOMAS)))[0] == 202
    (welcome,) = cards_to(teams, "a:personal-aad-tomas")
    assert "Lessons Bot" in text_of(welcome)
    with demo_store.session() as s:
        kinds = {r.conversation_id: r.kind for r in s.scalars(select(TeamsReference))}
    assert kinds == {"a:personal-aad-tomas": "personal"}

    person = await demo_store.person_for("teams", TOMAS.aad)
    with demo_store.session() as s:  # one of his actions is now overdue
        action = s.scalars(select(Action).where(Action.owner_id == person)).first()
        assert action is not None
        action.status, action.due_date = ActionStatus.OPEN, date(2026, 11, 20)
        described = action.description
    teams.reset()
    notifiers = reminders.notifiers(Settings.from_env(teams.env()), demo_store)
    assert [n.platform for n in notifiers] == ["teams"]
    nine = datetime(2026, 11, 25, 9, 5, tzinfo=ZoneInfo("Africa/Bangui"))
    scheduler = Scheduler(
        store=demo_store,
        notifiers=notifiers,
        settings=SchedulerSettings(platform_rate=0),
        clock=ManualClock(nine),
        reviews=False,
    )
    try:
        await scheduler.tick()
    finally:
        await scheduler.aclose()
    nudges = cards_to(teams, "a:personal-aad-tomas")
    assert any(described[:40] in text_of(card) for card in nudges)


@SQLITE_ONLY
async def test_a_person_teams_cannot_reach_is_reported_not_skipped(
    bot: Client, teams: FakeTeams, demo_store: Store
) -> None:
    # Farida speaks in a channel (so she is linked) but never installed the bot for herself,
    # and Teams refuses to open a personal chat with her.
    asked = channel_message(teams, FARIDA, QUESTION, channel_id=CHANNEL, name=NAME, team_id=TEAM)
    await post(bot, teams, asked)
    farida = await demo_store.person_for("teams", FARIDA.aad)
    assert farida is not None
    notifier = next(
        n
        for n in reminders.notifiers(Settings.from_env(teams.env()), demo_store)
        if isinstance(n, TeamsNotifier)
    )
    with demo_store.session() as s:
        action = s.scalars(select(Action).where(Action.owner_id == farida)).first()
        if action is None:
            pytest.skip("the demo gives Farida no action")
        action.status, action.due_date = ActionStatus.OPEN, date(2026, 11, 20)
    nine = datetime(2026, 11, 25, 9, 5, tzinfo=ZoneInfo("Africa/Bangui"))
    scheduler = Scheduler(
        store=demo_store,
        notifiers=[notifier],
        settings=SchedulerSettings(platform_rate=0),
        clock=ManualClock(nine),
        reviews=False,
    )
    try:
        await scheduler.tick()
    finally:
        await scheduler.aclose()
    with demo_store.session() as s:
        assert s.get(UnreachablePerson, farida) is not None  # listed in the PBPO digest


@SQLITE_ONLY
async def test_a_rate_limited_proactive_send_waits_and_is_delivered(
    bot: Client, teams: FakeTeams, demo_store: Store
) -> None:
    await post(bot, teams, installed_personal(teams, AMINA))
    teams.reset()
    (notifier,) = reminders.notifiers(Settings.from_env(teams.env()), demo_store)
    assert isinstance(notifier, TeamsNotifier)
    teams.fail_next(429, **{"Retry-After": "0"})
    try:
        sent = await notifier.send(UserRef("teams", AMINA.aad), Reply.of(Text("A reminder")))
    finally:
        await notifier.aclose()
    assert sent is not None
    posts = [c for c in teams.calls if c.method == "POST"]
    assert len(posts) == 2 and "A reminder" in text_of(posts[-1].body)


@SQLITE_ONLY
async def test_a_redelivered_activity_is_processed_once(bot: Client, teams: FakeTeams) -> None:
    asked = personal_message(teams, AMINA, QUESTION)
    assert (await post(bot, teams, asked))[0] == 202
    assert (await post(bot, teams, asked))[0] == 202
    assert len(cards_to(teams, "a:personal-aad-amina")) == 1


def _oddities(teams: FakeTeams) -> list[dict[str, Any]]:
    base = personal_message(teams, AMINA, "help")
    return [
        {**base, "type": "typing"},
        {**base, "type": "messageReaction", "reactionsAdded": [{"type": "like"}]},
        {**base, "type": "event", "name": "application/vnd.microsoft.meetingStart"},
        {**base, "type": "teleport"},
        {**base, "type": "invoke", "name": "task/fetch", "value": {"data": {}}},
        {**base, "type": "invoke", "name": "adaptiveCard/action", "value": "nope"},
        {**base, "type": "invoke", "name": "adaptiveCard/action", "value": {"action": {}}},
        {**base, "type": "invoke", "name": "composeExtension/query", "value": []},
        {**base, "text": "x" * 100_000},
        {**base, "text": "\u202e\u0000évènement 🎉\ud83d Ⅻ ﷽ " * 50},
        {**base, "text": ""},
        {**base, "value": {"lessons.kind": "button", "lessons.action": "nope.nope"}},
        {**base, "value": {"lessons.kind": "form", "lessons.action": "action.done:999999"}},
        {**base, "from": "nobody"},
        {**base, "entities": "none"},
        {**base, "conversation": {"id": "a:x", "conversationType": 7}},
    ]


@SQLITE_ONLY
async def test_odd_activities_never_get_a_5xx_and_get_friendly_replies(
    bot: Client, teams: FakeTeams
) -> None:
    for activity in _oddities(teams):
        activity = {**activity, "id": str(next(teams._ids))}
        status, _ = await post(bot, teams, activity)
        assert status < 500, (status, json.dumps(activity)[:200])
    said = " ".join(text_of(card) for card in teams.cards())
    assert "Sorry, something went wrong" not in said


@SQLITE_ONLY
@pytest.mark.parametrize(
    "body",
    [b"{", b"[]", b"null", b'{"type": "message"}', b'{"type": "message", "conversation": {}}',
     b'{"type": "", "conversation": {"id": "a:1"}, "serviceUrl": "http://127.0.0.1/"}',
     b'{"type": "message", "conversation": {"id": "a:1"}, "serviceUrl": "ftp://x"}',
     b'{"type": "message", "conversation": {"id": "a:1"}, "serviceUrl": "http://x/", "from": 5}',
     b"\xff\xfe\x00"],
)  # fmt: skip
async def test_malformed_bodies_get_a_400(bot: Client, teams: FakeTeams, body: bytes) -> None:
    response = await bot.post(
        "/api/messages",
        data=body,
        headers={"Authorization": f"Bearer {teams.token()}", "Content-Type": "application/json"},
    )
    assert response.status == 400
    assert teams.calls == []


@SQLITE_ONLY
async def test_teams_and_the_local_chat_share_the_server(bot: Client) -> None:
    assert (await bot.get("/healthz")).status == 200
    assert (await bot.get("/api/messages")).status == 405  # only POST, and no login page


@SQLITE_ONLY
async def test_a_team_install_is_remembered_for_lookups_by_email(
    bot: Client, teams: FakeTeams, demo_store: Store
) -> None:
    await post(
        bot,
        teams,
        installed_in_team(teams, AMINA, channel_id=TEAM, name="General", team_id=TEAM),
    )
    (notifier,) = reminders.notifiers(Settings.from_env(teams.env()), demo_store)
    assert isinstance(notifier, TeamsNotifier)
    try:
        assert await notifier.lookup(STRANGER.email) == STRANGER.aad
        assert await notifier.lookup("nobody@un.example") is None
    finally:
        await notifier.aclose()


async def test_slack_and_teams_run_side_by_side_on_one_database(
    demo_store: Store, teams: FakeTeams
) -> None:
    async with FakeSlack(token="xoxb-test") as slack:
        slack.add_user("UAMINA01", email=AMINA.email, name=AMINA.name)
        env = {
            **teams.env(),
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "test-signing-secret",
            "SLACK_API_URL": slack.api_url,
            "LESSONS_SLACK_PACE_SECONDS": "0",
        }
        client = await serve(build_app(Settings.from_env(env), store=demo_store))
        try:
            body = json.dumps(
                event_callback(app_mention(f"<@U0BOT> {QUESTION}", "UAMINA01", "C0ELECT"))
            ).encode()
            response = await client.post(
                "/slack/events",
                data=body,
                headers={
                    **signed_headers(body, "test-signing-secret"),
                    "Content-Type": "application/json",
                },
            )
            assert response.status == 200
            (slack_answer,) = await slack.wait_for("chat.postMessage")
            assert "closest lessons" in json.dumps(slack_answer.args["blocks"])
            assert (await post(client, teams, personal_message(teams, AMINA, QUESTION)))[0] == 202
            (card,) = cards_to(teams, "a:personal-aad-amina")
            assert "closest lessons" in text_of(card)
        finally:
            await client.close()
        slack.assert_clean()
    # One person behind both accounts, in the one database both surfaces use.
    on_slack = await demo_store.person_for("slack", "UAMINA01")
    assert on_slack is not None and on_slack == await demo_store.person_for("teams", AMINA.aad)


@SQLITE_ONLY
async def test_a_private_note_after_a_submit_in_a_channel_is_never_said_aloud(
    bot: Client, teams: FakeTeams
) -> None:
    asked = channel_message(teams, AMINA, QUESTION, channel_id=CHANNEL, name=NAME, team_id=TEAM)
    await post(bot, teams, asked)
    thread = f"{CHANNEL};messageid={asked['id']}"
    (card,) = cards_to(teams, thread)
    vote = find_action(card, "ask.helpful")
    click = submit(
        teams, AMINA, vote["data"], conversation=channel(CHANNEL, asked["id"]), card_id="9"
    )
    click["channelData"] = {**asked["channelData"], **click["channelData"]}
    assert (await post(bot, teams, click))[0] == 202
    assert len(cards_to(teams, thread)) == 1  # nothing more in the channel
    (thanks,) = cards_to(teams, "a:personal-aad-amina")
    assert "Thanks" in text_of(thanks)


async def test_a_pbpo_promotes_a_practice_in_a_teams_channel(
    bot: Client, teams: FakeTeams, demo_store: Store
) -> None:
    with demo_store.session() as s:
        lesson = s.scalars(
            select(Lesson.id)
            .join(Product)
            .where(Product.title.startswith("Lessons Learned Study: Community Violence"))
            .where(Lesson.status == LessonStatus.APPLIED)
        ).one()
    said = channel_message(
        teams, FARIDA, f"practice promote {lesson} cut reprisals by half", channel_id=CHANNEL,
        name=NAME, team_id=TEAM,
    )  # fmt: skip
    assert (await post(bot, teams, said))[0] == 202
    (card,) = [c for c in cards_to(teams, CHANNEL) if "Good practice" in text_of(c)]
    assert "cut reprisals by half" in text_of(card)
    with demo_store.session() as s:
        promoted = s.scalars(select(Promotion)).one()
    assert (promoted.lesson_id, promoted.channels) == (lesson, [f"teams:{CHANNEL}"])


NYIBOL = Member("aad-nyibol", "29:nyibol", "Nyibol Deng", "nyibol.deng@un.example")
GRACE = Member("aad-grace", "29:grace", "Grace Achieng", "grace.achieng@un.example")


async def test_ask_a_colleague_round_trips_on_teams(
    bot: Client, teams: FakeTeams, demo_store: Store
) -> None:
    """Issue 20 on Teams: nothing fits → Ask a colleague → the PBPO answers from the card in
    their personal chat → the answer reaches the asker's chat → saved as a lesson note."""
    for member in (NYIBOL, GRACE):
        teams.add_member(member)
    await post(bot, teams, personal_message(teams, GRACE, "hi"))  # the bot knows her chat
    teams.reset()
    asked = personal_message(teams, NYIBOL, "lessons about cholera outbreaks in camps")
    assert (await post(bot, teams, asked))[0] == 202
    (answer,) = cards_to(teams, "a:personal-aad-nyibol")
    assert "I found nothing in the lessons that answers" in text_of(answer)
    ask = find_action(answer, "colleague.ask")
    _, told = await post(
        bot, teams, execute(teams, NYIBOL, ask, conversation=personal(NYIBOL), card_id="1")
    )
    assert "I asked" in json.dumps(told) and "Grace Achieng" in json.dumps(told)

    (card,) = [c for c in cards_to(teams, "a:personal-aad-grace") if "asks:" in text_of(c)]
    assert "Nyibol Deng asks:" in text_of(card)
    opened = find_action(card, "colleague.answer")
    _, form = await post(
        bot, teams, execute(teams, GRACE, opened, conversation=personal(GRACE), card_id="2")
    )
    assert form["type"] == CARD
    send = find_action(form["value"], "colleague.reply:")
    line = "Chlorinate water points first; the WASH cluster keeps the stocks."
    _, thanks = await post(
        bot,
        teams,
        execute(
            teams, GRACE, send, conversation=personal(GRACE), card_id="2",
            inputs={"answer": line, "lesson": ""},
        ),
    )  # fmt: skip
    assert "passed your answer to Nyibol Deng" in json.dumps(thanks)

    back = [c for c in cards_to(teams, "a:personal-aad-nyibol") if line in text_of(c)]
    assert len(back) == 1 and "Grace Achieng" in text_of(back[0])
    save = find_action(back[0], "colleague.save")
    _, saved = await post(
        bot, teams, execute(teams, NYIBOL, save, conversation=personal(NYIBOL), card_id="3")
    )
    assert "answer as a lesson note" in json.dumps(saved)
    with demo_store.session() as s:
        note = s.scalars(select(Lesson).where(Lesson.lesson == line)).one()
        assert note.status == LessonStatus.IDENTIFIED


def _query_link(teams: FakeTeams, member: Member, url: str) -> dict[str, Any]:
    """A link pasted in the compose box (`composeExtension/queryLink`, link unfurling)."""
    activity = compose_query(teams, member, "", conversation=personal(member))
    activity["name"] = "composeExtension/queryLink"
    activity["value"] = {"url": url}
    return activity


def _lesson_titled(store: Store, words: str) -> int:
    with store.session() as s:
        found = s.scalars(
            select(Lesson.id)
            .join(Product, Product.id == Lesson.product_id)
            .where(Product.title.contains(words))
            .order_by(Lesson.id)
        ).first()
        assert found is not None, words
        return int(found)


@SQLITE_ONLY
async def test_a_pasted_lesson_link_unfurls_into_its_card_or_restricted(
    bot: Client, teams: FakeTeams, demo_store: Store
) -> None:
    public = _lesson_titled(demo_store, "Air retrieval of results")
    secret = _lesson_titled(demo_store, "A discreet back-channel")  # channel:mediation-support
    page = "https://lessons.example.org/dashboard/lessons/{}"

    status, body = await post(bot, teams, _query_link(teams, AMINA, page.format(public)))
    assert status == 200
    (attachment,) = body["composeExtension"]["attachments"]
    assert "Air retrieval of results" in text_of(attachment["content"])
    assert "Helpful" not in text_of(attachment["content"])  # no votes on an unfurl

    status, body = await post(bot, teams, _query_link(teams, AMINA, page.format(secret)))
    (attachment,) = body["composeExtension"]["attachments"]
    shown = text_of(attachment)
    assert "restricted lesson" in shown and "back-channel" not in shown.lower()

    for other in (page.format(999999), "https://example.org/elsewhere", ""):
        status, body = await post(bot, teams, _query_link(teams, AMINA, other))
        assert status == 200 and body["composeExtension"]["attachments"] == []
