"""The surfaces' side of the transactional inbox (`knowledge.inbox`): who is handling what.

`Handling` is the inbox row an event's work belongs to. The surface sets it in a context
variable before handing the event to the SDK, so the listener tasks the SDK starts inherit it:
a listener marks its row done when it ends (`finish`), and a post it makes carries the row's
key (a replay first looks for that post, and posts only if it is not there).

`Keeper` renews the leases of the rows this process is handling and, every few seconds (and
at start), claims rows not done whose lease ran out — events a killed process acknowledged —
and hands each to its surface's `replay`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

from knowledge.inbox import Entry, Inbox

log = logging.getLogger(__name__)

SWEEP_SECONDS = 5.0
Replay = Callable[[Entry], Awaitable[None]]


@dataclass(slots=True)
class Handling:
    """The inbox row behind the work in progress."""

    entry: Entry
    keeper: Keeper
    started: bool = False
    finished: bool = False
    listeners: int = 0
    posts: int = 0

    @property
    def key(self) -> str:
        """The delivery key of what this event's work posts."""
        return f"in:{self.entry.platform}:{self.entry.key}"[:200]

    def next_key(self) -> str:
        """The delivery key of this event's next post (the same, in order, on a replay)."""
        self.posts += 1
        return f"{self.key}#{self.posts}"[:250]

    @property
    def replay(self) -> bool:
        """Whether an earlier attempt may already have posted."""
        return self.entry.replay

    async def finish(self) -> None:
        """Mark the row done (once)."""
        if self.finished:
            return
        self.finished = True
        await self.keeper.finish(self.entry.id)


CURRENT: ContextVar[Handling | None] = ContextVar("inbox_handling", default=None)


def current() -> Handling | None:
    """Return the inbox row the running work belongs to, if any."""
    return CURRENT.get()


@dataclass
class Keeper:
    """Leases and recovery of one process's inbox rows, for the surfaces that registered."""

    inbox: Inbox
    sweep_seconds: float = SWEEP_SECONDS
    replays: dict[str, Replay] = field(default_factory=dict)
    handling: set[int] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
    _replaying: set[asyncio.Task[None]] = field(default_factory=set)
    _started: bool = False

    def register(self, platform: str, replay: Replay) -> None:
        """Have `replay` handle this platform's orphans."""
        self.replays[platform] = replay

    def begin(self, entry: Entry) -> Handling:
        """Start handling a row: its lease is renewed until `finish`."""
        self.handling.add(entry.id)
        return Handling(entry, self)

    async def finish(self, entry_id: int) -> None:
        """Mark a row done; a failure leaves it to be handled again (logged)."""
        try:
            await self.inbox.done(entry_id)
        except Exception:
            log.exception("inbox: could not mark event %s done; it will be handled again", entry_id)
        finally:
            self.handling.discard(entry_id)

    async def release(self, entry_id: int) -> None:
        """Stop handling a row without finishing it: whoever gets it next handles it."""
        self.handling.discard(entry_id)
        try:
            await self.inbox.release(entry_id)
        except Exception:
            log.warning("inbox: could not release event %s", entry_id, exc_info=True)

    async def start(self, *, everything: bool = False) -> None:
        """Recover what a previous run left (all of it, for SQLite's one process), then sweep."""
        if self._started:
            return
        self._started = True
        await self._recover(everything=everything)
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop sweeping and let replays under way end."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._replaying:
            await asyncio.wait(self._replaying, timeout=10)
        self._started = False

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            try:
                await self.inbox.renew(sorted(self.handling))
                await self._recover()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: the next sweep tries again
                log.warning("inbox: sweep failed", exc_info=True)

    async def _recover(self, *, everything: bool = False) -> None:
        platforms: Sequence[str] = sorted(self.replays)
        if not platforms:
            return
        found = await self.inbox.claim_orphans(platforms, everything=everything)
        for entry in found:
            log.info("inbox: handling %s event %s again (attempt %d)", *entry_info(entry))
            task = asyncio.get_running_loop().create_task(self._replay(entry))
            self._replaying.add(task)
            task.add_done_callback(self._replaying.discard)

    async def _replay(self, entry: Entry) -> None:
        replay = self.replays.get(entry.platform)
        if replay is None:
            return
        try:
            await replay(entry)
        except Exception:
            log.exception("inbox: replaying %s event %s failed", entry.platform, entry.key)


def entry_info(entry: Entry) -> tuple[str, str, int]:
    """What the log says of an entry."""
    return entry.platform, entry.key, entry.attempts
