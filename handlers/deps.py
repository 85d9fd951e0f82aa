"""What every handler is handed: the store, the notifier, the settings; and who is asking.

This module imports no handler, so any handler (and the scheduler) can import it without
going through the router, which imports every handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from handlers.chat import Notifier, UserRef
from knowledge.search.answer import Viewer
from knowledge.storage import Store


@dataclass(frozen=True, slots=True)
class HandlerSettings:
    """What the handlers read of the configuration: read once, at start-up (`bot/settings.py`).

    The defaults are the bot's when a variable is unset.
    """

    # LESSONS_WORK_HOURS / LESSONS_WORK_DAYS: the organisation's working week (the scheduler
    # checks them at start-up), shown to people who have not set their own.
    work_hours: str = "09:00-17:00"
    work_days: str = "mon-fri"
    # The review settings: LESSONS_AAR_QUESTIONS (the AAR's and the EoAR's question file),
    # LESSONS_AAR_DELAY_HOURS and LESSONS_AAR_QUESTION_MINUTES, as written (handlers.aar reads
    # and checks them; "" is unset).
    aar_questions: Path | None = None
    aar_delay_hours: str = ""
    aar_question_minutes: str = ""


@dataclass(frozen=True, slots=True)
class Deps:
    """What handlers need, handed in by the platform wiring."""

    store: Store
    notifier: Notifier | None = None
    settings: HandlerSettings = HandlerSettings()


async def viewer_of(who: UserRef, channel: str | None, deps: Deps) -> Viewer:
    """Return the viewer for a platform user (unknown users see only internal lessons)."""
    person = await deps.store.person_for(who.platform, who.user_id)
    return await deps.store.viewer_for(person, channel=channel)
