"""The only APScheduler import: a tick every few seconds, in this process, remembering nothing.

APScheduler 3.11's AsyncIOScheduler with its in-memory job store runs one interval job, the
tick; `coalesce` and `max_instances=1` keep ticks from piling up. Nothing load-bearing lives in
APScheduler: what is due and what was sent is in the database (scheduler/planner.py,
scheduler/ledger.py), so a restart, a crash or a second replica loses and repeats nothing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.jobs import Scheduler, TickReport

log = logging.getLogger(__name__)
JOB_ID = "lessons-scheduler-tick"


class Runner:
    """Ticks a Scheduler on an interval inside the running event loop."""

    def __init__(self, scheduler: Scheduler, *, seconds: float | None = None) -> None:
        self.scheduler = scheduler
        self.seconds = seconds or scheduler.settings.tick_seconds
        self._aps: AsyncIOScheduler | None = None
        self._running: asyncio.Task[object] | None = None
        self.ticks = 0

    def start(self) -> None:
        """Start ticking now, then every `seconds` (call inside the event loop)."""
        aps = AsyncIOScheduler(timezone=UTC)  # start() takes the running loop
        aps.add_job(
            self._tick,
            "interval",
            seconds=self.seconds,
            id=JOB_ID,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(self.seconds)),
            next_run_time=datetime.now(UTC) + timedelta(milliseconds=10),
        )
        aps.start()
        self._aps = aps
        log.info("scheduler: ticking every %g s as %s", self.seconds, self.scheduler.me)

    async def stop(self) -> None:
        """Stop ticking and let a tick in progress finish."""
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        running = self._running
        if running is not None and not running.done():
            await asyncio.wait([running], timeout=30)
        await self.scheduler.aclose()

    async def _tick(self) -> TickReport | None:
        self._running = asyncio.current_task()
        try:
            report = await self.scheduler.tick()
        except Exception:  # the next tick tries again; nothing is lost (the database has it)
            log.exception("scheduler: tick failed")
            return None
        self.ticks += 1
        return report
