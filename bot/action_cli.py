"""The `lessons action` commands: add actions to a validated lesson, and see a lesson's actions.

`lessons action add 42 --owner "Tomás Herrera" --due "in 3 weeks" --by ngozi.okafor@un.example`
proposes an action to its owner, as *Add actions* does in chat: the same people resolver and
date reader, the same rules (its validator, its authors, their managers and the mission's
PBPOs), an audit row from the surface "cli". Without `--description`, the lesson's next
recommendation that no action carries yet is used. Nobody is messaged from the shell: the
owner finds the proposal, with Accept / Reassign / Other date / Decline, on their home.
"""

from __future__ import annotations

import argparse

from bot.admin import person_id, printing
from bot.settings import Settings
from knowledge.audit import CLI
from knowledge.dates import DAY_EXAMPLES, read_day
from knowledge.errors import DomainError
from knowledge.lesson_actions import LessonActions, LessonPlan
from knowledge.people import resolve
from knowledge.reviews import Reviews
from knowledge.storage import Store


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `action` to the `lessons` command."""
    action = sub.add_parser("action", help="add actions to a validated lesson, list its actions")
    verbs = action.add_subparsers(required=True, metavar="ACTION")
    add = verbs.add_parser("add", help="propose an action on a validated lesson to its owner")
    add.add_argument("lesson", type=int, help="the lesson's number")
    add.add_argument("--owner", required=True, help="a name, @name or email")
    add.add_argument("--due", required=True, help=f"when it is due ({DAY_EXAMPLES})")
    add.add_argument("--by", required=True, metavar="EMAIL", help="who proposes it")
    add.add_argument("--description", help="what should be done (default: its next recommendation)")
    add.set_defaults(func=_add)
    show = verbs.add_parser("list", help="a lesson's actions and how far they are")
    show.add_argument("lesson", type=int, help="the lesson's number")
    show.add_argument("--by", required=True, metavar="EMAIL", help="who asks")
    show.set_defaults(func=_list)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        actor = await person_id(store, args.by)
        found = resolve(args.owner, await Reviews(store).members())
        if found.member is None:
            raise DomainError(f"--owner: {found.problem()}")
        try:
            due = read_day(args.due, today=store.today())
        except DomainError as exc:
            raise DomainError(f"--due: {exc.message}") from None
        lessons = LessonActions(store)
        description = args.description
        if not description:
            plan = await lessons.plan(args.lesson, actor_id=actor)
            if not plan.uncovered:
                raise DomainError(
                    "--description: every recommendation of this lesson carries an action "
                    "already; say what this one is."
                )
            description = plan.uncovered[0]
        proposal = await lessons.propose(
            args.lesson,
            actor_id=actor,
            description=description,
            owner_id=found.member.id,
            due=due,
            surface=CLI,
        )
        return (
            f"Proposed to {found.member.name}, due {due.isoformat()} (proposal "
            f"#{proposal.id}): {proposal.description}\nThey accept it on their home."
        )

    return printing(settings, work)


def _list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(store: Store) -> str:
        actor = await person_id(store, args.by)
        return plan_text(await LessonActions(store).plan(args.lesson, actor_id=actor))

    return printing(settings, work)


def plan_text(plan: LessonPlan) -> str:
    """Return a lesson's actions as lines of plain text."""
    lines = [f"Lesson #{plan.lesson_id} ({plan.status.value}): {plan.title}", str(plan.progress)]
    for line in plan.lines:
        due = line.due_date.isoformat() if line.due_date else "-"
        owner = line.owner or "-"
        lines.append(f"  [{line.status}] {line.description} — {owner}, due {due}")
    lines += [f"  (no action yet) {r}" for r in plan.uncovered]
    return "\n".join(lines)
