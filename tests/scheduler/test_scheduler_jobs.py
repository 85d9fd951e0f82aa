"""The scheduler's jobs end to end on both databases, with a controllable clock.

Cadence, grouping, working hours, snooze, hand-over, cancellation, escalation, downtime, digests,
EoAR reminders, departures, follow-ups, preferences, unknown outcomes and dry runs.
"""

from __future__ import annotations

from datetime import date, timedelta

from scheduler_world import (
    Recorder,
    add_action,
    add_lesson,
    add_person,
    at_local,
    ledger,
    scheduler,
    sent_count,
    set_prefs,
)

from handlers.actions import ActionButton
from handlers.chat import ButtonPress, UserRef
from handlers.deps import Deps
from handlers.reminders import FollowupButton
from handlers.router import dispatch
from knowledge.models import (
    ActionStatus,
    LessonStatus,
    NotificationStatus,
    ProductType,
    Role,
)
from knowledge.storage import Store
from scheduler.clock import ManualClock
from scheduler.config import Cadence, SchedulerSettings
from scheduler.jobs import Scheduler

WED = date(2026, 11, 25)  # a Wednesday


async def test_overdue_nudges_follow_the_cadence_then_weekly(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    lesson = add_lesson(store)
    add_action(store, lesson, amina, WED - timedelta(days=1))
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    nudged_on = []
    for offset in range(0, 30):
        day = WED + timedelta(days=offset)
        clock.set(at_local(day, 9, 5))
        before = len(rec.sent)
        await s.tick()
        await s.tick()  # a second tick the same morning sends nothing more
        if len(rec.sent) > before:
            assert len(rec.sent) == before + 1
            nudged_on.append((day - (WED - timedelta(days=1))).days)
    # Day 1, 3, 7 then weekly; a cadence day on a weekend waits for Monday (collapsed, once).
    assert nudged_on == [1, 3, 7, 14, 21, 28]
    assert all("Overdue" in m.text for m in rec.sent)
    assert [n.period for n in ledger(store, "nudge")][:3] == [
        "2026-11-24+1",
        "2026-11-24+3",
        "2026-11-24+7",
    ]


async def test_everything_for_one_person_is_one_message(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    lesson = add_lesson(store)
    for k in range(3):
        add_action(store, lesson, amina, WED - timedelta(days=1 + k), description=f"Late {k}")
    add_action(store, lesson, amina, WED + timedelta(days=2), description="Soon")
    rec = Recorder()
    await scheduler(store, rec, ManualClock(at_local(WED, 9, 5))).tick()
    assert len(rec.sent) == 1
    text = rec.sent[0].text
    assert text.count("Late ") == 3 and "Soon" in text and "Due soon" in text
    assert rec.sent[0].to.user_id == "amina@example.org"
    assert {n.status for n in ledger(store)} == {NotificationStatus.SENT}


async def test_deliveries_wait_for_working_hours_in_each_time_zone(store: Store) -> None:
    lesson = add_lesson(store)
    people = {
        "Africa/Nairobi": add_person(store, "Wanjiru Kamau", tz="Africa/Nairobi"),
        "America/New_York": add_person(store, "Grace Miller", tz="America/New_York"),
        "Asia/Bangkok": add_person(store, "Somchai Wong", tz="Asia/Bangkok"),
    }
    for person in people.values():
        add_action(store, lesson, person, WED - timedelta(days=3))
    rec = Recorder()
    clock = ManualClock(at_local(WED, 0, 0, "UTC"))
    s = scheduler(store, rec, clock)
    got: dict[str, str] = {}
    for hour in range(0, 24):
        clock.set(at_local(WED, hour, 1, "UTC"))
        await s.tick()
        for m in rec.sent:
            got.setdefault(m.to.user_id, f"{hour:02d}:01")
    # 09:01 local: Bangkok (UTC+7) at 02:01 UTC, Nairobi (UTC+3) at 06:01, New York at 14:01.
    assert got == {"somchai@example.org": "02:01", "wanjiru@example.org": "06:01",
                   "grace@example.org": "14:01"}  # fmt: skip
    assert len(rec.sent) == 3


async def test_a_stale_slot_is_skipped_and_downtime_collapses(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    lesson = add_lesson(store)
    add_action(store, lesson, amina, WED - timedelta(days=30))  # 30 days overdue
    rec = Recorder()
    # The bot starts at 20:00 local: today's 09:00 slot is 11 hours stale, so nothing today.
    clock = ManualClock(at_local(WED, 20, 0))
    s = scheduler(store, rec, clock)
    await s.tick()
    assert rec.sent == []
    # Off for three days, back on Monday at 10:30: one nudge, at the latest cadence point.
    clock.set(at_local(WED + timedelta(days=5), 10, 30))
    await s.tick()
    assert len(rec.sent) == 1
    [nudge] = ledger(store, "nudge")
    assert nudge.period == f"{WED - timedelta(days=30)}+35"
    await s.tick()
    assert len(rec.sent) == 1


async def test_planned_while_away_and_after_hours_then_stale(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    lesson = add_lesson(store)
    add_action(store, lesson, amina, WED - timedelta(days=1))
    rec = Recorder(fail_before=10)
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    await s.tick()  # planned, the send fails
    assert rec.sent == []
    [row] = ledger(store, "nudge")
    assert row.status == NotificationStatus.FAILED and row.attempts == 1
    rec.fail_before = 0
    clock.set(at_local(WED, 17, 30))  # after hours: waits
    await s.tick()
    assert rec.sent == []
    clock.set(at_local(WED + timedelta(days=1), 9, 1))  # the next morning it is 24 h stale
    await s.tick()
    [old, *_] = ledger(store, "nudge")
    assert old.status == NotificationStatus.SKIPPED and "stale" in (old.last_error or "")
    assert rec.sent == []  # day 2 is no cadence point: nothing new either


async def test_reminders_stop_when_done_cancelled_or_handed_over(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    kofi = add_person(store, "Kofi Mensah")
    lesson = add_lesson(store)
    done = add_action(store, lesson, amina, WED - timedelta(days=1), description="Will be done")
    cancelled = add_action(store, lesson, amina, WED - timedelta(days=1), description="Dropped")
    handed = add_action(store, lesson, amina, WED - timedelta(days=1), description="Given away")
    rec = Recorder(fail_before=1)
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    await s.tick()  # planned; the send fails, so the retry comes later
    await store.move_action(done, ActionStatus.DONE, evidence="briefed all five")
    await store.move_action(cancelled, ActionStatus.NOT_DOING, reason="superseded")
    await store.update_action(handed, actor_id=amina, owner_id=kofi)
    clock.set(at_local(WED, 11, 0))
    await s.tick()
    assert rec.sent == []
    reasons = {n.subject_id: n.last_error for n in ledger(store, "nudge")}
    assert reasons[done] == "the action is done"
    assert reasons[cancelled] == "the action is not doing"
    assert reasons[handed] == "the action was handed over"
    assert {n.status for n in ledger(store, "nudge")} == {NotificationStatus.SKIPPED}


async def test_snoozing_from_the_reminder_moves_the_due_date(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    lesson = add_lesson(store)
    action = add_action(store, lesson, amina, WED - timedelta(days=1))
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    await s.tick()
    [message] = rec.sent
    labels = [getattr(e, "label", None) for e in message.reply.elements]
    assert "Snooze a day" in labels and "Snooze a week" in labels and "Hand over" in labels
    who = UserRef("local", "amina@example.org", "Amina Diallo")
    press = ButtonPress(who, message.reply and _where(), ActionButton.SNOOZE, str(action))
    reply = await dispatch(press, Deps(store=store))
    assert reply is not None and "Snoozed" in reply.fallback
    # Due a week from today now: no more nudges until it is late again (a due-soon, though).
    for offset in range(1, 8):
        clock.set(at_local(WED + timedelta(days=offset), 9, 5))
        await s.tick()
    assert [m for m in rec.sent if "Overdue" in m.text] == [message]
    assert [n.period for n in ledger(store, "due_soon")] == [str(WED + timedelta(days=7))]


def _where():  # type: ignore[no-untyped-def]
    from handlers.chat import ConversationRef

    return ConversationRef("local", "dm:1")


async def test_the_manager_is_told_once_after_three_unanswered_nudges(store: Store) -> None:
    boss = add_person(store, "Fatou Ndiaye", roles=((Role.MANAGER, ""),))
    amina = add_person(store, "Amina Diallo", manager=boss)
    lesson = add_lesson(store)
    add_action(store, lesson, amina, WED - timedelta(days=1), description="Brief the drivers")
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    for offset in range(0, 21):
        clock.set(at_local(WED + timedelta(days=offset), 9, 5))
        await s.tick()
    to_boss = [m for m in rec.to("fatou@example.org") if "have not answered" in m.text]
    assert len(to_boss) == 1
    assert "Amina Diallo" in to_boss[0].text and "Brief the drivers" in to_boss[0].text
    nudges_before = [
        n for n in ledger(store, "nudge") if n.sent_at and n.sent_at < to_boss_at(store)
    ]
    assert len(nudges_before) == 3


def to_boss_at(store: Store):  # type: ignore[no-untyped-def]
    [row] = ledger(store, "escalate")
    return row.sent_at


async def test_an_answer_resets_the_count_before_the_manager_hears(store: Store) -> None:
    boss = add_person(store, "Fatou Ndiaye", roles=((Role.MANAGER, ""),))
    amina = add_person(store, "Amina Diallo", manager=boss)
    lesson = add_lesson(store)
    action = add_action(store, lesson, amina, WED - timedelta(days=1))
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    for offset in range(0, 21):
        clock.set(at_local(WED + timedelta(days=offset), 9, 5))
        if offset == 6:  # after two nudges, she writes a note (the action changes)
            await store.update_action(action, actor_id=amina, note="waiting for the transport unit")
        await s.tick()
    assert ledger(store, "escalate") == []


async def test_manager_and_pbpo_digests_once_a_week(store: Store) -> None:
    boss = add_person(store, "Fatou Ndiaye", roles=((Role.MANAGER, ""),))
    add_person(store, "Pierre Martin", roles=((Role.PBPO, "MINUSCA"),))
    amina = add_person(store, "Amina Diallo", manager=boss)
    nobody = add_person(store, "Nobody Known", email=None)  # unreachable everywhere
    lesson = add_lesson(store)
    add_action(store, lesson, nobody, WED - timedelta(days=3), description="Lost in the post")
    add_action(store, lesson, amina, WED - timedelta(days=10), description="Late one")
    add_lesson(store, title="Radio checks", status=LessonStatus.IDENTIFIED)
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    for offset in range(0, 7):
        clock.set(at_local(WED + timedelta(days=offset), 9, 5))
        await s.tick()
    team = [m for m in rec.to("fatou@example.org") if "Your team this week" in m.text]
    mission = [m for m in rec.to("pierre@example.org") if "Your week as PBPO" in m.text]
    # This week's (Wednesday) and next week's (Monday): once each.
    assert len(team) == 2 and len(mission) == 2
    assert "Amina Diallo: Late one" in team[0].text and "1 overdue" in team[0].text
    assert "Nobody Known" in mission[-1].text and "cannot reach" in mission[-1].text
    assert "Radio checks" in mission[0].text


async def test_eoar_reminders_until_it_is_filed(store: Store) -> None:
    end = WED + timedelta(days=30)
    chief = add_person(store, "Ines Carvalho", roles=((Role.MANAGER, ""),), assignment_end=end)
    add_person(store, "Junior Staff", assignment_end=end)  # not senior: no EoAR reminders
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    reminded_at = []
    for offset in range(0, 45):
        day = WED + timedelta(days=offset)
        clock.set(at_local(day, 9, 5))
        before = len(rec.sent)
        await s.tick()
        if any("End of Assignment Report" in m.text for m in rec.sent[before:]):
            reminded_at.append((day - end).days)
        if offset == 40:
            add_lesson(store, product_type=ProductType.EOAR, author=chief, product_date=day)
    assert {m.to.user_id for m in rec.sent} == {"ines@example.org"}  # with her team digest
    # 30, 14 and 7 days before (a weekend day waits for Monday), on the day, a week after.
    assert reminded_at[:3] == [-30, -14, -7]
    assert reminded_at[3:] == [0, 7]  # filed on day 10 after: no reminder on day 14


async def test_departure_offers_the_open_actions_for_hand_over(store: Store) -> None:
    boss = add_person(store, "Fatou Ndiaye")
    leaver = add_person(store, "Leila Haddad", manager=boss, assignment_end=WED - timedelta(days=1))
    lesson = add_lesson(store)
    add_action(store, lesson, leaver, WED + timedelta(days=20), description="Handbook update")
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    await s.tick()
    clock.set(at_local(WED + timedelta(days=1), 9, 5))
    await s.tick()
    offers = [m for m in rec.to("leila@example.org") if "Hand them over" in m.text]
    assert len(offers) == 1
    assert "Fatou Ndiaye" in offers[0].text and "Handbook update" in offers[0].text


async def test_did_the_change_work_some_weeks_after_applying(store: Store) -> None:
    pbpo = add_person(store, "Pierre Martin")
    applied = at_local(WED, 10) - timedelta(weeks=6, days=1)
    lesson = add_lesson(store, status=LessonStatus.APPLIED, validated_by=pbpo, applied_at=applied)
    add_lesson(
        store,
        status=LessonStatus.APPLIED,
        validated_by=pbpo,
        applied_at=applied + timedelta(days=3),
    )
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    await s.tick()
    [message] = rec.sent
    assert "Did the change work?" in message.text
    assert message.text.count("Did the change work?") == 1  # the other is not 6 weeks yet
    who = UserRef("local", "pierre@example.org", "Pierre Martin")
    press = ButtonPress(who, _where(), FollowupButton.WORKED, str(lesson))
    reply = await dispatch(press, Deps(store=store))
    assert reply is not None and "worked" in reply.fallback
    clock.set(at_local(WED + timedelta(days=1), 9, 5))
    await s.tick()
    assert len(rec.sent) == 1


async def test_muted_and_away_people_get_only_what_they_chose(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    kofi = add_person(store, "Kofi Mensah")
    lesson = add_lesson(store)
    add_action(store, lesson, amina, WED + timedelta(days=2), description="Soon for Amina")
    add_action(store, lesson, kofi, WED - timedelta(days=1), description="Late for Kofi")
    set_prefs(store, amina, muted=True)
    set_prefs(store, kofi, away_from=WED, away_until=WED + timedelta(days=1))
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    await s.tick()
    assert rec.sent == []  # due-soon is non-essential; Kofi is on leave
    clock.set(at_local(WED + timedelta(days=2), 9, 5))  # Friday: Kofi is back, 3 days late
    await s.tick()
    assert [m.to.user_id for m in rec.sent] == ["kofi@example.org"]
    assert "Late for Kofi" in rec.sent[0].text


async def test_a_send_that_arrived_after_all_is_not_sent_twice(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    lesson = add_lesson(store)
    add_action(store, lesson, amina, WED - timedelta(days=1))
    rec = Recorder(fail_after=1)  # delivered, but the answer was lost
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    await s.tick()
    [row] = ledger(store, "nudge")
    assert row.status == NotificationStatus.FAILED  # never marked sent on failure
    clock.set(at_local(WED, 10, 0))  # after the backoff
    await s.tick()
    assert len(rec.sent) == 1  # found, not posted again
    assert rec.finds == [rec.sent[0].reply.key]
    [row] = ledger(store, "nudge")
    assert row.status == NotificationStatus.SENT and row.message_ref == "m1"


async def test_a_failed_send_is_retried_with_backoff(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    lesson = add_lesson(store)
    add_action(store, lesson, amina, WED - timedelta(days=1))
    rec = Recorder(fail_before=2)
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    await s.tick()
    await s.tick()  # the backoff has not passed: no new attempt
    [row] = ledger(store, "nudge")
    assert row.attempts == 1 and row.next_attempt_at > clock()
    clock.set(row.next_attempt_at + timedelta(seconds=1))
    await s.tick()
    clock.set(ledger(store, "nudge")[0].next_attempt_at + timedelta(seconds=1))
    await s.tick()
    assert len(rec.sent) == 1
    [row] = ledger(store, "nudge")
    assert row.status == NotificationStatus.SENT and row.attempts == 3
    assert sent_count(store) == 1


async def test_people_found_by_email_and_the_unreachable(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    ghost = add_person(store, "Ghost Writer")
    lesson = add_lesson(store)
    add_action(store, lesson, amina, WED - timedelta(days=1))
    add_action(store, lesson, ghost, WED - timedelta(days=1))
    slack = Recorder(platform="slack", known={"amina@example.org": "U0AMINA"})
    clock = ManualClock(at_local(WED, 9, 5))
    await scheduler(store, slack, clock).tick()
    assert [m.to.user_id for m in slack.sent] == ["U0AMINA"]
    assert await store.person_for("slack", "U0AMINA") == amina  # the id is cached
    [lost] = [n for n in ledger(store, "nudge") if n.recipient_id == ghost]
    assert lost.status == NotificationStatus.SKIPPED
    assert lost.last_error == "unreachable on every platform"


async def test_a_daily_digest_person_gets_everything_at_their_time(store: Store) -> None:
    boss = add_person(store, "Fatou Ndiaye", roles=((Role.MANAGER, ""),))
    set_prefs(store, boss, delivery="daily", digest_at="16:00")
    lesson = add_lesson(store)
    add_action(store, lesson, boss, WED - timedelta(days=1), description="Boss's own")
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock)
    await s.tick()
    assert rec.sent == []
    clock.set(at_local(WED, 16, 2))
    await s.tick()
    [message] = rec.sent
    assert "Boss's own" in message.text and "Your team this week" in message.text


async def test_a_dry_run_sends_and_keeps_nothing(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    lesson = add_lesson(store)
    add_action(store, lesson, amina, WED - timedelta(days=1))
    preview = Recorder(platform="preview")
    dry = Scheduler.dry(store=store, notifiers=[preview], clock=ManualClock(at_local(WED, 9, 5)))
    try:
        report = await dry.tick()
    finally:
        dry.close()
    assert report.sent == 1 and len(preview.sent) == 1
    assert ledger(store) == []


async def test_custom_cadence(store: Store) -> None:
    amina = add_person(store, "Amina Diallo")
    lesson = add_lesson(store)
    add_action(store, lesson, amina, WED - timedelta(days=1))
    settings = SchedulerSettings(cadence=Cadence(nudge_days=(2,), repeat_days=2))
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    s = scheduler(store, rec, clock, settings)
    for offset in range(0, 3):
        clock.set(at_local(WED + timedelta(days=offset), 9, 5))
        await s.tick()
    assert len(rec.sent) == 1  # day 2 (Thursday) only
