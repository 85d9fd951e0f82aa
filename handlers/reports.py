"""The learning report and lesson usefulness in chat: `/lessons report [mission] [since DATE]`
and `/lessons usefulness [mission] [since DATE]`.

Both answer privately with the same figures as `lessons report`, for the asker's scope (a PBPO's
missions, a manager's people, an admin's everything) and only the lessons they may see. Anyone
else is told who can.
"""

from __future__ import annotations

from datetime import date

from handlers.chat import Divider, Element, Fields, Reply, Text, UserRef
from handlers.deps import Deps
from knowledge.learning_report import LearningReport, LearningReports, parse_since
from knowledge.reports import GROUPINGS
from knowledge.usefulness import LessonUse, Usefulness

WORDS = frozenset({"report", "usefulness"})
SHOWN = 5
USAGE = """*Reports* (managers, PBPOs, mission leaders and admins)
• `/lessons report`: lessons captured, validated and applied, open and overdue actions, \
which lessons help and the questions without a good answer, for your missions or team
• `/lessons report MINUSCA since 2026-01`: one mission, since a day, month or year
• `/lessons usefulness`: which lessons askers found helpful, which are reused, which need work
• `lessons report --format csv` (or md, json) exports it from the command line"""


def requested(text: str) -> bool:
    """Return True for `report …` and `usefulness …`, not a question that starts with them.

    `report`, `report MINUSCA since 2025` and `usefulness` are; "report writing for AARs" is
    taken as a report on the mission "writing for AARs", which simply finds nothing, so only
    a bare word followed by a question mark is left to search.
    """
    word, _, rest = text.strip().lower().lstrip("/").partition(" ")
    return word in WORDS and not rest.rstrip().endswith("?")


def parse(text: str) -> tuple[str | None, date | None]:
    """Split "report MINUSCA since 2026-01" into the mission and the day."""
    words = text.strip().split()[1:]
    lowered = [w.lower() for w in words]
    since = None
    if "since" in lowered:
        at = lowered.index("since")
        since = parse_since(" ".join(words[at + 1 : at + 2]))
        words = words[:at] + words[at + 2 :]
    return " ".join(words) or None, since


async def command(who: UserRef, text: str, deps: Deps) -> Reply:
    """Answer `/lessons report …` or `/lessons usefulness …` with the figures, privately."""
    word = text.strip().lower().lstrip("/").split()[0]
    if text.strip().lower().split()[1:2] in (["help"], ["?"]):
        return Reply.of(Text(USAGE), private=True)
    mission, since = parse(text)
    person = await deps.store.person_for(who.platform, who.user_id)
    report = await LearningReports(deps.store).for_person(person, mission=mission, since=since)
    if word == "usefulness":
        return usefulness_reply(report)
    return report_reply(report)


def report_reply(report: LearningReport) -> Reply:
    """Build the report as a private summary: figures, then the lists that need attention."""
    elements: list[Element] = [
        Text(f"*Learning report: {report.scope}{_since(report)}*"),
        Fields(_figures(report)),
    ]
    for group in GROUPINGS:
        rows = report.boards.get(group, ())[:SHOWN]
        if rows:
            lines = [f"• {r.group}: {r.open} open, {r.overdue} overdue" for r in rows]
            elements.append(Text(f"*Open actions by {group}*\n" + "\n".join(lines)))
    if report.unanswered:
        lines = [
            f"• {q.text} (asked {_count(q.asked, 'time')}, {q.no_answer} with no answer)"
            for q in report.unanswered[:SHOWN]
        ]
        heading = "*Questions without a good answer* (a practice note or a study?)"
        elements.append(Text(heading + "\n" + "\n".join(lines)))
    elements += [Divider(), *_usefulness_texts(report.usefulness)]
    elements.append(Text("`lessons report --format csv` exports every figure."))
    return Reply.of(*elements, private=True)


def _figures(report: LearningReport) -> tuple[tuple[str, str], ...]:
    f, median = report.funnel, report.median_days_to_apply
    return (
        ("Captured", str(f.captured)),
        ("Validated", str(f.validated)),
        ("Applied", str(f.applied)),
        ("Rejected", str(f.rejected)),
        ("Median days to apply", f"{median:.1f}" if median is not None else "n/a"),
        ("Open actions", f"{report.total_open} ({report.total_overdue} overdue)"),
        ("Lesson reuse", str(report.usefulness.total_reuse)),
        ("Questions without a good answer", str(len(report.unanswered))),
    )


def usefulness_reply(report: LearningReport) -> Reply:
    """Build the usefulness view: lessons that help, the most reused and those needing work."""
    heading = Text(f"*Which lessons help: {report.scope}{_since(report)}*")
    texts = _usefulness_texts(report.usefulness)
    if not texts:
        texts = [Text("No lesson has been voted on or acted upon yet.")]
    return Reply.of(heading, *texts, private=True)


def _usefulness_texts(u: Usefulness) -> list[Text]:
    texts = []
    for heading, uses in (
        ("Lessons that help", u.helps),
        ("Most reused", u.reused),
        ("Lessons that need work (voted not helpful)", u.needs_work),
    ):
        if uses:
            texts.append(Text(f"*{heading}*\n" + "\n".join(_use_line(x) for x in uses[:SHOWN])))
    return texts


def _use_line(use: LessonUse) -> str:
    where = f" ({use.mission})" if use.mission else ""
    return (
        f"• #{use.lesson_id} {use.title}{where}: in {_count(use.answers, 'answer')}, "
        f"👍 {use.helpful} 👎 {use.not_helpful}, {_count(use.done_actions, 'action')} done, "
        f"reused {_count(use.reuse, 'time')}"
    )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _since(report: LearningReport) -> str:
    return f" since {report.since.isoformat()}" if report.since else ""
