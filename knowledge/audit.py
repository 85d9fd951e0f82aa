"""The audit trail: every change to a lesson, action, role, product or channel, read back.

Each change is recorded in the transaction that makes it (`record`), with who made it, when
(UTC), from which surface (slack, teams, local, cli, or system for the bot's own moves), the
operation, the subject ("lesson", 42) and a summary of the fields before and after. Rows are
only ever added.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.errors import DomainError
from knowledge.models import AuditEvent, Person
from knowledge.threads import blocking

SYSTEM = "system"  # the bot's own moves (a lesson applied when its last action closes)
CLI = "cli"
KINDS = ("lesson", "action", "person", "product", "channel")  # channel: practice of the week
MAX_NOTE = 2_000


def record(
    s: Session,
    *,
    at: datetime,
    person_id: int | None,
    surface: str,
    operation: str,
    kind: str,
    subject_id: int,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    note: str | None = None,
) -> None:
    """Add one change to the audit trail, in the session (and transaction) that makes it."""
    s.add(
        AuditEvent(
            at=at,
            person_id=person_id,
            surface=(surface or SYSTEM)[:16],
            operation=operation[:40],
            subject_kind=kind[:16],
            subject_id=subject_id,
            before=_plain(before),
            after=_plain(after),
            note=note.strip()[:MAX_NOTE] if note and note.strip() else None,
        )
    )


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One recorded change, with the name of who made it."""

    id: int
    at: datetime
    person_id: int | None
    person: str | None
    surface: str
    operation: str
    subject_kind: str
    subject_id: int
    before: dict[str, Any]
    after: dict[str, Any]
    note: str | None

    @property
    def subject(self) -> str:
        """Return the subject as "<kind>:<id>"."""
        return f"{self.subject_kind}:{self.subject_id}"

    def as_json(self) -> dict[str, Any]:
        """Return the row as plain JSON values."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "person_id": self.person_id,
            "person": self.person,
            "surface": self.surface,
            "operation": self.operation,
            "subject": self.subject,
            "before": self.before,
            "after": self.after,
            "note": self.note,
        }


def parse_subject(text: str) -> tuple[str, int]:
    """Read "lesson:42" (or "action:7", "person:3", "product:5"), or raise DomainError."""
    kind, _, number = text.strip().lower().partition(":")
    if kind not in KINDS or not number.isdigit():
        raise DomainError(
            f"A subject is <kind>:<id>, the kind one of {', '.join(KINDS)}: 'lesson:42', not "
            f"'{text}'."
        )
    return kind, int(number)


class Sessions(Protocol):
    """What reading the trail needs of a Store: its sessions (storage imports this module)."""

    def session(self) -> AbstractContextManager[Session]: ...


class Audit:
    """Reading the audit trail, over a Store's sessions."""

    def __init__(self, store: Sessions) -> None:
        self.store = store

    def _events(
        self,
        *,
        since: datetime | None = None,
        subject: tuple[str, int] | None = None,
        limit: int | None = None,
    ) -> list[AuditRow]:
        """Return recorded changes, oldest first: since a moment, of one subject, the last few."""
        query = select(AuditEvent, Person.name).outerjoin(Person, Person.id == AuditEvent.person_id)
        if since is not None:
            query = query.where(AuditEvent.at >= since)
        if subject is not None:
            query = query.where(
                AuditEvent.subject_kind == subject[0], AuditEvent.subject_id == subject[1]
            )
        query = query.order_by(AuditEvent.id.desc())  # as recorded, whatever the clocks said
        if limit is not None:
            query = query.limit(limit)
        with self.store.session() as s:
            rows = [_row(event, name) for event, name in s.execute(query)]
        return rows[::-1]

    events = blocking(_events)


def _row(event: AuditEvent, name: str | None) -> AuditRow:
    return AuditRow(
        id=event.id,
        at=event.at,
        person_id=event.person_id,
        person=name,
        surface=event.surface,
        operation=event.operation,
        subject_kind=event.subject_kind,
        subject_id=event.subject_id,
        before=dict(event.before or {}),
        after=dict(event.after or {}),
        note=event.note,
    )


def _plain(values: Mapping[str, Any] | None) -> dict[str, object]:
    """Return values JSON can store: dates and enums as their text."""
    plain: dict[str, object] = {}
    for key, value in (values or {}).items():
        if value is None or isinstance(value, bool | int | float | str):
            plain[key] = value
        elif isinstance(value, list | tuple):
            plain[key] = [str(v) for v in value]
        else:
            plain[key] = str(value.isoformat() if hasattr(value, "isoformat") else value)
    return plain
