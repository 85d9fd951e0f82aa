"""Authorisation probes: every restricted chat operation tried by someone without the right.

Table-driven: a plain staff member (Tomás Herrera) presses every button, submits every form and
types every command that needs a role, an authorship or a facilitator, on objects that are not
his. Each gets a friendly private refusal (never the apology for a crash), and the database is
exactly as before: no role, lesson, action, review, proposal or audit row changed.

Then an outsider (Hiroshi Tanaka, a PBPO of another mission) probes a restricted MINUSCA lesson
through the surfaces the handler tests do not: show-more and share buttons on an insider's
question, follow-ups in the insider's thread, the dashboard over HTTP, and the Teams compose
box. The existing test_validation covers answers, home, validation cards and withdrawal.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import hostile  # noqa: F401  (the hypothesis profile)
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, text

from bot.app import build_app
from bot.local.dashboard import AS_COOKIE
from bot.settings import Settings
from bot.teams.extension import search_response
from bot.teams.incoming import Query
from handlers import router
from handlers.actions import ActionButton
from handlers.ask import AskAction
from handlers.capture import LessonForm
from handlers.chat import (
    Button,
    ButtonPress,
    Command,
    ConversationRef,
    FormSubmit,
    Incoming,
    Message,
    Reply,
    Text,
    UserRef,
)
from handlers.reviews.cards import AarButton
from handlers.router import Deps
from handlers.validation import ValidationButton, ValidationForm
from knowledge.models import (
    Action,
    ActionStatus,
    Lesson,
    LessonStatus,
    Person,
    PersonRole,
    Product,
)
from knowledge.storage import Store
from scheduler.digests import mission_week, team_week
from scheduler.sql import Db

Client = TestClient[web.Request, web.Application]
HERE = ConversationRef("local", "dm")
CHANNEL = ConversationRef("local", "elections-team", channel_name="elections-team")
RESTRICTED = "demo:minusca-mediation-backchannel-2024"
# Tables any interaction may touch without changing what anyone may do or see.
BOOKKEEPING = {"questions", "processed_events", "chat_messages", "search_words", "meta"}


def me(email: str) -> UserRef:
    return UserRef("local", f"{email}@un.example", email.replace(".", " ").title())


AMINA, TOMAS, PRIYA = me("amina.diallo"), me("tomas.herrera"), me("priya.raman")
ELENA, HIROSHI, CHEN = me("elena.petrova"), me("hiroshi.tanaka"), me("chen.wei")


@dataclass
class Inbox:
    """A notifier that records; the probes must make it send nothing."""

    platform: str = "local"

    def __post_init__(self) -> None:
        self.sent: list[tuple[Any, Reply]] = []

    async def send(self, to: UserRef, reply: Reply) -> None:
        self.sent.append((to, reply))

    async def post(self, where: ConversationRef, reply: Reply) -> ConversationRef:
        self.sent.append((where, reply))
        return ConversationRef(where.platform, where.channel_id, "900")


@dataclass(frozen=True)
class World:
    """What the probes aim at: other people's lesson, action and review."""

    store: Store
    inbox: Inbox
    amina_lesson: int
    rafael_action: int
    review: str  # "<review id>:<step>", the value of the review's control buttons
    restricted: int


async def say(world: World, incoming: Incoming) -> Reply | None:
    return await router.dispatch(incoming, Deps(store=world.store, notifier=world.inbox))


def words(reply: Reply | None) -> str:
    assert reply is not None
    return "\n".join(e.markdown for e in reply.elements if isinstance(e, Text))


@pytest.fixture
async def world(demo_store: Store) -> World:
    store, inbox = demo_store, Inbox()
    deps = Deps(store=store, notifier=inbox)
    values = {"title": "Curfew passes for drivers", "lesson": "Issue them a week ahead."}
    await router.dispatch(FormSubmit(AMINA, HERE, LessonForm.NEW, values), deps)
    started = await router.dispatch(Command(AMINA, CHANNEL, "aar", "start Election day"), deps)
    assert started is not None
    control = next(e for e in started.elements if isinstance(e, Button) and e.value)
    with store.session() as s:
        lesson = s.scalars(
            select(Lesson.id).join(Product).where(Product.title == values["title"])
        ).one()
        action = s.scalars(
            select(Action.id)
            .join(Person, Action.owner_id == Person.id)
            .where(Person.email == "rafael.souza@un.example")
            .limit(1)
        ).one()
        restricted = s.scalars(
            select(Lesson.id)
            .join(Product)
            .where(Product.external_id == RESTRICTED, Lesson.status == LessonStatus.IDENTIFIED)
        ).one()
        s.execute(
            Action.__table__.update().where(Action.id == action).values(status=ActionStatus.OPEN)
        )
    inbox.sent.clear()
    return World(store, inbox, lesson, action, control.value, restricted)


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of every table but bookkeeping, to compare before and after."""
    with store.connection() as conn:
        names = sorted(t.name for t in Lesson.metadata.sorted_tables if t.name not in BOOKKEEPING)
        return {
            name: sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{name}"'))), key=repr)
            for name in names
        }


Probe = Callable[[World], Incoming]
PROBES: dict[str, Probe] = {
    "grant a role": lambda w: Command(TOMAS, HERE, "lessons", f"roles grant {PRIYA.user_id} pbpo"),
    "revoke admin": lambda w: Command(TOMAS, HERE, "lessons", f"roles revoke {CHEN.user_id} admin"),
    "withdraw a lesson": lambda w: Command(
        TOMAS, HERE, "lessons", f"withdraw {w.amina_lesson} duplicate"
    ),
    "withdraw by form": lambda w: FormSubmit(
        TOMAS, HERE, f"{ValidationForm.WITHDRAW}:{w.amina_lesson}", {"reason": "duplicate"}
    ),
    **{
        f"press {b.value}": (lambda w, b=b: ButtonPress(TOMAS, HERE, b, str(w.amina_lesson)))
        for b in (ValidationButton.VALIDATE, ValidationButton.CHANGES, ValidationButton.REJECT)
    },
    **{
        f"submit {f.value}": (
            lambda w, f=f: FormSubmit(
                TOMAS, HERE, f"{f}:{w.amina_lesson}", {"note": "no", "reason": "no"}
            )
        )
        for f in (ValidationForm.CHANGES, ValidationForm.REJECT)
    },
    **{
        f"press {b.value}": (lambda w, b=b: ButtonPress(TOMAS, HERE, b, str(w.rafael_action)))
        for b in (
            ActionButton.DONE,
            ActionButton.SNOOZE,
            ActionButton.SNOOZE_DAY,
            ActionButton.BLOCKED,
            ActionButton.HANDOVER,
            ActionButton.DUE,
        )
    },
    **{
        f"press {b.value}": (lambda w, b=b: ButtonPress(TOMAS, CHANNEL, b, w.review))
        for b in (
            AarButton.NEXT,
            AarButton.BACK,
            AarButton.SKIP,
            AarButton.PAUSE,
            AarButton.CLOSE,
            AarButton.CANCEL,
        )
    },
    "aar: invite": lambda w: Command(TOMAS, CHANNEL, "aar", f"invite @{PRIYA.display_name}"),
    "aar: hand over": lambda w: Command(TOMAS, CHANNEL, "aar", "facilitator @Tomás Herrera"),
}


async def test_a_plain_member_is_refused_kindly_and_nothing_changes(world: World) -> None:
    """Every probe in turn on one world (a demo import each would take minutes on PostgreSQL)."""
    wrong: dict[str, str] = {}
    for name, probe in PROBES.items():
        before = snapshot(world.store)
        reply = await say(world, probe(world))
        said = words(reply)
        if not (reply is not None and reply.private and said.startswith("⚠️")):
            wrong[name] = f"not a private refusal: {said!r}"
        elif router.SORRY in said:
            wrong[name] = "the apology for a crash"
        elif snapshot(world.store) != before or world.inbox.sent:
            wrong[name] = "something changed or was sent"

    assert wrong == {}
    assert len(PROBES) >= 20


# A restricted lesson, probed as an outsider -------------------------------------------------


def title_of(store: Store, lesson_id: int) -> str:
    with store.session() as s:
        return s.scalars(select(Product.title).join(Lesson).where(Lesson.id == lesson_id)).one()


async def insider_question(world: World) -> tuple[int, str]:
    """Have Elena (an author of the restricted lesson) ask privately; return the question id."""
    title = title_of(world.store, world.restricted)
    asked = await say(world, Command(ELENA, HERE, "lessons", "back-channel armed group"))
    assert title in asked.fallback if asked else False  # she may see it
    with world.store.session() as s:
        (question_id,) = s.execute(text("SELECT max(id) FROM questions")).one()
    return int(question_id), title


async def test_show_more_and_share_on_an_insiders_question_leak_nothing(world: World) -> None:
    question_id, title = await insider_question(world)

    more = await say(world, ButtonPress(HIROSHI, HERE, AskAction.MORE, f"{question_id}:0"))
    share = await say(world, ButtonPress(HIROSHI, CHANNEL, AskAction.SHARE, str(question_id)))
    shared = await say(world, ButtonPress(ELENA, CHANNEL, AskAction.SHARE, str(question_id)))

    assert more is not None and title not in more.fallback
    assert share is not None and share.private and title not in share.fallback
    assert shared is not None and title not in shared.fallback  # the channel may not see it


async def test_a_follow_up_in_an_insiders_thread_leaks_nothing(world: World) -> None:
    _, title = await insider_question(world)
    thread = ConversationRef("local", CHANNEL.channel_id, "1", channel_name="elections-team")
    asked = await say(world, Message(ELENA, thread, "back-channel armed group", message_id="1"))
    assert asked is not None

    narrowed = await say(world, Message(HIROSHI, thread, "only since 2020", direct=False))

    assert narrowed is None or title not in narrowed.fallback


async def test_the_teams_compose_box_shows_no_restricted_lesson(world: World) -> None:
    title = title_of(world.store, world.restricted)
    general = ConversationRef("teams", "19:x", channel_name="general", space="teams:t:T:19:x")
    query = Query(ELENA, general, "back-channel")
    linked = ConversationRef(
        "teams", "19:m", channel_name="mediation-support", space="teams:t:T:19:m"
    )
    farida = UserRef("teams", "aad-farida", "Farida Rahimi")
    await world.store.link_user("teams", farida.user_id, email="farida.rahimi@un.example", name="F")
    said = await say(world, Message(farida, linked, "audience link mediation-support"))
    assert "Linked" in words(said)

    found = await search_response(query, Deps(store=world.store))
    # A group chat, or a channel of another team, named like the lesson's channel: no access.
    look_alikes = [
        replace(general, channel_name="mediation-support", space="teams:t:chat:19:g"),
        replace(general, channel_name="mediation-support", space="teams:t:OTHER:19:m"),
        replace(general, channel_name="mediation-support", space="teams:t2:T:19:m"),
    ]
    others = [
        await search_response(replace(query, where=w), Deps(store=world.store)) for w in look_alikes
    ]
    inside = await search_response(replace(query, where=linked), Deps(store=world.store))

    assert title not in json.dumps(found)  # a card put in a conversation is for everyone in it
    assert [title in json.dumps(o) for o in others] == [False, False, False]
    assert title in json.dumps(inside)  # the linked channel finds it: the probe can see


@pytest.fixture
async def dashboard(world: World) -> AsyncIterator[Client]:
    client: Client = TestClient(
        TestServer(build_app(Settings(), store=world.store), host="127.0.0.1")
    )
    await client.start_server()
    yield client
    await client.close()


@pytest.mark.parametrize("who", [None, HIROSHI, TOMAS])
async def test_the_dashboard_shows_an_outsider_no_restricted_lesson(
    world: World, dashboard: Client, who: UserRef | None
) -> None:
    title = title_of(world.store, world.restricted)
    cookies = {AS_COOKIE: who.user_id} if who else {}
    pages = {}
    for path in (
        "/dashboard",
        "/dashboard/lessons?q=back-channel",
        "/dashboard/actions",
        f"/dashboard/lessons/{world.restricted}",
    ):
        async with dashboard.get(path, cookies=cookies) as response:
            pages[path] = (response.status, await response.text())

    assert [p for p, (_, page) in pages.items() if title in page] == []
    assert pages[f"/dashboard/lessons/{world.restricted}"][0] == 404
    async with dashboard.get(
        f"/dashboard/lessons/{world.restricted}", cookies={AS_COOKIE: ELENA.user_id}
    ) as insider:
        assert title in await insider.text()  # the probe can see a leak: the insider sees it


async def test_digests_name_no_restricted_lesson_to_an_outsider(
    world: World, now: datetime
) -> None:
    """A manager whose report applied a restricted lesson, and a PBPO of every mission, both
    outsiders to it, get weekly digests that do not name it; its author's manager does."""
    store = world.store
    title = title_of(store, world.restricted)
    hiroshi = await store.person_for("local", HIROSHI.user_id)
    elena = await store.person_for("local", ELENA.user_id)  # an author: an insider
    assert hiroshi is not None and elena is not None
    with store.session() as s:
        tomas = s.scalars(select(Person).where(Person.email == TOMAS.user_id)).one()
        tomas.manager_id = hiroshi
        assert s.scalars(select(PersonRole.scope).where(PersonRole.person_id == hiroshi)).all()
        lesson = s.get(Lesson, world.restricted)
        assert lesson is not None
        lesson.status, lesson.applied_at = LessonStatus.APPLIED, now - timedelta(days=1)
        s.add(
            Action(
                lesson_id=world.restricted,
                description="Brief the envoy",
                owner_id=tomas.id,
                status=ActionStatus.DONE,
                created_at=now,
                updated_at=now,
            )
        )
    db = Db(store.engine)

    team = await team_week(db, store, hiroshi, now=now)
    mission = await mission_week(db, store, hiroshi, now=now)

    assert title not in repr(team) and title not in repr(mission)
    with store.session() as s:
        s.execute(Person.__table__.update().where(Person.id == tomas.id).values(manager_id=elena))
    insider = await team_week(db, store, elena, now=now)
    assert title in repr(insider)  # the probe would see a leak: the title is there for Elena
