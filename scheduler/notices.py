"""Post the notices the platforms could not take when they were owed (`knowledge.notices`).

Each tick, if any notice is due, the scheduler claims a batch (one replica gets each) and posts
each in its person's DM on its platform. A notice that was already tried carries a delivery key
and is looked up first, so an attempt whose outcome was lost is not posted twice. A platform
still down puts the notice off as a failed reminder is (1, 2, 4… minutes up to an hour, or
its Retry-After); the PBPO digest lists those still undelivered after an hour.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from handlers.chat import Notifier, Reply, Text, UserRef
from knowledge.notices import Notices, Owed
from scheduler.deliver import backoff, retry_after_of

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
    claimed = await asyncio.to_thread(notices.claim, now, me, list(by_platform))
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
            retry_at = now + backoff(notice.attempts, retry_after_of(exc))  # as reminders do
            log.info("scheduler: notice %s still not delivered: %r", notice.id, exc)
            await asyncio.to_thread(
                notices.failed, notice.id, me, f"{type(exc).__name__}: {exc}", retry_at
            )
            continue
        await asyncio.to_thread(notices.delivered, notice.id, me)
        sent += 1
    return sent
