"""The words of `/practice`: its usage text and the "<lesson> <why>" its verbs take.

Shared by `handlers.practices` (promote, unpromote, list) and `handlers.curation` (rank,
priority), which `practices` imports: here, neither imports the other back.
"""

from __future__ import annotations

import re

from handlers.errors import UserError
from handlers.ids import ID_PATTERN

USAGE = """*Good practices* (PBPOs)
• `/practice promote <lesson>`: a form asks why it matters, where to post it, for whom, \
its scope and review date; `/practice promote <lesson> <why>` promotes it to this channel at once
• `/practice unpromote <lesson> <why>` · `/practice list`: the good practices you may see
• `/practice boost|down|hide|normal <lesson> <why>`: where a lesson ranks in search
• `/practice priority <lesson> <why>` · `/practice unpriority <lesson>` · \
`/practice priorities`: mission leaders get the list weekly, with the actions' status
• `/practice weekly on` (or `off`) in a channel: a practice of the week there
• `/practice votes`: lessons askers' votes move in search · \
`/practice votes undo|restore <lesson> [kind of question]`: set their effect aside, or back"""
_LESSON = re.compile(
    rf"\s*(?:lesson\s+)?#?({ID_PATTERN})(?![0-9])\s*[:,-]?\s*(.*)", re.I | re.S | re.ASCII
)


def lesson_and_rest(text: str) -> tuple[int, str]:
    """Split "42 why it matters" into the lesson number and the rest, or say how."""
    match = _LESSON.fullmatch(text)
    if match is None:
        raise UserError("Name the lesson by its number: `/practice promote 42`. " + USAGE)
    return int(match.group(1)), match.group(2).strip()
