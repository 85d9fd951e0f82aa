"""The progress bar of `lessons import`: records written, their rate, then the indexing step.

Shown only on a terminal and only for imports of more than a few thousand records: a small
import is over before a bar would say anything. On PostgreSQL most of a large import's time
comes after the last record is written (tokenizing and the postings, `knowledge.search.postings`),
so the bar says when that step starts rather than sitting at 100 %.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from knowledge.loader import Progress

SHOWN_FROM = 3_000  # records
WIDTH = 30


def progress_bar(
    total: int, stream: TextIO, *, clock: Callable[[], float] = time.monotonic
) -> Progress | None:
    """Return a progress callback drawing on a terminal stream, or None when none is wanted."""
    if total < SHOWN_FROM or not stream.isatty():
        return None
    started = clock()

    def show(done: int, step: str = "") -> None:
        share = min(1.0, done / total) if total else 1.0
        rate = done / max(clock() - started, 1e-6)
        bar = "#" * int(share * WIDTH)
        line = f"\r[{bar:<{WIDTH}}] {done:,}/{total:,} records, {rate:,.0f}/s"
        if step == "indexing":
            line += " — building the search index…\n"
        print(line, end="", file=stream, flush=True)

    return show
