"""`/lessons report`, `/lessons usefulness` and "who knows about X?" in chat: private, scoped,
denied with who can, and never naming a restricted lesson to an outsider."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy import text as sql

from handlers.chat import Command, ConversationRef, Fields, Incoming, Message, Reply, Text, UserRef
from handlers.deps import Deps
from handlers.router import dispatch
from knowledge.models import Action, ActionStatus, Lesson, Product, ProductAudience, Role
from knowledge.records import ProductRecord
from knowledge.roles import Roles
from knowledge.search.answer import Viewer
from knowledge.storage import Store

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "corpus.json"
PRODUCTS: list[dict[str, Any]] = json.loads(DEMO.read_text(encoding="utf-8"))["products"]
HERE = ConversationRef("local", "dm")
CHANNEL = ConversationRef("local", "c1", channel_name="general")
AMINA = UserRef("local", "amina.diallo@un.example", "Amina Diallo")  # in no restricted audience
FARIDA = UserRef("local", "farida.rahimi@un.example", "Farida Rahimi")  # PBPO
CHEN = UserRef("local", "chen.wei@un.example", "Chen Wei")  # admin
STRANGER = UserRef("local", "nobody@example.org", "Nobody")


async def say(store: Store, who: UserRef, words: str) -> Reply:
    incoming: Incoming = Command(who, HERE, "lessons", words)
    reply = await dispatch(incoming, Deps(store=store))
    assert reply is not None
    return reply


def text(reply: Reply) -> str:
    parts = []
    for e in reply.elements:
        if isinstance(e, Text):
            parts.append(e.markdown)
        elif isinstance(e, Fields):
            parts += [f"{k}: {v}" for k, v in e.pairs]
    return "\n".join(parts)


def fields(reply: Reply) -> dict[str, str]:
    return {k: v for e in reply.elements if isinstance(e, Fields) for k, v in e.pairs}


async def make_pbpo(store: Store, who: UserRef, mission: str) -> None:
    person = await store.person_for("local", who.user_id)
    assert person is not None
    roles = Roles(store)
    await roles.revoke(person, Role.PBPO, actor_id=None, surface="cli", checked=False)
    await roles.grant(person, Role.PBPO, scope=mission, actor_id=None, surface="cli", checked=False)


def restricted(store: Store) -> tuple[list[int], list[str]]:
    """Return the lesson ids and titles of restricted products a PBPO of MINUSCA may not see.

    (One demo product is open to "group:pbpo", which being a PBPO opens.)
    """
    with store.session() as s:
        rows = s.execute(
            select(Lesson.id, Product.title)
            .join(Product, Product.id == Lesson.product_id)
            .where(
                Product.audience.any(),
                ~Product.audience.any(ProductAudience.principal == "group:pbpo"),
            )
        ).all()
    return [r[0] for r in rows], sorted({r[1] for r in rows})


async def use_restricted(store: Store, today: date) -> list[str]:
    """Vote on, and add overdue actions to, every restricted lesson; return what must not leak."""
    ids, titles = restricted(store)
    voter = await store.person_for("local", CHEN.user_id)
    insider = Viewer(voter, insiders(store))  # someone in every audience used them
    for lid in ids:
        await store.record_feedback(lid, viewer=insider, question_id=None, helpful=True)
    with store.session() as s:
        for lid in ids:
            s.add(
                Action(
                    lesson_id=lid,
                    description=f"confidential step {lid}",
                    due_date=today - timedelta(days=3),
                    status=ActionStatus.OPEN,
                    created_at=store.clock() - timedelta(days=9),
                    updated_at=store.clock(),
                )
            )
    return [*titles, "confidential step"]


async def test_a_pbpo_gets_the_report_privately_with_the_same_figures(demo_store: Store) -> None:
    await make_pbpo(demo_store, FARIDA, "MINUSCA")
    reply = await say(demo_store, FARIDA, "report")
    assert reply.private
    body = text(reply)
    assert body.startswith("*Learning report: MINUSCA*")
    mine = [
        p
        for p in PRODUCTS
        if p.get("mission") == "MINUSCA"
        and (not p.get("audience") or "farida.rahimi@un.example" in p["authors"])
    ]
    assert fields(reply)["Captured"] == str(sum(len(p["lessons"]) for p in mine))
    assert "*Open actions by owner*" in body
    since = await say(demo_store, FARIDA, "report minusca since 2099")
    assert fields(since)["Captured"] == "0"
    assert text(since).startswith("*Learning report: MINUSCA since 2099-01-01*")


async def test_an_outsider_never_sees_restricted_lessons_in_report_usefulness_or_who_knows(
    demo_store: Store, today: date
) -> None:
    secrets = await use_restricted(demo_store, today)
    await make_pbpo(demo_store, AMINA, "MINUSCA")
    replies = [
        await say(demo_store, AMINA, "report"),
        await say(demo_store, AMINA, "usefulness"),
        await say(demo_store, AMINA, "who polling station security elections"),
        await say(demo_store, AMINA, "who convoy IED near miss"),
        await say(demo_store, AMINA, "who mediation back channel"),
    ]
    message = await dispatch(
        Message(AMINA, HERE, "who knows about sexual exploitation case review?"),
        Deps(store=demo_store),
    )
    assert message is not None
    for reply in [*replies, message]:
        body = text(reply)
        assert not [s for s in secrets if s in body], body
    assert "*Who knows about polling station security elections*" in text(replies[2])


async def test_the_audience_sees_its_restricted_lessons_in_who_knows(demo_store: Store) -> None:
    secret = next(
        p["title"] for p in PRODUCTS if p["external_id"].endswith("polling-security-2025")
    )
    in_channel = ConversationRef(  # the demo names this channel by its identity
        "local", "elections-team", channel_name="elections-team", space="local:elections-team"
    )
    reply = await dispatch(
        Message(AMINA, in_channel, "who knows about polling station security?"),
        Deps(store=demo_store),
    )
    assert reply is not None and not reply.private
    assert secret in text(reply)


async def test_staff_and_strangers_are_told_who_can_report(demo_store: Store) -> None:
    for who in (AMINA, STRANGER):
        reply = await say(demo_store, who, "report")
        assert reply.private
        assert text(reply) == (
            "⚠️ Only a manager, PBPO or mission leader for every mission, or an admin can "
            "export reports."
        )
    await make_pbpo(demo_store, FARIDA, "MINUSCA")
    denied = await say(demo_store, FARIDA, "usefulness UNMISS")
    assert "of UNMISS, or an admin can export reports" in text(denied)


async def test_bad_input_gets_a_friendly_message(demo_store: Store) -> None:
    bad = await say(demo_store, CHEN, "report since someday")
    assert text(bad).startswith("⚠️ 'someday' is not a date: use a day like 2026-01-15")
    empty = await say(demo_store, CHEN, "who")
    assert text(empty) == "⚠️ Name a topic: `/lessons who election security`."
    nobody = await say(demo_store, CHEN, "who zzzzqqq")
    assert text(nobody).startswith("I found nobody who wrote or applied a lesson on *zzzzqqq*")
    authorless = ProductRecord.from_mapping(
        {
            "external_id": "llis:battery-1",
            "type": "lessons_learned_study",
            "title": "Xylophone calibration drift",
            "lessons": [{"lesson": "Xylophone calibration drifted in humid storage."}],
        },
        today=demo_store.today(),
    )
    await demo_store.import_records([(1, authorless)], source="test")
    unnamed = text(await say(demo_store, CHEN, "who xylophone calibration"))
    assert unnamed.startswith("I found 1 lesson on *xylophone calibration*, but none names")
    assert "`/lessons usefulness`" in text(await say(demo_store, CHEN, "report help"))
    typo = text(await say(demo_store, CHEN, "report MINUSKA"))
    assert typo.startswith("⚠️ I know no mission or office called 'MINUSKA'. Try one of: ")
    assert "MINUSCA" in typo


async def test_usefulness_shows_what_helps_and_what_needs_work(demo_store: Store) -> None:
    with demo_store.session() as s:
        first, second = s.scalars(
            select(Lesson.id)
            .join(Product)
            .where(Product.external_id == "demo:minusca-cvr-2022")
            .order_by(Lesson.position)
        ).all()[:2]
    for email, lid, helpful in (
        (AMINA.user_id, first, True),
        (FARIDA.user_id, first, True),
        (AMINA.user_id, second, False),
    ):
        voter = await demo_store.person_for("local", email)
        await demo_store.record_feedback(
            lid, viewer=await demo_store.viewer_for(voter), question_id=None, helpful=helpful
        )
    reply = await say(demo_store, CHEN, "usefulness MINUSCA")
    body = text(reply)
    helps = body.partition("*Most reused*")[0]
    assert f"#{first} " in helps and "👍 2 👎 0" in helps
    needs = body.partition("*Lessons that need work (voted not helpful)*")[2]
    assert f"#{second} " in needs and "👍 0 👎 1" in needs
    assert reply.private


@pytest.mark.parametrize("words", ["report writing for AARs?", "usefulness of QIPs?"])
async def test_a_question_starting_with_report_is_still_answered(
    demo_store: Store, words: str
) -> None:
    reply = await say(demo_store, AMINA, words)
    assert "Learning report" not in text(reply)


def insiders(store: Store) -> frozenset[str]:
    """Return every principal some restricted product names."""
    with store.connection() as conn:
        return frozenset(conn.execute(sql("SELECT principal FROM product_audience")).scalars())
