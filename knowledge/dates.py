"""Read dates people write in chat: "tomorrow 17:00", "by 15 Jan", "within 2 weeks", "next friday".

Parsing is pure: the calendar is known only through the `today` or `now` the caller passes in.
A day without a year ("15 Jan") means the next such day; a weekday ("friday", "next friday")
means the next one after today ("this friday" may be today).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from knowledge.errors import DomainError

END_OF_DAY = time(17, 0)
EXAMPLES = '"tomorrow 17:00", "2026-12-03 16:00", "15 Jan", "next friday" or "in 3 days"'

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_FULL_MONTHS = "|".join(calendar.month_name[m].lower() for m in range(1, 13))
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_WEEKDAY = "|".join(_WEEKDAYS)
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "a couple of": 2,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "a few": 3,
}
_NUMBER = r"\d{1,3}|" + "|".join(sorted(_NUMBERS, key=len, reverse=True))
_ORD = r"(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<y>\d{4}))?"

# Each pattern names its parts; `_resolve` turns a match into a day. Only phrases that cannot be
# ordinary words are listed, so a sentence can be searched for its due date.
_DAY_PATTERNS = (
    r"(?P<iso>(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2}))",
    rf"(?P<d>\d{{1,2}}){_ORD}\s+(?:of\s+)?(?P<mon>{_MONTH})\.?{_YEAR}",
    rf"(?P<mon2>{_MONTH})\.?\s+(?P<d2>\d{{1,2}}){_ORD}(?!\d|:){_YEAR.replace('y>', 'y2>')}",
    rf"(?:in|within)\s+(?P<n>{_NUMBER})\s+(?P<unit>day|week|month|year)s?(?:'?\s+time)?",
    r"(?P<rel>today|tonight|tomorrow|day after tomorrow|yesterday)",
    rf"(?:(?P<which>next|this|coming)\s+)?(?P<wd>{_WEEKDAY})",
    r"(?P<nextunit>next)\s+(?P<unit2>week|month|year)",
    rf"end\s+of\s+(?:the\s+)?(?P<endwhich>this\s+|next\s+)?(?P<end>week|month|year|{_FULL_MONTHS})",
    rf"(?:by|before|until|till)\s+(?P<bymon>{_FULL_MONTHS})(?!\s+\d{{1,2}}{_ORD}\b)"
    r"(?:\s+(?P<bymy>\d{4}))?",
)
_DAY = re.compile(r"\b(?:" + "|".join(_DAY_PATTERNS) + r")\b", re.IGNORECASE)
_TIME = re.compile(
    r"\b(?:at\s+)?(?:(?P<h>\d{1,2})(?::(?P<m>\d{2}))\s*(?P<ap>[ap]\.?m\.?)?|(?P<h2>\d{1,2})\s*"
    r"(?P<ap2>[ap]\.?m\.?)|(?P<word>noon|midday|midnight))(?!\w)",
    re.IGNORECASE,
)
_IN_DURATION = re.compile(
    rf"^in\s+(?P<n>{_NUMBER})\s+(?P<unit>minute|min|hour|hr)s?$", re.IGNORECASE
)
_FILLER = re.compile(r"^(?:on|at|by|ends?|ending|the)\s+|\s+(?:at|on)$|[,;]", re.IGNORECASE)
_ISO_T = re.compile(r"(\d{4}-\d{1,2}-\d{1,2})t(?=\d)", re.IGNORECASE)


class DateError(DomainError):
    """A date or time that could not be read, or that is in the past."""


class PastDate(DateError):
    """A date or time that was read but has already gone by."""


@dataclass(frozen=True, slots=True)
class FoundDay:
    """A day found inside a sentence, with the words that gave it."""

    day: date
    phrase: str


def parse_day(text: str, *, today: date) -> date | None:
    """Return the day a whole phrase names ("15 Jan", "in 3 days"), or None."""
    cleaned = _clean(text)
    match = _DAY.fullmatch(cleaned) or _DAY.fullmatch(_strip_filler(cleaned))
    return _resolve(match, today) if match else None


def find_day(text: str, *, today: date) -> FoundDay | None:
    """Return the first day named inside a sentence ("… by 15 Jan"), or None."""
    for match in _DAY.finditer(text):
        day = _resolve(match, today)
        if day is not None:
            return FoundDay(day=day, phrase=match.group(0))
    return None


def zone(name: str | None) -> ZoneInfo:
    """Return the time zone of this name, or UTC when it is unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_moment(text: str, *, now: datetime, tz: str | None = None) -> datetime:
    """Return the future moment a phrase names, in the time zone tz; raise DateError otherwise.

    A day without a time means 17:00 (the end of a working day); a time alone means today.
    """
    place = zone(tz)
    local_now = now.astimezone(place)
    cleaned = _clean(text)
    if duration := _IN_DURATION.match(cleaned):
        n = _number(duration.group("n"))
        unit = duration.group("unit").lower()
        return local_now + (timedelta(hours=n) if unit.startswith("h") else timedelta(minutes=n))
    at, rest = _take_time(cleaned)
    rest = cleaned if rest is None else rest
    day = local_now.date() if not rest and at else parse_day(rest, today=local_now.date())
    if day is None:
        raise DateError(f"I could not read '{text.strip()}' as a date. Try {EXAMPLES}.")
    moment = datetime.combine(day, at or END_OF_DAY, tzinfo=place)
    if moment <= local_now:
        shown = moment.strftime("%a %d %b %Y %H:%M")
        raise PastDate(f"{shown} ({place.key}) is already past. Give a time in the future.")
    return moment


def _take_time(text: str) -> tuple[time | None, str | None]:
    """Split a time of day ("17:00", "5pm", "noon") from the rest of the phrase."""
    match = _TIME.search(text)
    if match is None:
        return None, None
    if match.group("word"):
        at = time(0, 0) if match.group("word").lower() == "midnight" else time(12, 0)
    else:
        hour = int(match.group("h") or match.group("h2"))
        minute = int(match.group("m") or 0)
        suffix = (match.group("ap") or match.group("ap2") or "").lower().replace(".", "")
        if suffix == "pm" and hour < 12:
            hour += 12
        elif suffix == "am" and hour == 12:
            hour = 0
        if hour > 23 or minute > 59:
            raise DateError(f"'{match.group(0).strip()}' is not a time of day. Try 17:00 or 5pm.")
        at = time(hour, minute)
    return at, _strip_filler(text[: match.start()] + " " + text[match.end() :])


def _clean(text: str) -> str:
    """Return text on one line, without end punctuation, with "2026-12-03T16:00" split."""
    return _ISO_T.sub(r"\1 ", " ".join(text.strip().rstrip(".!").split()))


def _strip_filler(text: str) -> str:
    """Drop the glue around a date: "on", "at", "ends", commas."""
    text = " ".join(text.split())
    while (shorter := " ".join(_FILLER.sub("", text).split())) != text:
        text = shorter
    return text


def _resolve(m: re.Match[str], today: date) -> date | None:
    """Turn one match of `_DAY` into a day (None when the day does not exist)."""
    g = m.groupdict()
    try:
        if g["iso"]:
            return date(int(g["iy"]), int(g["im"]), int(g["id"]))
        if g["mon"] or g["mon2"]:
            month = _MONTHS[(g["mon"] or g["mon2"]).lower()]
            year = g["y"] or g["y2"]
            return _next_date(int(g["d"] or g["d2"]), month, int(year) if year else None, today)
    except ValueError:
        return None
    if g["n"]:
        return _add(today, _number(g["n"]), g["unit"].lower())
    if g["rel"]:
        rel = g["rel"].lower()
        offsets = {"yesterday": -1, "today": 0, "tonight": 0, "tomorrow": 1}
        return today + timedelta(days=offsets.get(rel, 2))
    if g["wd"]:
        return _weekday(today, _WEEKDAYS[g["wd"].lower()], (g["which"] or "").lower())
    if g["nextunit"]:
        return _add(today, 1, g["unit2"].lower())
    if g["end"]:
        next_one = (g["endwhich"] or "").strip().lower() == "next"
        return _end_of(today, g["end"].lower(), next_one=next_one)
    if g["bymon"]:
        return _month_end(_MONTHS[g["bymon"].lower()], g["bymy"], today)
    return None


def _next_date(day: int, month: int, year: int | None, today: date) -> date:
    """Return day/month in the given year, or the next time it comes round (ValueError: none)."""
    if year is not None:
        return date(year, month, day)
    for y in range(today.year, today.year + 5):  # 29 Feb comes round within four years
        try:
            found = date(y, month, day)
        except ValueError:
            continue
        if found >= today:
            return found
    raise ValueError(f"no day {day} in month {month}")


def _weekday(today: date, weekday: int, which: str) -> date:
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and which != "this":
        ahead = 7
    return today + timedelta(days=ahead)


def _add(today: date, n: int, unit: str) -> date:
    if unit == "day":
        return today + timedelta(days=n)
    if unit == "week":
        return today + timedelta(weeks=n)
    months = n * 12 if unit == "year" else n
    total = today.year * 12 + today.month - 1 + months
    year, month = divmod(total, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(today.day, last))


def _end_of(today: date, what: str, *, next_one: bool) -> date:
    if what == "week":
        friday = today + timedelta(days=(4 - today.weekday()) % 7)
        return friday + timedelta(weeks=1) if next_one else friday
    if what == "year":
        return date(today.year + int(next_one), 12, 31)
    if what == "month":
        base = _add(today.replace(day=1), 1, "month") if next_one else today
        return date(base.year, base.month, calendar.monthrange(base.year, base.month)[1])
    return _month_end(_MONTHS[what], None, today)


def _month_end(month: int, year: str | None, today: date) -> date:
    y = int(year) if year else today.year
    found = date(y, month, calendar.monthrange(y, month)[1])
    if year is None and found < today:
        found = date(y + 1, month, calendar.monthrange(y + 1, month)[1])
    return found


def _number(word: str) -> int:
    word = " ".join(word.lower().split())
    return int(word) if word.isdigit() else _NUMBERS[word]


DUE_HINT = "15 Jan, in 3 weeks, end of month, 2027-01-15"
DAY_EXAMPLES = "15 Jan, 15 January 2027, in 3 weeks, next friday, end of month or 2027-01-15"


def read_day(text: str, *, today: date, past: bool = False) -> date:
    """Return the day a form field or command names, the one way every surface reads it.

    ISO dates, "15 Jan", "15 January 2027", "in 3 weeks", "next friday", "end of month". A day
    before today is refused unless `past` allows it; an unreadable one says what would do.
    """
    said = " ".join(text.split())
    day = parse_day(said, today=today) if said else None
    if day is None:
        shown = f"'{said[:40]}'" if said else "an empty date"
        raise DomainError(f"I couldn't read {shown} as a date. Try {DAY_EXAMPLES}.")
    if day < today and not past:
        raise DomainError(f"{day.isoformat()} is in the past. Give a date from today on.")
    return day
