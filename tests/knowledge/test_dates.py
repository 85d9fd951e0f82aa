"""Dates people write in chat: whole phrases, dates inside sentences, moments in a time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from knowledge.dates import DateError, PastDate, find_day, parse_day, parse_moment, zone

TODAY = date(2026, 11, 25)  # a Wednesday
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # 13:00 in Bangui


@pytest.mark.parametrize(
    ("said", "day"),
    [
        ("2026-12-03", date(2026, 12, 3)),
        ("15 Jan", date(2027, 1, 15)),
        ("15th of January 2027", date(2027, 1, 15)),
        ("Dec 1", date(2026, 12, 1)),
        ("March 15th, 2027", date(2027, 3, 15)),
        ("25 Nov", date(2026, 11, 25)),
        ("24 Nov", date(2027, 11, 24)),
        ("15 Jan 2020", date(2020, 1, 15)),
        ("today", TODAY),
        ("tomorrow", date(2026, 11, 26)),
        ("day after tomorrow", date(2026, 11, 27)),
        ("yesterday", date(2026, 11, 24)),
        ("in 3 days", date(2026, 11, 28)),
        ("within 2 weeks", date(2026, 12, 9)),
        ("in a couple of weeks", date(2026, 12, 9)),
        ("within a month", date(2026, 12, 25)),
        ("in two months' time", date(2027, 1, 25)),
        ("next friday", date(2026, 11, 27)),
        ("Friday", date(2026, 11, 27)),
        ("wednesday", date(2026, 12, 2)),
        ("this wednesday", TODAY),
        ("next week", date(2026, 12, 2)),
        ("end of month", date(2026, 11, 30)),
        ("end of next month", date(2026, 12, 31)),
        ("end of the week", date(2026, 11, 27)),
        ("end of January", date(2027, 1, 31)),
        ("by March", date(2027, 3, 31)),
        ("on 15 Jan.", date(2027, 1, 15)),
        ("29 Feb", date(2028, 2, 29)),
    ],
)
def test_whole_phrases(said: str, day: date) -> None:
    assert parse_day(said, today=TODAY) == day


@pytest.mark.parametrize("said", ["", "soon", "31 Feb", "2026-13-01", "in 2024", "may"])
def test_what_is_not_a_day(said: str) -> None:
    assert parse_day(said, today=TODAY) is None


@pytest.mark.parametrize(
    ("sentence", "day", "phrase"),
    [
        ("Amina to update the checklist by 15 Jan.", date(2027, 1, 15), "15 Jan"),
        ("Brief the team within 2 weeks, then report.", date(2026, 12, 9), "within 2 weeks"),
        ("Print it by March 15 at the latest", date(2027, 3, 15), "March 15"),
        ("Fix the radios by end of next month please", date(2026, 12, 31), "end of next month"),
        ("Done by 2020-01-01", date(2020, 1, 1), "2020-01-01"),
    ],
)
def test_days_inside_sentences(sentence: str, day: date, phrase: str) -> None:
    found = find_day(sentence, today=TODAY)

    assert found is not None
    assert (found.day, found.phrase) == (day, phrase)


@pytest.mark.parametrize(
    "sentence", ["We may need more staff.", "Stock spare batteries in each sector.", "In 2024."]
)
def test_sentences_without_a_day(sentence: str) -> None:
    assert find_day(sentence, today=TODAY) is None


@pytest.mark.parametrize(
    ("said", "local"),
    [
        ("tomorrow 17:00", "2026-11-26 17:00"),
        ("2026-12-03 16:00", "2026-12-03 16:00"),
        ("2026-12-03T16:00", "2026-12-03 16:00"),
        ("15 Jan", "2027-01-15 17:00"),
        ("next friday at 5pm", "2026-11-27 17:00"),
        ("tomorrow, 9am", "2026-11-26 09:00"),
        ("noon tomorrow", "2026-11-26 12:00"),
        ("ends tomorrow at 17:30", "2026-11-26 17:30"),
        ("17:00", "2026-11-25 17:00"),
        ("in 2 hours", "2026-11-25 15:00"),
        ("12:30 am tomorrow", "2026-11-26 00:30"),
    ],
)
def test_moments_in_a_time_zone(said: str, local: str) -> None:
    moment = parse_moment(said, now=NOW, tz="Africa/Bangui")

    assert moment.strftime("%Y-%m-%d %H:%M") == local
    assert moment.utcoffset() == timedelta(hours=1)


def test_the_same_words_in_another_zone_are_another_moment() -> None:
    bangui = parse_moment("tomorrow 17:00", now=NOW, tz="Africa/Bangui")
    new_york = parse_moment("tomorrow 17:00", now=NOW, tz="America/New_York")

    assert new_york - bangui == timedelta(hours=6)


@pytest.mark.parametrize("said", ["10:00", "yesterday 17:00", "2020-01-01 10:00"])
def test_past_moments_are_refused(said: str) -> None:
    with pytest.raises(PastDate, match="already past"):
        parse_moment(said, now=NOW, tz="Africa/Bangui")


@pytest.mark.parametrize(
    ("said", "message"),
    [("whenever", "could not read"), ("25:00 tomorrow", "not a time of day"), ("", "could not")],
)
def test_unreadable_moments_say_how_to_write_them(said: str, message: str) -> None:
    with pytest.raises(DateError, match=message) as caught:
        parse_moment(said, now=NOW, tz="UTC")

    assert not isinstance(caught.value, PastDate)


def test_an_unknown_zone_is_utc() -> None:
    assert zone("Mars/Olympus").key == "UTC"
    assert parse_moment("tomorrow 17:00", now=NOW, tz="Mars/Olympus").hour == 17
