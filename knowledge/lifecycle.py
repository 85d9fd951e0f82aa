"""The lesson lifecycle in one place: identified → validated → applied, or rejected.

A lesson is only *learned* once a change has been applied: it becomes applied when every one
of its actions is closed and at least one was done ("not doing, with a reason" closes an
action without counting as a change made). Nothing is deleted: a lesson in any state may be
*withdrawn* with a reason; it stays on record (and on the dashboard) but leaves the answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from knowledge.errors import LifecycleError
from knowledge.models import ActionStatus, LessonStatus


@dataclass(frozen=True, slots=True)
class Transition:
    """A named move between two lesson states."""

    name: str
    source: LessonStatus
    target: LessonStatus


TRANSITIONS: tuple[Transition, ...] = (
    Transition("validate", LessonStatus.IDENTIFIED, LessonStatus.VALIDATED),
    Transition("reject", LessonStatus.IDENTIFIED, LessonStatus.REJECTED),
    Transition("reject", LessonStatus.VALIDATED, LessonStatus.REJECTED),
    Transition("apply", LessonStatus.VALIDATED, LessonStatus.APPLIED),
    Transition("reopen", LessonStatus.REJECTED, LessonStatus.IDENTIFIED),
    Transition("reopen", LessonStatus.APPLIED, LessonStatus.VALIDATED),
    *(
        Transition("withdraw", status, LessonStatus.WITHDRAWN)
        for status in LessonStatus
        if status != LessonStatus.WITHDRAWN
    ),
)

_HINTS = {
    LessonStatus.IDENTIFIED: "it has not been validated yet; a manager or PBPO validates it first",
    LessonStatus.VALIDATED: "it is validated and waiting for its actions to be done",
    LessonStatus.APPLIED: "it is already applied",
    LessonStatus.REJECTED: "it was rejected; reopen it first",
    LessonStatus.WITHDRAWN: "it was withdrawn and stays on record only",
}


def transition(current: LessonStatus, target: LessonStatus) -> Transition:
    """Return the allowed transition from current to target, or raise LifecycleError."""
    for move in TRANSITIONS:
        if move.source == current and move.target == target:
            return move
    raise LifecycleError(
        f"A lesson cannot go from {current.value} to {target.value}: {_HINTS[current]}."
    )


def check_can_apply(current: LessonStatus, actions: Iterable[ActionStatus]) -> None:
    """Raise LifecycleError unless a lesson with these actions may become applied."""
    transition(current, LessonStatus.APPLIED)
    statuses = list(actions)
    if not statuses:
        raise LifecycleError(
            "A lesson is applied only once a change has been made: add an action first."
        )
    still_open = sum(1 for s in statuses if not s.is_closed)
    if still_open:
        raise LifecycleError(
            f"A lesson is applied only when every action is done: {still_open} still open."
        )
    if ActionStatus.DONE not in statuses:
        raise LifecycleError(
            "A lesson is applied only once a change has been made: no action was done."
        )


def is_ready_to_apply(current: LessonStatus, actions: Iterable[ActionStatus]) -> bool:
    """Return True when the lesson should now become applied."""
    try:
        check_can_apply(current, actions)
    except LifecycleError:
        return False
    return True


def check_can_add_action(current: LessonStatus) -> None:
    """Raise LifecycleError unless actions may be added to a lesson in this state."""
    if current == LessonStatus.WITHDRAWN:
        raise LifecycleError("This lesson was withdrawn: it takes no more actions.")
    if current in (LessonStatus.REJECTED, LessonStatus.IDENTIFIED):
        raise LifecycleError(
            f"Actions follow validation: this lesson is {current.value}, so validate it first."
        )


_ACTION_MOVES: dict[ActionStatus, frozenset[ActionStatus]] = {
    ActionStatus.OPEN: frozenset(
        {ActionStatus.IN_PROGRESS, ActionStatus.BLOCKED, ActionStatus.DONE, ActionStatus.NOT_DOING}
    ),
    ActionStatus.IN_PROGRESS: frozenset(
        {ActionStatus.OPEN, ActionStatus.BLOCKED, ActionStatus.DONE, ActionStatus.NOT_DOING}
    ),
    ActionStatus.BLOCKED: frozenset(
        {ActionStatus.OPEN, ActionStatus.IN_PROGRESS, ActionStatus.DONE, ActionStatus.NOT_DOING}
    ),
    ActionStatus.DONE: frozenset({ActionStatus.OPEN}),
    ActionStatus.NOT_DOING: frozenset({ActionStatus.OPEN}),
}


def check_action_move(
    current: ActionStatus, target: ActionStatus, *, evidence: str | None, reason: str | None
) -> None:
    """Raise LifecycleError unless an action may move from current to target with these notes."""
    if target not in _ACTION_MOVES[current]:
        raise LifecycleError(
            f"An action cannot go from {current.value} to {target.value}."
            + (" Reopen it first." if current.is_closed else "")
        )
    if target == ActionStatus.DONE and not (evidence and evidence.strip()):
        raise LifecycleError("Closing an action as done needs a short note of the evidence.")
    if target in (ActionStatus.NOT_DOING, ActionStatus.BLOCKED) and not (reason and reason.strip()):
        word = "not doing" if target == ActionStatus.NOT_DOING else "blocked"
        raise LifecycleError(f"Marking an action {word} needs a reason.")
