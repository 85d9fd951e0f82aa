"""The learning report a PBPO takes to a meeting: `lessons report` and `/lessons report`.

Lessons captured, validated and applied; the median days from identified to applied; open and
overdue actions by mission, theme and owner; which lessons help, are reused or need work; and
the questions that found no good answer (so a practice note or a study can be commissioned).

Every figure is computed for one viewer within one `Scope`: a restricted lesson counts, and is
listed, only when the viewer is in its audience, exactly as in answers. `since` narrows what
was captured, applied, voted and asked since that day; open and overdue actions are as of today.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import ColumnElement

from knowledge.errors import DomainError
from knowledge.models import Lesson, Question
from knowledge.report_scope import Scope, everything, scope_for
from knowledge.reports import (
    GROUPINGS,
    AppliedRow,
    BoardRow,
    Funnel,
    GroupBy,
    OverdueAction,
    Reports,
    UnansweredQuestion,
)
from knowledge.search.answer import Viewer
from knowledge.storage import Store
from knowledge.threads import blocking
from knowledge.usefulness import LessonUsefulness, Usefulness

UNANSWERED = 15
OVERDUE_LISTED = 25


@dataclass(frozen=True, slots=True)
class LearningReport:
    """Every figure of a report, for one viewer and scope."""

    scope: str
    mission: str | None
    since: date | None
    generated_at: datetime
    funnel: Funnel
    median_days_to_apply: float | None
    boards: dict[GroupBy, tuple[BoardRow, ...]]
    total_open: int
    total_overdue: int
    overdue: tuple[OverdueAction, ...]
    usefulness: Usefulness
    unanswered: tuple[UnansweredQuestion, ...]
    applied: tuple[AppliedRow, ...] = ()  # the lessons applied most recently


def parse_since(text: str) -> date:
    """Return the day "2026-01-15", "2026-01" or "2026" names, or raise DomainError."""
    value = text.strip()
    try:
        if re.fullmatch(r"\d{4}", value):
            return date(int(value), 1, 1)
        if re.fullmatch(r"\d{4}-\d{1,2}", value):
            year, month = value.split("-")
            return date(int(year), int(month), 1)
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError(
            f"'{text[:40]}' is not a date: use a day like 2026-01-15, a month like 2026-01 "
            "or a year like 2026."
        ) from None


def start_of(day: date | None) -> datetime | None:
    """Return the first moment (UTC) of a day, or None."""
    return datetime.combine(day, time(), tzinfo=UTC) if day else None


class LearningReports:
    """Build learning reports over a Store, each scoped and filtered for its viewer."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reports = Reports(store)
        self.uses = LessonUsefulness(store)

    def _scope(self, person_id: int | None, mission: str | None = None) -> Scope:
        """Return what this person may report on, or raise NotAllowed saying who can."""
        with self.store.session() as s:
            return scope_for(s, person_id, mission)

    scope = blocking(_scope)

    def _command_line_scope(self, mission: str | None = None) -> Scope:
        """Return every mission (or the one asked, as the index spells it)."""
        with self.store.session() as s:
            return everything(s, mission)

    command_line_scope = blocking(_command_line_scope)

    async def build(
        self, viewer: Viewer, scope: Scope, since: date | None = None
    ) -> LearningReport:
        """Compute the report for viewer within scope, since a day (or ever)."""
        moment = start_of(since)
        captured: list[ColumnElement[bool]] = [scope.lessons()]
        applied: list[ColumnElement[bool]] = [scope.lessons()]
        asked: list[ColumnElement[bool]] = [scope.askers()]
        if moment is not None:
            captured.append(Lesson.identified_at >= moment)
            applied.append(Lesson.applied_at >= moment)
            asked.append(Question.asked_at >= moment)
        r, actions = self.reports, [scope.actions()]
        funnel, median, usefulness, unanswered, recent = await asyncio.gather(
            r.funnel(viewer, where=captured),
            r.median_days_to_apply(viewer, where=applied),
            self.uses.usefulness(viewer, scope, moment),
            r.unanswered_questions(UNANSWERED, where=asked),
            r.recently_applied(viewer, where=applied),
        )
        boards = await asyncio.gather(
            *(r.actions_board(viewer, g, limit=OVERDUE_LISTED, where=actions) for g in GROUPINGS)
        )
        by_group = {board.group_by: board for board in boards}
        return LearningReport(
            scope=scope.label,
            mission=scope.mission,
            since=since,
            generated_at=self.store.clock(),
            funnel=funnel,
            median_days_to_apply=median,
            boards={group: board.rows for group, board in by_group.items()},
            total_open=by_group["mission"].total_open,
            total_overdue=by_group["mission"].total_overdue,
            overdue=by_group["mission"].overdue,
            usefulness=usefulness,
            unanswered=tuple(unanswered),
            applied=tuple(recent),
        )

    async def for_person(
        self, person_id: int | None, *, mission: str | None = None, since: date | None = None
    ) -> LearningReport:
        """Return the report this person may see: their scope, their restricted lessons."""
        scope = await self.scope(person_id, mission)
        viewer = await self.store.viewer_for(person_id)
        return await self.build(viewer, scope, since)

    async def for_command_line(
        self, *, mission: str | None = None, since: date | None = None
    ) -> LearningReport:
        """Return the report of whoever runs the command line: every mission, open lessons."""
        return await self.build(Viewer(None), await self.command_line_scope(mission), since)
