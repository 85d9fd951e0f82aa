"""Good practices in the index: promotions, evidence levels, search curation and priorities.

Restricted lessons reach only their audience: a promotion to anyone else is refused, and the
lists of practices and priorities an outsider reads do not hold them.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from knowledge.audit import Audit
from knowledge.curation import Curation, ranking_named
from knowledge.errors import DomainError, NotAllowed, NotFound
from knowledge.models import (
    EvidenceLevel,
    Lesson,
    LessonStatus,
    PracticeChannel,
    PracticePost,
    Product,
    ProductType,
    Role,
    SearchRanking,
)
from knowledge.practices import Practices, Target, clean_audience
from knowledge.records import LessonRecord, PersonRecord, ProductRecord
from knowledge.search.answer import Viewer
from knowledge.storage import Store

ANYONE = Viewer(None)
PEOPLE = (
    PersonRecord(name="Awa Author", email="awa@un.example", mission="MINUSCA"),
    PersonRecord(name="Pia PBPO", email="pia@un.example", mission="MINUSCA", roles=(Role.PBPO,)),
    PersonRecord(name="Lea Leader", email="lea@un.example", mission="MINUSCA",
                 roles=(Role.MISSION_LEADER,)),
    PersonRecord(name="Sam Staff", email="sam@un.example", mission="MINUSCA"),
)  # fmt: skip
GENERAL = Target("local", "general", "general")
# A channel whose identity a PBPO linked to the audience `channel:jmac` (its name opens nothing).
SECRET = Target("local", "jmac", "jmac", frozenset({"channel:local:jmac", "channel:jmac"}))


def product(external_id: str, title: str, text: str, **fields: object) -> ProductRecord:
    values: dict[str, object] = {
        "type": ProductType.AAR,
        "mission": "MINUSCA",
        "date": date(2025, 1, 1),
        "authors": ("awa@un.example",),
    } | fields
    lessons = (LessonRecord(lesson=text),)
    return ProductRecord(external_id=external_id, title=title, lessons=lessons, **values)  # type: ignore[arg-type]


async def load(store: Store) -> dict[str, int]:
    products = [
        product("t:fuel", "Fuel convoys", "Night convoys need a fuel reserve and an escort."),
        product("t:water", "Water points", "Escort water trucks; fuel them at the base."),
        product(
            "t:jmac",
            "JMAC convoy analysis",
            "Convoy ambush patterns repeat near the fuel depots.",
            audience=("channel:jmac", "group:pbpo"),
        ),
    ]
    await store.import_records(list(enumerate([*PEOPLE, *products], 1)), source="t")
    who = {p.email: await store.person_for("local", p.email) or 0 for p in PEOPLE}
    with store.session() as s:
        rows = s.execute(select(Product.external_id, Lesson.id).join(Lesson.product)).all()
    who |= {str(ext): int(lid) for ext, lid in rows}
    for key in ("t:fuel", "t:water", "t:jmac"):
        await store.move_lesson(who[key], LessonStatus.VALIDATED, actor_id=who["pia@un.example"])
    return who


async def evidence(store: Store, question: str, viewer: Viewer = ANYONE) -> dict[str, str]:
    answer = await store.ask(question, viewer=viewer, limit=10)
    return {str(h.external_id): h.evidence.level.value for h in answer.hits if h.evidence}


async def test_a_pbpo_promotes_a_validated_lesson_and_answers_show_it(store: Store) -> None:
    ids = await load(store)
    pia = ids["pia@un.example"]
    assert (await evidence(store, "fuel convoys"))["t:fuel"] == "lesson"

    done = await Practices(store).promote(
        ids["t:fuel"], actor_id=pia, why="Saved two convoys in Bangui.", targets=[GENERAL],
        surface="local",
    )  # fmt: skip

    assert done.level == EvidenceLevel.GOOD_PRACTICE
    assert done.scope == "MINUSCA" and done.channels == ("local:general",)
    assert done.review_on == store.today() + timedelta(days=365)
    assert done.promoted_by == "Pia PBPO"
    answer = await store.ask("fuel convoys", viewer=ANYONE, limit=10)
    hit = next(h for h in answer.hits if h.external_id == "t:fuel")
    assert hit.evidence is not None and hit.evidence.level == EvidenceLevel.GOOD_PRACTICE
    assert "Pia PBPO" in hit.evidence.badge and hit.as_json()["evidence"] == "good_practice"
    [event] = [e for e in await Audit(store).events() if e.operation == "promote_practice"]
    assert (event.person, event.surface) == ("Pia PBPO", "local")
    assert event.subject == f"lesson:{ids['t:fuel']}"
    assert event.after["channels"] == ["local:general"]
    assert event.note == "Saved two convoys in Bangui."


async def test_only_pbpos_promote_and_only_validated_lessons(store: Store) -> None:
    ids = await load(store)
    practices = Practices(store)
    with pytest.raises(NotAllowed, match="PBPO"):
        await practices.promote(
            ids["t:fuel"], actor_id=ids["sam@un.example"], why="x", surface="local"
        )
    with pytest.raises(DomainError, match="why"):
        await practices.promote(ids["t:fuel"], actor_id=ids["pia@un.example"], why=" ", surface="x")
    with pytest.raises(DomainError, match="review date"):
        await practices.promote(
            ids["t:fuel"], actor_id=ids["pia@un.example"], why="y", surface="x",
            review_on=store.today(),
        )  # fmt: skip
    await practices.promote(
        ids["t:fuel"], actor_id=ids["pia@un.example"], why="y", surface="x", guidance=True
    )
    with pytest.raises(DomainError, match="already"):
        await practices.promote(ids["t:fuel"], actor_id=ids["pia@un.example"], why="y", surface="x")
    assert (await evidence(store, "fuel convoys"))["t:fuel"] == "guidance"


async def test_an_identified_lesson_is_an_observation_and_cannot_be_promoted(store: Store) -> None:
    ids = await load(store)
    await store.import_records(
        [(1, product("t:new", "Fresh note", "Radios fail in the rain near convoys."))], source="t"
    )
    with store.session() as s:
        new = s.scalar(select(Lesson.id).join(Lesson.product).where(Product.external_id == "t:new"))
    assert (await evidence(store, "radios rain"))["t:new"] == "observation"
    with pytest.raises(DomainError, match="Validate it first"):
        await Practices(store).promote(
            new or 0, actor_id=ids["pia@un.example"], why="y", surface="x"
        )


async def test_a_restricted_lesson_is_promoted_only_to_its_own_audience(store: Store) -> None:
    ids = await load(store)
    pia, jmac = ids["pia@un.example"], ids["t:jmac"]
    practices = Practices(store)
    with pytest.raises(DomainError, match="restricted"):
        await practices.promote(jmac, actor_id=pia, why="y", surface="local")  # to everyone
    with pytest.raises(DomainError, match="#general"):
        await practices.promote(
            jmac, actor_id=pia, why="y", audience="#jmac", targets=[GENERAL], surface="local"
        )
    done = await practices.promote(
        jmac, actor_id=pia, why="y", audience="#jmac", targets=[SECRET], surface="local"
    )
    assert done.audience == "channel:jmac"

    outsider = await store.viewer_for(ids["sam@un.example"])
    assert [p.lesson_id for p in await practices.standing(outsider)] == []
    assert [p.lesson_id for p in await practices.standing(Viewer(None, SECRET.principals))] == [
        jmac
    ]
    assert "t:jmac" not in await evidence(store, "convoy ambush fuel", outsider)
    with pytest.raises(NotFound):  # an outsider cannot even name it
        await practices.unpromote(jmac, actor_id=ids["sam@un.example"], why="x", surface="x")


async def test_unpromoting_keeps_the_record_and_the_lesson(store: Store) -> None:
    ids = await load(store)
    pia = ids["pia@un.example"]
    practices = Practices(store)
    await practices.promote(ids["t:fuel"], actor_id=pia, why="y", surface="local")
    done = await practices.unpromote(ids["t:fuel"], actor_id=pia, why="superseded", surface="cli")
    assert done.ended
    assert await practices.standing(ANYONE) == []
    assert (await evidence(store, "fuel convoys"))["t:fuel"] == "lesson"
    with pytest.raises(DomainError, match="no good practice"):
        await practices.unpromote(ids["t:fuel"], actor_id=pia, why="again", surface="cli")
    operations = [e.operation for e in await Audit(store).events()]
    assert operations[-2:] == ["promote_practice", "unpromote_practice"]


async def test_the_practice_of_the_week_rotates_through_what_the_channel_may_see(
    store: Store,
) -> None:
    ids = await load(store)
    pia = ids["pia@un.example"]
    practices = Practices(store)
    for key in ("t:fuel", "t:water"):
        await practices.promote(ids[key], actor_id=pia, why="y", surface="local")
    await practices.promote(ids["t:jmac"], actor_id=pia, why="y", audience="#jmac", surface="local")
    with store.session() as s:
        channel = PracticeChannel(
            platform="local", channel_id="general", channel_name="general", active=True,
            updated_at=store.clock(),
        )  # fmt: skip
        s.add(channel)
        s.flush()
        ref = channel.id
    first = await practices.weekly_pick(ref, GENERAL)
    assert first is not None and first.lesson_id == ids["t:water"]  # the newest first
    with store.session() as s:
        s.add(PracticePost(channel_ref=ref, period="2026-W48", lesson_id=first.lesson_id,
                           status="sent", at=store.clock()))  # fmt: skip
    second = await practices.weekly_pick(ref, GENERAL)
    assert second is not None and second.lesson_id == ids["t:fuel"]  # never the JMAC one


async def test_pbpos_boost_down_rank_and_hide_lessons_in_search(store: Store) -> None:
    ids = await load(store)
    pia = ids["pia@un.example"]
    curation = Curation(store)
    base = list(await evidence(store, "escort fuel"))
    assert set(base) == {"t:fuel", "t:water"}
    low, high = base[1], base[0]
    await curation.rank(ids[low], SearchRanking.BOOST, actor_id=pia, why="tested", surface="x")
    assert list(await evidence(store, "escort fuel")) == [low, high]
    await curation.rank(ids[low], SearchRanking.DOWN, actor_id=pia, why="dated", surface="x")
    await curation.rank(ids[high], SearchRanking.DOWN, actor_id=pia, why="dated", surface="x")
    assert list(await evidence(store, "escort fuel")) == [high, low]
    hidden = await curation.rank(
        ids[high], SearchRanking.HIDDEN, actor_id=pia, why="misleading", surface="x"
    )
    assert hidden.changed and hidden.ranking == SearchRanking.HIDDEN
    assert list(await evidence(store, "escort fuel")) == [low]
    again = await curation.rank(ids[high], SearchRanking.HIDDEN, actor_id=pia, why="", surface="x")
    assert not again.changed
    with pytest.raises(NotAllowed):
        await curation.rank(
            ids[low], SearchRanking.HIDDEN, actor_id=ids["sam@un.example"], why="no", surface="x"
        )
    await curation.rank(ids[high], SearchRanking.NORMAL, actor_id=pia, why="", surface="x")
    assert set(await evidence(store, "escort fuel")) == {"t:fuel", "t:water"}
    events = [e for e in await Audit(store).events() if e.operation == "curate_search"]
    assert [e.after["ranking"] for e in events] == ["boost", "down", "down", "hidden", "normal"]
    assert ranking_named("Down-rank") == SearchRanking.DOWN


async def test_priority_lessons_list_their_actions_and_keep_restricted_ones_in(
    store: Store, today: date
) -> None:
    ids = await load(store)
    lea, pia = ids["lea@un.example"], ids["pia@un.example"]
    curation = Curation(store)
    await curation.flag(ids["t:fuel"], True, actor_id=lea, why="convoy season", surface="slack")
    await curation.flag(ids["t:jmac"], True, actor_id=pia, why="ambushes", surface="slack")
    await store.add_action(ids["t:fuel"], "Reserve line", owner_id=None, due_date=date(2020, 1, 1))
    with pytest.raises(NotAllowed):
        await curation.flag(ids["t:water"], True, actor_id=ids["sam@un.example"], why="x",
                            surface="x")  # fmt: skip

    outsider = await store.viewer_for(lea)  # a mission leader outside the JMAC audience
    listed = await curation.priority_list(outsider, missions=frozenset({"MINUSCA"}), today=today)
    assert [(p.lesson_id, p.actions, p.why) for p in listed] == [
        (ids["t:fuel"], "1 open (1 overdue), 0 done", "convoy season")
    ]
    insider = await store.viewer_for(pia)
    assert len(await curation.priority_list(insider, missions=None, today=today)) == 2
    assert await curation.priority_list(insider, missions=frozenset({"UNMISS"}), today=today) == []
    await curation.flag(ids["t:fuel"], False, actor_id=lea, why="", surface="slack")
    assert await curation.priority_list(outsider, missions=None, today=today) == []


def test_audiences_are_principals() -> None:
    assert clean_audience("everyone") == ""
    assert clean_audience("#jmac") == "channel:jmac"
    assert clean_audience("group:pbpo") == "group:pbpo"
    with pytest.raises(DomainError):
        clean_audience("the whole mission")
