"""Validating lessons from chat: the validator's card, the decisions, and withdrawing a lesson.

A captured lesson (a note, a closed After-Action Review, an End of Assignment Report) sends its
validator one card (`request`): what was captured, then each identified lesson with *Validate*,
*Request changes* (a note for the author) and *Reject* (a reason). The home's "Awaiting your
validation" list opens the same card (`validation.open`). Decisions go through
`knowledge.validation` (permissions, lifecycle, audit); the validator sees what was done and
the author is told. `/lessons withdraw <lesson> <reason>` withdraws a lesson: kept on record
with the reason, out of answers.
"""

from __future__ import annotations

import re
from enum import StrEnum

from handlers import plan, reach
from handlers.chat import (
    Button,
    ButtonPress,
    Divider,
    Element,
    Fields,
    Form,
    FormSubmit,
    Input,
    Reply,
    Text,
    UserRef,
)
from handlers.deps import Deps
from handlers.errors import UserError
from handlers.ids import ID_PATTERN, parse_id
from knowledge.models import LessonStatus
from knowledge.permissions import Operation
from knowledge.reviews import Member
from knowledge.search.text import clip
from knowledge.validation import LessonCard, Outcome, Validations, Verdict

SHOWN_LESSON = 500
MAX_CARDS = 10  # lessons with buttons in one request; the rest wait on the home and dashboard
USAGE = (
    "Withdraw a lesson with `/lessons withdraw <lesson number> <why>`, for example "
    "`/lessons withdraw 42 duplicate of lesson 17`. It stays on record with your reason, "
    "but no longer appears in answers."
)
ADD_ACTIONS = (
    "A lesson is learned once a change is applied: *Add actions* turns its recommendations "
    "into actions, each with an owner and a due date."
)
STALE = "That button is out of date. Type `home` to see what awaits your validation."
_WITHDRAW = re.compile(
    rf"\s*/?withdraw\s+(?:lesson\s+)?#?({ID_PATTERN})(?![0-9])\s*[:,-]?\s*(.*)",
    re.I | re.S | re.ASCII,
)
_BADGES = {
    LessonStatus.IDENTIFIED: "◔ identified",
    LessonStatus.VALIDATED: "◑ validated",
    LessonStatus.APPLIED: "● applied",
    LessonStatus.REJECTED: "○ rejected",
    LessonStatus.WITHDRAWN: "⊘ withdrawn",
}


class ValidationButton(StrEnum):
    """Buttons of validation cards; the value is the lesson id."""

    OPEN = "validation.open"
    VALIDATE = "validation.validate"
    CHANGES = "validation.changes"
    REJECT = "validation.reject"


class ValidationForm(StrEnum):
    """Forms of validation; the id is "<form>:<lesson id>"."""

    CHANGES = "validation.changes"
    REJECT = "validation.reject"
    WITHDRAW = "validation.withdraw"


def requested(text: str) -> bool:
    """Return True when a command or message asks to withdraw a lesson by its number.

    "withdraw 42 duplicate" does; "withdrawal of troops" and "withdraw from Kidal?" are
    questions.
    """
    return _WITHDRAW.fullmatch(text) is not None


async def request(
    product_id: int | None, validator: Member | None, heading: list[Element], deps: Deps
) -> bool:
    """Send a validator the heading, then each lesson waiting, with its decisions.

    Return False when there is nobody to send to or they cannot be reached here.
    """
    if validator is None or product_id is None:
        return False
    cards = await Validations(deps.store).waiting(product_id)
    elements = list(heading)
    for card in cards[:MAX_CARDS]:
        elements += [Divider(), *decision_elements(card, numbered=len(cards) > 1)]
    if len(cards) > MAX_CARDS:
        elements.append(Text(f"…and {len(cards) - MAX_CARDS} more: your home lists them all."))
    return await reach.send(validator, Reply.of(*elements), deps)


def decision_elements(card: LessonCard, *, numbered: bool = False) -> list[Element]:
    """Return one lesson with its facts and the validator's three buttons."""
    title = f"[{card.title}]({card.source_url})" if card.source_url else card.title
    lines = [f"*{title}*", clip(card.lesson, SHOWN_LESSON)]
    if card.recommendation:
        lines.append(f"_Recommendation:_ {clip(card.recommendation, SHOWN_LESSON)}")
    return [
        Text("\n".join(line for line in lines if line)),
        Fields(_facts(card)),
        *decision_buttons(card.lesson_id, numbered=numbered),
    ]


def decision_buttons(lesson_id: int, *, numbered: bool = False) -> list[Element]:
    """Return the validator's three buttons for one lesson (numbered: several on one card)."""
    value, n = str(lesson_id), f" #{lesson_id}" if numbered else ""
    return [
        Button(f"Validate{n}", ValidationButton.VALIDATE, value),
        Button(f"Request changes{n}", ValidationButton.CHANGES, value),
        Button(f"Reject{n}", ValidationButton.REJECT, value),
    ]


async def button(press: ButtonPress, deps: Deps) -> Reply | None:
    """Open a lesson's card, validate it, or open the changes or rejection form."""
    lesson_id = _lesson_id(press.value)
    person = await deps.store.person_for(press.who.platform, press.who.user_id)
    validations = Validations(deps.store)
    match press.action:
        case ValidationButton.OPEN:
            card = await validations.card(lesson_id, person_id=person)
            return Reply.of(*decision_elements(card), private=True)
        case ValidationButton.VALIDATE:
            outcome = await validations.decide(
                lesson_id, Verdict.VALIDATE, actor_id=person, surface=press.who.platform
            )
            return await _decided(outcome, deps)
        case ValidationButton.CHANGES:
            await validations.check(lesson_id, Operation.REQUEST_CHANGES, actor_id=person)
            note = Input("note", "What should change? (the author sees this)", multiline=True)
            return _form(ValidationForm.CHANGES, lesson_id, "Request changes", note, "Send")
        case ValidationButton.REJECT:
            await validations.check(lesson_id, Operation.REJECT_LESSON, actor_id=person)
            reason = Input("reason", "Why not? (the author sees this)", multiline=True)
            return _form(ValidationForm.REJECT, lesson_id, "Reject the lesson", reason, "Reject")
    raise UserError(STALE)


async def form(submit: FormSubmit, deps: Deps) -> Reply | None:
    """Send a lesson back for changes, reject it, or withdraw it."""
    kind, _, key = submit.form.partition(":")
    lesson_id = _lesson_id(key)
    person = await deps.store.person_for(submit.who.platform, submit.who.user_id)
    validations, surface = Validations(deps.store), submit.who.platform
    match kind:
        case ValidationForm.CHANGES | ValidationForm.REJECT:
            verdict = Verdict.CHANGES if kind == ValidationForm.CHANGES else Verdict.REJECT
            field = "note" if verdict == Verdict.CHANGES else "reason"
            outcome = await validations.decide(
                lesson_id,
                verdict,
                actor_id=person,
                note=submit.values.get(field, ""),
                surface=surface,
            )
            return await _decided(outcome, deps)
        case ValidationForm.WITHDRAW:
            return await _withdraw(lesson_id, submit.values.get("reason", ""), submit.who, deps)
    raise UserError(STALE)


async def withdraw_command(who: UserRef, text: str, deps: Deps) -> Reply:
    """`/lessons withdraw <lesson> <reason>`: withdraw a lesson (a form asks for a reason)."""
    match = re.fullmatch(
        rf"\s*withdraw\s+(?:lesson\s+)?#?({ID_PATTERN})(?![0-9])\s*[:,-]?\s*(.*)",
        text,
        re.I | re.S | re.ASCII,
    )
    if match is None:
        raise UserError(USAGE)
    lesson_id, reason = int(match.group(1)), match.group(2).strip()
    if not reason:
        person = await deps.store.person_for(who.platform, who.user_id)
        await Validations(deps.store).check(lesson_id, Operation.WITHDRAW_LESSON, actor_id=person)
        why = Input("reason", "Why withdraw it? (kept on its record)", multiline=True)
        return _form(ValidationForm.WITHDRAW, lesson_id, "Withdraw the lesson", why, "Withdraw")
    return await _withdraw(lesson_id, reason, who, deps)


async def _withdraw(lesson_id: int, reason: str, who: UserRef, deps: Deps) -> Reply:
    person = await deps.store.person_for(who.platform, who.user_id)
    outcome = await Validations(deps.store).withdraw(
        lesson_id, actor_id=person, reason=reason, surface=who.platform
    )
    told = await _tell_authors(outcome, deps)
    cancelled = outcome.cancelled
    text = (
        f"⊘ Withdrawn: *{outcome.card.title}* (lesson #{outcome.card.lesson_id}). It stays on "
        "record with your reason, and no longer appears in answers."
    )
    if cancelled:
        text += f" {cancelled} open action{'s' * (cancelled != 1)} cancelled with it."
    return Reply.of(Text(text + told), private=True)


async def _decided(outcome: Outcome, deps: Deps) -> Reply:
    """Tell the authors; the card the validator pressed shows the outcome and who decided.

    One card may carry several lessons of a review: the lessons still waiting keep their
    buttons below the outcome, and the decided one keeps none (pressing it again could only
    say it was decided already).
    """
    told = await _tell_authors(outcome, deps)
    card = outcome.card
    done = {
        Verdict.VALIDATE: f"✅ Validated by {outcome.actor}: *{card.title}*.",
        Verdict.CHANGES: f"✏️ Sent back to its author for changes: *{card.title}*.",
        Verdict.REJECT: f"○ Rejected by {outcome.actor}: *{card.title}*.",
    }[outcome.verdict or Verdict.VALIDATE]
    if outcome.released:
        done += " Its report is now open to everyone, as all its lessons are decided."
    elements: list[Element] = [Text(done + told), Fields(_facts(card))]
    if outcome.verdict == Verdict.VALIDATE:
        elements.append(Text(ADD_ACTIONS))
        elements.append(plan.add_button(card.lesson_id))
    waiting = await Validations(deps.store).waiting(card.product_id)
    if waiting:
        elements.append(Text(f"*Still waiting for your decision* ({len(waiting)})"))
        for other in waiting[:MAX_CARDS]:
            elements += [Divider(), *decision_elements(other, numbered=True)]
    return Reply.of(*elements, private=True, replace=True)


async def _tell_authors(outcome: Outcome, deps: Deps) -> str:
    """Send each author the news; return what to tell the actor about it."""
    if not outcome.authors:
        return ""
    news_elements: list[Element] = [Text(_news(outcome)), Fields(_facts(outcome.card))]
    if outcome.verdict == Verdict.VALIDATE:
        news_elements.append(plan.add_button(outcome.card.lesson_id))
    news = Reply.of(*news_elements)
    reached = [a.name for a in outcome.authors if await reach.send(a, news, deps)]
    missed = [a.name for a in outcome.authors if a.name not in reached]
    told = f" I told {', '.join(reached)}." if reached else ""
    if missed:
        told += f" I could not message {', '.join(missed)} here."
    return told


def _news(outcome: Outcome) -> str:
    card, who, note = outcome.card, outcome.actor, outcome.note
    title = f"*{card.title}*"
    match outcome.verdict:
        case Verdict.VALIDATE:
            return (
                f"✅ {who} validated your lesson {title}. It shows as validated in answers and "
                "ranks higher. *Add actions* turns its recommendations into actions with owners."
            )
        case Verdict.CHANGES:
            return (
                f"✏️ {who} asked for changes to your lesson {title}: “{note}”. It stays "
                "identified. Log a corrected lesson with `/lessons new` and withdraw this one "
                f"with `/lessons withdraw {card.lesson_id} <why>`, or reply to {who}."
            )
        case Verdict.REJECT:
            return (
                f"{who} did not validate your lesson {title}: “{note}”. It stays on record "
                "as rejected."
            )
    return (
        f"{who} withdrew your lesson {title}: “{note}”. It stays on record, but no longer "
        "appears in answers."
    )


def _facts(card: LessonCard) -> tuple[tuple[str, str], ...]:
    return (
        ("From", f"{card.kind}" + (f" · {card.author}" if card.author else "")),
        ("Mission", card.mission or "—"),
        ("Date", card.date.isoformat() if card.date else "—"),
        ("Status", _BADGES[card.status]),
        ("Lesson", f"#{card.lesson_id}"),
    )


def _form(kind: ValidationForm, lesson_id: int, title: str, field: Input, submit: str) -> Reply:
    return Reply.of(Form(f"{kind}:{lesson_id}", title, (field,), submit=submit), private=True)


def _lesson_id(value: str) -> int:
    return parse_id(value, stale=STALE)
