"""What votes do in search, in chat: `/practice votes`, `/practice votes undo|restore N [kind]`.

A PBPO sees the lessons askers' votes move for a kind of question (by how much, by how many
votes, which are undone) and undoes or restores the votes' effect on a lesson, for one kind of
question ("undo 42 IED convoys") or every kind ("undo 42"); a reason after "because" goes to
the audit trail. The rules are `knowledge.votes` and `knowledge.search.votes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.chat import ConversationRef, Reply, Text, UserRef
from handlers.errors import UserError
from knowledge.votes import Change, Report, VoteEffects

if TYPE_CHECKING:
    from handlers.router import Deps

LISTED = 20
USAGE = (
    "`/practice votes`: lessons askers' votes move in search · "
    "`/practice votes undo 42 [kind of question] [because …]`: set the votes' effect aside · "
    "`/practice votes restore 42 [kind of question]`: undo that undo"
)


def _moved(percent: int) -> str:
    return f"{percent:+d} %"


def report_lines(report: Report, limit: int | None = None) -> list[str]:
    """Return the report as lines: lessons moved, most first, then the undos standing."""
    moves = report.moves[:limit] if limit else report.moves
    lines = [
        f"#{m.lesson_id} {_moved(m.percent)} for “{m.kind}”: 👍 {m.helpful} 👎 {m.not_helpful}"
        + (f" ({m.undone} undone)" if m.undone else "")
        + f" · {m.title}"
        for m in moves
    ] or ["No votes move any lesson in search."]
    if limit and len(report.moves) > limit:
        lines.append(f"…and {len(report.moves) - limit} more (`lessons votes report`).")
    for u in report.undos:
        kind = f"“{u.kind}”" if u.kind else "every kind of question"
        lines.append(
            f"Undone: #{u.lesson_id} for {kind} by {u.by or 'a PBPO'} on "
            f"{u.at.date().isoformat()}" + (f" ({u.why})" if u.why else "")
        )
    return lines


def said(change: Change, *, restored: bool) -> str:
    """Return an undo or a restore as a confirmation line."""
    kind = f"“{change.kind}”" if change.kind else "every kind of question"
    verb = "count again" if restored else "no longer count"
    return (
        f"Lesson #{change.lesson_id} ({change.title}): {change.votes} vote(s) {verb} for {kind}; "
        f"its score moves {_moved(round((change.before - 1) * 100))} → "
        f"{_moved(round((change.after - 1) * 100))}."
    )


async def command(who: UserRef, where: ConversationRef, text: str, deps: Deps) -> Reply:
    """Run `/practice votes …` (the text after "votes")."""
    from handlers.practices import lesson_and_rest  # practices imports this module

    verb, _, rest = text.strip().partition(" ")
    person = await deps.store.person_for(who.platform, who.user_id)
    effects = VoteEffects(deps.store)
    match verb.lower():
        case "" | "report" | "list":
            found = await effects.report(person)
            heading = "*What votes do in search* (the score of a lesson, for a kind of question)"
            return Reply.of(Text("\n".join([heading, *report_lines(found, LISTED)])), private=True)
        case "undo" | "restore":
            lesson_id, words = lesson_and_rest(rest)
            kind, _, why = words.partition("because")
            restore = verb.lower() == "restore"
            run = effects.restore if restore else effects.undo
            done = await run(
                lesson_id, kind.strip(), actor_id=person, why=why.strip(), surface=who.platform,
                channel=where.space,
            )  # fmt: skip
            line = said(done, restored=restore)
            if not restore:
                line += f" To undo this: `/practice votes restore {lesson_id}`."
            return Reply.of(Text(line), private=True)
    raise UserError(USAGE)
