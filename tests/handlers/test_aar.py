"""After-Action Reviews through the router: start, answers, controls, closing, proposed actions."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from handlers import router
from handlers.chat import (
    Button,
    ButtonPress,
    Command,
    ConversationRef,
    Deletion,
    Edit,
    Form,
    FormSubmit,
    Message,
    Reply,
    Text,
    UserRef,
)
from handlers.deps import Deps, HandlerSettings
from handlers.reviews.aar_start import thread_review
from handlers.reviews.cards import AarButton, AarForm
from handlers.reviews.conversation import control_word
from handlers.router import dispatch
from knowledge.models import (
    Action,
    ActionStatus,
    Person,
    Product,
    ProposalStatus,
    ProposedAction,
    Review,
    ReviewAnswer,
    ReviewContributor,
    ReviewParticipant,
    ReviewStatus,
    Role,
)
from knowledge.reviews import Control
from knowledge.storage import Store

AMINA = UserRef("local", "amina.diallo@un.example", "Amina Diallo")  # manager: Ngozi Okafor
TOMAS = UserRef("local", "tomas.herrera@un.example", "Tomás Herrera")
PRIYA = UserRef("local", "priya.raman@un.example", "Priya Raman")
GUEST = UserRef("local", "visitor@example.org", "Visitor")
CHANNEL = ConversationRef("local", "elections", channel_name="elections")
OTHER_CHANNEL = ConversationRef("local", "logistics", channel_name="logistics")
_ids = itertools.count(1)


class FakeNotifier:
    """The platform side of proactive messages: records what would have been sent."""

    platform = "local"

    def __init__(self) -> None:
        self.sent: list[tuple[UserRef, Reply]] = []
        self.posted: list[tuple[ConversationRef, Reply]] = []

    async def send(self, to: UserRef, reply: Reply) -> None:
        """Record a direct message."""
        self.sent.append((to, reply))

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        """Record a post in a channel or thread."""
        self.posted.append((where, reply))

    def to(self, email: str) -> list[Reply]:
        """Return what was sent to one person."""
        return [reply for who, reply in self.sent if who.user_id == email]


@pytest.fixture
def notifier() -> FakeNotifier:
    return FakeNotifier()


@pytest.fixture
def deps(demo_store: Store, notifier: FakeNotifier) -> Deps:
    return Deps(store=demo_store, notifier=notifier)


def text_of(reply: Reply | None) -> str:
    assert reply is not None
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


def form_in(reply: Reply | None) -> Form:
    assert reply is not None
    [form] = [e for e in reply.elements if isinstance(e, Form)]
    return form


def buttons(reply: Reply | None) -> dict[str, Button]:
    assert reply is not None
    return {e.action: e for e in reply.elements if isinstance(e, Button)}


async def start(
    deps: Deps, event: str = "Election day", where: ConversationRef = CHANNEL
) -> tuple[ConversationRef, Reply]:
    """Start a review in a channel and post its opening, as an adapter does."""
    reply = await dispatch(Command(AMINA, where, "aar", f"start {event}"), deps)
    assert reply is not None and reply.anchor is not None, reply
    thread = ConversationRef(where.platform, where.channel_id, f"m{next(_ids)}", where.channel_name)
    await router.posted(reply.anchor, thread, deps)
    return thread, reply


async def say(
    deps: Deps, who: UserRef, thread: ConversationRef, text: str, message_id: str | None = None
) -> Reply | None:
    message_id = message_id or f"m{next(_ids)}"
    return await dispatch(Message(who, thread, text, direct=False, message_id=message_id), deps)


async def press(
    deps: Deps, who: UserRef, where: ConversationRef, reply: Reply | None, action: str
) -> Reply | None:
    return await dispatch(ButtonPress(who, where, action, buttons(reply)[action].value), deps)


def review_row(store: Store) -> Review:
    with store.session() as s:
        found = s.scalars(select(Review).order_by(Review.id.desc())).first()
        assert found is not None
        return found


def answers(store: Store) -> list[ReviewAnswer]:
    with store.session() as s:
        return list(s.scalars(select(ReviewAnswer).order_by(ReviewAnswer.id)))


async def test_a_review_runs_from_start_to_accepted_actions(
    deps: Deps, notifier: FakeNotifier
) -> None:
    store = deps.store
    thread, opening = await start(deps)

    rules = text_of(opening)
    assert opening.in_thread is False and opening.anchor == f"aar:{review_row(store).id}"
    for words in ("Election day", "Blameless", "Honest reflection", "anonymously", "`next`"):
        assert words in rules
    assert "*Question 1 of 5:* What was supposed to happen?" in rules
    assert review_row(store).thread_id == thread.thread_id
    assert await thread_review(thread, deps) is not None

    assert await say(deps, TOMAS, thread, "Polling stations open at 7 with full kits.") is None
    question = await say(deps, AMINA, thread, "next")
    assert "Question 2 of 5" in text_of(question)
    await say(deps, PRIYA, thread, "Twelve stations opened late because radios failed.")
    question = await press(deps, AMINA, thread, question, AarButton.NEXT)
    assert question is not None and question.retire is not None  # the pressed card retires
    retired = Reply(question.retire)
    assert not buttons(retired)  # no button left that could only say "moved on already"
    assert "Question 2 of 5" in text_of(retired) and "Moved on by Amina Diallo" in text_of(retired)
    assert "Question 3 of 5" in text_of(question)
    await say(deps, TOMAS, thread, "Observers were briefed the day before and knew the routes.")
    question = await say(deps, AMINA, thread, "Next!")
    await say(deps, PRIYA, thread, "Test every radio with the polling staff a week ahead.")
    question = await say(deps, AMINA, thread, "next")
    assert "Question 5 of 5" in text_of(question)
    assert AarButton.NEXT not in buttons(question)
    await say(
        deps,
        AMINA,
        thread,
        "tomas.herrera@un.example to run a radio check with every polling team within 2 weeks.\n"
        "Someone should stock spare batteries in each sector.",
    )

    summary = await say(deps, AMINA, thread, "close")

    text = text_of(summary)
    assert "After-Action Review closed: Election day" in text
    assert "3 participants · 5 answers" in text
    assert "*1. What was supposed to happen?*" in text
    assert "Twelve stations opened late because radios failed. — _Priya Raman_" in text
    assert "Saved in the lessons index as *AAR: Election day*" in text
    assert "I asked Ngozi Okafor to validate it." in text
    assert "run a radio check with every polling team within 2 weeks." in text
    assert "→ Tomás Herrera, due 2026-12-09 (card sent)" in text
    assert "Someone should stock spare batteries in each sector. — no owner named" in text
    assert AarButton.COMPLETE in buttons(summary)
    assert review_row(store).status == ReviewStatus.CLOSED
    assert await thread_review(ConversationRef("local", "elections", "elsewhere"), deps) is None

    found = await store.ask(
        "what did we learn about election day radios", viewer=await store.viewer_for(None)
    )
    assert found.hits[0].external_id == f"review:{review_row(store).id}"
    assert found.hits[0].status.value == "identified"
    assert "Validation requested" in text_of(notifier.to("ngozi.okafor@un.example")[0])

    [card] = notifier.to("tomas.herrera@un.example")
    assert "radio check" in text_of(card)
    assert set(buttons(card)) == {
        AarButton.ACCEPT,
        AarButton.REASSIGN,
        AarButton.REDATE,
        AarButton.DECLINE,
    }
    dm = ConversationRef("local", "dm-tomas")
    accepted = await press(deps, TOMAS, dm, card, AarButton.ACCEPT)

    assert "Accepted" in text_of(accepted) and accepted is not None and accepted.private
    assert ".*, due" not in text_of(accepted) and "weeks*, due 2026-12-09." in text_of(accepted)
    with store.session() as s:
        [action] = s.scalars(select(Action).where(Action.description.contains("radio check")))
        assert action.status == ActionStatus.OPEN
        assert action.due_date == date(2026, 12, 9)
        assert action.owner is not None and action.owner.email == "tomas.herrera@un.example"
        assert action.lesson.product.external_id == f"review:{review_row(store).id}"
        assert action.lesson.status.value == "identified"
    again = await press(deps, TOMAS, dm, card, AarButton.ACCEPT)
    assert "accepted already" in text_of(again)


async def test_only_the_facilitator_controls_the_review(deps: Deps) -> None:
    thread, opening = await start(deps)

    by_button = await press(deps, TOMAS, thread, opening, AarButton.NEXT)
    by_word = await say(deps, TOMAS, thread, "next")
    closing = await press(deps, PRIYA, thread, opening, AarButton.CLOSE)

    assert by_button is not None and by_button.private
    assert "Only the facilitator (Amina Diallo) can move the review on." in text_of(by_button)
    assert by_word is not None and by_word.private
    assert "Only the facilitator (Amina Diallo)" in text_of(by_word)
    assert "not added as an answer" in text_of(by_word)
    assert "Only the facilitator (Amina Diallo) can close the review." in text_of(closing)
    assert review_row(deps.store).step == 0
    assert review_row(deps.store).status == ReviewStatus.RUNNING
    assert answers(deps.store) == []


async def test_a_control_word_inside_an_answer_is_an_answer(deps: Deps) -> None:
    thread, _ = await start(deps)

    reply = await say(
        deps, AMINA, thread, "We should close the polling stations earlier next time."
    )
    assert reply is None
    assert [a.text for a in answers(deps.store)] == [
        "We should close the polling stations earlier next time."
    ]
    assert review_row(deps.store).step == 0
    assert "Question 2" in text_of(await say(deps, AMINA, thread, "  NEXT. "))
    assert "paused" in text_of(await say(deps, AMINA, thread, "aar pause"))
    assert "Question 2" in text_of(await dispatch(Command(AMINA, thread, "aar", "resume"), deps))
    assert len(answers(deps.store)) == 1


@pytest.mark.parametrize(
    ("said", "control"),
    [("next", Control.NEXT), ("Pause!", Control.PAUSE), (" close… ", Control.CLOSE)],
)
def test_whole_message_control_words(said: str, control: Control) -> None:
    assert control_word(said) == control
    assert control_word(f"{said} the review later") is None


async def test_an_anonymous_answer_keeps_no_name(deps: Deps, notifier: FakeNotifier) -> None:
    thread, opening = await start(deps)
    secret = "Nobody checked the radios because the checklist was never handed over."

    shown = await press(deps, TOMAS, thread, opening, AarButton.ANONYMOUS)
    assert shown is not None and shown.private
    form = form_in(shown)
    review_id = review_row(deps.store).id
    assert form.form.startswith(f"{AarForm.ANONYMOUS}:{review_id}:0:")
    # The form is sealed for Tomás: written by hand, or sent by anyone else, it adds nothing.
    for forged in (
        FormSubmit(TOMAS, thread, f"{AarForm.ANONYMOUS}:{review_id}:0", {"answer": secret}),
        FormSubmit(PRIYA, thread, form.form, {"answer": secret}),
    ):
        refused = await dispatch(forged, deps)
        assert refused is not None and text_of(refused).startswith("⚠️")
    assert answers(deps.store) == []
    saved = await dispatch(FormSubmit(TOMAS, thread, form.form, {"answer": secret}), deps)

    assert saved is not None and saved.private and "Saved anonymously" in text_of(saved)
    [answer] = answers(deps.store)
    assert (answer.text, answer.person_id, answer.anonymous) == (secret, None, True)
    with deps.store.session() as s:
        contributors = s.scalars(select(ReviewContributor.person_id)).all()
        assert len(contributors) == 1
    [(where, post)] = notifier.posted
    assert where.thread_id == thread.thread_id
    assert secret in text_of(post) and "Tomás" not in text_of(post)
    assert f"“{secret}”" in text_of(post) and "> " not in text_of(post)  # no literal quote mark

    summary = await say(deps, AMINA, thread, "close")

    assert f"{secret} — _anonymous_" in text_of(summary)
    assert "Tomás" not in text_of(summary)
    assert "1 participant · 1 answer" in text_of(summary)
    with deps.store.session() as s:
        product = s.scalars(select(Product).where(Product.external_id.like("review:%"))).one()
        assert secret in product.body and "Tomás" not in product.body


async def test_edits_and_deletions_change_the_stored_answer(deps: Deps) -> None:
    thread, _ = await start(deps)
    await say(deps, TOMAS, thread, "Stations opened late.", message_id="a1")
    await say(deps, PRIYA, thread, "👍", message_id="a2")

    assert (
        await dispatch(Edit(TOMAS, thread, "a1", "Stations opened two hours late."), deps) is None
    )
    assert [a.text for a in answers(deps.store)] == ["Stations opened two hours late."]

    assert await dispatch(Edit(PRIYA, thread, "a2", "👍 Same in Bangui."), deps) is None
    assert [a.text for a in answers(deps.store)][-1] == "👍 Same in Bangui."

    assert await dispatch(Deletion(TOMAS, thread, "a1"), deps) is None
    assert [a.message_id for a in answers(deps.store)] == ["a2"]

    gone = await dispatch(Edit(PRIYA, thread, "a2", "🎉"), deps)
    assert "took it out of the review" in text_of(gone)
    assert answers(deps.store) == []
    assert await dispatch(Deletion(TOMAS, CHANNEL, "unrelated"), deps) is None


async def test_back_skip_pause_resume_and_cancel(deps: Deps) -> None:
    thread, opening = await start(deps)

    first = await say(deps, AMINA, thread, "back")
    assert "This is the first question already." in text_of(first)
    skipped = await press(deps, AMINA, thread, opening, AarButton.SKIP)
    assert "Question 2 of 5" in text_of(skipped)
    stale = await press(deps, AMINA, thread, opening, AarButton.NEXT)
    assert "moved on" in text_of(stale) and review_row(deps.store).step == 1
    back = await press(deps, AMINA, thread, skipped, AarButton.BACK)
    assert "Question 1 of 5" in text_of(back)

    paused = await say(deps, AMINA, thread, "pause")
    assert "paused" in text_of(paused) and AarButton.RESUME in buttons(paused)
    note = await say(deps, TOMAS, thread, "Kits arrived the night before.")
    assert "paused, but your answer was saved to question 1" in text_of(note)
    assert "Say `resume` first" in text_of(await say(deps, AMINA, thread, "next"))
    resumed = await press(deps, AMINA, thread, paused, AarButton.RESUME)
    assert "We carry on" in text_of(resumed) and "Question 1 of 5" in text_of(resumed)

    cancelled = await say(deps, AMINA, thread, "cancel")

    assert "cancelled" in text_of(cancelled)
    row = review_row(deps.store)
    assert row.status == ReviewStatus.CANCELLED and row.product_id is None
    assert [a.text for a in answers(deps.store)] == ["Kits arrived the night before."]
    late = await say(deps, TOMAS, thread, "One more thing about the kits.")
    assert late is not None and late.private and "was cancelled" in text_of(late)
    assert len(answers(deps.store)) == 1


async def test_a_restart_loses_nothing(demo_store: Store) -> None:
    store = demo_store
    thread, _ = await start(Deps(store=store))
    await say(Deps(store=store), TOMAS, thread, "Kits arrived at 6.")
    await say(Deps(store=store), AMINA, thread, "next")
    url = store.engine.url.render_as_string(hide_password=False)
    store.close()  # the old process goes away: only the database remains

    restarted = Store.open(url, clock=store.clock)
    try:
        deps = Deps(store=restarted, notifier=FakeNotifier())
        assert await thread_review(thread, deps) is not None
        await say(deps, PRIYA, thread, "Radios failed in two sectors.")
        summary = await say(deps, AMINA, thread, "close")
    finally:
        restarted.close()

    text = text_of(summary)
    assert "Kits arrived at 6. — _Tomás Herrera_" in text
    assert "*2. What actually happened?*\n• Radios failed in two sectors." in text


async def test_unclear_recommendations_stay_drafts_for_the_facilitator(
    deps: Deps, notifier: FakeNotifier
) -> None:
    thread, _ = await start(deps)
    for _ in range(4):
        await say(deps, AMINA, thread, "next")
    await say(
        deps,
        TOMAS,
        thread,
        "- @Bob Marley to repair the generators by 20 Dec\n"
        "- @Priya Raman to write the radio procedure by 15 Jan 2020",
    )

    summary = await say(deps, AMINA, thread, "close")

    text = text_of(summary)
    assert "For Amina Diallo to complete" in text
    assert "@Bob Marley is not in the directory" in text
    assert "the due date 2020-01-15 is in the past" in text
    assert notifier.to("priya.raman@un.example") == []
    with deps.store.session() as s:
        drafts = s.scalars(select(ProposedAction).order_by(ProposedAction.id)).all()
        assert [p.status for p in drafts] == [ProposalStatus.DRAFT, ProposalStatus.DRAFT]
        assert drafts[0].owner_hint == "@Bob Marley" and drafts[0].owner_id is None

    assert summary is not None
    [complete, _] = [b for b in summary.elements if isinstance(b, Button)]
    refused = await dispatch(ButtonPress(TOMAS, thread, complete.action, complete.value), deps)
    assert "Only the facilitator (Amina Diallo)" in text_of(refused)
    shown = await dispatch(ButtonPress(AMINA, thread, complete.action, complete.value), deps)
    form = form_in(shown)
    past = {"owner": "Priya Raman", "due": "2020-01-01", "description": ""}
    assert "in the past" in text_of(
        await dispatch(FormSubmit(AMINA, thread, form.form, past), deps)
    )
    values = {"owner": "priya.raman@un.example", "due": "in 3 weeks", "description": ""}
    done = await dispatch(FormSubmit(AMINA, thread, form.form, values), deps)

    assert "now goes to Priya Raman, due 2026-12-16" in text_of(done)
    [card] = notifier.to("priya.raman@un.example")
    assert "repair the generators" in text_of(card)


async def test_owners_decline_propose_dates_and_reassign(
    deps: Deps, notifier: FakeNotifier
) -> None:
    thread, _ = await start(deps)
    for _ in range(4):
        await say(deps, AMINA, thread, "next")
    await say(deps, AMINA, thread, "@Tomás Herrera to train the polling staff by 20 Dec.")
    await say(deps, AMINA, thread, "@Priya to print the new checklist by end of next month.")
    await say(deps, AMINA, thread, "close")
    [tomas_card] = notifier.to("tomas.herrera@un.example")
    [priya_card] = notifier.to("priya.raman@un.example")
    dm = ConversationRef("local", "dm")

    wrong = await press(deps, PRIYA, dm, tomas_card, AarButton.DECLINE)
    assert "Only Tomás Herrera can do that for this action." in text_of(wrong)
    shown = await press(deps, TOMAS, dm, tomas_card, AarButton.DECLINE)
    form = form_in(shown)
    declined = await dispatch(FormSubmit(TOMAS, dm, form.form, {"reason": "I rotate out."}), deps)
    assert "Declined" in text_of(declined)
    assert "declined it: I rotate out." in text_of(notifier.to("amina.diallo@un.example")[-1])

    shown = await press(deps, PRIYA, dm, priya_card, AarButton.REDATE)
    form = form_in(shown)
    redated = await dispatch(FormSubmit(PRIYA, dm, form.form, {"due": "15 Jan"}), deps)
    assert "you propose 2027-01-15" in text_of(redated) and AarButton.ACCEPT in buttons(redated)
    assert "proposes 2027-01-15" in text_of(notifier.to("amina.diallo@un.example")[-1])

    shown = await press(deps, PRIYA, dm, priya_card, AarButton.REASSIGN)
    form = form_in(shown)
    values = {"owner": "@Nyibol Deng", "due": "2027-01-15", "description": ""}
    moved = await dispatch(FormSubmit(PRIYA, dm, form.form, values), deps)
    assert "now goes to Nyibol Deng" in text_of(moved)
    [nyibol_card] = notifier.to("nyibol.deng@un.example")
    assert "print the new checklist" in text_of(nyibol_card)
    with deps.store.session() as s:
        statuses = s.scalars(select(ProposedAction.status).order_by(ProposedAction.id)).all()
    assert statuses == [ProposalStatus.DECLINED, ProposalStatus.PROPOSED]


async def test_long_empty_and_emoji_answers(deps: Deps) -> None:
    thread, _ = await start(deps)
    long = ("The radios failed because nobody tested them. " * 90)[:4000]

    assert await say(deps, TOMAS, thread, long) is None
    huge = await say(deps, PRIYA, thread, "x" * 12_000)
    emoji = await say(deps, TOMAS, thread, "👍🎉")
    empty = await say(deps, TOMAS, thread, "   ")
    short = await say(deps, PRIYA, thread, "Chaos.")

    assert "kept the first 10,000" in text_of(huge)
    assert "was not added" in text_of(emoji)
    assert "no text" in text_of(empty)
    assert "A sentence on *why*" in text_of(short)
    assert [len(a.text) for a in answers(deps.store)] == [4000, 10_000, 6]
    for i in range(9):
        await say(deps, TOMAS, thread, f"Point {i}: " + "the queue was long " * 30)
    summary = await say(deps, AMINA, thread, "close")
    assert summary is not None
    texts = [e.markdown for e in summary.elements if isinstance(e, Text)]
    assert max(len(t) for t in texts) <= 3000
    assert "…and 4 more in the saved record." in text_of(summary)
    assert long[:250] in text_of(summary) and long not in text_of(summary)  # shown trimmed
    with deps.store.session() as s:
        body = s.scalars(select(Product.body).where(Product.external_id.like("review:%"))).one()
        assert long in body  # saved whole


async def test_one_active_review_per_thread_and_many_in_parallel(deps: Deps) -> None:
    thread, _ = await start(deps)
    inside = await dispatch(Command(AMINA, thread, "aar", "start Another event"), deps)
    assert "still running in this thread" in text_of(inside)

    other, _ = await start(deps, "Fuel convoy", OTHER_CHANNEL)
    in_a_thread = ConversationRef("local", "logistics", "t-existing", "logistics")
    direct = await dispatch(Command(AMINA, in_a_thread, "aar", "start Night patrol"), deps)
    assert direct is not None and direct.anchor is None and direct.in_thread
    assert "Night patrol" in text_of(direct)

    await say(deps, TOMAS, thread, "Election answer.")
    await say(deps, TOMAS, other, "Convoy answer.")
    await say(deps, TOMAS, in_a_thread, "Patrol answer.")
    with deps.store.session() as s:
        rows = s.execute(
            select(Review.event, ReviewAnswer.text).join(ReviewAnswer).order_by(ReviewAnswer.id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("Election day", "Election answer."),
        ("Fuel convoy", "Convoy answer."),
        ("Night patrol", "Patrol answer."),
    ]


async def test_people_outside_the_directory(deps: Deps) -> None:
    refused = await dispatch(Command(GUEST, CHANNEL, "aar", "start Election day"), deps)
    assert "could not find you in the staff directory" in text_of(refused)
    thread, _ = await start(deps)

    first = await say(deps, GUEST, thread, "The queue was long at station 4.")
    second = await say(deps, GUEST, thread, "And nobody explained why.")
    summary = await say(deps, AMINA, thread, "close")

    assert "*a guest*" in text_of(first) and second is None
    assert [a.person_id for a in answers(deps.store)] == [None, None]
    assert "The queue was long at station 4. — _a guest_" in text_of(summary)
    assert "0 participants · 2 answers (2 from people not in the staff directory)" in text_of(
        summary
    )


async def test_messages_after_close_are_not_added(deps: Deps) -> None:
    thread, opening = await start(deps)
    await say(deps, TOMAS, thread, "All good.")
    await say(deps, AMINA, thread, "close")

    late = await say(deps, TOMAS, thread, "One more thing.")
    edit = await dispatch(Edit(TOMAS, thread, answers(deps.store)[0].message_id or "", "No."), deps)
    pressed = await press(deps, AMINA, thread, opening, AarButton.NEXT)

    assert late is not None and late.private and "was closed" in text_of(late)
    assert "keeps your message as it was" in text_of(edit)
    assert "closed already" in text_of(pressed)
    assert [a.text for a in answers(deps.store)] == ["All good."]
    again = await say(deps, AMINA, thread, "aar start Election day, second round")
    assert (
        "*Question 1 of 5:*" in text_of(again)
        and review_row(deps.store).thread_id == thread.thread_id
    )


async def test_schedule_posts_what_we_learned_last_time(deps: Deps) -> None:
    reply = await dispatch(
        Command(AMINA, CHANNEL, "aar", "schedule Election security briefing tomorrow 17:00"),
        deps,
    )

    text = text_of(reply)
    assert "After-Action Review scheduled: Election security briefing" in text
    assert "Thu 26 Nov 2026 17:00 (Africa/Bangui)" in text
    assert "Before you start: what we learned last time" in text
    assert text.count("\n• ") + text.startswith("• ") <= 3 and "• *" in text
    row = review_row(deps.store)
    assert row.status == ReviewStatus.SCHEDULED and row.event == "Election security briefing"
    assert row.starts_at == datetime(2026, 11, 26, 18, 0, tzinfo=UTC)  # 17:00 WAT + 2 hours
    assert await thread_review(CHANNEL, deps) is None

    past = await dispatch(Command(AMINA, CHANNEL, "aar", "schedule Vote 2020-01-01 10:00"), deps)
    assert "already past" in text_of(past) and "/aar start" in text_of(past)
    vague = await dispatch(Command(AMINA, CHANNEL, "aar", "schedule Vote sometime"), deps)
    assert "Give the event and when it ends" in text_of(vague)


async def test_a_repeat_finding_is_named_in_the_summary(deps: Deps) -> None:
    thread, _ = await start(deps, "JMAC reporting")
    for _ in range(3):
        await say(deps, AMINA, thread, "next")
    await say(
        deps,
        PRIYA,
        thread,
        "Analysis needs formats for each user: a one-page weekly threat note serves field "
        "offices and battalions better than a longer report.",
    )

    summary = await say(deps, AMINA, thread, "close")

    text = text_of(summary)
    assert "*Seen before*" in text
    assert "this resembles 'Lessons Learned Study: Information flows between JMAC" in text
    assert "(Lessons Learned Study, 2022) — validated before;" in text
    assert "still open" in text


async def test_the_facilitator_can_hand_over(deps: Deps) -> None:
    thread, _ = await start(deps)
    refused = await dispatch(Command(TOMAS, thread, "aar", "facilitator @Priya Raman"), deps)
    assert "Only the facilitator (Amina Diallo) can hand the review over." in text_of(refused)

    handed = await dispatch(Command(AMINA, thread, "aar", "facilitator @Tomás Herrera"), deps)

    assert "Tomás Herrera is now the facilitator" in text_of(handed)
    assert "Only the facilitator (Tomás Herrera)" in text_of(await say(deps, AMINA, thread, "next"))
    assert "Question 2" in text_of(await say(deps, TOMAS, thread, "next"))
    nobody = await dispatch(Command(TOMAS, thread, "aar", "facilitator @Bob Marley"), deps)
    assert "could not find “@Bob Marley”" in text_of(nobody)


async def test_a_question_set_from_a_file(
    deps: Deps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "questions.toml"
    path.write_text(
        '[[question]]\nkind = "actual"\ntext = "What happened on the day?"\n'
        '[[question]]\ntext = "Anything else?"\n',
        encoding="utf-8",
    )
    deps = replace(deps, settings=HandlerSettings(aar_questions=path))
    thread, opening = await start(deps)
    path.write_text('[[question]]\ntext = "Changed later"\n', encoding="utf-8")

    assert "*Question 1 of 2:* What happened on the day?" in text_of(opening)
    assert "Question 2 of 2:* Anything else?" in text_of(await say(deps, AMINA, thread, "next"))
    assert "last question" in text_of(await say(deps, AMINA, thread, "next"))

    path.write_text('[[question]]\nkind = "nonsense"\ntext = "?"\n', encoding="utf-8")
    broken = await dispatch(Command(AMINA, OTHER_CHANNEL, "aar", "start Convoy"), deps)
    assert "needs a text and a kind" in text_of(broken)


async def test_usage_and_unknown_words(deps: Deps) -> None:
    assert "/aar start <event>" in text_of(await dispatch(Command(AMINA, CHANNEL, "aar", ""), deps))
    unknown = await dispatch(Command(AMINA, CHANNEL, "aar", "strat Election day"), deps)
    assert "I don't know `/aar strat`" in text_of(unknown)
    nothing = await dispatch(Message(AMINA, CHANNEL, "aar start   "), deps)
    assert "Give the event a name" in text_of(nothing)
    typed = await dispatch(Message(AMINA, CHANNEL, "aar start Town hall"), deps)
    assert typed is not None and typed.anchor is not None


def test_dates_in_the_fixture_are_what_these_tests_expect(now: datetime) -> None:
    assert now.date().weekday() == 2  # a Wednesday: "tomorrow" is Thu 26 Nov
    assert now + timedelta(days=21) == datetime(2026, 12, 16, 12, tzinfo=UTC)


async def test_messages_from_bots_are_never_answers(deps: Deps) -> None:
    thread, _ = await start(deps)
    bot = UserRef("local", "lessons-bot", "Lessons Bot", bot=True)

    assert await say(deps, bot, thread, "*Question 1 of 5:* What was supposed to happen?") is None
    assert await dispatch(Edit(bot, thread, "b1", "next"), deps) is None
    assert await dispatch(Message(bot, thread, "close", direct=True), deps) is None

    assert answers(deps.store) == []
    assert review_row(deps.store).status == ReviewStatus.RUNNING


async def test_unknown_slack_users_join_the_directory_as_staff_and_are_credited(
    demo_store: Store,
) -> None:
    deps = Deps(store=demo_store, notifier=FakeNotifier())
    await demo_store.link_user("slack", "UAMINA", email="amina.diallo@un.example", name="Amina")
    # What the Slack adapter does for anyone it has not seen (users.info gives the email).
    new = await demo_store.link_user("slack", "UNEW", email="new.person@un.example", name="New P")
    channel = ConversationRef("slack", "C0ELECT", "1700000000.1", "elections")
    amina, newcomer = UserRef("slack", "UAMINA"), UserRef("slack", "UNEW")
    opening = await dispatch(Command(amina, channel, "aar", "start Polling day"), deps)
    assert "Polling day" in text_of(opening)

    assert await say(deps, newcomer, channel, "The queue at station 4 was two hours long.") is None
    summary = await say(deps, amina, channel, "close")

    assert "The queue at station 4 was two hours long. — _New P_" in text_of(summary)
    assert "1 participant · 1 answer" in text_of(summary)
    with demo_store.session() as s:
        person = s.get(Person, new)
        assert person is not None and [r.role for r in person.roles] == [Role.STAFF]


async def test_people_mentioned_at_the_start_are_not_part_of_the_event(deps: Deps) -> None:
    reply = await dispatch(
        Command(AMINA, CHANNEL, "aar", "start Election day with @Tomás Herrera, @Bob Marley"),
        deps,
    )

    assert "*After-Action Review: Election day*" in text_of(reply)
    row = review_row(deps.store)
    assert row.event == "Election day"
    with deps.store.session() as s:
        invited = s.scalars(select(ReviewParticipant.person_id)).all()
        tomas = await deps.store.person_for("local", "tomas.herrera@un.example")
        assert invited == [tomas]  # @Bob Marley is nobody the directory knows


async def test_an_at_sign_that_names_nobody_stays_in_the_event(deps: Deps) -> None:
    await dispatch(Command(AMINA, CHANNEL, "aar", "start Town hall @Bangui office"), deps)
    assert review_row(deps.store).event == "Town hall @Bangui office"


READS_REVIEWS = re.compile(r"^\s*SELECT\b.*\b(?:FROM|JOIN)\s+reviews\b", re.IGNORECASE | re.DOTALL)


async def test_an_answer_in_a_thread_looks_its_review_up_once(deps: Deps) -> None:
    """The check step finds the thread's review; the handle step and the store reuse it."""
    thread, _ = await start(deps)
    await say(deps, TOMAS, thread, "A first answer, so Tomás is a known contributor.")
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(deps.store.engine, "before_cursor_execute", record)
    try:
        reply = await say(deps, TOMAS, thread, "Polling stations opened at seven with full kits.")
    finally:
        event.remove(deps.store.engine, "before_cursor_execute", record)

    assert reply is None  # saved, nothing to say
    assert answers(deps.store)[-1].text == "Polling stations opened at seven with full kits."
    lookups = [s for s in statements if READS_REVIEWS.search(s)]
    assert len(lookups) == 1, lookups
    # The one write that claims the review still active is not a lookup: it reads nothing back.
    claims = [s for s in statements if s.lstrip().upper().startswith("UPDATE REVIEWS ")]
    assert len(claims) == 1, claims
