"""*Add actions* on a validated lesson: its recommendations become actions proposed to owners.

Any validated lesson (a note logged in chat, an End of Assignment Report, an imported product,
an After-Action Review) offers *Add actions* to its validator, its authors and the PBPOs of its
mission: on the validator's card once they validate it, on the author's news, on `home`, and
as `actions add <lesson>`. The card lists what the lesson already has and how far it is, then a
form prefilled with the next recommendation no action carries yet: what should be done, an
owner (a name, an @mention or an email) and a due date ("15 Jan", "in 3 weeks"). The owner
gets the card an After-Action Review's actions get: Accept, Reassign, Other date, Decline.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING

from handlers import reach
from handlers.chat import (
    Button,
    ButtonPress,
    Element,
    Form,
    FormSubmit,
    Input,
    Reply,
    Text,
    UserRef,
    unlinked,
)
from handlers.errors import UserError
from handlers.reviews.cards import owner_card
from knowledge.dates import DUE_HINT, read_day
from knowledge.errors import DomainError
from knowledge.lesson_actions import ActionLine, LessonActions, LessonPlan
from knowledge.search.text import clip

if TYPE_CHECKING:
    from handlers.router import Deps

STALE = "That button is out of date. Type `home` to see the lessons waiting for actions."
SHOWN_LINES = 10
_ADD = re.compile(r"\s*/?(?:actions?|plan)\s+add\s+(?:to\s+)?(?:lesson\s+)?#?(\d+)\s*", re.I)
_MARKS = {
    "done": "✅",
    "not_doing": "✖️",
    "blocked": "⛔",
    "proposed": "✉️",
    "draft": "✎",
    "declined": "↩️",
}


class PlanButton(StrEnum):
    """Buttons of "Add actions"; the value is the lesson id."""

    OPEN = "plan.open"


class PlanForm(StrEnum):
    """The form of "Add actions"; the id is "plan.add:<lesson id>"."""

    ADD = "plan.add"


def requested(text: str) -> int | None:
    """Return the lesson number of `actions add 42`, else None."""
    match = _ADD.fullmatch(text)
    return int(match.group(1)) if match else None


def add_button(lesson_id: int, label: str = "Add actions") -> Button:
    """Return the *Add actions* button of a lesson (for cards other handlers build)."""
    return Button(label, PlanButton.OPEN, str(lesson_id))


async def command(who: UserRef, lesson_id: int, deps: Deps) -> Reply:
    """`actions add 42`: the lesson's plan and the form for its next action."""
    return await _open(who, lesson_id, deps)


async def button(press: ButtonPress, deps: Deps) -> Reply | None:
    """*Add actions* on a lesson."""
    if press.action != PlanButton.OPEN or not press.value.isdigit():
        raise UserError(STALE)
    return await _open(press.who, int(press.value), deps)


async def form(submit: FormSubmit, deps: Deps) -> Reply | None:
    """A submitted action: resolve the owner and the date, propose it, send the owner a card."""
    kind, _, key = submit.form.partition(":")
    if kind != PlanForm.ADD or not key.isdigit():
        raise UserError(STALE)
    lesson_id = int(key)
    values = {k: v.strip() for k, v in submit.values.items()}
    person = await deps.store.person_for(submit.who.platform, submit.who.user_id)
    plan = await LessonActions(deps.store).plan(lesson_id, actor_id=person)
    errors: dict[str, str] = {}
    description = values.get("description", "")
    if not description:
        errors["description"] = "Say what should be done."
    owner = None
    try:
        owner = await reach.named(values.get("owner", ""), deps)
    except UserError as exc:
        errors["owner"] = exc.message
    due = None
    try:
        due = read_day(values.get("due", ""), today=deps.store.today())
    except DomainError as exc:
        errors["due"] = exc.message
    if errors or owner is None or due is None:
        return _form_reply(plan, values, errors)
    proposal = await LessonActions(deps.store).propose(
        lesson_id,
        actor_id=person,
        description=description,
        owner_id=owner.id,
        due=due,
        surface=submit.who.platform,
    )
    reached = await reach.send(owner, owner_card(proposal), deps)
    how = "I sent them a card to accept it." if reached else "I could not message them here."
    plan = await LessonActions(deps.store).plan(lesson_id, actor_id=person)
    done = (
        f"✅ Proposed to {owner.name}, due {due.isoformat()}: "
        f"*{clip(unlinked(proposal.description), 200)}*. {how}"
    )
    elements: list[Element] = [Text(done), *_plan_elements(plan)]
    label = "Add the next recommendation" if plan.uncovered else "Add another action"
    elements.append(Button(label, PlanButton.OPEN, str(lesson_id)))
    return Reply.of(*elements, private=True)


async def _open(who: UserRef, lesson_id: int, deps: Deps) -> Reply:
    person = await deps.store.person_for(who.platform, who.user_id)
    plan = await LessonActions(deps.store).plan(lesson_id, actor_id=person)
    return _form_reply(plan, {}, {})


def _form_reply(plan: LessonPlan, values: dict[str, str], errors: dict[str, str]) -> Reply:
    """The plan and the form; after a mistake, what was typed stays with the error beside it."""
    suggestion = plan.uncovered[0] if plan.uncovered else ""
    inputs = (
        Input(
            "description",
            "What should be done? (a recommendation of the lesson, or your own words)",
            multiline=True,
            initial=values.get("description", suggestion),
            error=errors.get("description"),
        ),
        Input(
            "owner",
            "Owner (a name, @mention or email)",
            initial=values.get("owner", ""),
            error=errors.get("owner"),
        ),
        Input(
            "due",
            f"Due date ({DUE_HINT})",
            initial=values.get("due", ""),
            date=True,
            error=errors.get("due"),
        ),
    )
    elements: list[Element] = []
    if errors:
        elements.append(Text("⚠️ " + " ".join(errors.values())))
    elements += _plan_elements(plan)
    elements.append(Form(f"{PlanForm.ADD}:{plan.lesson_id}", "Add an action", inputs, "Propose"))
    return Reply.of(*elements, private=True)


def _plan_elements(plan: LessonPlan) -> list[Element]:
    lines = [f"*Actions for: {clip(unlinked(plan.title), 150)}* (lesson #{plan.lesson_id})"]
    lines.append(f"_{plan.progress}_ · status *{plan.status.value}*")
    lines += [_line(line) for line in plan.lines[:SHOWN_LINES]]
    if plan.uncovered:
        n = len(plan.uncovered)
        lines.append(
            f"{n} recommendation{'s' * (n != 1)} without an action yet"
            + (": the form starts with the next one." if n else ".")
        )
    return [Text("\n".join(lines))]


def _line(line: ActionLine) -> str:
    mark = _MARKS.get(line.status, "•")
    owner = line.owner or "no owner"
    due = f", due {line.due_date.isoformat()}" if line.due_date else ""
    status = line.status.replace("_", " ")
    return f"{mark} {clip(unlinked(line.description), 120)} — {owner}{due} ({status})"
