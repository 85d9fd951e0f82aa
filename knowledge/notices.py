"""Pending notices: what the bot owed someone while their platform was not answering.

When an answer could not be posted and the apology for it failed too (Slack or Teams down), the
surface keeps the apology here (`owe`) rather than lose it: the person is told once the platform
answers again. The scheduler claims due notices with a lease (one replica posts each), marks
them delivered, or puts them off with a growing backoff (`claim`, `delivered`, `failed`); the
PBPO digest lists those still undelivered after an hour (`undelivered`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, or_, select, update

from knowledge.models import PendingNotice
from knowledge.threads import blocking

LEASE = timedelta(minutes=2)
BATCH = 50
N = PendingNotice


@dataclass(frozen=True, slots=True)
class Owed:
    """A notice to post: to whom, on which platform, and what."""

    id: int
    platform: str
    user_key: str
    name: str
    text: str
    created_at: datetime
    attempts: int


@dataclass(frozen=True, slots=True)
class Undelivered:
    """A notice still not delivered, for the PBPO digest."""

    name: str
    platform: str
    created_at: datetime
    attempts: int
    last_error: str


class Notices:
    """Keep, claim and settle the notices the platforms could not take."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def _owe(self, platform: str, user_key: str, text: str, name: str = "") -> int:
        """Keep a notice for someone; the scheduler posts it when their platform answers."""
        now = self.clock()
        values = {
            "platform": platform[:16],
            "user_key": user_key[:100],
            "name": name[:200],
            "text": text,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        }
        with self.engine.begin() as conn:
            inserted = conn.execute(insert(N).values(values).returning(N.id))
            return int(inserted.scalar_one())

    owe = blocking(_owe)

    def claim(
        self, now: datetime, me: str, platforms: Sequence[str], limit: int = BATCH
    ) -> list[Owed]:
        """Claim the due notices of these platforms for `me` until the lease runs out."""
        free = or_(N.lease_until.is_(None), N.lease_until < now)
        due = (
            select(N.id)
            .where(
                N.delivered_at.is_(None),
                N.next_attempt_at <= now,
                N.platform.in_(list(platforms)),
                free,
            )
            .order_by(N.next_attempt_at, N.id)
            .limit(limit)
        )
        with self.engine.begin() as conn:
            ids = list(conn.execute(due).scalars())
            if not ids:
                return []
            claimed = conn.execute(
                update(N)
                .where(N.id.in_(ids), N.delivered_at.is_(None), free)
                .values(lease_until=now + LEASE, claimed_by=me[:100], attempts=N.attempts + 1)
                .returning(N.id, N.platform, N.user_key, N.name, N.text, N.created_at, N.attempts)
            ).all()
        return sorted((Owed(*row) for row in claimed), key=lambda o: o.id)

    def delivered(self, notice_id: int, me: str) -> None:
        """The platform took the notice: it is never posted again."""
        with self.engine.begin() as conn:
            conn.execute(
                update(N)
                .where(N.id == notice_id, N.claimed_by == me[:100])
                .values(delivered_at=self.clock(), lease_until=None, last_error=None)
            )

    def failed(self, notice_id: int, me: str, error: str, retry_at: datetime) -> None:
        """The platform still does not answer: try again at `retry_at`."""
        with self.engine.begin() as conn:
            conn.execute(
                update(N)
                .where(N.id == notice_id, N.claimed_by == me[:100], N.delivered_at.is_(None))
                .values(next_attempt_at=retry_at, lease_until=None, last_error=error[:500])
            )

    def undelivered(self, before: datetime, limit: int = 10) -> list[Undelivered]:
        """The notices kept before `before` and still not delivered, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(N.name, N.user_key, N.platform, N.created_at, N.attempts, N.last_error)
                .where(N.delivered_at.is_(None), N.created_at < before)
                .order_by(N.created_at, N.id)
                .limit(limit)
            ).all()
        return [
            Undelivered(name or key, platform, at, attempts, error or "")
            for name, key, platform, at, attempts, error in rows
        ]
