"""The transactional inbox: platform events kept from before their ack until they are handled.

A surface (Slack, Teams) writes each incoming event, interaction, slash command or activity
here *before* acknowledging it, unique by the platform's id for it (`receive`); only a
recorded event is acknowledged, so one that could not be recorded is redelivered by the
platform. The process that received it handles it under a short lease, renewed while it
works (`renew`), and marks it done once handled (`done`). Rows not done whose lease ran out
(their process was killed) are claimed by any process (`claim_orphans`) and handled again.

A redelivery of an event already done is acknowledged and skipped; of one not done whose
lease still runs, acknowledged and left to its holder; of one whose lease ran out, claimed
and handled by the process that got it. The writes of concurrent requests share a
transaction (`knowledge.batching`): the ack path costs one insert.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from knowledge.batching import Batch
from knowledge.models import InboxItem
from knowledge.threads import blocking

LEASE = timedelta(seconds=15)
KEEP_DONE = timedelta(days=2)  # platforms redeliver within hours; a day is plenty
State = Literal["new", "claimed", "pending", "done"]


@dataclass(frozen=True, slots=True)
class Entry:
    """An inbox row to handle."""

    id: int
    platform: str
    key: str
    body: str
    meta: dict[str, Any]
    attempts: int

    @property
    def replay(self) -> bool:
        """Whether an earlier attempt may have made part of its effect already."""
        return self.attempts > 1


@dataclass(frozen=True, slots=True)
class Receipt:
    """What became of a received event: new (handle it), claimed (an orphan: handle it),
    pending (another process is on it) or done (seen and handled: skip it)."""

    state: State
    entry: Entry | None = None

    @property
    def handle(self) -> bool:
        """Whether the receiver must handle it now."""
        return self.state in ("new", "claimed")


def whoami() -> str:
    """A name for this process, unique across replicas and restarts."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Inbox:
    """Receive, lease, finish and recover the events of the platforms."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime],
        me: str | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.me = me or whoami()
        self.lease = lease
        self._receives: Batch[tuple[str, str, str, str], Receipt] = Batch(self._receive_many)
        self._dones: Batch[int, bool] = Batch(self._done_many)

    @property
    def postgres(self) -> bool:
        """Whether the database is PostgreSQL (else SQLite)."""
        return self.engine.dialect.name == "postgresql"

    async def receive(
        self, platform: str, key: str, body: str, meta: dict[str, Any] | None = None
    ) -> Receipt:
        """Record an incoming event before its ack; say whether to handle it (raises if the
        database cannot record it: then do not acknowledge it)."""
        item = (platform[:16], key[:200], body, json.dumps(meta or {}))
        return await self._receives.submit(item)

    def _receive_many(self, items: Sequence[tuple[str, str, str, str]]) -> list[Receipt]:
        now = self.clock()
        until = now + self.lease
        dialect = postgresql if self.postgres else sqlite
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for platform, key, body, meta in items:
            rows.setdefault(
                (platform, key),
                {
                    "platform": platform,
                    "key": key,
                    "body": body,
                    "meta": meta,
                    "received_at": now,
                    "lease_until": until,
                    "claimed_by": self.me,
                    "attempts": 1,
                },
            )
        insert = (
            dialect.insert(InboxItem)
            .on_conflict_do_nothing()
            .returning(InboxItem.id, InboxItem.platform, InboxItem.key)
        )
        receipts: dict[tuple[str, str], Receipt] = {}
        with self.engine.begin() as conn:
            for row_id, platform, key in conn.execute(insert, list(rows.values())):
                row = rows[(platform, key)]
                entry = Entry(row_id, platform, key, row["body"], json.loads(row["meta"]), 1)
                receipts[(platform, key)] = Receipt("new", entry)
            for platform, key in rows.keys() - receipts.keys():
                receipts[(platform, key)] = self._seen(conn, platform, key, now, until)
        answered: list[Receipt] = []
        for platform, key, _, _ in items:
            receipt = receipts[(platform, key)]
            answered.append(receipt)
            if receipt.handle:  # the same event twice in one group is handled once
                receipts[(platform, key)] = Receipt("pending")
        return answered

    def _seen(self, conn: Any, platform: str, key: str, now: datetime, until: datetime) -> Receipt:
        """A redelivery: done, still leased by someone, or an orphan we claim now."""
        table = InboxItem.__table__
        claim = (
            update(InboxItem)
            .where(
                InboxItem.platform == platform,
                InboxItem.key == key,
                InboxItem.done_at.is_(None),
                or_(InboxItem.lease_until.is_(None), InboxItem.lease_until < now),
            )
            .values(lease_until=until, claimed_by=self.me, attempts=InboxItem.attempts + 1)
            .returning(*table.c)
        )
        row = conn.execute(claim).first()
        if row is not None:
            return Receipt("claimed", _entry(row))
        done = conn.execute(
            select(InboxItem.done_at).where(InboxItem.platform == platform, InboxItem.key == key)
        ).first()
        return Receipt("done" if done is None or done[0] is not None else "pending")

    async def done(self, entry_id: int) -> bool:
        """Mark an event handled (with others finishing at the same moment)."""
        return await self._dones.submit(entry_id)

    def _done_many(self, ids: Sequence[int]) -> list[bool]:
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(InboxItem)
                .where(InboxItem.id.in_(set(ids)))
                .values(done_at=now, lease_until=None, body="", meta="")
            )
        return [True] * len(ids)

    def _release(self, entry_id: int) -> None:
        """Give up the lease of an event not done (a redelivery or a sweep takes it)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(InboxItem)
                .where(InboxItem.id == entry_id, InboxItem.done_at.is_(None))
                .values(lease_until=None, claimed_by=None)
            )

    release = blocking(_release)

    def _renew(self, ids: Sequence[int]) -> int:
        """Extend the lease of events this process is still handling."""
        if not ids:
            return 0
        until = self.clock() + self.lease
        with self.engine.begin() as conn:
            result = conn.execute(
                update(InboxItem)
                .where(
                    InboxItem.id.in_(list(ids)),
                    InboxItem.done_at.is_(None),
                    InboxItem.claimed_by == self.me,
                )
                .values(lease_until=until)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    renew = blocking(_renew)

    def _claim_orphans(
        self, platforms: Sequence[str], *, limit: int = 100, everything: bool = False
    ) -> list[Entry]:
        """Claim events not done whose lease ran out (all not done, with `everything`: the
        one process of a SQLite file at its start, whose rows are all orphans)."""
        now = self.clock()
        expired = or_(InboxItem.lease_until.is_(None), InboxItem.lease_until < now)
        pick = (
            select(InboxItem.id)
            .where(
                InboxItem.done_at.is_(None),
                InboxItem.platform.in_(list(platforms)),
                *(() if everything else (expired,)),
            )
            .order_by(InboxItem.id)
            .limit(limit)
        )
        if self.postgres:
            pick = pick.with_for_update(skip_locked=True)
        with self.engine.begin() as conn:
            ids = list(conn.execute(pick).scalars())
            if not ids:
                return []
            rows = conn.execute(
                update(InboxItem)
                .where(and_(InboxItem.id.in_(ids), InboxItem.done_at.is_(None)))
                .values(
                    lease_until=now + self.lease,
                    claimed_by=self.me,
                    attempts=InboxItem.attempts + 1,
                )
                .returning(*InboxItem.__table__.c)
            ).all()
        return sorted((_entry(r) for r in rows), key=lambda e: e.id)

    claim_orphans = blocking(_claim_orphans)

    def _forget(self, before: datetime) -> int:
        """Drop events handled before `before` (redeliveries stop within hours)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(InboxItem).where(InboxItem.done_at.is_not(None), InboxItem.done_at < before)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    forget = blocking(_forget)

    def _pending(self, platform: str | None = None) -> list[tuple[str, str, int]]:
        """Return (platform, key, attempts) of every event not done (tests, `lessons` checks)."""
        query = select(InboxItem.platform, InboxItem.key, InboxItem.attempts).where(
            InboxItem.done_at.is_(None)
        )
        if platform:
            query = query.where(InboxItem.platform == platform)
        with self.engine.connect() as conn:
            return [(p, k, a) for p, k, a in conn.execute(query.order_by(InboxItem.id))]

    pending = blocking(_pending)


def _entry(row: Any) -> Entry:
    mapping = row._mapping
    try:
        meta = json.loads(mapping["meta"] or "{}")
    except ValueError:
        meta = {}
    return Entry(
        int(mapping["id"]),
        str(mapping["platform"]),
        str(mapping["key"]),
        str(mapping["body"] or ""),
        meta if isinstance(meta, dict) else {},
        int(mapping["attempts"]),
    )
