"""What the scheduler sends, and the ledger key of each planned notification."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """The kinds of notification; each is one line of the ledger per subject and period."""

    DUE_SOON = "due_soon"  # an action is due in a few days
    NUDGE = "nudge"  # an action is overdue (day 1, 3, 7, then weekly)
    ESCALATE = "escalate"  # to the owner's manager, once, after K unanswered nudges
    DEPARTURE = "departure"  # an assignment ended: hand over the open actions
    EOAR = "eoar"  # file the End of Assignment Report (30, 14, 7 days before, then weekly)
    FOLLOWUP = "followup"  # a lesson was applied weeks ago: did the change work?
    DIGEST = "digest"  # a manager's week
    PBPO = "pbpo"  # a Policy and Best Practices Officer's week

    @property
    def essential(self) -> bool:
        """Return True when muting non-essential reminders does not silence this kind."""
        return self in ESSENTIAL


ESSENTIAL = frozenset({Kind.NUDGE, Kind.ESCALATE, Kind.DEPARTURE, Kind.EOAR})
ACTION_KINDS = frozenset({Kind.DUE_SOON, Kind.NUDGE, Kind.ESCALATE})


def ledger_key(kind: Kind | str, subject: int, recipient: int, period: str) -> str:
    """Return the unique key of a notification: "<kind>:<subject>:<recipient>:<period>"."""
    return f"{kind}:{subject}:{recipient}:{period}"
