"""Votes that count: Helpful / Not helpful move a lesson for that kind of question, bounded,
decaying with a 90-day half-life, reported to PBPOs and undoable by them (issue 20)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from knowledge.audit import Audit
from knowledge.errors import DomainError, NotAllowed
from knowledge.models import Lesson, Product, ProductType, Role
from knowledge.records import LessonRecord, PersonRecord, ProductRecord
from knowledge.search import votes as rules
from knowledge.search.answer import Viewer
from knowledge.storage import Store
from knowledge.votes import VoteEffects

ANYONE = Viewer(None)
PEOPLE = (
    PersonRecord(name="Pia PBPO", email="pia@un.example", mission="MINUSCA", roles=(Role.PBPO,)),
    PersonRecord(name="Sam Staff", email="sam@un.example", mission="MINUSCA"),
)
ESCORT = "escort convoys"
FUEL = "fuel reserve"


def product(key: str, text: str) -> ProductRecord:
    return ProductRecord(
        external_id=key,
        type=ProductType.AAR,
        title=key,
        mission="MINUSCA",
        date=date(2025, 1, 1),
        lessons=(LessonRecord(lesson=text),),
    )


async def load(store: Store) -> dict[str, int]:
    products = [
        product("night", "Escort convoys at night; keep a fuel reserve."),
        product("day", "Escort convoys by day and keep a fuel reserve with care."),
        product("water", "Chlorinate water points every week."),
        product("far", "Escort convoys: a lesson that says a great deal more, " + "words " * 40),
    ]
    await store.import_records(list(enumerate([*PEOPLE, *products], 1)), source="t")
    who = {p.email: await store.person_for("local", p.email) or 0 for p in PEOPLE}
    with store.session() as s:
        rows = s.execute(select(Product.external_id, Lesson.id).join(Lesson.product)).all()
    return who | {str(ext): int(lid) for ext, lid in rows}


async def order(store: Store, question: str) -> list[str]:
    answer = await store.ask(question, viewer=ANYONE, limit=10)
    return [str(h.external_id) for h in answer.hits]


async def vote(store: Store, lesson: int, question: str, helpful: bool, voters: int) -> None:
    asked = await store.log_question(question, person_id=None, platform="local", hits=1)
    for n in range(voters):
        await store.record_feedback(
            lesson, viewer=ANYONE, question_id=asked, helpful=helpful, guest=f"local:guest:{n}"
        )


async def test_a_voted_lesson_moves_up_for_that_kind_of_question_and_not_for_others(
    store: Store,
) -> None:
    ids = await load(store)
    assert (await order(store, ESCORT))[:2] == ["night", "day"]
    assert (await order(store, FUEL))[:2] == ["night", "day"]

    await vote(store, ids["day"], "lessons about escorting convoys?", True, voters=3)

    assert (await order(store, ESCORT))[:2] == ["day", "night"]
    assert (await order(store, "what did we learn on convoy escorts"))[:2] == ["day", "night"]
    assert (await order(store, FUEL))[:2] == ["night", "day"]  # another kind: unmoved
    # Bounded: the lesson with no word of the question is not brought in by votes on it.
    await vote(store, ids["water"], ESCORT, True, voters=10)
    assert "water" not in await order(store, ESCORT)


async def test_votes_are_bounded_and_cannot_bury_a_strong_match(store: Store) -> None:
    ids = await load(store)
    before = await store.ask(ESCORT, viewer=ANYONE, limit=10)
    scores = {h.external_id: h.score for h in before.hits}
    await vote(store, ids["night"], ESCORT, False, voters=30)
    after = await store.ask(ESCORT, viewer=ANYONE, limit=10)
    moved = {h.external_id: h.score for h in after.hits}
    assert moved["night"] == pytest.approx(scores["night"] * rules.LOW)
    assert "night" in moved  # still in the answer, at 80 % of its score
    assert scores["far"] < scores["night"] * rules.LOW  # the weak match stays below it
    assert [h.external_id for h in after.hits].index("night") < [
        h.external_id for h in after.hits
    ].index("far")
    report = await VoteEffects(store).report(ids["pia@un.example"])
    assert [(m.lesson_id, m.not_helpful, m.factor) for m in report.moves] == [
        (ids["night"], 30, rules.LOW)
    ]


async def test_the_effect_decays_with_a_90_day_half_life(store: Store) -> None:
    ids = await load(store)
    start = store.clock()
    await vote(store, ids["day"], ESCORT, True, voters=3)
    pbpo = ids["pia@un.example"]
    [move] = (await VoteEffects(store).report(pbpo)).moves
    assert (move.helpful, move.factor) == (3, pytest.approx(1.15))
    assert move.kind in ("convoy escort", "convoi escort")  # the backend's stems
    assert move.percent == 15
    store.clock = lambda: start + timedelta(days=90)
    [move] = (await VoteEffects(store).report(pbpo)).moves
    assert move.factor == pytest.approx(1.075)
    store.clock = lambda: start + timedelta(days=720)
    assert (await VoteEffects(store).report(pbpo)).moves[0].factor == pytest.approx(1 + 0.15 / 256)
    assert (await order(store, ESCORT))[:2] == ["night", "day"]  # faded: back in its place


async def test_a_pbpo_undoes_the_effect_and_can_restore_it(store: Store) -> None:
    ids = await load(store)
    pbpo = ids["pia@un.example"]
    await vote(store, ids["day"], ESCORT, True, voters=3)
    assert (await order(store, ESCORT))[:2] == ["day", "night"]
    effects = VoteEffects(store)

    done = await effects.undo(
        ids["day"], "convoy escort", actor_id=pbpo, why="one team voted", surface="cli"
    )
    assert (done.votes, done.before, done.after) == (3, pytest.approx(1.15), 1.0)
    assert (await order(store, ESCORT))[:2] == ["night", "day"]  # the order before the votes
    report = await effects.report(pbpo)
    assert [(m.undone, m.factor) for m in report.moves] == [(3, 1.0)]
    assert [(u.lesson_id, u.kind, u.by, u.why) for u in report.undos] == [
        (ids["day"], done.kind, "Pia PBPO", "one team voted")
    ]
    with pytest.raises(DomainError, match="nothing to undo"):
        await effects.undo(ids["day"], "", actor_id=pbpo, surface="cli")

    back = await effects.restore(ids["day"], "escorting convoys", actor_id=pbpo, surface="cli")
    assert (back.votes, back.before, back.after) == (3, 1.0, pytest.approx(1.15))
    assert (await order(store, ESCORT))[:2] == ["day", "night"]
    with pytest.raises(DomainError, match="nothing to restore"):
        await effects.restore(ids["day"], "", actor_id=pbpo, surface="cli")

    # An undo for every kind; votes cast after it count again.
    await effects.undo(ids["day"], "", actor_id=pbpo, surface="cli")
    assert (await order(store, ESCORT))[:2] == ["night", "day"]
    later = store.clock() + timedelta(minutes=1)
    store.clock = lambda: later
    await vote(store, ids["day"], ESCORT, True, voters=3)  # the same voters, voting again
    assert (await order(store, ESCORT))[:2] == ["day", "night"]

    operations = [e.operation for e in await Audit(store).events() if "vote" in e.operation]
    assert operations == ["undo_vote_effect", "restore_vote_effect", "undo_vote_effect"]


async def test_only_pbpos_see_and_undo_what_votes_do(store: Store) -> None:
    ids = await load(store)
    await vote(store, ids["day"], ESCORT, True, voters=3)
    staff = ids["sam@un.example"]
    with pytest.raises(NotAllowed, match="PBPO"):
        await VoteEffects(store).report(staff)
    with pytest.raises(NotAllowed, match="PBPO"):
        await VoteEffects(store).undo(ids["day"], "", actor_id=staff, surface="local")
    with pytest.raises(NotAllowed, match="PBPO"):
        await VoteEffects(store).undo(ids["day"], "", actor_id=None, surface="local")
    assert (await order(store, ESCORT))[:2] == ["day", "night"]  # nothing was undone


def test_kinds_of_question_overlap() -> None:
    assert rules.kind_of(["threat", "ied", "convoy", "ied"]) == "convoy ied threat"
    assert rules.similarity("convoy ied threat", "convoy ied threat") == 1.0
    assert rules.similarity("convoy ied threat", "convoy ied") == pytest.approx(2 / 3)
    assert rules.similarity("convoy ied threat", "convoy fuel reserv") == pytest.approx(1 / 5)
    assert rules.similarity("", "convoy") == 0.0
