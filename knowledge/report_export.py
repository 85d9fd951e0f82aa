"""A learning report as Markdown (to read), CSV (for a spreadsheet) or JSON (stable keys).

The CSV is long-format, one figure a row (section, item, mission, figure, value, detail), so a
pivot table reads it, and every text cell that a spreadsheet would take for a formula (starting
with =, +, -, @, a tab or a carriage return) is prefixed with a single quote.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from typing import Any

from knowledge.learning_report import LearningReport
from knowledge.reports import GROUPINGS
from knowledge.usefulness import LessonUse

FORMATS = ("md", "csv", "json")
CSV_COLUMNS = ("section", "item", "mission", "figure", "value", "detail")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
USE_LISTS = (("helps", "Lessons that help"), ("reused", "Most reused"), ("needs_work", "Need work"))


def safe_cell(value: object) -> object:
    """Return a CSV cell a spreadsheet will not run as a formula (text gets a leading ')."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def export(report: LearningReport, fmt: str) -> str:
    """Return the report in a format: md, csv or json."""
    if fmt == "json":
        return json.dumps(as_json(report), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180: a bare CR is quoted too
        writer.writerow(CSV_COLUMNS)
        writer.writerows([safe_cell(c) for c in row] for row in _csv_rows(report))
        return out.getvalue()
    if fmt == "md":
        return markdown(report)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")


def as_json(report: LearningReport) -> dict[str, Any]:
    """Return the report as plain JSON values."""
    f, u = report.funnel, report.usefulness
    return {
        "scope": report.scope,
        "mission": report.mission,
        "since": report.since.isoformat() if report.since else None,
        "generated_at": report.generated_at.isoformat(),
        "lessons": {
            "captured": f.captured,
            "validated": f.validated,
            "applied": f.applied,
            "rejected": f.rejected,
        },
        "median_days_to_apply": _days(report.median_days_to_apply),
        "recently_applied": [
            {
                "lesson": a.lesson_id,
                "title": a.title,
                "mission": a.mission,
                "applied_on": a.applied_on.isoformat(),
            }
            for a in report.applied
        ],
        "actions": _actions_json(report),
        "usefulness": {
            "total_reuse": u.total_reuse,
            **{key: [use.as_json() for use in getattr(u, key)] for key, _ in USE_LISTS},
        },
        "unanswered_questions": [
            {
                "question": q.text,
                "asked": q.asked,
                "no_answer": q.no_answer,
                "helpful": q.helpful,
                "not_helpful": q.not_helpful,
                "last_asked": q.last_asked.isoformat(),
            }
            for q in report.unanswered
        ],
    }


def _actions_json(report: LearningReport) -> dict[str, Any]:
    by_group = {
        f"by_{group}": [
            {"group": r.group, "open": r.open, "overdue": r.overdue}
            for r in report.boards.get(group, ())
        ]
        for group in GROUPINGS
    }
    overdue = [
        {
            "action_id": a.action_id,
            "description": a.description,
            "owner": a.owner,
            "due_date": a.due_date.isoformat(),
            "days_overdue": a.days_overdue,
            "lesson_id": a.lesson_id,
            "lesson_title": a.lesson_title,
            "mission": a.mission,
        }
        for a in report.overdue
    ]
    return {
        "open": report.total_open,
        "overdue": report.total_overdue,
        **by_group,
        "overdue_list": overdue,
    }


def _csv_rows(report: LearningReport) -> Iterator[tuple[object, ...]]:
    f = report.funnel
    for stage, n in (*f.stages(), ("Rejected", f.rejected)):
        yield ("lessons", stage.lower(), "", "lessons", n, "")
    yield ("median_days_to_apply", "", "", "days", _days(report.median_days_to_apply) or "", "")
    yield ("actions", "all", "", "open", report.total_open, "")
    yield ("actions", "all", "", "overdue", report.total_overdue, "")
    for group in GROUPINGS:
        for row in report.boards.get(group, ()):
            yield (f"actions_by_{group}", row.group, "", "open", row.open, "")
            yield (f"actions_by_{group}", row.group, "", "overdue", row.overdue, "")
    for a in report.overdue:
        detail = f"owner: {a.owner or 'unassigned'}; lesson: {a.lesson_title}"
        yield (
            "overdue_action",
            a.description,
            a.mission or "",
            "days_overdue",
            a.days_overdue,
            detail,
        )
    for key, _ in USE_LISTS:
        for use in getattr(report.usefulness, key):
            for figure in ("answers", "helpful", "not_helpful", "done_actions", "reuse"):
                yield (key, use.title, use.mission or "", figure, getattr(use, figure), "")
    for q in report.unanswered:
        for figure in ("asked", "no_answer", "not_helpful"):
            yield ("unanswered_question", q.text, "", figure, getattr(q, figure), "")


def markdown(report: LearningReport) -> str:
    """Return the report as Markdown: headings, figures and tables."""
    f = report.funnel
    since = f" since {report.since.isoformat()}" if report.since else ""
    median = _days(report.median_days_to_apply)
    lines = [
        f"# Learning report: {report.scope}{since}",
        "",
        f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC.",
        "",
        "## Lessons",
        "",
        f"- Captured: {f.captured}",
        f"- Validated: {f.validated}",
        f"- Applied: {f.applied}",
        f"- Rejected: {f.rejected}",
        f"- Median days from identified to applied: {median if median is not None else 'n/a'}",
        "",
        "### Recently applied",
        "",
        *_table(
            ("Lesson", "Mission", "Applied"),
            [
                (f"#{a.lesson_id} {a.title}", a.mission or "", a.applied_on.isoformat())
                for a in report.applied
            ],
        ),
        "",
        f"## Actions: {report.total_open} open, {report.total_overdue} overdue",
    ]
    for group in GROUPINGS:
        rows = [(r.group, str(r.open), str(r.overdue)) for r in report.boards.get(group, ())]
        lines += ["", f"### By {group}", "", *_table(("", "Open", "Overdue"), rows)]
    overdue = [
        (a.description, a.owner or "unassigned", a.mission or "", str(a.days_overdue))
        for a in report.overdue
    ]
    lines += ["", "### Overdue", "", *_table(("Action", "Owner", "Mission", "Days"), overdue)]
    lines += ["", f"## Usefulness: reused {report.usefulness.total_reuse} times"]
    for key, heading in USE_LISTS:
        uses: tuple[LessonUse, ...] = getattr(report.usefulness, key)
        header = ("Lesson", "Mission", "Answers", "Helpful", "Not helpful", "Actions done", "Reuse")
        lines += ["", f"### {heading}", "", *_table(header, [_use_row(u) for u in uses])]
    questions = [
        (q.text, str(q.asked), str(q.no_answer), str(q.not_helpful)) for q in report.unanswered
    ]
    lines += ["", "## Questions without a good answer", ""]
    lines += _table(("Question", "Asked", "No answer", "Not helpful"), questions)
    return "\n".join(lines) + "\n"


def _use_row(u: LessonUse) -> tuple[str, ...]:
    return (
        u.title,
        u.mission or "",
        str(u.answers),
        str(u.helpful),
        str(u.not_helpful),
        str(u.done_actions),
        str(u.reuse),
    )


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    if not rows:
        return ["None."]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def _md_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _days(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None
