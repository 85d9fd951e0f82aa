"""Good practices from chat: promote (at once, or from the form and the card's button), list,
unpromote, curate search, priority lessons and the weekly switch; restricted lessons are never
promoted to, or listed for, anyone outside their audience."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update

from handlers.chat import (
    Button,
    ButtonPress,
    Command,
    ConversationRef,
    Fields,
    Form,
    FormSubmit,
    Incoming,
    Message,
    Reply,
    Text,
    UserRef,
)
from handlers.practices import PracticeAction, PracticeForm
from handlers.router import Deps, dispatch
from knowledge.audit import Audit
from knowledge.models import Lesson, PracticeChannel, Product, Promotion
from knowledge.storage import Store

DM = ConversationRef("local", "dm:farida")
GENERAL = ConversationRef("local", "general", channel_name="general", space="local:general")
MEDIATION = ConversationRef(
    "local", "mediation-support", channel_name="mediation-support", space="local:mediation-support"
)
CVR = "Lessons Learned Study: Community Violence Reduction"  # MINUSCA, open to everyone
BACK_CHANNEL = "AAR: A discreet back-channel"  # MINUSCA, channel:mediation-support
PBPO_ONLY = "End of Assignment Report: Senior Political Affairs Officer"  # group:pbpo


def me(email: str) -> UserRef:
    return UserRef("local", f"{email}@un.example", email.replace(".", " ").title())


FARIDA, AMINA, KWAME = me("farida.rahimi"), me("amina.diallo"), me("kwame.asante")
HIROSHI = me("hiroshi.tanaka")


@dataclass
class Channels:
    """The platform side of a Notifier: what handlers posted in channels."""

    platform: str = "local"
    posted: list[tuple[ConversationRef, Reply]] = field(default_factory=list)
    sent: list[tuple[UserRef, Reply]] = field(default_factory=list)

    async def send(self, to: UserRef, reply: Reply) -> None:
        self.sent.append((to, reply))

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef | None:
        self.posted.append((where, reply))
        return where

    def texts(self, channel: str) -> str:
        return "\n".join(r.fallback for w, r in self.posted if w.channel_id == channel)


async def say(store: Store, incoming: Incoming, channels: Channels | None = None) -> Reply:
    reply = await dispatch(incoming, Deps(store=store, notifier=channels or Channels()))
    assert reply is not None
    return reply


def text(reply: Reply) -> str:
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


async def practice(store: Store, who: UserRef, where: ConversationRef, said: str) -> str:
    return text(await say(store, Command(who, where, "practice", said)))


def lesson_of(store: Store, title: str) -> int:
    """Return the first validated-or-applied lesson of the product whose title starts so."""
    with store.session() as s:
        return (
            s.scalars(
                select(Lesson.id)
                .join(Product)
                .where(Product.title.startswith(title), Lesson.status.in_(["validated", "applied"]))
                .order_by(Lesson.position)
            ).first()
            or 0
        )


async def test_a_pbpo_promotes_in_a_channel_and_the_card_is_posted_there(
    demo_store: Store,
) -> None:
    lesson = lesson_of(demo_store, CVR)
    channels = Channels()
    said = f"practice promote {lesson} cut reprisals in Bria by half"
    reply = await say(demo_store, Message(FARIDA, GENERAL, said), channels)

    assert reply.private and "★ Promoted" in text(reply) and "#general" in text(reply)
    [(where, card)] = channels.posted
    assert where.channel_id == "general" and not card.in_thread
    assert "Good practice" in card.fallback and "cut reprisals in Bria by half" in card.fallback
    facts = dict(next(e for e in card.elements if isinstance(e, Fields)).pairs)
    assert facts["Evidence"] == "★ good practice" and facts["Scope"] == "MINUSCA"
    assert facts["Promoted"].startswith("Farida Rahimi")
    [event] = [e for e in await Audit(demo_store).events() if e.operation == "promote_practice"]
    assert (event.person, event.surface) == ("Farida Rahimi", "local")

    question = "CVR prevention tool for at-risk youth"
    answer = await say(demo_store, Command(AMINA, DM, "lessons", question))
    assert "Evidence: ★ good practice · Farida Rahimi" in answer.fallback


async def test_the_slash_command_opens_a_form_and_posts_to_the_channels_named(
    demo_store: Store,
) -> None:
    lesson = lesson_of(demo_store, CVR)
    reply = await say(demo_store, Command(FARIDA, GENERAL, "practice", f"promote {lesson}"))
    [form] = [e for e in reply.elements if isinstance(e, Form)]
    assert form.form == f"{PracticeForm.PROMOTE}:{lesson}"
    assert [i.name for i in form.inputs] == [
        "why", "channels", "audience", "scope", "review", "level"
    ]  # fmt: skip

    channels = Channels()
    values = {"why": "Worked twice", "channels": "#civil-affairs <#C0OPS|ops>",
              "review": "2027-06-30", "level": "guidance"}  # fmt: skip
    done = await say(demo_store, FormSubmit(FARIDA, GENERAL, form.form, values), channels)
    assert "it is now guidance" in text(done)
    assert [w.channel_id for w, _ in channels.posted] == ["civil-affairs", "C0OPS"]
    assert "Guidance" in channels.texts("C0OPS")
    assert "2027-06-30" in channels.texts("civil-affairs")

    bad = await say(demo_store, FormSubmit(FARIDA, GENERAL, form.form, values | {"review": "soon"}))
    assert bad.private and "couldn't read 'soon' as a date" in text(bad)


async def test_staff_cannot_promote_and_are_told_who_can(demo_store: Store) -> None:
    lesson = lesson_of(demo_store, CVR)
    channels = Channels()
    reply = await say(
        demo_store, Command(AMINA, GENERAL, "practice", f"promote {lesson} great"), channels
    )
    assert reply.private and "Only a PBPO of MINUSCA or an admin" in text(reply)
    assert channels.posted == []
    nothing = await say(demo_store, Command(FARIDA, GENERAL, "practice", "promote soon"))
    assert "by its number" in text(nothing)


async def test_a_restricted_lesson_is_never_promoted_outside_its_audience(
    demo_store: Store,
) -> None:
    lesson = lesson_of(demo_store, BACK_CHANNEL)
    channels = Channels()
    # A PBPO links the channel to the lesson's audience, from inside it (by its identity).
    linked = await say(demo_store, Message(FARIDA, MEDIATION, "audience link mediation-support"))
    assert "Linked" in text(linked)
    # In #general, the lesson does not exist for anyone there.
    unseen = await say(
        demo_store, Message(FARIDA, GENERAL, f"practice promote {lesson} discreet works"), channels
    )
    assert f"no lesson #{lesson} that you can see" in text(unseen)
    # In its own channel, naming another channel to post in is refused, and nothing is posted.
    said = f"practice promote {lesson} #general discreet works"
    refused = await say(demo_store, Message(FARIDA, MEDIATION, said), channels)
    assert "restricted" in text(refused) and channels.posted == []
    # For its own audience, in its own channel, it is promoted and posted there only.
    submit = FormSubmit(FARIDA, MEDIATION, f"{PracticeForm.PROMOTE}:{lesson}",
                        {"why": "discreet works", "audience": "#mediation-support"})  # fmt: skip
    done = await say(demo_store, submit, channels)
    assert "★ Promoted" in text(done)
    assert [w.channel_id for w, _ in channels.posted] == ["mediation-support"]

    # An outsider's list of practices does not hold it; the channel's does.
    outsider = await say(demo_store, Command(AMINA, DM, "practice", "list"))
    assert "back-channel" not in text(outsider)
    insider = await say(demo_store, Message(AMINA, MEDIATION, "practice list"))
    assert "back-channel" in text(insider)
    # Curation too acts on it only where it may be seen.
    flagged = await say(demo_store, Message(FARIDA, MEDIATION, f"practice priority {lesson} now"))
    assert "now a priority lesson" in text(flagged)
    assert "that you can see" in await practice(demo_store, FARIDA, DM, f"hide {lesson} old")


async def test_a_pbpo_only_lesson_is_promoted_to_pbpos_and_listed_only_for_them(
    demo_store: Store,
) -> None:
    lesson = lesson_of(demo_store, PBPO_ONLY)
    refused = await say(demo_store, Command(HIROSHI, DM, "practice", f"promote {lesson} mediate"))
    assert "restricted" in text(refused)
    submit = FormSubmit(HIROSHI, DM, f"{PracticeForm.PROMOTE}:{lesson}",
                        {"why": "mediate early", "audience": "group:pbpo"})  # fmt: skip
    done = await say(demo_store, submit)
    assert "Nothing was posted" in text(done)
    assert "Senior Political Affairs" in text(
        await say(demo_store, Command(FARIDA, DM, "practice", "list"))
    )
    assert "Senior Political" not in text(
        await say(demo_store, Command(AMINA, DM, "practice", "list"))
    )


async def test_promote_is_on_validated_lesson_cards_for_pbpos_only(demo_store: Store) -> None:
    question = "community violence reduction Bria"
    pbpo = await say(demo_store, Command(FARIDA, DM, "lessons", question))
    staff = await say(demo_store, Command(AMINA, DM, "lessons", question))
    promotes = [
        e for e in pbpo.elements if isinstance(e, Button) and e.action == "practice.promote"
    ]
    assert promotes and not any(
        isinstance(e, Button) and e.action == "practice.promote" for e in staff.elements
    )
    opened = await say(
        demo_store, ButtonPress(FARIDA, DM, PracticeAction.PROMOTE, promotes[0].value)
    )
    assert any(isinstance(e, Form) for e in opened.elements)
    denied = await say(
        demo_store, ButtonPress(AMINA, DM, PracticeAction.PROMOTE, promotes[0].value)
    )
    assert "Only a PBPO" in text(denied)
    stale = await say(demo_store, ButtonPress(FARIDA, DM, PracticeAction.PROMOTE, "x"))
    assert "out of date" in text(stale)


async def test_unpromote_and_curation_from_chat(demo_store: Store) -> None:
    lesson = lesson_of(demo_store, CVR)
    await say(demo_store, Message(FARIDA, GENERAL, f"practice promote {lesson} it works"))
    why = await say(demo_store, Command(FARIDA, DM, "practice", f"unpromote {lesson}"))
    assert "Say why" in text(why)
    with demo_store.session() as s:  # a year on, its review is due
        s.execute(update(Promotion).values(review_on=demo_store.today()))
    assert "⏰ review due" in await practice(demo_store, AMINA, DM, "list")
    gone = await say(demo_store, Command(FARIDA, DM, "practice", f"unpromote {lesson} superseded"))
    assert "no longer a good practice" in text(gone)

    question, takeaway = "CVR prevention tool for at-risk youth", "CVR works best as a prevention"
    before = await say(demo_store, Command(AMINA, DM, "lessons", question))
    assert takeaway in before.fallback
    hidden = await say(demo_store, Command(FARIDA, DM, "practice", f"hide {lesson} outdated"))
    assert "Hidden from answers" in text(hidden)
    after = await say(demo_store, Command(AMINA, DM, "lessons", question))
    assert takeaway not in after.fallback
    denied = await say(demo_store, Command(AMINA, DM, "practice", f"boost {lesson} mine"))
    assert "Only a PBPO" in text(denied)
    back = await say(demo_store, Command(FARIDA, DM, "practice", f"normal {lesson}"))
    assert "normal place" in text(back)
    assert takeaway in (await say(demo_store, Command(AMINA, DM, "lessons", question))).fallback


async def test_priority_lessons_from_chat(demo_store: Store) -> None:
    lesson = lesson_of(demo_store, CVR)
    flagged = await say(
        demo_store, Command(KWAME, DM, "practice", f"priority {lesson} rainy season")
    )
    assert "priority lesson" in text(flagged)
    again = await say(demo_store, Command(KWAME, DM, "practice", f"priority {lesson} again"))
    assert "already" in text(again)
    listed = await say(demo_store, Command(KWAME, DM, "practice", "priorities"))
    assert f"lesson #{lesson}" in text(listed) and "rainy season" in text(listed)
    assert f"lesson #{lesson}" in await practice(demo_store, KWAME, DM, "priorities minusca")
    assert "No priority" in await practice(demo_store, KWAME, DM, "priorities UNMISS")
    denied = await say(demo_store, Command(AMINA, DM, "practice", f"priority {lesson} x"))
    assert "Only" in text(denied)
    cleared = await say(demo_store, Command(KWAME, DM, "practice", f"unpriority {lesson}"))
    assert "no longer a priority" in text(cleared)
    assert "No priority lessons" in text(
        await say(demo_store, Command(KWAME, DM, "practice", "priorities"))
    )


async def test_the_practice_of_the_week_is_turned_on_in_a_channel_by_a_pbpo(
    demo_store: Store,
) -> None:
    on = await say(demo_store, Command(FARIDA, GENERAL, "practice", "weekly on"))
    assert "practice of the week" in text(on)
    assert "already" in text(
        await say(demo_store, Command(FARIDA, GENERAL, "practice", "weekly on"))
    )
    assert "not in a direct message" in text(
        await say(demo_store, Command(FARIDA, DM, "practice", "weekly on"))
    )
    assert "Only" in text(await say(demo_store, Command(AMINA, GENERAL, "practice", "weekly off")))
    with demo_store.session() as s:
        [row] = s.scalars(select(PracticeChannel)).all()
        assert (row.channel_id, row.active) == ("general", True)


async def test_practice_help_and_questions_about_practice(demo_store: Store) -> None:
    usage = await say(demo_store, Command(FARIDA, DM, "practice", ""))
    assert "/practice promote" in text(usage)
    question = await say(demo_store, Message(AMINA, DM, "practice of community policing"))
    assert "/practice promote" not in text(question)


async def test_votes_move_a_lesson_and_a_pbpo_sees_and_undoes_it_from_chat(
    demo_store: Store,
) -> None:
    from handlers.ask import AskAction

    question = "what did we learn about elections?"

    def order(reply: Reply) -> list[str]:
        return [b.value.partition(":")[0] for b in reply.elements if isinstance(b, Button)
                and b.action == AskAction.HELPFUL]  # fmt: skip

    before = await say(demo_store, Message(AMINA, DM, question))
    voted = [b for b in before.elements if isinstance(b, Button)
             and b.action == AskAction.HELPFUL][1]  # fmt: skip
    lesson = voted.value.partition(":")[0]
    for voter in (AMINA, KWAME, HIROSHI):
        await say(demo_store, ButtonPress(voter, DM, AskAction.HELPFUL, voted.value))
    moved = order(await say(demo_store, Message(AMINA, DM, question)))
    assert moved[0] == lesson  # second of five, it now leads for this kind of question
    assert order(await say(demo_store, Message(AMINA, DM, "polling station security"))) == order(
        await say(demo_store, Message(KWAME, DM, "polling station security"))
    )

    assert "Only a PBPO" in await practice(demo_store, AMINA, DM, "votes")
    report = await practice(demo_store, FARIDA, DM, "votes")
    assert f"#{lesson} +15 % for “elect”: 👍 3 👎 0" in report

    denied = await practice(demo_store, AMINA, DM, f"votes undo {lesson}")
    assert "Only a PBPO" in denied
    undone = await practice(
        demo_store, FARIDA, DM, f"votes undo {lesson} elections because a drill"
    )
    assert "3 vote(s) no longer count for “elect”" in undone
    assert f"`/practice votes restore {lesson}`" in undone
    assert order(await say(demo_store, Message(AMINA, DM, question))) == order(before)
    assert "(3 undone)" in await practice(demo_store, FARIDA, DM, "votes")
    restored = await practice(demo_store, FARIDA, DM, f"votes restore {lesson}")
    assert "3 vote(s) count again" in restored
    assert order(await say(demo_store, Message(AMINA, DM, question)))[0] == lesson
    events = [e for e in await Audit(demo_store).events() if "vote" in e.operation]
    assert [(e.operation, e.note) for e in events] == [
        ("undo_vote_effect", "a drill"), ("restore_vote_effect", None)
    ]  # fmt: skip
