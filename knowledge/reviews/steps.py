"""The review's state machine: the facilitator's control words and where each one leads."""

from __future__ import annotations

from enum import StrEnum

from knowledge.errors import DomainError
from knowledge.models import (
    ReviewStatus,
)


class Control(StrEnum):
    """What the facilitator can do to a running review."""

    NEXT = "next"
    BACK = "back"
    SKIP = "skip"
    PAUSE = "pause"
    RESUME = "resume"
    CLOSE = "close"
    CANCEL = "cancel"


CONTROL_WHAT = {
    Control.NEXT: "move the review on",
    Control.SKIP: "skip a question",
    Control.BACK: "go back a question",
    Control.PAUSE: "pause the review",
    Control.RESUME: "resume the review",
    Control.CLOSE: "close the review",
    Control.CANCEL: "cancel the review",
}


def steer(
    status: ReviewStatus, step: int, total: int, control: Control
) -> tuple[ReviewStatus, int]:
    """Return the status and step a control word leads to, or raise DomainError."""
    if not status.is_active:
        raise DomainError(f"This review is {status.value} already.")
    match control:
        case Control.PAUSE if status == ReviewStatus.PAUSED:
            raise DomainError("The review is paused already. Say `resume` to carry on.")
        case Control.PAUSE:
            return ReviewStatus.PAUSED, step
        case Control.RESUME if status == ReviewStatus.RUNNING:
            raise DomainError("The review is not paused; it is running.")
        case Control.RESUME:
            return ReviewStatus.RUNNING, step
        case Control.CANCEL:
            return ReviewStatus.CANCELLED, step
        case Control.CLOSE:
            return ReviewStatus.CLOSED, step
        case _ if status == ReviewStatus.PAUSED:
            raise DomainError("The review is paused. Say `resume` first.")
        case Control.BACK if step == 0:
            raise DomainError("This is the first question already.")
        case Control.BACK:
            return ReviewStatus.RUNNING, step - 1
    if step + 1 >= total:
        raise DomainError(
            "That was the last question. Say `close` to finish and save the review, "
            "or `back` to return to an earlier question."
        )
    return ReviewStatus.RUNNING, step + 1
