"""Evidence levels: observation → lesson → good practice → guidance, with who and when.

A lesson is an *observation* until a manager or PBPO validates it (one source, not vouched
for), a *lesson* once validated (or applied), a *good practice* while a PBPO's promotion of it
stands (with a scope and a review date), and *guidance* when promoted as such. This module is
the one place that says so; answers, promotions and reports read levels from `levels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, bindparam, text

from knowledge.models import EvidenceLevel, LessonStatus

VOUCHED = frozenset({LessonStatus.VALIDATED, LessonStatus.APPLIED})
BADGES = {
    EvidenceLevel.OBSERVATION: "◌ observation",
    EvidenceLevel.LESSON: "◍ lesson",
    EvidenceLevel.GOOD_PRACTICE: "★ good practice",
    EvidenceLevel.GUIDANCE: "✪ guidance",
}


@dataclass(frozen=True, slots=True)
class Evidence:
    """A lesson's evidence level, who raised it there and when (None when nobody did)."""

    level: EvidenceLevel
    by: str | None = None
    on: date | None = None
    review_on: date | None = None  # good practices and guidance: when to review them
    scope: str = ""

    @property
    def badge(self) -> str:
        """Return the level with who and when: "★ good practice · Farida Rahimi, 2026-11-02"."""
        said = BADGES[self.level]
        who = ", ".join(x for x in (self.by, self.on.isoformat() if self.on else None) if x)
        return f"{said} · {who}" if who else said


def level_of(status: LessonStatus, promoted: EvidenceLevel | None) -> EvidenceLevel:
    """Return the level of a lesson with this status and standing promotion (if any)."""
    if promoted is not None and status in VOUCHED:
        return promoted
    return EvidenceLevel.LESSON if status in VOUCHED else EvidenceLevel.OBSERVATION


_LESSONS_SQL = text(
    "SELECT l.id, l.status, l.validated_at, v.name FROM lessons l "
    "LEFT JOIN people v ON v.id = l.validated_by_id WHERE l.id IN :ids"
).bindparams(bindparam("ids", expanding=True))
_PROMOTIONS_SQL = text(
    "SELECT p.lesson_id, p.level, p.promoted_at, pe.name, p.review_on, p.scope FROM promotions p "
    "LEFT JOIN people pe ON pe.id = p.promoted_by_id "
    "WHERE p.lesson_id IN :ids AND p.ended_at IS NULL ORDER BY p.promoted_at, p.id"
).bindparams(bindparam("ids", expanding=True))


def levels(conn: Connection, lesson_ids: Sequence[int]) -> dict[int, Evidence]:
    """Return the evidence of each lesson, read in two queries."""
    if not lesson_ids:
        return {}
    ids = sorted(set(lesson_ids))
    promoted = {int(r[0]): r for r in conn.execute(_PROMOTIONS_SQL, {"ids": ids})}  # latest wins
    found: dict[int, Evidence] = {}
    for lesson_id, status, validated_at, validator in conn.execute(_LESSONS_SQL, {"ids": ids}):
        p = promoted.get(int(lesson_id))
        level = level_of(LessonStatus(status), EvidenceLevel(p[1]) if p else None)
        if level in (EvidenceLevel.GOOD_PRACTICE, EvidenceLevel.GUIDANCE) and p is not None:
            found[int(lesson_id)] = Evidence(
                level, p[3], _day(p[2]), review_on=_day(p[4]), scope=p[5] or ""
            )
        elif level == EvidenceLevel.LESSON:
            found[int(lesson_id)] = Evidence(level, validator, _day(validated_at))
        else:
            found[int(lesson_id)] = Evidence(level)
    return found


def _day(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
