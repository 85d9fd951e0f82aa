"""Where the scheduler's time comes from: the system, a fixed moment, or a moment running on."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the time, always aware and in UTC."""

    def __call__(self) -> datetime:
        """Return the current time."""
        ...


def system() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until told to move (tests)."""

    def __init__(self, at: datetime) -> None:
        self.at = _aware(at)

    def __call__(self) -> datetime:
        """Return the time set."""
        return self.at

    def set(self, at: datetime) -> None:
        """Move to a moment."""
        self.at = _aware(at)

    def advance(self, by: timedelta) -> datetime:
        """Move on by a span; return the new time."""
        self.at += by
        return self.at


class RunningClock:
    """A clock started at a given moment that runs on in real time (`run-once --now`).

    Leases and backoff need time to pass even when a run pretends to be elsewhere in time.
    """

    def __init__(self, start: datetime) -> None:
        self.start = _aware(start)
        self._origin = time.monotonic()

    def __call__(self) -> datetime:
        """Return the start plus the real time elapsed since."""
        return self.start + timedelta(seconds=time.monotonic() - self._origin)


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
