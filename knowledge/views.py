"""What the chat surfaces show of an action: a plain record, read by storage, filtered by access.

Its own module so that `knowledge.access` (which storage uses) can name it without importing
storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from knowledge.models import ActionStatus


@dataclass(frozen=True, slots=True)
class ActionView:
    """An action with what its owner needs to act on it."""

    id: int
    description: str
    status: ActionStatus
    due_date: date | None
    lesson_id: int
    lesson_title: str
    mission: str | None
    owner_id: int | None
    owner_name: str | None
    notes: str

    def is_overdue(self, today: date) -> bool:
        """Return True when the action is open and past its due date."""
        return not self.status.is_closed and self.due_date is not None and self.due_date < today
