"""Group commit: many small writes from concurrent requests share one transaction.

Each chat message writes two small rows (the redelivery record and the question log). Alone,
each costs a transaction and a thread hop; under load, `Batch` gathers the writes that arrive
while one transaction runs and writes them together in the next one. Nothing waits for a timer:
a lone write goes at once, so an idle bot answers as fast as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Pending[T, R]:
    item: T
    done: asyncio.Future[R] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Batch[T, R]:
    """Write items in groups: `write(items)` runs in a worker thread and returns one result each.

    `write` must be all-or-nothing: when it raises, every caller of that group gets the error
    (and nothing of the group was written).
    """

    def __init__(self, write: Callable[[Sequence[T]], Sequence[R]], *, most: int = 200) -> None:
        self.write, self.most = write, most
        self._queue: list[_Pending[T, R]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Queue an item for the next group and return its result once written."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests, a CLI run): start afresh
            self._loop, self._queue, self._running = loop, [], None
        pending: _Pending[T, R] = _Pending(item)
        self._queue.append(pending)
        if self._running is None or self._running.done():
            self._running = loop.create_task(self._drain())
        return await pending.done

    async def _drain(self) -> None:
        while self._queue:
            group, self._queue = self._queue[: self.most], self._queue[self.most :]
            try:
                results = await asyncio.to_thread(self.write, [p.item for p in group])
                paired = list(zip(group, results, strict=True))
            except Exception as exc:  # every caller of the group hears of it
                for p in group:
                    if not p.done.done():
                        p.done.set_exception(exc)
                continue
            for p, result in paired:
                if not p.done.done():
                    p.done.set_result(result)
