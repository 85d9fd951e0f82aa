"""The home surface (Slack's App Home, `home` in the local chat): what waits for me, in one place.

Sections: my open actions (overdue first), lessons awaiting my validation (for managers and
PBPOs, each with a button that opens its validation card), recently applied lessons (standing
in for good practices until they can be promoted), and the ways in: ask a question, log a
lesson, start an After-Action Review.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

from handlers import ask, plan
from handlers.actions import ActionButton
from handlers.capture import LessonAction
from handlers.chat import (
    Button,
    ButtonPress,
    Command,
    Divider,
    Element,
    Form,
    FormSubmit,
    Input,
    Message,
    Reply,
    Text,
    UserRef,
)
from handlers.errors import UserError
from handlers.help import help_text
from handlers.reviews.cards import owner_card
from handlers.validation import ValidationButton
from knowledge.capture import AppliedLesson, Awaiting, Notes, PendingLesson
from knowledge.lesson_actions import LessonActions, LessonPlan
from knowledge.reviews import ProposalView, Reviews
from knowledge.search.text import clip
from knowledge.storage import ActionView

if TYPE_CHECKING:
    from handlers.router import Deps

SHOWN = 5
SHOWN_TITLE = 120
REVIEW_TITLE = 40  # a button label: Slack cuts them at 75 characters
AAR_HINT = (
    "*Start an After-Action Review*: in the channel where the team works, type "
    "`/aar start <event>` (for example `/aar start Election day`). I run it in a thread, one "
    "question at a time. `/aar schedule <event> <when it ends>` starts it later."
)


class HomeAction(StrEnum):
    """Buttons of the home."""

    REFRESH = "home.refresh"
    ASK = "home.ask"


class HomeForm(StrEnum):
    """Forms of the home."""

    ASK = "home.ask"


def requested(incoming: Command | Message) -> bool:
    """Return True when the text asks for the home: `home` (a command may add words)."""
    word, _, rest = incoming.text.strip().partition(" ")
    return word.lower().lstrip("/") == "home" and (isinstance(incoming, Command) or not rest)


async def home(who: UserRef, deps: Deps) -> Reply:
    """Build a person's home as it is now (a welcome for people not in the directory)."""
    store = deps.store
    person = await store.person_for(who.platform, who.user_id)
    notes = Notes(store)
    viewer = await store.viewer_for(person)
    applied = await notes.recent_applied(viewer, limit=SHOWN)
    if person is None:
        return welcome_reply(applied, platform=who.platform)
    member = await Reviews(store).member(person)
    actions = await store.actions_of(person)
    awaiting = await notes.awaiting_validation(person, limit=SHOWN)
    planless = await LessonActions(store).awaiting(person, limit=SHOWN)
    proposed = await LessonActions(store).proposed_to(person, limit=SHOWN)
    return home_reply(
        name=member.name if member else None,
        actions=actions,
        awaiting=awaiting,
        applied=applied,
        today=store.today(),
        planless=planless,
        proposed=proposed,
    )


async def button(press: ButtonPress, deps: Deps) -> Reply | None:
    """Refresh the home, or open the question form."""
    match press.action:
        case HomeAction.REFRESH:
            reply = await home(press.who, deps)
            return Reply(reply.elements, private=True, replace=True)
        case HomeAction.ASK:
            return ask_form()
    raise UserError("That button is out of date. Type `home` to see your home again.")


async def form(submit: FormSubmit, deps: Deps) -> Reply | None:
    """Answer the question asked from the home, privately."""
    from handlers.router import viewer_of  # the router imports this module

    if submit.form != HomeForm.ASK:
        raise UserError("That form is out of date. Type `home` to see your home again.")
    question = submit.values.get("question", "").strip()
    if not question:
        raise UserError("Type a question, for example *what did we learn about elections?*")
    viewer = await viewer_of(submit.who, submit.where.space, deps)
    answer = await ask.ask(question, store=deps.store, viewer=viewer, who=submit.who)
    return Reply(answer.elements, private=True)


def ask_form() -> Reply:
    """Build the form that asks the lessons index a question."""
    return Reply.of(
        Form(
            HomeForm.ASK,
            "Ask a question",
            (Input("question", "What do you want to know? (e.g. lessons on election security)"),),
            submit="Ask",
        ),
        private=True,
    )


def home_reply(
    *,
    name: str | None,
    actions: list[ActionView],
    awaiting: Awaiting,
    applied: list[AppliedLesson],
    today: date,
    planless: Sequence[LessonPlan] = (),
    proposed: Sequence[ProposalView] = (),
) -> Reply:
    """Build the home of a person of the directory."""
    first = (name or "").split()
    greeting = f"*Hello {first[0]}*" if first else "*Hello*"
    elements: list[Element] = [Text(f"{greeting}: here is what waits for you.")]
    elements += [Divider(), *actions_section(actions, today=today)]
    if proposed:
        elements += [Divider(), Text(f"*Actions proposed to you* ({len(proposed)})")]
        for proposal in proposed:
            elements += owner_card(proposal, numbered=True).elements
    if awaiting.validator:
        elements += [Divider(), awaiting_section(awaiting), *review_buttons(awaiting)]
    if planless:
        elements += [Divider(), *planless_section(planless)]
    elements += [Divider(), applied_section(applied), Divider(), *ways_in(known=True)]
    return Reply.of(*elements, private=True)


def welcome_reply(applied: list[AppliedLesson], *, platform: str | None = None) -> Reply:
    """Build the home of someone not in the staff directory: what the bot does, how to join."""
    welcome = (
        "*Welcome to Lessons Bot.* I don't know you yet, so I have no actions or lessons for "
        "you. Ask a Policy and Best Practices Officer (PBPO) to add you to the staff directory; "
        "until then you can ask me anything."
    )
    return Reply.of(
        Text(welcome),
        Divider(),
        Text(help_text(platform)),
        Divider(),
        applied_section(applied),
        Divider(),
        *ways_in(known=False),
        private=True,
    )


def actions_section(actions: list[ActionView], *, today: date) -> list[Element]:
    """Return "Your actions": the open ones, overdue first, each with when it is due."""
    if not actions:
        return [Text("*Your actions*\nNothing is waiting on you. 🎉")]
    # The store lists them by due date, undated last: the overdue ones come first.
    overdue = sum(a.is_overdue(today) for a in actions)
    count = f"{len(actions)} open" + (f", {overdue} overdue" if overdue else "")
    lines = [f"*Your actions* ({count})"]
    lines += [f"• {clip(a.description, SHOWN_TITLE)} — {_due(a, today)}" for a in actions[:SHOWN]]
    if len(actions) > SHOWN:
        lines.append(f"…and {len(actions) - SHOWN} more.")
    return [Text("\n".join(lines)), Button("See all my actions", ActionButton.LIST)]


def awaiting_section(awaiting: Awaiting) -> Text:
    """Return "Awaiting your validation": identified lessons this person may validate."""
    if not awaiting.lessons:
        return Text("*Awaiting your validation*\nNothing awaits your validation right now.")
    lines = [f"*Awaiting your validation* ({awaiting.total})"]
    lines += [_pending_line(p) for p in awaiting.lessons]
    if awaiting.total > len(awaiting.lessons):
        more = awaiting.total - len(awaiting.lessons)
        lines.append(f"…and {more} more: the dashboard lists them all.")
    return Text("\n".join(lines))


def review_buttons(awaiting: Awaiting) -> list[Element]:
    """Return a button per lesson listed as awaiting validation: it opens the lesson's card.

    The lesson's number leads the label, so two buttons never read the same when a platform
    cuts long labels.
    """
    return [
        Button(
            f"Review #{p.lesson_id}: {clip(p.title, REVIEW_TITLE)}",
            ValidationButton.OPEN,
            str(p.lesson_id),
        )
        for p in awaiting.lessons
    ]


def planless_section(plans: Sequence[LessonPlan]) -> list[Element]:
    """Return "Validated, waiting for actions": lessons this person may add actions to."""
    lines = ["*Validated lessons waiting for actions* (a lesson is learned once applied)"]
    lines += [f"• #{p.lesson_id} {clip(p.title, SHOWN_TITLE)}" for p in plans]
    buttons: list[Element] = [
        plan.add_button(p.lesson_id, f"Add actions #{p.lesson_id}: {clip(p.title, REVIEW_TITLE)}")
        for p in plans
    ]
    return [Text("\n".join(lines)), *buttons]


def applied_section(applied: list[AppliedLesson]) -> Text:
    """Return "Recently applied lessons": lessons whose change was made and checked."""
    lines = ["*Recently applied lessons*", "_Lessons that led to a change we made and checked._"]
    if not applied:
        lines.append("No lesson has been applied yet.")
    for a in applied:
        title = clip(a.title, SHOWN_TITLE)
        title = f"[{title}]({a.source_url})" if a.source_url else title
        when = f"applied {a.applied_on.isoformat()}" if a.applied_on else "applied"
        lines.append(f"• {title} — {a.mission or a.kind} · {when}")
    return Text("\n".join(lines))


def ways_in(*, known: bool) -> list[Element]:
    """Return the buttons of the home and how to start an After-Action Review."""
    elements: list[Element] = [Button("Ask a question", HomeAction.ASK)]
    if known:
        elements.append(Button("Log a lesson", LessonAction.NEW))
    elements += [Button("Refresh", HomeAction.REFRESH), Text(AAR_HINT)]
    return elements


def _due(action: ActionView, today: date) -> str:
    if action.due_date is None:
        return "no due date"
    if action.is_overdue(today):
        days = (today - action.due_date).days
        return f"⚠️ {days} day{'s' * (days != 1)} overdue"
    if action.due_date == today:
        return "due today"
    return f"due {action.due_date.isoformat()}"


def _pending_line(p: PendingLesson) -> str:
    facts = [p.mission or p.kind, p.date.isoformat() if p.date else None, p.author]
    return f"• {clip(p.title, SHOWN_TITLE)} — " + " · ".join(f for f in facts if f)
