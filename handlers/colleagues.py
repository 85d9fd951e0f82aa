"""*Ask a colleague*: hand a question the lessons could not answer to people who may know.

The "nothing fits" answer names who might know and offers **Ask a colleague** (`colleague.ask`,
its value the logged question). Each of those people gets the question as a card with
**Answer** (`colleague.answer`): a form with one line of answer and, or, the number of a lesson
(`colleague.reply:<referral>`). The answer goes back to the asker in the conversation (and
thread) they asked in, with **Save as a lesson note** (`colleague.save`): one click makes it a
lesson note, *identified*, by the colleague who answered, and its validator gets the usual card.
"""

from __future__ import annotations

import logging
import re
from enum import StrEnum

from handlers import reach
from handlers.ask import COLLEAGUE_ACTION, quote
from handlers.capture import validation_card
from handlers.chat import (
    Button,
    ButtonPress,
    ConversationRef,
    Form,
    FormSubmit,
    Input,
    Reply,
    Text,
    unlinked,
)
from handlers.deps import Deps
from handlers.errors import UserError
from knowledge.capture import MAX_TITLE, Notes
from knowledge.referrals import MAX_ANSWER, Referrals, ReferralView
from knowledge.search.text import clip

log = logging.getLogger(__name__)
STALE = "That button is out of date. Ask your question again."
_LESSON = re.compile(r"^\s*#?\s*(\d{1,9})\s*$")


class ColleagueAction(StrEnum):
    """Buttons of *Ask a colleague*."""

    ASK = COLLEAGUE_ACTION  # on "nothing fits": hand the question on
    ANSWER = "colleague.answer"  # on the colleague's card: open the answer form
    SAVE = "colleague.save"  # on the answer: save it as a lesson note


class ColleagueForm(StrEnum):
    """The colleague's answer form (`colleague.reply:<referral id>`)."""

    REPLY = "colleague.reply"


async def button(press: ButtonPress, deps: Deps) -> Reply | None:
    """Hand a question on, open the answer form, or save an answer as a lesson note."""
    if not press.value.isdecimal():
        raise UserError(STALE)
    match press.action:
        case ColleagueAction.ASK:
            return await _ask(press, int(press.value), deps)
        case ColleagueAction.ANSWER:
            referral = await Referrals(deps.store).get(int(press.value))
            return answer_form(referral)
        case ColleagueAction.SAVE:
            return await _save(press, int(press.value), deps)
    raise UserError(STALE)


async def form(submit: FormSubmit, deps: Deps) -> Reply | None:
    """Keep a colleague's answer and carry it back to the asker."""
    kind, _, key = submit.form.partition(":")
    if kind != ColleagueForm.REPLY or not key.isdecimal():
        raise UserError(STALE)
    said = submit.values.get("answer", "")
    lesson = submit.values.get("lesson", "").strip()
    found = _LESSON.match(lesson)
    if lesson and found is None:
        raise UserError("Give the lesson by its number, such as #42 (or leave it empty).")
    person = await deps.store.person_for(submit.who.platform, submit.who.user_id)
    referral = await Referrals(deps.store).answer(
        int(key), person_id=person, text=said, lesson_id=int(found.group(1)) if found else None
    )
    delivered = await _deliver(referral, deps)
    where = "in the conversation they asked in" if delivered else "on their home"
    return Reply.of(
        Text(f"Thanks! I passed your answer to {referral.asker_name} {where}."),
        private=True,
    )


async def _ask(press: ButtonPress, question_id: int, deps: Deps) -> Reply:
    store = deps.store
    person = await store.person_for(press.who.platform, press.who.user_id)
    question = await store.question(question_id)
    if question.person_id != person or question.platform != press.who.platform[:16]:
        raise UserError("Only the person who asked this question can hand it on.")
    viewer = await store.viewer_for(person, channel=press.where.space)
    answer = await store.ask(question.text, viewer=viewer, limit=2)
    referrals = Referrals(store)
    contacts = await referrals.who_might_know(answer.hits, asker_id=person)
    if not contacts:
        return Reply.of(Text("I found nobody to ask about this. Try your PBPO."), private=True)
    new = await referrals.refer(
        question_id,
        asker_id=person,
        platform=press.who.platform,
        people=[c.person_id for c in contacts],
    )
    reached, missed = [], []
    for referral in new:
        if await reach.send_to(referral.colleague_id, colleague_card(referral), deps):
            reached.append(referral.colleague_name)
        else:
            missed.append(referral.colleague_name)
    if not new:
        return Reply.of(Text("You already asked them; their answers will come here."), private=True)
    lines = []
    if reached:
        lines.append(
            f"I asked {_names(reached)}. Their answers will come back here, in this conversation."
        )
    if missed:
        lines.append(f"I could not message {_names(missed)} here: write to them directly.")
    return Reply.of(Text(" ".join(lines)), private=True)


def colleague_card(referral: ReferralView) -> Reply:
    """Build the card a colleague gets: the question, and a button to answer it."""
    return Reply.of(
        Text(
            f"*{referral.asker_name} asks:* {quote(referral.question)}\n"
            "The lessons index has nothing that answers it, and you may know. Answer in one "
            "line, or point to a lesson by its number."
        ),
        Button("Answer", ColleagueAction.ANSWER, str(referral.id)),
    )


def answer_form(referral: ReferralView) -> Reply:
    """Build the colleague's answer form: one line, or a lesson's number, or both."""
    return Reply.of(
        Form(
            f"{ColleagueForm.REPLY}:{referral.id}",
            "Answer a colleague",
            (
                Input(
                    "answer",
                    clip(f"{referral.asker_name} asks: {referral.question}", 150),
                    optional=True,
                ),
                Input(
                    "lesson", "Or a lesson that answers it (its number, e.g. #42)", optional=True
                ),
            ),
            submit="Send answer",
        ),
        private=True,
    )


def answer_reply(referral: ReferralView) -> Reply:
    """Build what the asker gets: the colleague's answer and *Save as a lesson note*."""
    mission = f" ({referral.colleague_mission})" if referral.colleague_mission else ""
    lines = [
        f"💬 *{referral.colleague_name}*{mission} answered your question "
        f"*{quote(referral.question)}*:"
    ]
    if referral.answer:
        lines.append("> " + clip(" ".join(unlinked(referral.answer).split()), MAX_ANSWER))
    if referral.lesson_id is not None:
        lines.append(f"See lesson #{referral.lesson_id}: *{referral.lesson_title or ''}*")
    elements: list[Text | Button] = [Text("\n".join(lines))]
    if referral.answer:
        elements.append(Button("Save as a lesson note", ColleagueAction.SAVE, str(referral.id)))
    return Reply.of(*elements)


async def _deliver(referral: ReferralView, deps: Deps) -> bool:
    """Post the answer where the question was asked (its thread), else to the asker directly."""
    reply = answer_reply(referral)
    notifier = deps.notifier
    if notifier is not None and referral.channel_id and notifier.platform == referral.platform:
        where = ConversationRef(referral.platform, referral.channel_id, referral.thread_id)
        try:
            await notifier.post(where, reply)
            return True
        except Exception:  # the answer is kept: the asker is sent it directly instead
            log.warning("could not post an answer in %s", referral.platform, exc_info=True)
    return await reach.send_to(referral.asker_id, reply, deps)


async def _save(press: ButtonPress, referral_id: int, deps: Deps) -> Reply:
    store = deps.store
    referrals = Referrals(store)
    referral = await referrals.get(referral_id)
    person = await store.person_for(press.who.platform, press.who.user_id)
    if person not in (referral.asker_id, referral.colleague_id):
        raise UserError("Only the person who asked, or who answered, can save this answer.")
    if referral.note_id is not None:
        return Reply.of(
            Text(f"This answer is saved already: lesson #{referral.note_id}."), private=True
        )
    if not referral.answer:
        raise UserError(
            "There is no answer in words to save: the lesson it names is saved already."
        )
    note = await Notes(store).capture(
        author_id=referral.colleague_id,
        title=clip(quote(referral.question), MAX_TITLE),
        observation=f"{referral.asker_name} asked: {referral.question}",
        lesson=referral.answer,
        mission=referral.colleague_mission or "",
        platform=press.who.platform,
    )
    await referrals.saved(referral_id, note.lesson_id)
    reached = await reach.send(note.validator, validation_card(note), deps)
    validator = note.validator.name if note.validator else "a PBPO"
    told = f"I asked {validator} to validate it." if reached else f"{validator} should validate it."
    return Reply.of(
        Text(
            f"✅ Saved {referral.colleague_name}'s answer as a lesson note (*identified*), "
            f"lesson #{note.lesson_id}. {told}"
        ),
        private=True,
    )


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
