"""Teams' rate limits per bot and conversation, kept before sending rather than hit.

Teams allows a bot, in one conversation, 7 messages a second, 60 in 30 seconds and 1,800 an
hour; beyond that it answers 429. Each send books the earliest moment all three windows allow
and waits for it; a burst for one conversation waits its turn without holding up the others.
A 429's Retry-After holds the conversation (`hold`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

WINDOWS = ((1.0, 7), (30.0, 60), (3600.0, 1800))  # (seconds, sends allowed in them)


class ConversationPace:
    """Books send times per conversation within Teams' windows."""

    def __init__(
        self,
        windows: tuple[tuple[float, int], ...] = WINDOWS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.windows = windows
        self.clock = clock
        self.sleep = sleep
        self._booked: dict[str, deque[float]] = {}
        self._held: dict[str, float] = {}
        self._span = max(span for span, _ in windows)

    def book(self, conversation: str) -> float:
        """Book the next send to a conversation; return how long to wait for it."""
        now = self.clock()
        times = self._booked.setdefault(conversation, deque())
        while times and times[0] <= now - self._span:
            times.popleft()
        slot = max(now, self._held.get(conversation, 0.0), times[-1] if times else now)
        for span, allowed in self.windows:
            if len(times) >= allowed:
                slot = max(slot, times[-allowed] + span)
        times.append(slot)
        if len(self._booked) > 10_000:  # forget conversations quiet for the longest window
            self._booked = {c: t for c, t in self._booked.items() if t and t[-1] > now - self._span}
        return slot - now

    async def wait(self, conversation: str) -> None:
        """Wait until a conversation may be sent to again."""
        delay = self.book(conversation)
        if delay > 0:
            await self.sleep(delay)

    def hold(self, conversation: str, seconds: float) -> None:
        """Send nothing to a conversation for a while (Teams said 429, Retry-After)."""
        self._held[conversation] = max(self._held.get(conversation, 0.0), self.clock() + seconds)
