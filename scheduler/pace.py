"""A pace per platform (a Slack workspace allows only so many posts a second)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class Pace:
    """Keeps sends to each platform at least 1/rate seconds apart; a rate of 0 means no limit.

    `hold(platform, seconds)` pauses a platform, as a Retry-After asks.
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next: dict[str, float] = {}

    async def wait(self, platform: str) -> None:
        """Wait for this platform's next free moment, and book it."""
        now = self.clock()
        slot = max(now, self._next.get(platform, 0.0))
        self._next[platform] = slot + self.interval
        if slot > now:
            await self.sleep(slot - now)

    def hold(self, platform: str, seconds: float) -> None:
        """Send nothing to a platform for a while."""
        self._next[platform] = max(self._next.get(platform, 0.0), self.clock() + seconds)
