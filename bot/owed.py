"""What a surface does when it cannot even apologise: keep the apology for later.

An answer that could not be posted gets an apology; when the platform takes neither (a full
outage), the apology is kept as a pending notice (`knowledge.notices`) and the scheduler posts
it once the platform answers again (`scheduler.notices`), so nobody is left in silence.
"""

from __future__ import annotations

import logging

from handlers.errors import owed_apology
from knowledge.notices import Notices
from knowledge.storage import Store

log = logging.getLogger(__name__)


async def owe(
    store: Store, platform: str, user_id: str, name: str, label: str, reference: str
) -> None:
    """Keep the apology for error `reference` for `user_id`, to be posted later."""
    text = owed_apology(label, store.clock(), reference)
    try:
        await Notices(store.engine, clock=store.clock).owe(platform, user_id, text, name)
        log.info("kept a notice for %s about error %s", user_id, reference)
    except Exception:  # the database is down too: the log is all that is left
        log.exception("could not keep a notice for %s about error %s", user_id, reference)
