"""The review clock: what the scheduler runs every tick for After-Action Reviews.

One `tick(deps, now)` does, for the reviews of the platform `deps.notifier` speaks for:

1. starts the scheduled reviews that are due, posting each opening in its channel;
2. moves on every question whose time box (LESSONS_AAR_QUESTION_MINUTES, 30 by default; 0 turns
   the time box and the reminders off) has passed, posting the next question in the thread.
   After the last question the review stays open: the thread and the facilitator are told it is
   ready to close, and the clock stops until someone goes `back` or resumes a pause;
3. halfway through a question, reminds once per review, privately, the participants who have not
   answered yet (see knowledge/reviews/participants.py). The reminder names nobody and says
   nothing about who answered, openly or anonymously.

Paused reviews are left alone. Every step is claimed in the database first (a conditional
write), so replicas ticking at once, or a tick after a restart, never do anything twice. A post
that fails is put back, so the next tick tries again. End of Assignment interviews have no time
box: they are one person's, at their own pace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from handlers import reach
from handlers.chat import Button, ConversationRef, Element, Reply, Text
from handlers.deps import Deps
from handlers.reviews.aar_start import opening_for
from handlers.reviews.cards import AarButton, duration_text, question_elements
from handlers.reviews.config import question_time
from knowledge.errors import DomainError
from knowledge.reviews import Reviews, ReviewView
from knowledge.reviews.clock import Move, ReviewClock
from knowledge.reviews.participants import Participants

log = logging.getLogger(__name__)


ORPHAN_AFTER = timedelta(minutes=10)  # a review with no thread this long after its start


class TockKind(StrEnum):
    """What one tick did to a review."""

    STARTED = "started"  # a scheduled review began
    ADVANCED = "advanced"  # a question's time ran out: the next one was posted
    FINISHED = "finished"  # the last question's time ran out: ready to close
    NUDGED = "nudged"  # a participant who had not answered was reminded
    ORPHANED = "orphaned"  # its opening never reached the channel: cancelled


@dataclass(frozen=True, slots=True)
class Tock:
    """One thing a tick did (for logs and tests)."""

    kind: TockKind
    review_id: int
    step: int
    person_id: int | None = None  # who was reminded


async def tick(deps: Deps, now: datetime, *, time_box: timedelta | None = None) -> list[Tock]:
    """Start due reviews, move on timed-out questions and remind quiet participants, once each.

    Args:
        deps: the store, and the notifier of the platform whose reviews to look after.
        now: the time of this tick (aware).
        time_box: each question's time; when None, the settings' (LESSONS_AAR_QUESTION_MINUTES);
            0 for none.
    """
    if deps.notifier is None:
        return []
    box = question_time(deps.settings) if time_box is None else time_box
    done = await _start_due(deps, now)
    done += [
        Tock(TockKind.ORPHANED, review_id, 0)
        for review_id in await Reviews(deps.store).finish_orphans(now - ORPHAN_AFTER)
    ]
    if box > timedelta(0):
        done += await _advance(deps, now, box)
        done += await _nudge(deps, now, box / 2)
    for tock in done:
        log.info("review clock: %s review %s step %s", tock.kind, tock.review_id, tock.step)
    return done


# Scheduled reviews ---------------------------------------------------------------------------


async def _start_due(deps: Deps, now: datetime) -> list[Tock]:
    assert deps.notifier is not None
    platform = deps.notifier.platform
    done = []
    for due in await Reviews(deps.store).due(now):
        if due.platform != platform:
            continue
        try:
            review = await Reviews(deps.store).begin(due.id, now)
        except DomainError:
            continue  # another replica started it
        try:
            await deps.notifier.post(_thread(review), opening_for(review, deps))
        except Exception:
            log.exception("could not post the opening of review %s; will retry", review.id)
            await ReviewClock(deps.store).unbegin(review, now)
            continue
        done.append(Tock(TockKind.STARTED, review.id, review.step))
    return done


# Time boxes ----------------------------------------------------------------------------------


async def _advance(deps: Deps, now: datetime, box: timedelta) -> list[Tock]:
    assert deps.notifier is not None
    clock = ReviewClock(deps.store)
    done = []
    for review in await clock.expired(platform=deps.notifier.platform, started_before=now - box):
        move = await clock.advance(review, now)
        if move is None:
            continue  # the facilitator, or another replica, moved it first
        try:
            await deps.notifier.post(_thread(review), moved_reply(move, box))
        except Exception:
            log.exception("could not post the next question of review %s; will retry", review.id)
            await clock.undo(move, now)
            continue
        kind = TockKind.FINISHED if move.finished else TockKind.ADVANCED
        done.append(Tock(kind, review.id, move.after.step))
        if move.finished:
            await reach.send_to(review.facilitator_id, ready_reply(move.after), deps)
    return done


def moved_reply(move: Move, box: timedelta) -> Reply:
    """Build the thread's post when a question's time ran out: the next one, or "ready"."""
    before, after = move.before, move.after
    if move.finished:
        return Reply.of(
            Text(
                f"⏱ Time is up for the last question. Answers are still welcome here until "
                f"{after.facilitator_name} closes the review: say `close` (or press *Close and "
                "save*) to post the summary and save it, or `back` to revisit a question."
            ),
            *_closing_buttons(after),
        )
    lead = Text(
        f"⏱ Time is up for question {before.step + 1} ({duration_text(box)}), so here is "
        f"the next one. {before.facilitator_name} can say `back` to return to it."
    )
    return Reply.of(lead, *question_elements(after))


def ready_reply(review: ReviewView) -> Reply:
    """Build the facilitator's note: the last question's time ran out, the review can close."""
    where = f" in #{review.channel_name}" if review.channel_name else ""
    return Reply.of(
        Text(
            f"⏱ The After-Action Review of *{review.event}*{where} has gone through all its "
            "questions. It stays open for late answers until you say `close` in its thread; "
            "then I post the summary and save it in the lessons index."
        )
    )


# Reminders -----------------------------------------------------------------------------------


async def _nudge(deps: Deps, now: datetime, half: timedelta) -> list[Tock]:
    assert deps.notifier is not None
    participants = Participants(deps.store)
    done = []
    for quiet in await participants.quiet(
        platform=deps.notifier.platform, started_before=now - half
    ):
        review, member = quiet.review, quiet.member
        if not await participants.claim_nudge(review.id, member.id, now):
            continue  # reminded by another replica just now
        if await reach.send(member, nudge_reply(review), deps):
            done.append(Tock(TockKind.NUDGED, review.id, review.step, member.id))
        else:
            log.info("could not remind person %s of review %s", member.id, review.id)
    return done


def nudge_reply(review: ReviewView) -> Reply:
    """Build the one reminder of a review: the same words for everyone, naming nobody."""
    where = f" in #{review.channel_name}" if review.channel_name else ""
    value = f"{review.id}:{review.step}"
    return Reply.of(
        Text(
            f"💬 *The After-Action Review of {review.event}*{where} would like to hear from you. "
            f"It is on question {review.step + 1} of {len(review.questions)}: "
            f"*{review.question.text}*\nAnswer in its thread, or press *Answer anonymously*: "
            "then nobody, the facilitator included, sees who wrote it. Blameless, and a line "
            "is enough. This is the only reminder I send you about this review."
        ),
        Button("Answer anonymously", AarButton.ANONYMOUS, value),
    )


# Helpers -------------------------------------------------------------------------------------


def _closing_buttons(review: ReviewView) -> list[Element]:
    value = f"{review.id}:{review.step}"
    buttons: list[Element] = [Button("Close and save", AarButton.CLOSE, value)]
    if review.step > 0:
        buttons.append(Button("Back", AarButton.BACK, value))
    return buttons


def _thread(review: ReviewView) -> ConversationRef:
    return ConversationRef(
        review.platform, review.channel_id, review.thread_id, review.channel_name
    )
