"""Reminders through the real Slack path (ReminderNotifier → slack_sdk) against the fake Slack.

A delivery failure (500, 429, timeout, a lost answer) never marks a notification sent; the retry
looks for the message by its metadata before posting again, so nobody gets it twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from fake_slack import APP_ID, FakeSlack, dm_channel_id
from scheduler_world import add_action, add_lesson, add_person, at_local, ledger
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import select

from bot import reminders
from bot.settings import Settings
from bot.slack.installations import Installations, Sightings, Workspace
from bot.slack.notifier import METADATA_EVENT
from bot.slack.reminders import WorkspaceReminderNotifier, reminder_notifier
from knowledge.models import NotificationStatus, UnreachablePerson
from knowledge.storage import Store
from scheduler.clock import ManualClock
from scheduler.config import SchedulerSettings
from scheduler.jobs import Scheduler

WED = date(2026, 11, 25)
TOKEN = "xoxb-test"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=TOKEN) as fake:
        fake.add_user("U0AMINA", email="amina@example.org", name="amina")
        yield fake
        fake.assert_clean()


@pytest.fixture
async def made() -> AsyncIterator[list[Scheduler]]:
    """Collect the schedulers a test makes, and close their HTTP sessions after it."""
    schedulers: list[Scheduler] = []
    yield schedulers
    for s in schedulers:
        await s.aclose()


def setup(
    store: Store,
    slack: FakeSlack,
    made: list[Scheduler],
    *,
    timeout: int = 5,
    retries: int = 2,
) -> tuple[Scheduler, ManualClock]:
    amina = add_person(store, "Amina Diallo", slack="U0AMINA")
    add_action(store, add_lesson(store), amina, WED - timedelta(days=1), description="Brief")
    settings = Settings(slack_bot_token=TOKEN, slack_api_url=slack.api_url, slack_pace_seconds=0)
    notifier = reminder_notifier(settings, timeout=timeout, retries=retries)
    assert notifier is not None
    clock = ManualClock(at_local(WED, 9, 5))
    s = Scheduler(
        store=store,
        notifiers=[notifier],
        settings=SchedulerSettings(platform_rate=0),
        clock=clock,
        reviews=False,
    )
    made.append(s)
    return s, clock


def posted(slack: FakeSlack) -> list[dict[str, object]]:
    channel = dm_channel_id("U0AMINA")
    return [m for (c, _), m in slack.messages.items() if c == channel]


async def retry(s: Scheduler, clock: ManualClock, store: Store) -> None:
    [row] = ledger(store, "nudge")
    clock.set(row.next_attempt_at + timedelta(seconds=1))
    await s.tick()


async def test_a_reminder_carries_its_key_in_the_message_metadata(
    store: Store, slack: FakeSlack, made: list[Scheduler]
) -> None:
    s, _ = setup(store, slack, made)
    await s.tick()
    [message] = posted(slack)
    [row] = ledger(store, "nudge")
    assert row.status == NotificationStatus.SENT and row.message_ref == message["ts"]
    metadata = message["metadata"]
    assert isinstance(metadata, dict) and metadata["event_type"] == METADATA_EVENT
    assert metadata["event_payload"] == {"key": row.delivery}
    assert "Brief" in str(message["text"])


@pytest.mark.parametrize("status", [500, 503])
async def test_a_server_error_is_not_sent_and_is_retried_once_more(
    store: Store, slack: FakeSlack, made: list[Scheduler], status: int
) -> None:
    s, clock = setup(store, slack, made)
    slack.fail("chat.postMessage", status=status)
    await s.tick()
    [row] = ledger(store, "nudge")
    assert row.status == NotificationStatus.FAILED and row.sent_at is None
    assert len(slack.calls_to("chat.postMessage")) == 1  # no automatic retry on 5xx
    await retry(s, clock, store)
    assert len(posted(slack)) == 1
    assert slack.calls_to("conversations.history")  # it looked before posting again
    assert ledger(store, "nudge")[0].status == NotificationStatus.SENT


async def test_rate_limits_are_retried_with_retry_after_and_never_marked_sent(
    store: Store, slack: FakeSlack, made: list[Scheduler]
) -> None:
    s, clock = setup(store, slack, made, retries=1)
    slack.fail("chat.postMessage", status=429, retry_after=0, times=1)
    await s.tick()  # the client waits Retry-After and tries again: one message
    assert [c.fault for c in slack.calls_to("chat.postMessage")] == ["429", None]
    assert len(posted(slack)) == 1
    slack.calls.clear()

    amina = ledger(store, "nudge")[0].recipient_id
    added = at_local(WED, 12)  # added after the morning's plan, already three days late
    add_action(store, add_lesson(store), amina, WED - timedelta(days=3), description="Two",
               updated_at=added)  # fmt: skip
    slack.fail("chat.postMessage", status=429, retry_after=1, times=None)
    clock.set(at_local(WED + timedelta(days=1), 9, 5))  # day 3 of "Two": a nudge is planned
    await s.tick()
    failed = [n for n in ledger(store, "nudge") if n.status == NotificationStatus.FAILED]
    assert len(failed) == 1 and failed[0].sent_at is None
    assert failed[0].next_attempt_at >= clock() + timedelta(seconds=1)
    assert "RateLimited" in (failed[0].last_error or "")
    assert len(posted(slack)) == 1


async def test_a_timeout_is_an_unknown_outcome_looked_up_before_posting_again(
    store: Store, slack: FakeSlack, made: list[Scheduler]
) -> None:
    s, clock = setup(store, slack, made, timeout=1)
    slack.slow("chat.postMessage", 2.0, times=1)
    await s.tick()
    [row] = ledger(store, "nudge")
    assert row.status == NotificationStatus.FAILED and row.delivery
    await retry(s, clock, store)
    assert [c.args["channel"] for c in slack.calls_to("conversations.history")]
    assert len(posted(slack)) == 1
    assert ledger(store, "nudge")[0].status == NotificationStatus.SENT


async def test_a_lost_answer_is_found_and_never_posted_twice(
    store: Store, slack: FakeSlack, made: list[Scheduler]
) -> None:
    s, clock = setup(store, slack, made)
    slack.lose("chat.postMessage")  # posted, but the connection drops before the answer
    await s.tick()
    [row] = ledger(store, "nudge")
    assert row.status == NotificationStatus.FAILED  # we could not know it arrived
    assert len(slack.calls_to("chat.postMessage")) == 1  # no retry on connection errors
    await retry(s, clock, store)
    assert len(slack.calls_to("chat.postMessage")) == 1  # found by its metadata instead
    [message] = posted(slack)
    [row] = ledger(store, "nudge")
    assert row.status == NotificationStatus.SENT and row.message_ref == message["ts"]


async def test_people_without_a_slack_id_are_found_by_email(
    store: Store, slack: FakeSlack, made: list[Scheduler]
) -> None:
    kofi = add_person(store, "Kofi Mensah")
    slack.add_user("U0KOFI", email="kofi@example.org", name="kofi")
    add_action(store, add_lesson(store), kofi, WED - timedelta(days=1))
    s, _ = setup(store, slack, made)
    await s.tick()
    assert len(slack.calls_to("users.lookupByEmail")) == 1
    assert any(c == dm_channel_id("U0KOFI") for (c, _) in slack.messages)
    assert await store.person_for("slack", "U0KOFI") == kofi


# The app installed in many workspaces (OAuth) ------------------------------------------------

CLIENT_ID = "2141029472.691202649728"
T1, T2 = "T0ALPHA", "T0BRAVO"


def oauth_settings(slack: FakeSlack) -> Settings:
    return Settings(
        slack_client_id=CLIENT_ID,
        slack_client_secret="e1b9e11dfcd19c1982d5de12921e17e8c",
        slack_signing_secret="test-signing-secret",
        slack_api_url=slack.api_url,
        slack_pace_seconds=0,
    )


def install(store: Store, slack: FakeSlack, team_id: str) -> str:
    """Install the app in a workspace, as the OAuth flow saves it; return its bot token."""
    token = slack.add_workspace(team_id, team_name=team_id)
    bot = slack.workspaces[token]["auth_test"]
    Installations(CLIENT_ID, store.engine).sync.save(
        Installation(
            app_id=APP_ID, team_id=team_id, team_name=team_id, bot_token=token,
            bot_id=bot["bot_id"], bot_user_id=bot["user_id"], bot_scopes="chat:write",
            user_id="U0ADMIN",
        )
    )  # fmt: skip
    return token


async def test_with_oauth_each_reminder_goes_out_from_its_recipients_workspace(
    store: Store, made: list[Scheduler]
) -> None:
    async with FakeSlack() as slack:
        one, two = install(store, slack, T1), install(store, slack, T2)
        for user, team in (("U0ALICE", T1), ("U0BOB", T2), ("U0CARA", T2)):
            slack.add_user(user, email=f"{user[2:].lower()}@example.org", name=user[2:].lower())
            slack.users[user]["team_id"] = team
        alice = add_person(store, "Alice Ngata", slack="U0ALICE")  # seen in her workspace
        await Sightings(store.engine, clock=store.clock).saw(Workspace(None, T1), "U0ALICE")
        bob = add_person(store, "Bob Osei", slack="U0BOB")  # never seen: his directory knows him
        cara = add_person(store, "Cara Silva")  # no Slack id: found by email
        dan = add_person(store, "Dan Moyo", slack="U0DAN")  # no workspace knows him
        lesson = add_lesson(store)
        for person in (alice, bob, cara, dan):
            add_action(store, lesson, person, WED - timedelta(days=1))
        [notifier] = reminders.notifiers(oauth_settings(slack), store)
        assert isinstance(notifier, WorkspaceReminderNotifier)
        s = Scheduler(
            store=store,
            notifiers=[notifier],
            settings=SchedulerSettings(platform_rate=0),
            clock=ManualClock(at_local(WED, 9, 5)),
            reviews=False,
        )
        made.append(s)
        await s.tick()

        posts = {c.args["channel"]: c.token for c in slack.calls_to("chat.postMessage")}
        assert posts == {
            slack.dm_channel("U0ALICE"): one,
            slack.dm_channel("U0BOB"): two,
            slack.dm_channel("U0CARA"): two,
        }
        assert {c.args["users"]: c.token for c in slack.calls_to("conversations.open")} == {
            "U0ALICE": one, "U0BOB": two, "U0CARA": two
        }  # fmt: skip
        sent = {n.recipient_id for n in ledger(store, "nudge") if n.status == "sent"}
        assert sent == {alice, bob, cara}
        [missed] = [n for n in ledger(store, "nudge") if n.recipient_id == dan]
        assert missed.status == NotificationStatus.SKIPPED and missed.sent_at is None
        with store.engine.connect() as conn:
            assert list(conn.execute(select(UnreachablePerson.person_id)).scalars()) == [dan]
        # Bob is now known to be in Bravo: his next reminder needs no directory search.
        assert await Sightings(store.engine, clock=store.clock).workspace_of("U0BOB") == (
            Workspace(None, T2)
        )
        slack.assert_clean()


def test_without_a_token_or_oauth_there_is_no_slack_reminder_notifier(store: Store) -> None:
    assert reminder_notifier(Settings(), store=store) is None
