"""What every handler is handed: the store, the notifier, the settings; and who is asking.

This module imports no handler, so any handler (and the scheduler) can import it without
going through the router, which imports every handler.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.chat import Notifier, UserRef
from knowledge.search.answer import Viewer
from knowledge.storage import Store


@dataclass(frozen=True, slots=True)
class Deps:
    """What handlers need, handed in by the platform wiring."""

    store: Store
    notifier: Notifier | None = None


async def viewer_of(who: UserRef, channel: str | None, deps: Deps) -> Viewer:
    """Return the viewer for a platform user (unknown users see only internal lessons)."""
    person = await deps.store.person_for(who.platform, who.user_id)
    return await deps.store.viewer_for(person, channel=channel)
