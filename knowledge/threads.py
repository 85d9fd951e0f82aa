"""Running the blocking database work of a store-like object in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate


def blocking[S, **P, R](
    fn: Callable[Concatenate[S, P], R],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Turn a blocking method into an async one that runs in a worker thread."""

    async def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(fn, self, *args, **kwargs)

    run.__doc__, run.__name__ = fn.__doc__, fn.__name__.lstrip("_")
    return run
