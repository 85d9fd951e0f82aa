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
from dataclasses import replace

from sqlalchemy import ColumnElement, Connection, or_, select

from knowledge.errors import NotFound
from knowledge.models import Lesson, Product, ProductAudience
from knowledge.views import ActionView

RESTRICTED = "a restricted lesson (ask its PBPO)"
RESTRICTED_ACTION = "an action on a restricted lesson (ask its PBPO)"
NOT_YOURS = "I can't find that lesson, or it is not open to you, so nothing was recorded."
_CHUNK = 500


def visible(principals: Iterable[str]) -> ColumnElement[bool]:
    """Return a condition on Product.id: open to everyone, or to one of these principals.

    The rule of `visible_lessons`, and of search's own filter, for queries that join products.
    """
    restricted = select(ProductAudience.product_id)
    opened = select(ProductAudience.product_id).where(
        ProductAudience.principal.in_(sorted(principals))
    )
    return or_(Product.id.not_in(restricted), Product.id.in_(opened))


def visible_lessons(
    conn: Connection, principals: Iterable[str], lesson_ids: Iterable[int]
) -> frozenset[int]:
    """Return the lessons of `lesson_ids` that exist and a viewer with `principals` may see."""
    ids = sorted({int(i) for i in lesson_ids})
    allowed = sorted(principals)
    found: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = conn.execute(
            select(Lesson.id)
            .join(Product, Product.id == Lesson.product_id)
            .where(Lesson.id.in_(chunk), visible(allowed))
        )
        found.update(int(i) for (i,) in rows)
    return frozenset(found)


def check_visible(conn: Connection, principals: Iterable[str], lesson_id: int) -> None:
    """Raise NotFound (saying nothing about the lesson) unless the viewer may see it."""
    if lesson_id not in visible_lessons(conn, principals, (lesson_id,)):
        raise NotFound(NOT_YOURS)


def shown_title(title: str, *, visible: bool) -> str:
    """Return how a message names a lesson to its recipient: its title, or `RESTRICTED`."""
    return title if visible else RESTRICTED


def action_for(action: ActionView, *, visible: bool, own: bool) -> ActionView:
    """Return an action as a message to one recipient may show it.

    A recipient who may not see the action's lesson reads `RESTRICTED` for its title; unless
    the action is their own (they must act on it), its description and notes are withheld too.
    """
    if visible:
        return action
    if own:
        return replace(action, lesson_title=RESTRICTED)
    return replace(action, lesson_title=RESTRICTED, description=RESTRICTED_ACTION, notes="")
