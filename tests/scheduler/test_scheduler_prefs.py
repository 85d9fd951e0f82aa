"""`reminders` in chat: how one is reminded, and changing it (what the scheduler then follows)."""

from __future__ import annotations

from datetime import date, timedelta

from scheduler_world import Recorder, add_action, add_lesson, add_person, at_local, scheduler

from bot.settings import Settings
from handlers.chat import ConversationRef, Message, UserRef
from handlers.deps import Deps
from handlers.router import dispatch
from knowledge.models import ReminderPreference
from knowledge.storage import Store
from scheduler.clock import ManualClock

WED = date(2026, 11, 25)
WHO = UserRef("local", "amina@example.org", "Amina Diallo")
DM = ConversationRef("local", "dm:1")


async def say(store: Store, text: str) -> str:
    reply = await dispatch(Message(WHO, DM, text), Deps(store=store))
    assert reply is not None
    return reply.fallback


async def test_reminders_show_the_defaults(store: Store) -> None:
    add_person(store, "Amina Diallo")
    text = await say(store, "reminders")
    assert "As soon as something is due" in text and "09:00-17:00, mon-fri" in text


async def test_reminders_show_the_working_week_read_at_start_up(store: Store) -> None:
    add_person(store, "Amina Diallo")
    settings = Settings.from_env(
        {"LESSONS_WORK_HOURS": "08:00-16:00", "LESSONS_WORK_DAYS": "sun-thu"}
    )
    deps = Deps(store=store, settings=settings.handlers)
    reply = await dispatch(Message(WHO, DM, "reminders"), deps)
    assert reply is not None and "08:00-16:00, sun-thu" in reply.fallback


async def test_changing_reminders(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    assert "One message a day" in await say(store, "reminders daily")
    assert "Muted" in await say(store, "reminders mute")
    assert "Paused until" in await say(store, "reminders pause 3d")
    text = await say(store, "reminders away 2026-12-20 2027-01-05")
    assert "Away from 2026-12-20 to 2027-01-05" in text
    with store.session() as s:
        row = s.get(ReminderPreference, amina)
        assert row is not None and row.muted and row.delivery == "daily"
        assert row.away_until == date(2027, 1, 5) and row.snoozed_until is not None
    assert "Muted" not in await say(store, "reminders unmute")
    assert "Paused" not in await say(store, "reminders pause off")
    assert "Away" not in await say(store, "reminders away off")


async def test_bad_reminder_commands_say_how(store: Store) -> None:
    add_person(store, "Amina Diallo")
    assert "Try `reminders daily`" in await say(store, "reminders sometimes")
    assert "like `3d` or `1w`" in await say(store, "reminders pause forever")
    assert "couldn't read 'soon' as a date" in await say(store, "reminders away soon later")
    assert "Away from 2026-12-20 to 2027-01-05" in await say(
        store, "reminders away 20 Dec to 5 January 2027"
    )
    assert "comes before" in await say(store, "reminders away 2027-01-05 2026-12-20")


async def test_a_pause_holds_reminders_until_it_ends(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    add_action(store, add_lesson(store), amina, WED - timedelta(days=1))
    await say(store, "reminders pause 1d")  # the store's clock is 2026-11-25 12:00 UTC
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    await s.tick()
    assert rec.sent == []
    clock.set(at_local(WED + timedelta(days=1), 16, 0))  # Thursday 16:00 local: pause over
    await s.tick()  # today's slot is 7 hours old: still fresh, so the day-1 nudge goes now
    assert len(rec.sent) == 1
    clock.set(at_local(WED + timedelta(days=2), 9, 5))  # Friday: day 3, the next point
    await s.tick()
    assert len(rec.sent) == 2
