"""Running the scheduler: the local chat inbox, APScheduler ticking, `lessons run` and the CLI."""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from scheduler_world import Recorder, add_action, add_lesson, add_person, at_local, ledger

from bot import reminders
from bot.app import build_app
from bot.cli import main
from bot.local.auth import Guard
from bot.local.routes import Hub, LocalNotifier
from bot.settings import Settings
from handlers.chat import Reply, Text, UserRef
from handlers.deps import HandlerSettings
from handlers.reviews.config import question_set
from knowledge.chatlog import ChatLog
from knowledge.models import LessonCuration, NotificationStatus, Role
from knowledge.reviews import Reviews
from knowledge.storage import Store
from scheduler.clock import ManualClock
from scheduler.config import SchedulerSettings
from scheduler.jobs import Scheduler
from scheduler.runner import Runner

WED = date(2026, 11, 25)


async def test_reminders_land_in_the_local_chat_inbox_with_their_key(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    add_action(store, add_lesson(store), amina, WED - timedelta(days=1), description="Brief")
    hub = Hub(store)
    clock = ManualClock(at_local(WED, 9, 5))
    s = Scheduler(store=store, notifiers=[hub.notifier], clock=clock, reviews=False)
    await s.tick()
    inbox = await ChatLog(store).history(f"dm:{amina}", thread_id=None, viewer_id=amina)
    [message] = inbox
    assert "Brief" in message.text and message.visible_to == amina
    [row] = ledger(store, "nudge")
    assert row.status == NotificationStatus.SENT and row.message_ref == str(message.id)
    assert message.body["key"] == row.delivery
    who = UserRef("local", "amina@example.org")
    assert await hub.notifier.find(who, row.delivery or "") == str(message.id)
    assert await hub.notifier.find(who, "another-key") is None


async def test_the_local_notifier_refuses_people_it_does_not_know(store: Store) -> None:
    notifier = LocalNotifier(Hub(store))
    with pytest.raises(LookupError):
        await notifier.send(UserRef("local", "nobody@example.org"), Reply.of(Text("hi")))


async def test_apscheduler_ticks_and_the_database_keeps_it_to_one_message(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    add_action(store, add_lesson(store), amina, WED - timedelta(days=1))
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = Scheduler(store=store, notifiers=[rec], clock=clock, reviews=False)
    runner = Runner(s, seconds=0.05)
    runner.start()
    try:
        for _ in range(100):
            await asyncio.sleep(0.02)
            if runner.ticks >= 3:
                break
    finally:
        await runner.stop()
    assert runner.ticks >= 3
    assert len(rec.sent) == 1


async def test_each_tick_starts_scheduled_after_action_reviews(store: Store) -> None:
    facilitator = add_person(store, "Amina Diallo")
    starts = at_local(WED, 10)
    await Reviews(store).start(
        event="Election day",
        platform="local",
        channel_id="elections-team",
        thread_id=None,
        channel_name="elections-team",
        facilitator_id=facilitator,
        questions=question_set(HandlerSettings()),
        starts_at=starts,
    )
    rec = Recorder()
    clock = ManualClock(starts - timedelta(minutes=1))
    s = Scheduler(store=store, notifiers=[rec], clock=clock)
    assert (await s.tick()).reviews == 0
    clock.set(starts + timedelta(minutes=1))
    assert (await s.tick()).reviews == 1
    [(where, opening)] = rec.posts
    assert where.channel_id == "elections-team" and "Election day" in opening.fallback
    assert (await s.tick()).reviews == 0  # started once


def _settings(store: Store) -> Settings:
    return Settings(database_url=str(store.engine.url))


async def test_lessons_run_ticks_the_scheduler_unless_it_is_off(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = Guard.for_bind("127.0.0.1", token=None)
    app = build_app(_settings(store), store=store, guard=guard, scheduler=True)
    assert reminders.RUNNER in app
    assert isinstance(app[reminders.RUNNER].scheduler.notifiers[0], LocalNotifier)
    off = replace(_settings(store), scheduler_on=False)  # LESSONS_SCHEDULER=off
    quiet = build_app(off, store=store, guard=guard, scheduler=True)
    assert reminders.RUNNER not in quiet
    plain = build_app(_settings(store), store=store, guard=guard)
    assert reminders.RUNNER not in plain


def test_the_scheduler_settings_are_read_once_at_start_up() -> None:
    assert not Settings.from_env({"LESSONS_SCHEDULER": "off"}).scheduler_on
    assert Settings.from_env({}).scheduler_on
    hours = Settings.from_env({"LESSONS_WORK_HOURS": "10:00-18:00"})
    assert hours.scheduler.work.start.hour == 10
    assert hours.handlers.work_hours == "10:00-18:00"  # what a person's preferences show
    assert hours.scheduler.handlers is hours.handlers  # what its handlers are handed
    with pytest.raises(ValueError, match="LESSONS_WORK_HOURS"):
        Settings.from_env({"LESSONS_WORK_HOURS": "late"})  # bad settings stop the start


def test_bad_scheduler_settings_stop_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LESSONS_WORK_HOURS", "late")
    assert main(["scheduler", "run-once", "--dry-run"]) == 2
    assert "LESSONS_WORK_HOURS" in capsys.readouterr().err


def test_plan_ahead_and_batch_are_read_and_checked() -> None:
    tuned = SchedulerSettings.from_env(
        {"LESSONS_PLAN_AHEAD_HOURS": "6", "LESSONS_PLAN_BATCH": "20000"}
    )
    assert (tuned.plan_ahead, tuned.plan_batch) == (timedelta(hours=6), 20_000)
    assert SchedulerSettings.from_env({}).plan_ahead == timedelta(0)
    with pytest.raises(ValueError, match="LESSONS_PLAN_AHEAD_HOURS must be at most 20"):
        SchedulerSettings.from_env({"LESSONS_PLAN_AHEAD_HOURS": "24"})
    with pytest.raises(ValueError, match="LESSONS_PLAN_BATCH must be at least 1"):
        SchedulerSettings.from_env({"LESSONS_PLAN_BATCH": "0"})


@pytest.fixture
def cli_db(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    path = tmp_path / "cli.db"
    shutil.copy(sqlite_template, path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "LESSONS_SCHEDULER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LESSONS_DATABASE_URL", f"sqlite:///{path}")
    store = Store.open(f"sqlite:///{path}")
    amina = add_person(store, "Amina Diallo")
    add_action(store, add_lesson(store), amina, WED - timedelta(days=1), description="Brief")
    return store


def test_run_once_dry_run_prints_and_keeps_nothing(
    cli_db: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    now = at_local(WED, 9, 5).isoformat()
    assert main(["scheduler", "run-once", "--now", now, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would send" in out and "Amina Diallo" in out and "Brief" in out
    assert ledger(cli_db) == []


def test_run_once_sends_and_prints(cli_db: Store, capsys: pytest.CaptureFixture[str]) -> None:
    now = at_local(WED, 9, 5).isoformat()
    assert main(["scheduler", "run-once", "--now", now]) == 0
    out = capsys.readouterr().out
    assert "sent" in out and "Amina Diallo on local: nudge" in out
    assert [n.status for n in ledger(cli_db)] == [NotificationStatus.SENT]
    assert main(["scheduler", "run-once", "--now", now]) == 0
    assert "Deliveries: nothing" in capsys.readouterr().out


def test_run_once_refuses_a_bad_time(cli_db: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scheduler", "run-once", "--now", "tomorrow"]) == 2
    assert "--now must be an ISO date" in capsys.readouterr().err


def test_settings_are_read_from_the_environment_for_run_once(
    cli_db: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LESSONS_WORK_HOURS", "10:00-18:00")
    now = at_local(WED, 9, 30).isoformat()  # before 10:00: nothing planned yet
    assert main(["scheduler", "run-once", "--now", now]) == 0
    assert ledger(cli_db) == []
    assert SchedulerSettings.from_env(os.environ).work.start.hour == 10


def test_run_once_dry_run_previews_the_weekly_priority_list(
    cli_db: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    leader = add_person(cli_db, "Kwame Asante", roles=((Role.MISSION_LEADER, "MINUSCA"),))
    lesson = add_lesson(cli_db, title="Night convoys need a fuel reserve")
    with cli_db.session() as s:
        s.add(LessonCuration(lesson_id=lesson, priority=True, priority_why="convoy season",
                             prioritised_by_id=leader))  # fmt: skip
    now = at_local(WED, 9, 5).isoformat()
    assert main(["scheduler", "run-once", "--now", now, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would send 1 practices of the week and priority lists" in out
    assert ledger(cli_db) == []  # a dry run keeps nothing, the weekly claim neither
