"""The lesson lifecycle and action moves, as pure rules."""

from __future__ import annotations

from itertools import product

import pytest

from knowledge import lifecycle
from knowledge.errors import DomainError, LifecycleError
from knowledge.models import ActionStatus, LessonStatus

IDF, VAL, APP, REJ, WDN = (
    LessonStatus.IDENTIFIED,
    LessonStatus.VALIDATED,
    LessonStatus.APPLIED,
    LessonStatus.REJECTED,
    LessonStatus.WITHDRAWN,
)
OPEN, WORKING, BLOCKED, DONE, NOT_DOING = (
    ActionStatus.OPEN,
    ActionStatus.IN_PROGRESS,
    ActionStatus.BLOCKED,
    ActionStatus.DONE,
    ActionStatus.NOT_DOING,
)

ALLOWED = {
    (IDF, VAL): "validate",
    (IDF, REJ): "reject",
    (VAL, REJ): "reject",
    (VAL, APP): "apply",
    (REJ, IDF): "reopen",
    (APP, VAL): "reopen",
    (IDF, WDN): "withdraw",
    (VAL, WDN): "withdraw",
    (APP, WDN): "withdraw",
    (REJ, WDN): "withdraw",
}
DISALLOWED = [pair for pair in product(LessonStatus, repeat=2) if pair not in ALLOWED]


def error(current: LessonStatus, target: LessonStatus) -> str:
    with pytest.raises(LifecycleError) as info:
        lifecycle.transition(current, target)
    return info.value.message


# --- lesson transitions --------------------------------------------------------------------------


@pytest.mark.parametrize(("current", "target"), list(ALLOWED))
def test_allowed_transition(current: LessonStatus, target: LessonStatus) -> None:
    move = lifecycle.transition(current, target)
    assert (move.name, move.source, move.target) == (ALLOWED[current, target], current, target)


@pytest.mark.parametrize(("current", "target"), DISALLOWED)
def test_disallowed_transition_names_both_states(
    current: LessonStatus, target: LessonStatus
) -> None:
    message = error(current, target)
    assert message.startswith(f"A lesson cannot go from {current.value} to {target.value}: ")
    assert message.endswith(".")


def test_there_are_exactly_ten_moves_and_fifteen_refusals() -> None:
    assert len(lifecycle.TRANSITIONS) == 10
    assert len(DISALLOWED) == 15


def test_a_withdrawn_lesson_stays_withdrawn() -> None:
    for target in (IDF, VAL, APP, REJ, WDN):
        assert error(WDN, target).endswith("it was withdrawn and stays on record only.")


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (
            IDF,
            APP,
            "A lesson cannot go from identified to applied: it has not been validated yet; "
            "a manager or PBPO validates it first.",
        ),
        (
            APP,
            APP,
            "A lesson cannot go from applied to applied: it is already applied.",
        ),
        (
            REJ,
            VAL,
            "A lesson cannot go from rejected to validated: it was rejected; reopen it first.",
        ),
        (
            VAL,
            IDF,
            "A lesson cannot go from validated to identified: "
            "it is validated and waiting for its actions to be done.",
        ),
    ],
)
def test_refusal_says_why_and_what_to_do(
    current: LessonStatus, target: LessonStatus, message: str
) -> None:
    assert error(current, target) == message


def test_lifecycle_error_is_a_domain_error_with_a_message() -> None:
    with pytest.raises(DomainError) as info:
        lifecycle.transition(APP, REJ)
    assert isinstance(info.value, LifecycleError)
    assert str(info.value) == info.value.message


# --- check_can_apply -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ([], "A lesson is applied only once a change has been made: add an action first."),
        ([OPEN], "A lesson is applied only when every action is done: 1 still open."),
        (
            [DONE, OPEN, BLOCKED, WORKING],
            "A lesson is applied only when every action is done: 3 still open.",
        ),
        (
            [NOT_DOING, NOT_DOING],
            "A lesson is applied only once a change has been made: no action was done.",
        ),
    ],
)
def test_cannot_apply(actions: list[ActionStatus], message: str) -> None:
    with pytest.raises(LifecycleError) as info:
        lifecycle.check_can_apply(VAL, actions)
    assert info.value.message == message
    assert lifecycle.is_ready_to_apply(VAL, actions) is False


@pytest.mark.parametrize("actions", [[DONE], [DONE, NOT_DOING], [NOT_DOING, DONE, DONE]])
def test_can_apply_when_every_action_is_closed_and_one_is_done(
    actions: list[ActionStatus],
) -> None:
    lifecycle.check_can_apply(VAL, actions)
    assert lifecycle.is_ready_to_apply(VAL, actions) is True


@pytest.mark.parametrize("current", [IDF, APP, REJ])
def test_only_a_validated_lesson_can_become_applied(current: LessonStatus) -> None:
    with pytest.raises(LifecycleError) as info:
        lifecycle.check_can_apply(current, [DONE])
    assert f"cannot go from {current.value} to applied" in info.value.message
    assert lifecycle.is_ready_to_apply(current, [DONE]) is False


def test_check_can_apply_reads_a_generator_once() -> None:
    lifecycle.check_can_apply(VAL, (s for s in [DONE, NOT_DOING]))
    assert lifecycle.is_ready_to_apply(VAL, (s for s in [DONE])) is True


# --- check_can_add_action ------------------------------------------------------------------------


@pytest.mark.parametrize("current", [IDF, REJ])
def test_actions_follow_validation(current: LessonStatus) -> None:
    with pytest.raises(LifecycleError) as info:
        lifecycle.check_can_add_action(current)
    assert info.value.message == (
        f"Actions follow validation: this lesson is {current.value}, so validate it first."
    )


def test_a_withdrawn_lesson_takes_no_actions() -> None:
    with pytest.raises(LifecycleError) as info:
        lifecycle.check_can_add_action(WDN)
    assert info.value.message == "This lesson was withdrawn: it takes no more actions."


@pytest.mark.parametrize("current", [VAL, APP])
def test_validated_and_applied_lessons_take_actions(current: LessonStatus) -> None:
    assert lifecycle.check_can_add_action(current) is None


# --- action moves --------------------------------------------------------------------------------

ACTION_MOVES = {
    OPEN: {WORKING, BLOCKED, DONE, NOT_DOING},
    WORKING: {OPEN, BLOCKED, DONE, NOT_DOING},
    BLOCKED: {OPEN, WORKING, DONE, NOT_DOING},
    DONE: {OPEN},
    NOT_DOING: {OPEN},
}
ACTION_PAIRS = list(product(ActionStatus, repeat=2))


@pytest.mark.parametrize(("current", "target"), ACTION_PAIRS)
def test_every_action_move(current: ActionStatus, target: ActionStatus) -> None:
    notes = {"evidence": "Report of 3 May", "reason": "No budget this year"}
    if target in ACTION_MOVES[current]:
        assert lifecycle.check_action_move(current, target, **notes) is None
        return
    with pytest.raises(LifecycleError) as info:
        lifecycle.check_action_move(current, target, **notes)
    expected = f"An action cannot go from {current.value} to {target.value}."
    if current.is_closed:
        expected += " Reopen it first."
    assert info.value.message == expected


@pytest.mark.parametrize("evidence", [None, "", "   \n"])
@pytest.mark.parametrize("current", [OPEN, WORKING, BLOCKED])
def test_done_needs_evidence(current: ActionStatus, evidence: str | None) -> None:
    with pytest.raises(LifecycleError) as info:
        lifecycle.check_action_move(current, DONE, evidence=evidence, reason="a reason")
    assert info.value.message == "Closing an action as done needs a short note of the evidence."


@pytest.mark.parametrize("reason", [None, "", "  "])
@pytest.mark.parametrize(("target", "word"), [(BLOCKED, "blocked"), (NOT_DOING, "not doing")])
def test_blocked_and_not_doing_need_a_reason(
    target: ActionStatus, word: str, reason: str | None
) -> None:
    with pytest.raises(LifecycleError) as info:
        lifecycle.check_action_move(OPEN, target, evidence="evidence", reason=reason)
    assert info.value.message == f"Marking an action {word} needs a reason."


@pytest.mark.parametrize("target", [OPEN, WORKING])
def test_moving_an_open_action_needs_no_notes(target: ActionStatus) -> None:
    current = WORKING if target == OPEN else OPEN
    assert lifecycle.check_action_move(current, target, evidence=None, reason=None) is None


@pytest.mark.parametrize("current", [DONE, NOT_DOING])
def test_closed_action_reopens_without_notes(current: ActionStatus) -> None:
    assert lifecycle.check_action_move(current, OPEN, evidence=None, reason=None) is None


@pytest.mark.parametrize("target", [WORKING, BLOCKED, DONE, NOT_DOING])
def test_closed_action_must_be_reopened_first(target: ActionStatus) -> None:
    with pytest.raises(LifecycleError) as info:
        lifecycle.check_action_move(DONE, target, evidence="e", reason="r")
    assert info.value.message.endswith(" Reopen it first.")


def test_closed_statuses() -> None:
    assert {s for s in ActionStatus if s.is_closed} == {DONE, NOT_DOING}
