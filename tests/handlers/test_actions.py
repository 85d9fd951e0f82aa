"""My actions: the list, and done / snooze / new date / blocked / hand over, with their checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import select

from handlers.actions import ActionButton
from handlers.chat import (
    Button,
    ButtonPress,
    ConversationRef,
    Form,
    FormSubmit,
    Incoming,
    Message,
    Reply,
    Text,
    UserRef,
)
from handlers.router import Deps, dispatch
from knowledge.lesson_actions import LessonActions
from knowledge.models import ActionStatus, Lesson, LessonStatus, Product
from knowledge.storage import Store

TOMAS = UserRef("local", "tomas.herrera@un.example", "Tomás Herrera")
AMINA = UserRef("local", "amina.diallo@un.example", "Amina Diallo")
STRANGER = UserRef("local", "nobody@elsewhere.example")
HERE = ConversationRef("local", "dm:1")


@dataclass
class Inbox:
    """Collects what the handlers send proactively (the platform side of a Notifier)."""

    platform: str = "local"
    sent: list[tuple[UserRef, Reply]] = field(default_factory=list)

    async def send(self, to: UserRef, reply: Reply) -> None:
        self.sent.append((to, reply))

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        raise AssertionError("actions never post in channels")

    async def lookup(self, email: str) -> str | None:
        return email


async def run(store: Store, incoming: Incoming, inbox: Inbox | None = None) -> Reply:
    reply = await dispatch(incoming, Deps(store=store, notifier=inbox))
    assert reply is not None
    return reply


def text(reply: Reply) -> str:
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


def buttons(reply: Reply, action: str) -> list[Button]:
    return [e for e in reply.elements if isinstance(e, Button) and e.action == action]


def form_of(reply: Reply) -> Form:
    (form,) = [e for e in reply.elements if isinstance(e, Form)]
    return form


async def person(store: Store, who: UserRef) -> int:
    found = await store.person_for("local", who.user_id)
    assert found is not None
    return found


async def test_my_actions_lists_open_ones_overdue_first(demo_store: Store) -> None:
    reply = await run(demo_store, Message(TOMAS, HERE, "actions"))
    expected = await demo_store.actions_of(await person(demo_store, TOMAS))
    today = demo_store.today()

    assert reply.private
    overdue = sum(a.is_overdue(today) for a in expected)
    assert f"*Your open actions* ({len(expected)}, {overdue} overdue)" in text(reply)
    listed = [int(b.value) for b in buttons(reply, ActionButton.DONE)]
    assert listed == [a.id for a in expected]
    dues = [a.due_date for a in expected if a.due_date]
    assert dues == sorted(dues)
    assert all(not a.status.is_closed for a in expected)


async def test_someone_unknown_is_told_how_to_get_in(demo_store: Store) -> None:
    reply = await run(demo_store, Message(STRANGER, HERE, "actions"))
    assert reply.private and "don't know you yet" in text(reply)


async def test_done_needs_evidence_then_closes_the_action(demo_store: Store) -> None:
    actions = await demo_store.actions_of(await person(demo_store, TOMAS))
    target = actions[0]
    asked = await run(demo_store, ButtonPress(TOMAS, HERE, ActionButton.DONE, str(target.id)))
    form = form_of(asked)
    assert form.form == f"action.done:{target.id}"

    refused = await run(demo_store, FormSubmit(TOMAS, HERE, form.form, {"evidence": "  "}))
    assert "evidence" in text(refused).lower()
    assert (await demo_store.action(target.id)).status == target.status

    done = await run(demo_store, FormSubmit(TOMAS, HERE, form.form, {"evidence": "SOP 2026/4"}))
    assert done.replace and "Done." in text(done)
    assert (await demo_store.action(target.id)).status == ActionStatus.DONE
    remaining = [int(b.value) for b in buttons(done, ActionButton.DONE)]
    assert target.id not in remaining and len(remaining) == len(actions) - 1


async def test_closing_the_last_action_applies_a_validated_lesson(demo_store: Store) -> None:
    me = await person(demo_store, TOMAS)
    for action in await demo_store.actions_of(me):
        lesson = await demo_store.lesson(action.lesson_id)
        others = [a for a in lesson.actions if a.id != action.id and not a.status.is_closed]
        if lesson.status == LessonStatus.VALIDATED and not others:
            break
    else:
        pytest.skip("the demo corpus has no validated lesson with one open action of Tomás")
    await run(
        demo_store,
        FormSubmit(TOMAS, HERE, f"action.done:{action.id}", {"evidence": "new SOP issued"}),
    )
    assert (await demo_store.lesson(action.lesson_id)).status == LessonStatus.APPLIED


async def test_snooze_moves_the_due_date_a_week_from_today_or_due(demo_store: Store) -> None:
    action = (await demo_store.actions_of(await person(demo_store, TOMAS)))[0]
    reply = await run(demo_store, ButtonPress(TOMAS, HERE, ActionButton.SNOOZE, str(action.id)))

    start = max(action.due_date or demo_store.today(), demo_store.today())
    after = await demo_store.action(action.id)
    assert after.due_date == start + timedelta(days=7)
    assert reply.replace and f"now due {after.due_date.isoformat()}" in text(reply)
    assert "snoozed a week" in after.notes


@pytest.mark.parametrize(
    ("due", "says"),
    [
        ("next Thursday-ish", "couldn't read"),
        ("2020-01-01", "in the past"),
        ("", "couldn't read"),
    ],
)
async def test_a_bad_new_due_date_is_refused_and_nothing_changes(
    demo_store: Store, due: str, says: str
) -> None:
    action = (await demo_store.actions_of(await person(demo_store, TOMAS)))[0]
    reply = await run(demo_store, FormSubmit(TOMAS, HERE, f"action.due:{action.id}", {"due": due}))
    assert reply.private and says in text(reply)
    assert (await demo_store.action(action.id)).due_date == action.due_date


async def test_a_new_due_date_is_kept_with_why(demo_store: Store) -> None:
    action = (await demo_store.actions_of(await person(demo_store, TOMAS)))[0]
    due = demo_store.today() + timedelta(days=30)
    values = {"due": due.isoformat(), "why": "waiting for the budget"}
    await run(demo_store, FormSubmit(TOMAS, HERE, f"action.due:{action.id}", values))
    after = await demo_store.action(action.id)
    assert after.due_date == due and "waiting for the budget" in after.notes


async def test_blocked_needs_a_reason(demo_store: Store) -> None:
    action = (await demo_store.actions_of(await person(demo_store, TOMAS)))[0]
    form = f"action.blocked:{action.id}"
    refused = await run(demo_store, FormSubmit(TOMAS, HERE, form, {"reason": ""}))
    assert refused.private and text(refused).startswith("⚠️")
    await run(demo_store, FormSubmit(TOMAS, HERE, form, {"reason": "no helicopter until May"}))
    assert (await demo_store.action(action.id)).status == ActionStatus.BLOCKED


async def test_hand_over_tells_the_new_owner_and_moves_the_action(demo_store: Store) -> None:
    inbox = Inbox()
    action = (await demo_store.actions_of(await person(demo_store, TOMAS)))[0]
    form = f"action.handover:{action.id}"

    unknown = await run(demo_store, FormSubmit(TOMAS, HERE, form, {"email": "x@y.z"}), inbox)
    assert "could not find “x@y.z”" in text(unknown)
    me = await run(demo_store, FormSubmit(TOMAS, HERE, form, {"email": TOMAS.user_id}), inbox)
    assert "That is you" in text(me)
    assert inbox.sent == []

    values = {"email": AMINA.user_id.upper(), "why": "you run the elections desk now"}
    await run(demo_store, FormSubmit(TOMAS, HERE, form, values), inbox)
    after = await demo_store.action(action.id)
    assert after.owner_id == await person(demo_store, AMINA)
    ((to, card),) = inbox.sent
    assert (to.platform, to.user_id) == ("local", AMINA.user_id)
    assert "Tomás Herrera handed an action over to you" in text(card)
    assert buttons(card, ActionButton.DONE)[0].value == str(action.id)


async def test_hand_over_by_name_shows_the_note_and_names_the_person(demo_store: Store) -> None:
    inbox = Inbox()
    action = (await demo_store.actions_of(await person(demo_store, TOMAS)))[0]
    form = f"action.handover:{action.id}"

    near = await run(demo_store, FormSubmit(TOMAS, HERE, form, {"email": "Amena Dialo"}), inbox)
    assert "Did you mean Amina Diallo" in text(near) and inbox.sent == []

    values = {"email": "@Amina Diallo", "why": "you run the elections desk now"}
    reply = await run(demo_store, FormSubmit(TOMAS, HERE, form, values), inbox)
    assert "Handed over to Amina Diallo." in text(reply)
    assert AMINA.user_id not in text(reply)
    ((_, card),) = inbox.sent
    assert "Their note: “you run the elections desk now”" in text(card)


async def test_only_the_owner_can_act_on_an_action(demo_store: Store) -> None:
    action = (await demo_store.actions_of(await person(demo_store, TOMAS)))[0]
    for incoming in (
        ButtonPress(AMINA, HERE, ActionButton.SNOOZE, str(action.id)),
        FormSubmit(AMINA, HERE, f"action.done:{action.id}", {"evidence": "not mine"}),
    ):
        reply = await run(demo_store, incoming)
        assert reply.private and "Only the action's owner (Tomás Herrera)" in text(reply)
    assert await demo_store.action(action.id) == action


@pytest.mark.parametrize("value", ["", "abc", "99999999", "-3"])
async def test_stale_or_forged_action_buttons_get_a_friendly_answer(
    demo_store: Store, value: str
) -> None:
    reply = await run(demo_store, ButtonPress(TOMAS, HERE, ActionButton.SNOOZE, value))
    assert reply.private and text(reply).startswith("⚠️")


async def test_actions_proposed_to_me_are_listed_and_accepted_without_losing_the_list(
    demo_store: Store,
) -> None:
    """A proposal whose card never reached its owner (or is far up the chat) waits in
    `actions`; accepting one there keeps the list, with the others still to accept."""
    tomas = await person(demo_store, TOMAS)
    farida = await person(demo_store, UserRef("local", "farida.rahimi@un.example"))  # PBPO
    with demo_store.session() as s:
        lesson = s.scalars(
            select(Lesson.id)
            .join(Product, Product.id == Lesson.product_id)
            .where(Lesson.status == LessonStatus.VALIDATED, Product.mission == "MINUSCA")
            .order_by(Lesson.id)
        ).first()
    assert lesson is not None
    due = demo_store.today() + timedelta(days=20)
    for description in ("Stock three nights of fuel", "Brief the drivers"):
        await LessonActions(demo_store).propose(
            lesson, actor_id=farida, description=description, owner_id=tomas, due=due
        )
    listing = await run(demo_store, Message(TOMAS, HERE, "actions"))
    assert "Actions proposed to you* (2)" in text(listing)
    accepts = buttons(listing, ActionButton.ACCEPT)
    assert len(accepts) == 2

    stranger = await dispatch(
        ButtonPress(AMINA, HERE, ActionButton.ACCEPT, accepts[0].value), Deps(demo_store)
    )
    assert stranger is not None and "Brief the drivers" not in text(stranger)
    assert "Actions proposed to you* (2)" in text(
        await run(demo_store, Message(TOMAS, HERE, "actions"))
    )

    pressed = await run(demo_store, ButtonPress(TOMAS, HERE, ActionButton.ACCEPT, accepts[0].value))
    assert pressed.replace and "Accepted: *Stock three nights of fuel*" in text(pressed)
    assert "Actions proposed to you* (1)" in text(pressed)  # the other one is still there
    assert "Brief the drivers" in text(pressed) and len(buttons(pressed, ActionButton.ACCEPT)) == 1
    assert "Your open actions" in text(pressed)
