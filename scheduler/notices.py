"""Post the notices the platforms could not take when they were owed (`knowledge.notices`).

Each tick, if any notice is due, the scheduler claims a batch (one replica gets each) and posts
each in its person's DM on its platform. A notice that was already tried carries a delivery key
and is looked up first, so an attempt whose outcome was lost is not posted twice. A platform
still down puts the notice off, 1, 2, 4… minutes up to an hour; the PBPO digest lists those
still undelivered after an hour.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from handlers.chat import Notifier, Reply, Text, UserRef
from knowledge.notices import Notices, Owed

log = logging.getLogger(__name__)


def key_of(notice: Owed) -> str:
    """The delivery key a notice's message carries."""
    return f"notice:{notice.id}"


async def deliver(
    notices: Notices, notifiers: Sequence[Notifier], *, now: datetime, me: str
) -> int:
    """Post the due notices of the platforms we have a notifier for; return how many landed."""
    by_platform = {n.platform: n for n in notifiers}
    if not by_platform:
        return 0
    claimed = await _run(notices.claim, now, me, list(by_platform))
    sent = 0
    for notice in claimed:
        notifier = by_platform[notice.platform]
        to = UserRef(notice.platform, notice.user_key, notice.name or None)
        key = key_of(notice)
        try:
            found = await notifier.find(to, key) if notice.attempts > 1 else None
            if found is None:
                await notifier.send(to, replace(Reply.of(Text(notice.text)), key=key))
        except Exception as exc:  # still down: later
            retry_at = now + _backoff(notice.attempts)
            log.info("scheduler: notice %s still not delivered: %r", notice.id, exc)
            await _run(notices.failed, notice.id, me, f"{type(exc).__name__}: {exc}", retry_at)
            continue
        await _run(notices.delivered, notice.id, me)
        sent += 1
    return sent


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600.0, 60.0 * 2 ** max(0, attempts - 1)))


async def _run[**P, R](fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    return await asyncio.to_thread(fn, *args, **kwargs)
