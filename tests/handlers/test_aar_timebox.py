"""The review clock: time-boxed questions, one reminder per quiet participant, scheduled starts."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from handlers import router
from handlers.chat import (
    Button,
    ButtonPress,
    Command,
    ConversationRef,
    Form,
    FormSubmit,
    Message,
    Reply,
    Text,
    UserRef,
)
from handlers.deps import Deps, HandlerSettings
from handlers.reviews.cards import AarButton, AarForm
from handlers.reviews.clock import Tock, TockKind, nudge_reply, tick
from handlers.reviews.config import question_set, question_time
from handlers.router import dispatch
from knowledge.models import Person, Review, ReviewParticipant, ReviewStatus
from knowledge.reviews import Reviews
from knowledge.reviews.clock import ReviewClock
from knowledge.storage import Store

AMINA = UserRef("local", "amina.diallo@un.example", "Amina Diallo")  # the facilitator
TOMAS = UserRef("local", "tomas.herrera@un.example", "Tomás Herrera")
PRIYA = UserRef("local", "priya.raman@un.example", "Priya Raman")
NYIBOL = UserRef("local", "nyibol.deng@un.example", "Nyibol Deng")
RAFAEL = UserRef("local", "rafael.souza@un.example", "Rafael Souza")
CHANNEL = ConversationRef("local", "elections", channel_name="elections")
BOX = timedelta(minutes=30)
_ids = itertools.count(1)


class Notifier:
    """The platform side: records deliveries and reports where anchored posts land."""

    platform = "local"

    def __init__(self, store: Store, *, failures: int = 0) -> None:
        self.store = store
        self.failures = failures  # the next posts that fail, as a platform outage would
        self.sent: list[tuple[UserRef, Reply]] = []
        self.posted: list[tuple[ConversationRef, Reply]] = []

    async def send(self, to: UserRef, reply: Reply) -> None:
        """Record a direct message."""
        self.sent.append((to, reply))

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        """Record a post; an anchored one starts a thread, as the adapters report."""
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the platform is down")
        self.posted.append((where, reply))
        if reply.anchor is None:
            return where
        landed = ConversationRef(where.platform, where.channel_id, f"t{next(_ids)}")
        await router.posted(reply.anchor, landed, Deps(store=self.store, notifier=self))
        return landed

    async def lookup(self, email: str) -> str | None:
        """On the local chat a person is their email."""
        return email

    def to(self, email: str) -> list[Reply]:
        """Return what was sent to one person."""
        return [reply for who, reply in self.sent if who.user_id == email]


@pytest.fixture
def deps(demo_store: Store) -> Deps:
    return Deps(store=demo_store, notifier=Notifier(demo_store))


def notifier_of(deps: Deps) -> Notifier:
    assert isinstance(deps.notifier, Notifier)
    return deps.notifier


def text_of(reply: Reply | None) -> str:
    assert reply is not None
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


def buttons(reply: Reply | None) -> dict[str, Button]:
    assert reply is not None
    return {e.action: e for e in reply.elements if isinstance(e, Button)}


async def start(deps: Deps, text: str = "Election day") -> ConversationRef:
    """Start a review in the channel and learn its thread, as an adapter does."""
    reply = await dispatch(Command(AMINA, CHANNEL, "aar", f"start {text}"), deps)
    assert reply is not None and reply.anchor is not None, reply
    landed = await notifier_of(deps).post(CHANNEL, reply)
    assert landed is not None
    return ConversationRef("local", CHANNEL.channel_id, landed.thread_id, "elections")


async def say(deps: Deps, who: UserRef, thread: ConversationRef, text: str) -> Reply | None:
    message = Message(who, thread, text, direct=False, message_id=f"m{next(_ids)}")
    return await dispatch(message, deps)


def review_row(store: Store) -> Review:
    with store.session() as s:
        found = s.scalars(select(Review).order_by(Review.id.desc())).first()
        assert found is not None
        return found


def kinds(tocks: list[Tock]) -> list[TockKind]:
    return [t.kind for t in tocks]


def emails_nudged(store: Store) -> set[str]:
    with store.session() as s:
        rows = s.scalars(
            select(Person.email)
            .join(ReviewParticipant, ReviewParticipant.person_id == Person.id)
            .where(ReviewParticipant.nudged_at.is_not(None))
        )
        return {e for e in rows if e}


async def test_a_question_moves_on_when_its_time_is_up(deps: Deps, now: datetime) -> None:
    thread = await start(deps)
    opening = notifier_of(deps).posted[0][1]
    assert "Each question stays open for 30 minutes" in text_of(opening)

    assert await tick(deps, now + timedelta(minutes=29), time_box=BOX) == []
    moved = await tick(deps, now + BOX, time_box=BOX)

    assert kinds(moved) == [TockKind.ADVANCED] and moved[0].step == 1
    where, post = notifier_of(deps).posted[-1]
    assert where == thread
    assert "Time is up for question 1 (30 minutes)" in text_of(post)
    assert "*Question 2 of 5:* What actually happened?" in text_of(post)
    assert review_row(deps.store).step == 1
    assert review_row(deps.store).step_started_at == now + BOX
    assert await tick(deps, now + BOX, time_box=BOX) == []  # the next tick finds nothing to do

    # Answers go to the question on screen; the facilitator can still go back.
    await say(deps, TOMAS, thread, "Twelve stations opened late.")
    back = await dispatch(
        ButtonPress(AMINA, thread, AarButton.BACK, buttons(post)[AarButton.BACK].value), deps
    )
    assert "Question 1 of 5" in text_of(back)


async def test_after_the_last_question_the_review_waits_for_its_facilitator(
    deps: Deps, now: datetime
) -> None:
    thread = await start(deps)
    for _ in range(4):
        await say(deps, AMINA, thread, "next")
    assert review_row(deps.store).step == 4

    done = await tick(deps, now + BOX, time_box=BOX)

    assert kinds(done) == [TockKind.FINISHED]
    row = review_row(deps.store)
    assert (row.status, row.step, row.step_started_at) == (ReviewStatus.RUNNING, 4, None)
    _, post = notifier_of(deps).posted[-1]
    assert "Time is up for the last question" in text_of(post)
    assert set(buttons(post)) == {AarButton.CLOSE, AarButton.BACK}
    [note] = notifier_of(deps).to("amina.diallo@un.example")
    assert "has gone through all its questions" in text_of(note)
    assert await tick(deps, now + 10 * BOX, time_box=BOX) == []  # the clock has stopped

    late = await say(deps, PRIYA, thread, "@Tomás Herrera to test radios by 20 Dec.")
    assert late is None  # still welcome
    press = ButtonPress(AMINA, thread, AarButton.CLOSE, buttons(post)[AarButton.CLOSE].value)
    summary = await dispatch(press, deps)
    assert "After-Action Review closed: Election day" in text_of(summary)
    assert "test radios" in text_of(summary)


async def test_a_paused_review_does_not_time_out(deps: Deps, now: datetime) -> None:
    thread = await start(deps, "Election day with @Nyibol Deng")
    await say(deps, AMINA, thread, "pause")

    assert await tick(deps, now + 5 * BOX, time_box=BOX) == []
    assert review_row(deps.store).step == 0
    assert notifier_of(deps).sent == []  # no reminders while paused either

    later = now + 5 * BOX
    deps.store.clock = lambda: later
    await say(deps, AMINA, thread, "resume")  # the question's time box starts again
    assert await tick(deps, later + BOX - timedelta(minutes=1), time_box=BOX) != []  # a reminder
    assert review_row(deps.store).step == 0
    assert kinds(await tick(deps, later + BOX, time_box=BOX)) == [TockKind.ADVANCED]


@pytest.mark.parametrize(
    ("raw", "minutes"),
    [
        ("", 30),
        ("0", 0),
        ("45", 45),
        ("7.5", 7.5),
        ("soon", 30),
        ("-5", 30),
        ("nan", 30),
        ("inf", 30),
        ("100000", 30),
    ],
)
def test_the_time_box_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, minutes: float
) -> None:
    settings = HandlerSettings(aar_question_minutes=raw)
    assert question_time(settings) == timedelta(minutes=minutes)


async def test_a_time_box_of_zero_turns_the_clock_off(
    deps: Deps, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = replace(deps, settings=HandlerSettings(aar_question_minutes="0"))
    thread = await start(deps, "Election day with @Nyibol Deng")
    assert "stays open for" not in text_of(notifier_of(deps).posted[0][1])

    assert await tick(deps, now + timedelta(days=3)) == []
    assert review_row(deps.store).step == 0 and notifier_of(deps).sent == []
    invited = await dispatch(Command(AMINA, thread, "aar", "invite @Rafael Souza"), deps)
    assert "Reminders are off here" in text_of(invited)


async def test_quiet_participants_are_reminded_once(deps: Deps, now: datetime) -> None:
    store = deps.store
    thread = await start(deps, "Election day with @Tomás Herrera, @Priya Raman and @Nyibol Deng")
    assert review_row(store).event == "Election day"
    await say(deps, TOMAS, thread, "Kits arrived at six.")
    form = await anonymous_form(deps, PRIYA, thread)
    await dispatch(FormSubmit(PRIYA, thread, form, {"answer": "Nobody tested radios."}), deps)
    await say(deps, RAFAEL, thread, "👀")  # spoke in the thread, gave no answer

    assert await tick(deps, now + timedelta(minutes=14), time_box=BOX) == []
    first = await tick(deps, now + timedelta(minutes=15), time_box=BOX)

    assert kinds(first) == [TockKind.NUDGED, TockKind.NUDGED]
    assert emails_nudged(store) == {"nyibol.deng@un.example", "rafael.souza@un.example"}
    notifier = notifier_of(deps)
    assert [who.user_id for who, _ in notifier.sent] == [
        "nyibol.deng@un.example",
        "rafael.souza@un.example",
    ]
    assert await tick(deps, now + timedelta(minutes=16), time_box=BOX) == []

    # A restart: a new process on the same database sends nothing again.
    url = store.engine.url.render_as_string(hide_password=False)
    restarted = Store.open(url, clock=store.clock)
    try:
        again = Deps(store=restarted, notifier=Notifier(restarted))
        assert await tick(again, now + timedelta(minutes=20), time_box=BOX) == []
        moved = await tick(again, now + BOX, time_box=BOX)
        assert kinds(moved) == [TockKind.ADVANCED]
        assert await tick(again, now + BOX + timedelta(minutes=20), time_box=BOX) == []
        assert notifier_of(again).sent == []
    finally:
        restarted.close()
    assert len(notifier.sent) == 2


async def test_the_reminder_names_nobody_and_hides_who_answered_anonymously(
    deps: Deps, now: datetime
) -> None:
    store = deps.store
    thread = await start(deps, "Election day with @Priya Raman @Nyibol Deng @Rafael Souza")
    secret = "The checklist was never handed over."
    form = await anonymous_form(deps, PRIYA, thread)
    await dispatch(FormSubmit(PRIYA, thread, form, {"answer": secret}), deps)

    await tick(deps, now + BOX / 2, time_box=BOX)

    notifier = notifier_of(deps)
    assert notifier.to("priya.raman@un.example") == []  # she answered, anonymously
    [to_nyibol] = notifier.to("nyibol.deng@un.example")
    [to_rafael] = notifier.to("rafael.souza@un.example")
    assert to_nyibol == to_rafael  # the same words for everyone
    view = await Reviews(store).get(review_row(store).id)
    assert to_nyibol == nudge_reply(view)  # built from the review alone, not from its answers
    said = text_of(to_nyibol)
    people = await store.people()
    assert not [p.name for p in people if p.name in said]
    assert not [p.name.split()[0] for p in people if p.name.split()[0] in said]
    assert secret not in said and "only reminder" in said
    assert "Election day" in said and "What was supposed to happen?" in said
    assert AarButton.ANONYMOUS in buttons(to_nyibol)

    # The reminder's button opens the anonymous form; the answer lands in the thread unsigned.
    press = ButtonPress(
        NYIBOL,
        ConversationRef("local", "dm"),
        AarButton.ANONYMOUS,
        buttons(to_nyibol)[AarButton.ANONYMOUS].value,
    )
    shown = await dispatch(press, deps)
    assert shown is not None and shown.private


async def test_concurrent_ticks_move_a_question_and_remind_once(deps: Deps, now: datetime) -> None:
    store = deps.store
    await start(deps, "Election day with @Nyibol Deng @Rafael Souza")
    url = store.engine.url.render_as_string(hide_password=False)
    other = Store.open(url, clock=store.clock)  # a second replica on the same database
    try:
        replicas = [deps, Deps(store=other, notifier=Notifier(other))]
        half = await asyncio.gather(*(tick(d, now + BOX / 2, time_box=BOX) for d in replicas * 2))
        full = await asyncio.gather(*(tick(d, now + BOX, time_box=BOX) for d in replicas * 2))
    finally:
        other.close()

    reminded = [t.person_id for tocks in half for t in tocks if t.kind == TockKind.NUDGED]
    assert len(reminded) == 2 and len(set(reminded)) == 2
    moved = [t for tocks in full for t in tocks]
    assert kinds(moved) == [TockKind.ADVANCED]
    notifiers = [notifier_of(d) for d in replicas]
    assert sum(len(n.sent) for n in notifiers) == 2
    thread_posts = [r for n in notifiers for w, r in n.posted if w.thread_id]
    assert len(thread_posts) == 1 and "Question 2 of 5" in text_of(thread_posts[0])
    assert review_row(store).step == 1


async def test_a_facilitator_moving_on_beats_the_clock(deps: Deps, now: datetime) -> None:
    thread = await start(deps)
    clock = ReviewClock(deps.store)
    [expired] = await clock.expired(platform="local", started_before=now)
    await say(deps, AMINA, thread, "next")  # between the clock's read and its write

    assert await clock.advance(expired, now + BOX) is None
    assert review_row(deps.store).step == 1


async def test_a_failed_post_is_tried_again_next_tick(demo_store: Store, now: datetime) -> None:
    notifier = Notifier(demo_store)
    deps = Deps(store=demo_store, notifier=notifier)
    await start(deps)
    notifier.failures = 1

    assert await tick(deps, now + BOX, time_box=BOX) == []
    assert review_row(demo_store).step == 0  # put back: nobody saw question 2
    assert kinds(await tick(deps, now + BOX, time_box=BOX)) == [TockKind.ADVANCED]
    assert review_row(demo_store).step == 1


async def test_a_scheduled_review_starts_once_when_due(deps: Deps, now: datetime) -> None:
    store = deps.store
    reply = await dispatch(
        Command(AMINA, CHANNEL, "aar", "schedule Polling day with @Nyibol Deng tomorrow 17:00"),
        deps,
    )
    assert "After-Action Review scheduled: Polling day" in text_of(reply)
    due = review_row(store).starts_at
    assert due is not None and review_row(store).status == ReviewStatus.SCHEDULED
    await Reviews(store).start(
        event="Elsewhere",
        platform="slack",
        channel_id="C1",
        thread_id=None,
        channel_name="ops",
        facilitator_id=review_row(store).facilitator_id or 0,
        questions=question_set(deps.settings),
        starts_at=due,
    )  # another platform's review: its own notifier's tick starts it

    assert await tick(deps, now, time_box=BOX) == []
    started = await asyncio.gather(tick(deps, due, time_box=BOX), tick(deps, due, time_box=BOX))

    assert [kinds(t) for t in started if t] == [[TockKind.STARTED]]
    [(where, opening)] = notifier_of(deps).posted
    assert where == ConversationRef("local", "elections", None, "elections")
    assert opening.anchor is not None and "Question 1 of 5" in text_of(opening)
    with store.session() as s:
        rows = s.scalars(select(Review).order_by(Review.id)).all()
        assert [(r.event, r.status) for r in rows] == [
            ("Polling day", ReviewStatus.RUNNING),
            ("Elsewhere", ReviewStatus.SCHEDULED),
        ]
        assert rows[0].thread_id is not None  # learnt from where the opening landed
    assert kinds(await tick(deps, due + BOX / 2, time_box=BOX)) == [TockKind.NUDGED]
    assert len(notifier_of(deps).to("nyibol.deng@un.example")) == 1


async def test_the_facilitator_invites_people_to_hear_from(deps: Deps, now: datetime) -> None:
    thread = await start(deps)
    refused = await dispatch(Command(TOMAS, thread, "aar", "invite @Priya Raman"), deps)
    assert "Only the facilitator (Amina Diallo) can invite people." in text_of(refused)

    invited = await dispatch(Command(AMINA, thread, "aar", "invite @Nyibol Deng @Bob Marley"), deps)

    assert invited is not None and invited.private
    assert "Noted: Nyibol Deng." in text_of(invited)
    assert "I could not find @Bob Marley in the staff directory." in text_of(invited)
    nobody = await dispatch(Command(AMINA, thread, "aar", "invite"), deps)
    assert "Mention who to hear from" in text_of(nobody)
    await tick(deps, now + BOX / 2, time_box=BOX)
    assert len(notifier_of(deps).to("nyibol.deng@un.example")) == 1


async def test_tick_without_a_notifier_does_nothing(demo_store: Store, now: datetime) -> None:
    deps = Deps(store=demo_store, notifier=Notifier(demo_store))
    await start(deps)
    assert await tick(Deps(store=demo_store), now + 10 * BOX) == []
    assert review_row(demo_store).step == 0
    assert kinds(await tick(deps, now + BOX)) == [TockKind.ADVANCED]


async def test_a_review_whose_opening_never_landed_is_resumed_then_ended(
    deps: Deps, now: datetime
) -> None:
    """Issue 21, finding 3: no review stays running for ever without a thread."""
    notifier_of(deps).failures = 1
    reply = await dispatch(Command(AMINA, CHANNEL, "aar", "start Election day"), deps)
    assert reply is not None
    with pytest.raises(ConnectionError):
        await notifier_of(deps).post(CHANNEL, reply)  # the opening failed: an orphan
    orphan = review_row(deps.store)
    assert orphan.thread_id is None and orphan.status == ReviewStatus.RUNNING
    # Started again with the same event, the same review is opened (not a second one).
    thread = await start(deps)
    resumed = review_row(deps.store)
    assert resumed.id == orphan.id and resumed.thread_id == thread.thread_id
    # An orphan nobody restarts is cancelled by the clock, not left running for ever.
    notifier_of(deps).failures = 1
    reply = await dispatch(Command(AMINA, CHANNEL, "aar", "start Polling day"), deps)
    assert reply is not None
    with pytest.raises(ConnectionError):
        await notifier_of(deps).post(CHANNEL, reply)
    second = review_row(deps.store)
    assert second.id != orphan.id and second.thread_id is None
    assert kinds(await tick(deps, now + timedelta(minutes=5), time_box=BOX)) == []
    done = await tick(deps, now + timedelta(minutes=11), time_box=BOX)
    assert Tock(TockKind.ORPHANED, second.id, 0) in done
    assert review_row(deps.store).status == ReviewStatus.CANCELLED


async def anonymous_form(deps: Deps, who: UserRef, thread: ConversationRef) -> str:
    """Press *Answer anonymously* in the review's thread; return the form's id."""
    review = review_row(deps.store)
    press = ButtonPress(who, thread, AarButton.ANONYMOUS, f"{review.id}:{review.step}")
    shown = await dispatch(press, deps)
    assert shown is not None
    (form,) = (e for e in shown.elements if isinstance(e, Form))
    assert form.form.startswith(f"{AarForm.ANONYMOUS}:{review.id}:{review.step}:")
    return form.form
