"""The cards of reviews: button and form ids, questions, summaries, proposed actions.

Pure builders of `Reply` values shared by After-Action Reviews and interviews (and by the
home and plan pages, which show proposed actions with the same owner card).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from handlers.chat import Button, Divider, Element, Fields, Reply, Text, unlinked
from knowledge.models import ProposalStatus
from knowledge.reviews import (
    Closing,
    Control,
    ProposalView,
    Question,
    QuestionKind,
    Repeat,
    ReviewView,
)
from knowledge.search.text import clip

SHOWN_ANSWER = 300
SHOWN_PER_QUESTION = 8
TEXT_LIMIT = 2800  # Slack shows at most 3,000 characters in one section


class AarButton(StrEnum):
    """Buttons of reviews: controls carry "<review>:<step>", owner cards the proposal id."""

    NEXT = "aar.next"
    BACK = "aar.back"
    SKIP = "aar.skip"
    PAUSE = "aar.pause"
    RESUME = "aar.resume"
    CLOSE = "aar.close"
    CANCEL = "aar.cancel"
    ANONYMOUS = "aar.anonymous"
    ACCEPT = "aar.accept"
    REASSIGN = "aar.reassign"
    REDATE = "aar.redate"
    DECLINE = "aar.decline"
    COMPLETE = "aar.complete"


class AarForm(StrEnum):
    """Forms of reviews; the id is "<form>:<key>"."""

    ANONYMOUS = "aar.anonymous"  # key "<review>:<step>"
    ASSIGN = "aar.assign"  # key "<proposal>": reassign, or complete a draft
    REDATE = "aar.redate"
    DECLINE = "aar.decline"


class EoarButton(StrEnum):
    """Buttons of interviews; they carry "<review>:<step>"."""

    NEXT = "eoar.next"
    BACK = "eoar.back"
    SKIP = "eoar.skip"
    PAUSE = "eoar.pause"
    RESUME = "eoar.resume"
    CLOSE = "eoar.close"
    CANCEL = "eoar.cancel"


CONTROLS: dict[str, Control] = {
    **{AarButton(f"aar.{c.value}"): c for c in Control},
    **{EoarButton(f"eoar.{c.value}"): c for c in Control},
}


def opening_reply(review: ReviewView, *, time_box: timedelta | None = None) -> Reply:
    """Build the opening message: the event, the ground rules and the first question."""
    clock = ""
    if time_box:
        clock = (
            f"• Each question stays open for {duration_text(time_box)}; then I post the next one "
            "(`pause` stops the clock). Halfway through, I remind anyone mentioned or who joined "
            "the thread but has not answered yet, privately and only once.\n"
        )
    rules = (
        f"*After-Action Review: {review.event}*\nFacilitated by {review.facilitator_name}. "
        "We have a few questions, one at a time.\n"
        "• *Blameless*: we look at what happened and why, never at who to blame.\n"
        "• *Honest reflection on failures is welcome*: it is how we learn.\n"
        "• Answer in this thread, or press *Answer anonymously*: then nobody, the facilitator "
        "included, sees who wrote it.\n"
        f"• {review.facilitator_name} moves us on with the buttons, or by saying `next`, "
        "`back`, `skip`, `pause`, `resume`, `close` or `cancel` in the thread.\n"
        f"{clock}"
        "• When we close, I post a summary, propose actions from the recommendations and "
        "save the review in the lessons index."
    )
    return Reply.of(Text(rules), Divider(), *question_elements(review))


def question_elements(review: ReviewView) -> list[Element]:
    """Return the current question with its buttons."""
    question, value = review.question, f"{review.id}:{review.step}"
    lines = [f"*Question {review.step + 1} of {len(review.questions)}:* {question.text}"]
    if question.kind == QuestionKind.RECOMMEND:
        lines.append(
            "_Name an owner and a date for each, for example: @Amina Diallo to update the "
            "polling-station checklist by 15 Jan._"
        )
    lines.append("_Answer in this thread, or anonymously with the button._")
    elements: list[Element] = [
        Text("\n".join(lines)),
        Button("Answer anonymously", AarButton.ANONYMOUS, value),
    ]
    return elements + steering_buttons("aar", review, value)


def steering_buttons(prefix: str, review: ReviewView, value: str) -> list[Element]:
    """Return the facilitator's buttons on the current question ("aar." or "eoar." ones)."""
    buttons: list[Element] = []
    if review.step > 0:
        buttons.append(Button("Back", f"{prefix}.back", value))
    if not review.is_last:
        buttons += [
            Button("Next", f"{prefix}.next", value),
            Button("Skip", f"{prefix}.skip", value),
        ]
    buttons += [
        Button("Pause", f"{prefix}.pause", value),
        Button("Close and save", f"{prefix}.close", value),
        Button("Cancel", f"{prefix}.cancel", value),
    ]
    return buttons


def duration_text(span: timedelta) -> str:
    """Say a time box in words: "30 minutes", "2 hours"."""
    minutes = round(span.total_seconds() / 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' * (hours != 1)}"
    return f"{minutes} minute{'s' * (minutes != 1)}"


def summary_reply(
    closing: Closing, *, sent: dict[int, bool], validation_sent: bool | None
) -> Reply:
    """Build the summary: answers by question, participants, the record, actions, repeats."""
    review = closing.review
    n, count = closing.participants, len(closing.answers)
    head = (
        f"*After-Action Review closed: {review.event}*\n{n} participant{'s' * (n != 1)} · "
        f"{count} answer{'s' * (count != 1)}"
    )
    if closing.guests:
        head += f" ({closing.guests} from people not in the staff directory)"
    elements: list[Element] = [Text(head)]
    for step, question in enumerate(review.questions):
        elements += text_chunks(_answers_lines(step, question, closing))
    elements.append(Divider())
    elements.append(Text(_record_text(closing, validation_sent)))
    elements += proposal_elements(closing, sent)
    if closing.repeats:
        elements += text_chunks(["*Seen before*", *(repeat_line(r) for r in closing.repeats)])
    return Reply.of(*elements)


def _answers_lines(step: int, question: Question, closing: Closing) -> list[str]:
    answers = [a for a in closing.answers if a.step == step]
    lines = [f"*{step + 1}. {question.text}*"]
    for a in answers[:SHOWN_PER_QUESTION]:
        author = "anonymous" if a.anonymous else (a.author or "a guest")
        lines.append(f"• {unlinked(clip(a.text, SHOWN_ANSWER))} — _{author}_")
    if len(answers) > SHOWN_PER_QUESTION:
        lines.append(f"…and {len(answers) - SHOWN_PER_QUESTION} more in the saved record.")
    if not answers:
        lines.append("_(no answers)_")
    return lines


def _record_text(closing: Closing, validation_sent: bool | None) -> str:
    if closing.product_id is None:
        return "Nobody answered, so nothing was added to the lessons index."
    k = closing.lessons
    text = (
        f"Saved in the lessons index as *{closing.product_title}* with {k} "
        f"lesson{'s' * (k != 1)}, status *identified*. Ask me `what did we learn about "
        f"{closing.review.event}` to find it."
    )
    validator = closing.validator
    if validator is None:
        return text + " I found no manager or PBPO to validate it: please ask your PBPO."
    if validation_sent:
        return text + f" I asked {validator.name} to validate it."
    return text + f" {validator.name} should validate it (I could not message them here)."


def proposal_elements(
    closing: Closing, sent: dict[int, bool], *, drafts_for: str | None = None
) -> list[Element]:
    """List the proposed actions, and the drafts someone (the facilitator) must complete."""
    proposed = [p for p in closing.proposals if p.status != ProposalStatus.DRAFT]
    drafts = [p for p in closing.proposals if p.status == ProposalStatus.DRAFT]
    elements: list[Element] = []
    if proposed:
        lines = ["*Proposed actions* (each owner gets a card to accept)"]
        for p in proposed:
            due = p.due_date.isoformat() if p.due_date else "no date"
            reached = "card sent" if sent.get(p.id) else "I could not message them here"
            lines.append(f"• {clip(p.description, 200)} → {p.owner_name}, due {due} ({reached})")
        elements += text_chunks(lines)
    if drafts:
        who = drafts_for or closing.review.facilitator_name
        lines = [f"*For {who} to complete* (owner or date unclear)"]
        lines += [f"• {clip(p.description, 200)} — {p.note}" for p in drafts]
        elements += text_chunks(lines)
        elements += [
            Button(f"Complete: {clip(p.description, 30)}", AarButton.COMPLETE, str(p.id))
            for p in drafts[:10]
        ]
    return elements


def repeat_line(r: Repeat) -> str:
    """Say which earlier lesson a new one resembles, and where that one stands."""
    year = f", {r.year}" if r.year else ""
    status = f"{r.status} before"
    if r.open_actions == 1:
        status += "; its action is still open"
    elif r.open_actions > 1:
        status += f"; {r.open_actions} of its actions are still open"
    return f"• “{clip(r.lesson, 120)}”: this resembles '{r.title}' ({r.kind}{year}) — {status}"


def validation_card(closing: Closing) -> Reply:
    """Build the request to validate a closed review's lessons."""
    review = closing.review
    return Reply.of(
        Text(
            f"*Validation requested: AAR {review.event}*\n{review.facilitator_name} closed an "
            f"After-Action Review with {closing.participants} participants. Its lessons are "
            "*identified*; please review them and validate the ones we should act on."
        ),
        Fields(
            (
                ("Lessons", str(closing.lessons)),
                ("Proposed actions", str(len(closing.proposals))),
                ("Record", closing.product_title or "—"),
            )
        ),
    )


def owner_card(proposal: ProposalView, *, numbered: bool = False) -> Reply:
    """Build the card a proposed owner gets: accept, reassign, another date, decline.

    `numbered` puts the proposal's number on the buttons, for a card listing several.
    """
    value = str(proposal.id)
    n = f" #{proposal.id}" if numbered else ""
    return Reply.of(
        Text(f"*An action for you from {proposal.source}*\n{proposal.description}"),
        Fields(
            (
                ("Due", proposal.due_date.isoformat() if proposal.due_date else "—"),
                ("Proposed by", proposal.facilitator_name),
            )
        ),
        Button(f"Accept{n}", AarButton.ACCEPT, value),
        Button(f"Reassign{n}", AarButton.REASSIGN, value),
        Button(f"Other date{n}", AarButton.REDATE, value),
        Button(f"Decline{n}", AarButton.DECLINE, value),
    )


def text_chunks(lines: list[str]) -> list[Text]:
    """Join lines into as few Texts as fit the platforms' limits."""
    chunks: list[list[str]] = [[]]
    for line in lines:
        if chunks[-1] and sum(len(x) + 1 for x in chunks[-1]) + len(line) > TEXT_LIMIT:
            chunks.append([])
        chunks[-1].append(line)
    return [Text("\n".join(chunk)) for chunk in chunks if chunk]


def owner_name(proposal: ProposalView) -> str:
    """Name a proposal's owner ("its owner" when nobody is named yet)."""
    return proposal.owner_name or "its owner"
