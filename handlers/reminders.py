"""Answers to the scheduler's reminders, and each person's reminder preferences.

- "Did the change work?" some weeks after a lesson was applied: the answer is kept on the
  lesson's record (its lifecycle events), for the PBPOs.
- `reminders` in chat shows how one is reminded; `reminders daily|instant|mute|unmute`,
  `reminders pause 3d|1w|off` and `reminders away 2026-12-20 2027-01-05|off` change it.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import StrEnum

from handlers.chat import ButtonPress, Reply, Text, UserRef
from handlers.deps import Deps
from handlers.errors import UserError
from handlers.ids import parse_id
from knowledge.dates import read_day
from knowledge.reminders import PreferenceView, Reminders

_SPAN = re.compile(r"^(\d{1,3})\s*([dw])$")
USAGE = (
    "`reminders daily` (one message a day) or `reminders instant`, `reminders mute` (only "
    "essential ones) or `reminders unmute`, `reminders pause 3d`/`1w`/`off`, "
    "`reminders away 20 Dec to 5 Jan` (or `2026-12-20 2027-01-05`) or `reminders away off`."
)


class FollowupButton(StrEnum):
    """Buttons on "did the change work?"; the value is the lesson id."""

    WORKED = "reminders.worked"
    NOT_YET = "reminders.not_yet"


async def button(press: ButtonPress, deps: Deps) -> Reply | None:
    """Record the answer to "did the change work?"."""
    if press.action not in (FollowupButton.WORKED, FollowupButton.NOT_YET):
        raise UserError("That button is out of date.")
    lesson_id = parse_id(press.value)
    person = await _person(press.who, deps)
    worked = press.action == FollowupButton.WORKED
    await Reminders(deps.store).record_followup(lesson_id, person_id=person, worked=worked)
    note = (
        "Thank you: recorded that the change worked. That is a lesson learned."
        if worked
        else "Thank you: recorded that the change has not worked yet. The PBPOs will see it."
    )
    return Reply(elements=(Text(f"✅ {note}"),), private=True, replace=True)


async def command(who: UserRef, text: str, deps: Deps) -> Reply:
    """Show or change how I am reminded (`reminders …`)."""
    person = await _person(who, deps)
    reminders = Reminders(
        deps.store, work_hours=deps.settings.work_hours, work_days=deps.settings.work_days
    )
    words = text.lower().split()
    today = deps.store.today()
    match words:
        case []:
            return preferences_reply(await reminders.preferences(person), today=today)
        case ["daily" | "instant" as mode]:
            view = await reminders.update(person, delivery=mode)
        case ["mute"] | ["unmute"]:
            view = await reminders.update(person, muted=words[0] == "mute")
        case ["pause", "off"]:
            view = await reminders.update(person, pause=None)
        case ["pause", span]:
            view = await reminders.update(person, pause=_span(span))
        case ["away", "off"]:
            view = await reminders.update(person, away=None)
        case ["away", *_] if (away := _away(text, today)) is not None:
            view = await reminders.update(person, away=away)
        case _:
            raise UserError(f"I didn't understand that. Try {USAGE}")
    return preferences_reply(view, today=today, note="Saved.")


def preferences_reply(view: PreferenceView, *, today: date, note: str | None = None) -> Reply:
    """Build the card that says how a person is reminded."""
    lines = [f"✅ {note}"] if note else []
    lines.append("*Your reminders*")
    if view.delivery == "daily":
        lines.append(f"• One message a day, at {view.digest_at or 'the start of your day'}.")
    else:
        lines.append("• As soon as something is due, in your working hours.")
    lines.append(f"• Working hours: {view.work_hours}, {view.work_days} ({view.timezone}).")
    if view.muted:
        lines.append("• Muted: only overdue actions and End of Assignment reminders reach you.")
    if view.paused_until:
        lines.append(f"• Paused until {view.paused_until:%a %d %b %H:%M} UTC.")
    if view.away_from or view.away_until:
        lines.append(f"• Away from {view.away_from or 'now'} to {view.away_until or '…'}.")
    lines.append(f"_Change it with {USAGE}_")
    return Reply.of(Text("\n".join(lines)), private=True)


def _span(text: str) -> timedelta:
    found = _SPAN.match(text)
    if not found:
        raise UserError("Pause for a number of days or weeks, like `3d` or `1w`.")
    n = int(found.group(1))
    return timedelta(days=n) if found.group(2) == "d" else timedelta(weeks=n)


_AWAY = re.compile(r"\s*away\s+(.+?)\s+(?:to|until|till|-)\s+(.+)", re.I)


def _away(text: str, today: date) -> tuple[date, date] | None:
    """Read `away 20 Dec to 5 Jan` (any dates the date reader knows) or `away A B`."""
    found = _AWAY.fullmatch(text)
    if found is not None:
        first, last = found.group(1), found.group(2)
    else:
        parts = text.split()[1:]
        if len(parts) != 2:
            return None
        first, last = parts
    return _day(first, today), _day(last, today)


def _day(text: str, today: date) -> date:
    return read_day(text, today=today, past=True)


async def _person(who: UserRef, deps: Deps) -> int:
    person = await deps.store.person_for(who.platform, who.user_id)
    if person is None:
        raise UserError("I don't know you yet: ask a PBPO to add you to the directory.")
    return person
