"""The practice of the week: which channels get one, and the ledger of what each was sent.

A PBPO turns it on in a channel (`set_channel`); the scheduler (`scheduler.practices`) claims
one row of `practice_posts` per channel and ISO week before posting, so a channel gets at most
one practice a week, and the rotation (`knowledge.practices`) reads what it was sent before.
`leaders` are who gets the weekly review list of priority lessons.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from knowledge import audit
from knowledge.models import PersonRole, PracticeChannel, Role
from knowledge.permissions import Operation, Subject, require
from knowledge.roles import actor_of
from knowledge.storage import Store


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel that gets a practice of the week."""

    id: int
    platform: str
    channel_id: str
    channel_name: str | None


def week_of(day: date) -> str:
    """Return the ISO week a day falls in: "2026-W49"."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


class Weekly:
    """Practice-of-the-week channels and their ledger, over a Store's sessions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def set_channel(
        self,
        platform: str,
        channel_id: str,
        channel_name: str | None,
        *,
        on: bool,
        actor_id: int | None,
        surface: str,
    ) -> bool:
        """Start (or stop) the practice of the week in a channel; return whether it changed."""
        return await asyncio.to_thread(
            self._set_channel, platform, channel_id, channel_name, on, actor_id, surface
        )

    def _set_channel(
        self,
        platform: str,
        channel_id: str,
        channel_name: str | None,
        on: bool,
        actor_id: int | None,
        surface: str,
    ) -> bool:
        with self.store.session() as s:
            actor = actor_of(s, actor_id)
            pbpo_of = frozenset(scope for role, scope in actor.roles if role == Role.PBPO)
            require(actor, Operation.PROMOTE_PRACTICE, Subject(missions=pbpo_of - {""}))
            row = s.scalars(
                select(PracticeChannel).where(
                    PracticeChannel.platform == platform, PracticeChannel.channel_id == channel_id
                )
            ).first()
            if row is None:
                row = PracticeChannel(platform=platform, channel_id=channel_id, active=False)
                s.add(row)
            changed = row.active != on
            row.active, row.channel_name = on, channel_name or row.channel_name
            row.added_by_id, row.updated_at = actor_id, self.store.clock()
            s.flush()
            if changed:
                audit.record(
                    s, at=self.store.clock(), person_id=actor_id, surface=surface,
                    operation="practice_week", kind="channel", subject_id=row.id,
                    before={"active": not on}, after={"active": on, "channel": channel_name},
                )  # fmt: skip
            return changed

    def channels(self) -> list[Channel]:
        """Return the channels that get a practice of the week (blocking; for the scheduler)."""
        with self.store.session() as s:
            rows = s.scalars(
                select(PracticeChannel)
                .where(PracticeChannel.active.is_(True))
                .order_by(PracticeChannel.id)
            )
            return [Channel(r.id, r.platform, r.channel_id, r.channel_name) for r in rows]

    def leaders(self) -> list[tuple[int, frozenset[str] | None]]:
        """Return each mission leader and the missions they lead (None: every mission)."""
        with self.store.session() as s:
            rows = s.execute(
                select(PersonRole.person_id, PersonRole.scope)
                .where(PersonRole.role == Role.MISSION_LEADER)
                .order_by(PersonRole.person_id)
            ).all()
        scopes: dict[int, set[str]] = {}
        for person_id, scope in rows:
            scopes.setdefault(person_id, set()).add(scope)
        return [(p, None if "" in s else frozenset(s)) for p, s in scopes.items()]
