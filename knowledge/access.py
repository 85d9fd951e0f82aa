"""Who may see which lesson: the one place that decides it.

A lesson is restricted when its product names an audience (`product_audience`: "group:x",
"person:e", "channel:…"); it is visible to a viewer holding one of those principals, and to
nobody else. Answers filter by the same rule inside the search (`knowledge.search.answer`);
everything else asks here: a button's re-check before it writes (a vote, "did the change
work?"), and every message the bot sends a person (digests, escalations, nudges, follow-ups,
promotion cards), which names a lesson its recipient may not see only as `RESTRICTED`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, text

from knowledge.errors import NotFound

RESTRICTED = "a restricted lesson (ask its PBPO)"
NOT_YOURS = "I can't find that lesson, or it is not open to you, so nothing was recorded."
_CHUNK = 500

_VISIBLE_SQL = text(
    "SELECT l.id FROM lessons l WHERE l.id IN :ids AND ("
    "NOT EXISTS (SELECT 1 FROM product_audience a WHERE a.product_id = l.product_id) "
    "OR EXISTS (SELECT 1 FROM product_audience a WHERE a.product_id = l.product_id "
    "AND a.principal IN :principals))"
).bindparams(bindparam("ids", expanding=True), bindparam("principals", expanding=True))

_RESTRICTED_SQL = text(
    "SELECT l.id FROM lessons l WHERE l.id IN :ids AND EXISTS "
    "(SELECT 1 FROM product_audience a WHERE a.product_id = l.product_id)"
).bindparams(bindparam("ids", expanding=True))


def visible_lessons(
    conn: Connection, principals: Iterable[str], lesson_ids: Iterable[int]
) -> frozenset[int]:
    """Return the lessons of `lesson_ids` that exist and a viewer with `principals` may see."""
    ids = sorted({int(i) for i in lesson_ids})
    allowed = sorted(principals) or ["-"]
    found: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = conn.execute(_VISIBLE_SQL, {"ids": chunk, "principals": allowed})
        found.update(int(i) for (i,) in rows)
    return frozenset(found)


def restricted_lessons(conn: Connection, lesson_ids: Iterable[int]) -> frozenset[int]:
    """Return the lessons of `lesson_ids` whose product names an audience."""
    ids = sorted({int(i) for i in lesson_ids})
    found: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        rows = conn.execute(_RESTRICTED_SQL, {"ids": ids[start : start + _CHUNK]})
        found.update(int(i) for (i,) in rows)
    return frozenset(found)


def check_visible(conn: Connection, principals: Iterable[str], lesson_id: int) -> None:
    """Raise NotFound (saying nothing about the lesson) unless the viewer may see it."""
    if lesson_id not in visible_lessons(conn, principals, (lesson_id,)):
        raise NotFound(NOT_YOURS)


def shown_title(title: str, *, visible: bool) -> str:
    """Return how a message names a lesson to its recipient: its title, or `RESTRICTED`."""
    return title if visible else RESTRICTED
