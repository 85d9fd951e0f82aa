"""Working-hours slots across time zones and clock changes; the cadence and its settings."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from scheduler.config import Cadence, SchedulerSettings, WorkWeek, enabled, latest_point
from scheduler.slots import Schedule, iso_week, zone

WEEK = WorkWeek()


def schedule(tz: str, at: time = time(9), week: WorkWeek = WEEK) -> Schedule:
    return Schedule(zone(tz), week, at)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "slot_utc"),
    [
        ("Africa/Nairobi", utc(2026, 11, 25, 6)),  # UTC+3, no DST
        ("America/New_York", utc(2026, 11, 25, 14)),  # EST, UTC-5
        ("Asia/Bangkok", utc(2026, 11, 25, 2)),  # UTC+7
    ],
)
def test_nine_in_the_morning_is_nine_locally(tz: str, slot_utc: datetime) -> None:
    s = schedule(tz)
    assert s.slot_on(date(2026, 11, 25)) == slot_utc
    assert s.local(slot_utc).time() == time(9)
    assert s.latest_slot(slot_utc + timedelta(minutes=1)) == slot_utc
    assert s.next_slot(slot_utc - timedelta(minutes=1)) == slot_utc


def test_the_same_utc_moment_is_a_different_working_day_in_each_zone() -> None:
    moment = utc(2026, 11, 27, 23, 30)  # Friday 23:30 UTC
    assert schedule("Asia/Bangkok").today(moment) == date(2026, 11, 28)  # already Saturday
    assert schedule("America/New_York").today(moment) == date(2026, 11, 27)
    # Bangkok's next slot skips the weekend: Monday 09:00 local.
    assert schedule("Asia/Bangkok").next_slot(moment) == utc(2026, 11, 30, 2)
    # New York's latest slot is Friday 09:00 local.
    assert schedule("America/New_York").latest_slot(moment) == utc(2026, 11, 27, 14)


def test_working_hours_are_local() -> None:
    nairobi, bangkok = schedule("Africa/Nairobi"), schedule("Asia/Bangkok")
    moment = utc(2026, 11, 25, 12)  # 15:00 Nairobi, 19:00 Bangkok
    assert nairobi.in_hours(moment)
    assert not bangkok.in_hours(moment)
    assert nairobi.opening(moment) == moment
    assert bangkok.opening(moment) == utc(2026, 11, 26, 2)  # tomorrow 09:00 Bangkok
    assert not nairobi.in_hours(utc(2026, 11, 25, 14))  # 17:00 sharp: the day is over


def test_weekends_are_skipped_and_custom_weeks_respected() -> None:
    saturday = utc(2026, 11, 28, 8)
    assert not schedule("Africa/Nairobi").in_hours(saturday)
    assert schedule("Africa/Nairobi").opening(saturday) == utc(2026, 11, 30, 6)
    sun_thu = WorkWeek.parse("08:00-16:00", "sun-thu")
    gulf = schedule("Asia/Dubai", time(8), sun_thu)
    sunday = utc(2026, 11, 29, 5)  # 09:00 in Dubai, a Sunday
    assert gulf.in_hours(sunday)
    assert gulf.latest_slot(sunday) == utc(2026, 11, 29, 4)
    assert not gulf.in_hours(utc(2026, 11, 27, 6))  # Friday


def test_new_york_slots_follow_the_march_clock_change() -> None:
    ny = schedule("America/New_York")
    # DST starts Sunday 8 March 2026: 09:00 is 14:00 UTC on Friday, 13:00 UTC on Monday.
    friday = ny.latest_slot(utc(2026, 3, 6, 20))
    assert friday == utc(2026, 3, 6, 14)
    monday = ny.next_slot(friday)
    assert monday == utc(2026, 3, 9, 13)
    assert ny.local(monday).time() == time(9)
    assert monday - friday == timedelta(days=3, hours=-1)


def test_new_york_slots_follow_the_november_clock_change() -> None:
    ny = schedule("America/New_York")
    # DST ends Sunday 1 November 2026: 09:00 is 13:00 UTC on Friday, 14:00 UTC on Monday.
    assert ny.slot_on(date(2026, 10, 30)) == utc(2026, 10, 30, 13)
    assert ny.next_slot(utc(2026, 10, 30, 13)) == utc(2026, 11, 2, 14)
    assert ny.in_hours(utc(2026, 11, 2, 14)) and not ny.in_hours(utc(2026, 11, 2, 13, 59))


def test_unknown_zones_fall_back_to_utc() -> None:
    assert zone("Mars/Olympus_Mons").key == "UTC"
    assert zone(None).key == "UTC"


def test_iso_week() -> None:
    assert iso_week(date(2026, 11, 25)) == "2026-W48"
    assert iso_week(date(2027, 1, 1)) == "2026-W53"


def test_cadence_day_one_three_seven_then_weekly() -> None:
    cadence = Cadence()
    points = [cadence.nudge_point(d) for d in range(0, 30)]
    assert points[:8] == [None, 1, 1, 3, 3, 3, 3, 7]
    assert points[13] == 7 and points[14] == 14 and points[20] == 14 and points[21] == 21
    assert points[28] == 28


def test_eoar_points_before_and_after_the_end() -> None:
    cadence = Cadence()
    assert cadence.eoar_point(-31) is None
    assert cadence.eoar_point(-30) == -30 and cadence.eoar_point(-15) == -30
    assert cadence.eoar_point(-14) == -14 and cadence.eoar_point(-8) == -14
    assert cadence.eoar_point(-7) == -7 and cadence.eoar_point(-1) == -7
    assert cadence.eoar_point(0) == 0 and cadence.eoar_point(6) == 0
    assert cadence.eoar_point(7) == 7 and cadence.eoar_point(15) == 14


def test_latest_point_without_repeat() -> None:
    assert latest_point(5, (2, 4, 8), None) == 4
    assert latest_point(50, (2, 4, 8), None) == 8
    assert latest_point(1, (2, 4, 8), None) is None


def test_settings_from_the_environment() -> None:
    settings = SchedulerSettings.from_env(
        {
            "LESSONS_WORK_HOURS": "08:30-16:30",
            "LESSONS_WORK_DAYS": "sun-thu",
            "LESSONS_NUDGE_DAYS": "2, 5",
            "LESSONS_DUE_SOON_DAYS": "5",
            "LESSONS_ESCALATE_AFTER": "2",
            "LESSONS_FOLLOWUP_WEEKS": "4",
        }
    )
    assert settings.work.start == time(8, 30) and settings.work.end == time(16, 30)
    assert settings.work.days == frozenset({6, 0, 1, 2, 3})
    assert settings.cadence.nudge_days == (2, 5)
    assert settings.cadence.due_soon_days == 5
    assert settings.cadence.escalate_after == 2
    assert settings.cadence.followup_weeks == 4
    assert SchedulerSettings.from_env({}) == SchedulerSettings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LESSONS_WORK_HOURS", "17:00-09:00"),
        ("LESSONS_WORK_HOURS", "nine to five"),
        ("LESSONS_WORK_DAYS", "weekdays"),
        ("LESSONS_NUDGE_DAYS", "0,3"),
        ("LESSONS_NUDGE_DAYS", "a,b"),
        ("LESSONS_ESCALATE_AFTER", "0"),
        ("LESSONS_SCHEDULER_TICK_SECONDS", "inf"),
    ],
)
def test_bad_settings_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        SchedulerSettings.from_env({name: value})


def test_the_scheduler_can_be_turned_off() -> None:
    assert enabled({})
    assert not enabled({"LESSONS_SCHEDULER": "off"})
    assert not enabled({"LESSONS_SCHEDULER": "OFF"})
