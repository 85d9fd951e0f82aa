"""Anonymous answers to an After-Action Review: a private form, sealed to its reader.

*Answer anonymously* opens a form for the person who pressed it, in the review's own
conversation; the form carries a seal of the review, the question and that person, so a form id
written by hand, or another channel's review, adds nothing. The answer is stored with no author
and posted in the thread as "Anonymous answer"; only `review_contributors` knows who took part.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from handlers.chat import (
    ButtonPress,
    ConversationRef,
    Form,
    FormSubmit,
    Input,
    Reply,
    Text,
    UserRef,
    unlinked,
)
from handlers.errors import UserError
from handlers.reviews.cards import AarForm
from handlers.reviews.conversation import button_ids, has_words, private
from knowledge.reviews import MAX_ANSWER, Reviews, ReviewView
from knowledge.search.text import clip

if TYPE_CHECKING:
    from handlers.router import Deps

ELSEWHERE = (
    "That answer form was not opened by you from that review's conversation, so nothing was "
    "added. Press *Answer anonymously* in the review's thread."
)


async def form_for(press: ButtonPress, deps: Deps) -> Reply:
    """*Answer anonymously* pressed: hand this person the sealed form of that question."""
    review_id, step = button_ids(press.value, 2)
    review = await Reviews(deps.store).get(review_id)
    if review.kind != "aar":
        raise UserError("That button is out of date.")
    if (press.where.platform, press.where.channel_id) != (review.platform, review.channel_id):
        raise UserError(ELSEWHERE)
    seal = await deps.store.seal(_anonymous_key(review.id, step, press.who))
    return _anonymous_form(review, step, seal)


async def submitted(submit: FormSubmit, key: str, deps: Deps) -> Reply:
    """The anonymous form came back: check its seal, then save the answer with no author."""
    ids, _, seal = key.rpartition(":")
    review_id, step = button_ids(ids, 2)
    # The form was handed to this person from the review's own conversation (its seal
    # says so): a form id written by hand, or another channel's review, adds nothing.
    expected = await deps.store.seal(_anonymous_key(review_id, step, submit.who))
    if not hmac.compare_digest(seal, expected):
        raise UserError(ELSEWHERE)
    person = await deps.store.person_for(submit.who.platform, submit.who.user_id)
    return await _anonymous(review_id, step, submit.values.get("answer", "").strip(), person, deps)


def _anonymous_key(review_id: int, step: int, who: UserRef) -> str:
    return f"aar.anonymous:{review_id}:{step}:{who.platform}:{who.user_id}"


def _anonymous_form(review: ReviewView, step: int, seal: str) -> Reply:
    if not review.status.is_active:
        raise UserError(f"The review of '{review.event}' is {review.status.value}.")
    if not 0 <= step < len(review.questions):
        raise UserError("That button is out of date.")
    question = review.questions[step].text
    return Reply.of(
        Form(
            form=f"{AarForm.ANONYMOUS}:{review.id}:{step}:{seal}",
            title="Answer anonymously",
            inputs=(Input("answer", f"Question {step + 1}: {question}", multiline=True),),
            submit="Send anonymously",
        ),
        private=True,
    )


async def _anonymous(review_id: int, step: int, text: str, person: int | None, deps: Deps) -> Reply:
    reviews = Reviews(deps.store)
    review = await reviews.get(review_id)
    if review.kind != "aar":
        raise UserError("That form is out of date.")
    if not text:
        raise UserError("The answer was empty, so nothing was added.")
    if not has_words(text):
        raise UserError("I keep only words in the review: say in a few words what you mean.")
    if not review.status.is_active:
        raise UserError(
            f"The review of '{review.event}' is {review.status.value}, so your answer was not "
            f"added. Here it is, so you can keep it:\n\n{clip(text, 2500)}"
        )
    saved = await reviews.add_answer(review, step=step, text=text, person_id=person, anonymous=True)
    notifier = deps.notifier
    if notifier is not None and review.thread_id and notifier.platform == review.platform:
        quoted = f"“{unlinked(clip(text, 2500).strip())}”"  # no "> ": not every surface quotes
        thread = ConversationRef(
            review.platform, review.channel_id, review.thread_id, review.channel_name
        )
        await notifier.post(
            thread, Reply.of(Text(f"💬 *Anonymous answer* to question {step + 1}:\n{quoted}"))
        )
    cut = f" I kept the first {MAX_ANSWER:,} characters." if saved.clipped else ""
    return private(
        f"✅ Saved anonymously to question {step + 1}. Nobody, the facilitator included, can "
        f"see who wrote it.{cut}"
    )
