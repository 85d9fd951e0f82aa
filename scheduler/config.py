"""The scheduler's settings: working hours, the reminder cadence and delivery limits, from env."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta

from handlers.deps import HandlerSettings

MAX_AHEAD_HOURS = 20.0  # under a day: a plan never reaches a person's next slot but one
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class WorkWeek:
    """When people may be reached: hours of the day (local time) and days of the week."""

    start: time = time(9)
    end: time = time(17)
    days: frozenset[int] = frozenset(range(5))  # Monday is 0

    @classmethod
    def parse(cls, hours: str | None, days: str | None) -> WorkWeek:
        """Read "09:00-17:00" and "mon-fri" (or "sun,mon,tue,wed,thu"); None keeps the default."""
        start, end = parse_hours(hours) if hours else (time(9), time(17))
        return cls(start, end, parse_days(days) if days else frozenset(range(5)))

    @property
    def key(self) -> str:
        """Return a short, stable name of this week (it groups people planned together)."""
        return f"{self.start:%H%M}-{self.end:%H%M}/" + "".join(str(d) for d in sorted(self.days))


def parse_hours(text: str) -> tuple[time, time]:
    """Read working hours written "09:00-17:00"."""
    first, sep, last = text.replace(" ", "").partition("-")
    try:
        if not sep:
            raise ValueError(text)
        start, end = time.fromisoformat(first), time.fromisoformat(last)
    except ValueError:
        raise ValueError(f"working hours must read like 09:00-17:00, not '{text}'") from None
    if end <= start:
        raise ValueError(f"working hours must end after they start: '{text}'")
    return start, end


def parse_days(text: str) -> frozenset[int]:
    """Read working days written "mon-fri", "sun-thu" or "mon,wed,fri"."""
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        first, sep, last = part.partition("-")
        if first not in DAY_NAMES or (sep and last not in DAY_NAMES):
            raise ValueError(f"working days must read like mon-fri or mon,wed,fri, not '{text}'")
        a = DAY_NAMES.index(first)
        b = DAY_NAMES.index(last) if sep else a
        span = (b - a) % 7
        days.update((a + i) % 7 for i in range(span + 1))
    return frozenset(days)


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often people are reminded, and when a manager hears of it."""

    due_soon_days: int = 3
    nudge_days: tuple[int, ...] = (1, 3, 7)  # days overdue; then every `repeat_days`
    repeat_days: int = 7
    escalate_after: int = 3  # unanswered nudges before the manager is told (once)
    eoar_days: tuple[int, ...] = (7, 14, 30)  # days before an assignment ends
    eoar_repeat_days: int = 7  # after it ended, until the EoAR is filed
    followup_weeks: int = 6  # "did the change work?" after a lesson is applied
    departure_window_days: int = 30  # a departure older than this gets no hand-over offer

    def nudge_point(self, days_overdue: int) -> int | None:
        """Return the latest cadence point reached after `days_overdue` days (None: none yet)."""
        return latest_point(days_overdue, self.nudge_days, self.repeat_days)

    def eoar_point(self, days_after_end: int) -> int | None:
        """Return the latest EoAR reminder point (negative: days before the end)."""
        points = tuple(-d for d in sorted(self.eoar_days, reverse=True))
        if days_after_end >= 0:
            return self.eoar_repeat_days * (days_after_end // self.eoar_repeat_days)
        return latest_point(days_after_end, points, None)


def latest_point(value: int, points: tuple[int, ...], repeat: int | None) -> int | None:
    """Return the largest point ≤ value of `points`, continued every `repeat` after the last."""
    ordered = sorted(points)
    if not ordered or value < ordered[0]:
        return None
    last = ordered[-1]
    if repeat and value >= last:
        return last + repeat * ((value - last) // repeat)
    return max(p for p in ordered if p <= value)


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    """Everything the scheduler reads from its environment."""

    work: WorkWeek = field(default_factory=WorkWeek)
    cadence: Cadence = field(default_factory=Cadence)
    tick_seconds: float = 60.0
    stale_after: timedelta = timedelta(hours=8)
    lease: timedelta = timedelta(minutes=5)
    plan_batch: int = 5000
    plan_ahead: timedelta = timedelta(0)  # when a slot comes, also plan slots this close
    deliver_batch: int = 200
    concurrency: int = 16
    platform_rate: float = 10.0  # messages per second per platform (a Slack workspace); 0: off
    keep_days: int = 90  # sent and skipped ledger rows are forgotten after this
    # What the handlers the scheduler calls are handed on Deps (bot/settings.py fills it).
    handlers: HandlerSettings = field(default_factory=HandlerSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SchedulerSettings:
        """Read LESSONS_WORK_HOURS, LESSONS_WORK_DAYS, LESSONS_NUDGE_DAYS and friends.

        bot/settings.py hands in the environment, once, at start-up.
        """
        nudges = _ints(env, "LESSONS_NUDGE_DAYS", "1,3,7")
        cadence = Cadence(
            due_soon_days=_int(env, "LESSONS_DUE_SOON_DAYS", 3),
            nudge_days=nudges,
            repeat_days=_int(env, "LESSONS_NUDGE_REPEAT_DAYS", 7, least=1),
            escalate_after=_int(env, "LESSONS_ESCALATE_AFTER", 3, least=1),
            eoar_days=_ints(env, "LESSONS_EOAR_DAYS", "7,14,30"),
            followup_weeks=_int(env, "LESSONS_FOLLOWUP_WEEKS", 6, least=1),
        )
        return cls(
            work=_work_week(env),
            cadence=cadence,
            tick_seconds=_float(env, "LESSONS_SCHEDULER_TICK_SECONDS", 60.0, least=0.05),
            stale_after=timedelta(hours=_float(env, "LESSONS_STALE_HOURS", 8.0, least=0.0)),
            lease=timedelta(seconds=_float(env, "LESSONS_SCHEDULER_LEASE_SECONDS", 300, least=1)),
            concurrency=_int(env, "LESSONS_SCHEDULER_CONCURRENCY", 16, least=1),
            plan_batch=_int(env, "LESSONS_PLAN_BATCH", 5000, least=1),
            plan_ahead=timedelta(hours=_ahead(env)),
            platform_rate=_float(env, "LESSONS_PLATFORM_RATE", 10.0, least=0.0),
        )


def enabled(env: Mapping[str, str]) -> bool:
    """Return False when LESSONS_SCHEDULER=off (the bot then sends no reminders)."""
    return env.get("LESSONS_SCHEDULER", "on").strip().lower() not in ("off", "0", "false", "no")


def _ahead(env: Mapping[str, str]) -> float:
    hours = _float(env, "LESSONS_PLAN_AHEAD_HOURS", 0.0, least=0.0)
    if hours > MAX_AHEAD_HOURS:
        raise ValueError(f"LESSONS_PLAN_AHEAD_HOURS must be at most {MAX_AHEAD_HOURS:g}")
    return hours


def _work_week(env: Mapping[str, str]) -> WorkWeek:
    hours, days = env.get("LESSONS_WORK_HOURS"), env.get("LESSONS_WORK_DAYS")
    try:
        start, end = parse_hours(hours) if hours else (time(9), time(17))
    except ValueError as exc:
        raise ValueError(f"LESSONS_WORK_HOURS: {exc}") from None
    try:
        return WorkWeek(start, end, parse_days(days) if days else frozenset(range(5)))
    except ValueError as exc:
        raise ValueError(f"LESSONS_WORK_DAYS: {exc}") from None


def _int(env: Mapping[str, str], name: str, default: int, *, least: int = 0) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not '{raw}'") from None
    if value < least:
        raise ValueError(f"{name} must be at least {least}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, least: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not '{raw}'") from None
    if not least <= value < float("inf"):
        raise ValueError(f"{name} must be a finite number of at least {least}")
    return value


def _ints(env: Mapping[str, str], name: str, default: str) -> tuple[int, ...]:
    raw = env.get(name) or default
    try:
        values = tuple(sorted({int(p) for p in raw.replace(" ", "").split(",") if p}))
    except ValueError:
        raise ValueError(f"{name} must be numbers separated by commas, not '{raw}'") from None
    if not values or values[0] < 1:
        raise ValueError(f"{name} must list whole numbers of days, each at least 1")
    return values
