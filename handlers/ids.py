"""The one reader of the ids that buttons, forms and commands carry.

Every id the bot puts in a button value, a form id or a command is a run of ASCII digits
("42", "12:3"). Anything else — other scripts' digits ('١٢' is 12 to Python's `int`), a NUL
or other control character ('116\\x00'), signs, spaces, underscores, absurd lengths — was not
made by the bot: it is refused, never read as the nearest id.
"""

from __future__ import annotations

import re

from handlers.errors import UserError

STALE = "That button is out of date."
# Up to 18 digits: any id the database can hold (a BIGINT), never an overflow there.
_ID = re.compile(r"[0-9]{1,18}", re.ASCII)
ID_PATTERN = r"[0-9]{1,18}"  # for commands' own patterns ("withdraw 42 …")


def is_id(text: str) -> bool:
    """Return True when text is an id: 1 to 18 ASCII digits, nothing else."""
    return _ID.fullmatch(text) is not None


def parse_id(text: str, *, stale: str = STALE) -> int:
    """Return the id text holds, or raise UserError(stale) when it is not one."""
    if not is_id(text):
        raise UserError(stale)
    return int(text)


def parse_ids(value: str, count: int, *, stale: str = STALE) -> tuple[int, ...]:
    """Return the `count` ids of a value such as "12:3", or raise UserError(stale)."""
    parts = value.split(":")
    if len(parts) != count:
        raise UserError(stale)
    return tuple(parse_id(p, stale=stale) for p in parts)
