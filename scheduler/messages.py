"""One message per recipient and run: everything due for a person, grouped, in neutral elements.

Action cards are those of `handlers.actions` (done with evidence, snooze, new date, blocked,
hand over), with "Snooze a day" added on reminders; lessons awaiting validation are shown as the
home surface shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from handlers.actions import ActionButton, action_card
from handlers.chat import Button, Divider, Element, Reply, Text
from handlers.home import awaiting_section
from handlers.reminders import FollowupButton
from knowledge.search.text import clip
from knowledge.storage import ActionView
from scheduler.digests import MissionWeek, TeamWeek

MAX_CARDS = 5  # action cards with buttons; the rest are listed (a message holds 50 blocks)
SHOWN = 120


@dataclass(slots=True)
class Bundle:
    """What goes to one person in one message."""

    name: str
    nudges: list[ActionView] = field(default_factory=list)
    due_soon: list[ActionView] = field(default_factory=list)
    escalations: list[ActionView] = field(default_factory=list)
    departure: list[ActionView] = field(default_factory=list)
    departure_end: date | None = None
    manager: str | None = None
    eoar: list[tuple[date, int]] = field(default_factory=list)  # (assignment end, days after)
    followups: list[tuple[int, str]] = field(default_factory=list)
    team: TeamWeek | None = None
    mission: MissionWeek | None = None

    @property
    def empty(self) -> bool:
        """Return True when there is nothing to say."""
        return not (
            self.nudges or self.due_soon or self.escalations or self.departure or self.eoar
        ) and not (self.followups or self.team or self.mission)


def reminder_reply(bundle: Bundle, *, today: date, key: str | None = None) -> Reply:
    """Build the one message of a run for a person."""
    first = bundle.name.split()[0] if bundle.name.strip() else "there"
    elements: list[Element] = [Text(f"👋 Hello {first}, here is what needs you.")]
    cards = [MAX_CARDS]
    sections = (
        _overdue(bundle.nudges, today, cards),
        _due_soon(bundle.due_soon, today, cards),
        _departure(bundle, today, cards),
        _eoar(bundle.eoar, today),
        _escalations(bundle.escalations, today),
        _followups(bundle.followups),
        _team(bundle.team),
        _mission(bundle.mission, awaiting=bundle.team is None),
    )
    for section in sections:
        if section:
            elements += [Divider(), *section]
    return Reply(tuple(elements), private=True, in_thread=False, key=key)


def _cards(actions: list[ActionView], today: date, budget: list[int]) -> list[Element]:
    elements: list[Element] = []
    listed = []
    for action in actions:
        if budget[0] > 0:
            budget[0] -= 1
            card = action_card(action, today=today)
            snooze_day = Button("Snooze a day", ActionButton.SNOOZE_DAY, str(action.id))
            elements += [*card[:3], snooze_day, *card[3:]]
        else:
            listed.append(f"• {clip(action.description, SHOWN)} — {_due(action, today)}")
    if listed:
        elements.append(Text("\n".join(listed) + "\n_Type `actions` for all of them._"))
    return elements


def _overdue(actions: list[ActionView], today: date, budget: list[int]) -> list[Element]:
    if not actions:
        return []
    count = len(actions)
    heading = f"⏰ *Overdue* — {count} action{'s' * (count != 1)} waiting on you"
    return [Text(heading), *_cards(actions, today, budget)]


def _due_soon(actions: list[ActionView], today: date, budget: list[int]) -> list[Element]:
    if not actions:
        return []
    return [Text("📅 *Due soon*"), *_cards(actions, today, budget)]


def _departure(bundle: Bundle, today: date, budget: list[int]) -> list[Element]:
    if not bundle.departure:
        return []
    to = f"your manager, {bundle.manager}," if bundle.manager else "your successor"
    end = bundle.departure_end.isoformat() if bundle.departure_end else "recently"
    text = (
        f"🧳 *Your assignment ended {end}* and you still own {len(bundle.departure)} open "
        f"action{'s' * (len(bundle.departure) != 1)}. Hand them over to {to} so they are "
        "not lost: press *Hand over* on each."
    )
    return [Text(text), *_cards(bundle.departure, today, budget)]


def _eoar(points: list[tuple[date, int]], today: date) -> list[Element]:
    if not points:
        return []
    end = max(points)[0]
    left = (end - today).days
    when = f"ends on {end:%d %b %Y}, in {left} days" if left > 0 else f"ended on {end:%d %b %Y}"
    return [
        Text(
            f"📝 *End of Assignment Report* — your assignment {when}. What you learned is "
            "worth keeping for whoever comes next: file your EoAR (type `eoar` to be "
            "interviewed, or `/lessons new` for a lesson at a time). I will remind you until "
            "it is filed."
        )
    ]


def _escalations(actions: list[ActionView], today: date) -> list[Element]:
    if not actions:
        return []
    lines = ["🚩 *Your people have not answered reminders about these actions*"]
    for a in actions[:10]:
        lines.append(
            f"• {a.owner_name or 'Someone'}: {clip(a.description, SHOWN)} — {_due(a, today)}"
        )
    if len(actions) > 10:
        lines.append(f"…and {len(actions) - 10} more on the dashboard.")
    lines.append("_A word from you usually unblocks it._")
    return [Text("\n".join(lines))]


def _followups(lessons: list[tuple[int, str]]) -> list[Element]:
    elements: list[Element] = []
    for lesson_id, title in lessons[:5]:
        elements += [
            Text(f"🔁 *{clip(title, SHOWN)}* was applied some weeks ago. Did the change work?"),
            Button("Yes, it worked", FollowupButton.WORKED, str(lesson_id)),
            Button("Not yet", FollowupButton.NOT_YET, str(lesson_id)),
        ]
    return elements


def _team(week: TeamWeek | None) -> list[Element]:
    if week is None:
        return []
    lines = [
        f"📊 *Your team this week* — {week.people} people, {week.open} open actions, "
        f"{week.overdue} overdue"
    ]
    lines += [
        f"• {o.owner}: {clip(o.description, SHOWN)} — {o.days} days overdue" for o in week.late
    ]
    elements: list[Element] = [Text("\n".join(lines)), awaiting_section(week.awaiting)]
    if week.applied:
        applied = "\n".join(f"• {clip(t, SHOWN)}" for t in week.applied)
        elements.append(Text(f"*Applied this week*\n{applied}"))
    return elements


def _mission(week: MissionWeek | None, *, awaiting: bool) -> list[Element]:
    if week is None:
        return []
    where = ", ".join(week.missions) if week.missions else "every mission"
    elements: list[Element] = [Text(f"🗂 *Your week as PBPO* ({where})")]
    if awaiting:  # a manager's digest above already lists what awaits them
        elements.append(awaiting_section(week.awaiting))
    if week.candidates:
        lines = "\n".join(f"• {clip(t, SHOWN)}" for t in week.candidates)
        elements.append(Text(f"*Good-practice candidates* (applied, found helpful)\n{lines}"))
    if week.unanswered:
        lines = "\n".join(
            f"• {clip(q.text, SHOWN)} (asked {q.asked} times)" for q in week.unanswered
        )
        elements.append(Text(f"*Questions without a good answer*\n{lines}"))
    if week.unreachable:
        names = ", ".join(week.unreachable)
        elements.append(
            Text(
                f"*People I cannot reach on any platform*\n{names}\n_Their reminders are not "
                "getting through: check their email address or platform account._"
            )
        )
    if week.undelivered:
        lines = "\n".join(f"• {clip(t, SHOWN)}" for t in week.undelivered)
        elements.append(
            Text(
                f"*Messages the platforms keep refusing*\n{lines}\n_I keep trying; if this "
                "lasts, check the app's installation and the platform's status._"
            )
        )
    return elements


def _due(action: ActionView, today: date) -> str:
    if action.due_date is None:
        return "no due date"
    days = (today - action.due_date).days
    if days > 0:
        return f"{days} day{'s' * (days != 1)} overdue"
    if days == 0:
        return "due today"
    return f"due {action.due_date.isoformat()}"
