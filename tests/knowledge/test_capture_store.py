"""Lesson notes in the index: capture, who validates, awaiting validation, recently applied."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select, update

from knowledge.capture import MAX_TEXT, MAX_TITLE, Notes
from knowledge.errors import DomainError
from knowledge.models import (
    Lesson,
    LessonStatus,
    Person,
    PersonGroup,
    PersonRole,
    Product,
    ProductAuthor,
    ProductType,
    Role,
)
from knowledge.records import PersonRecord, ProductRecord
from knowledge.search.answer import Viewer
from knowledge.storage import Store

# A small world: boss manages ana and ben; pia is a PBPO for every mission (scope "", her own
# mission ALPHA); sam is a PBPO scoped to BETA; lone has no manager; zed is an admin.
PEOPLE: list[dict[str, Any]] = [
    {"name": "Bo Boss", "email": "boss@x.org", "roles": ["manager"], "mission": "ALPHA"},
    {"name": "Ana Alpha", "email": "ana@x.org", "mission": "ALPHA", "manager": "boss@x.org"},
    {"name": "Ben Beta", "email": "ben@x.org", "mission": "BETA", "manager": "boss@x.org"},
    {"name": "Pia Pbpo", "email": "pia@x.org", "roles": ["pbpo"], "mission": "ALPHA"},
    {"name": "Sam Scoped", "email": "sam@x.org", "roles": ["pbpo"], "mission": "BETA"},
    {"name": "Lone Gamma", "email": "lone@x.org", "mission": "GAMMA"},
    {"name": "Zed Admin", "email": "zed@x.org", "roles": ["admin"], "mission": "ALPHA"},
]


def product(key: str, authors: list[str], mission: str, day: str, **extra: Any) -> dict[str, Any]:
    """Return a product with one lesson (identified unless `status` says otherwise)."""
    status = extra.pop("status", "identified")
    lesson: dict[str, Any] = {"lesson": f"The lesson of {key}.", "status": status}
    if status == "applied":
        lesson["applied_on"] = extra.pop("applied_on")
        lesson["actions"] = [{"description": "Do it", "status": "done", "evidence": "Done."}]
    return {
        "external_id": key,
        "type": "aar",
        "title": f"Product {key}",
        "date": day,
        "mission": mission,
        "authors": authors,
        "lessons": [lesson],
        **extra,
    }


PRODUCTS = [
    product("p1", ["ana@x.org"], "ALPHA", "2026-01-01"),
    product("p2", ["ben@x.org"], "BETA", "2026-01-02"),
    product("p3", ["lone@x.org"], "GAMMA", "2026-01-03"),
    product("p4", ["ana@x.org", "boss@x.org"], "ALPHA", "2026-01-04"),  # boss co-wrote it
    product("p5", ["ana@x.org"], "ALPHA", "2026-01-05", audience=["group:secret"]),
    product("p6", ["ana@x.org"], "ALPHA", "2026-01-06", status="validated"),
    product("p7", ["lone@x.org"], "BETA", "2026-01-07"),  # the mission is BETA, lone's GAMMA
    product("p8", ["ben@x.org"], "GAMMA", "2026-01-08"),  # ben (BETA) wrote about GAMMA
    product("a1", ["ana@x.org"], "ALPHA", "2025-01-01", status="applied", applied_on="2026-01-01"),
    product(
        "a2",
        ["ana@x.org"],
        "ALPHA",
        "2025-01-02",
        status="applied",
        applied_on="2026-06-01",
        audience=["group:secret"],
    ),
    product("a3", ["ben@x.org"], "BETA", "2025-01-03", status="applied", applied_on="2026-03-01"),
]


@pytest.fixture
async def world(store: Store, today: date) -> Store:
    """Return a store holding the small world, with sam's PBPO role scoped to BETA."""
    records: list[tuple[int, PersonRecord | ProductRecord]] = [
        (i, PersonRecord.from_mapping(p, today=today)) for i, p in enumerate(PEOPLE, 1)
    ]
    records += [(i, ProductRecord.from_mapping(p, today=today)) for i, p in enumerate(PRODUCTS, 1)]
    await store.import_records(records, source="world")
    sam = await person(store, "sam@x.org")
    with store.session() as s:
        s.execute(update(PersonRole).where(PersonRole.person_id == sam).values(scope="BETA"))
    return store


async def person(store: Store, email: str) -> int:
    found = await store.person_for("local", email)
    assert found is not None
    return found


def keys_of(store: Store, lesson_ids: list[int]) -> list[str]:
    """Return the external ids of the products of these lessons, in the same order."""
    with store.session() as s:
        rows = dict(
            s.execute(
                select(Lesson.id, Product.external_id)
                .join(Product, Product.id == Lesson.product_id)
                .where(Lesson.id.in_(lesson_ids))
            ).all()
        )
    return [str(rows[i]) for i in lesson_ids]


def count_products(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Product)) or 0


async def awaiting_keys(store: Store, email: str) -> tuple[list[str], int, bool]:
    found = await Notes(store).awaiting_validation(await person(store, email), limit=50)
    return keys_of(store, [p.lesson_id for p in found.lessons]), found.total, found.validator


# Capturing ------------------------------------------------------------------------------------


async def test_a_captured_note_is_an_identified_lesson_searchable_at_once(
    world: Store, today: date
) -> None:
    ana = await person(world, "ana@x.org")
    note = await Notes(world).capture(
        author_id=ana,
        title="  Radio checks   before night patrols ",
        observation="Two patrols lost contact after dark.",
        lesson="Test every radio before a night patrol leaves.",
        recommendation="Add a radio check to the patrol order.",
        themes=["#Communications", "patrols", "communications", " "],
        source_url="https://chat.example/archives/C1/p123",
        platform="local",
    )

    assert note.title == "Radio checks before night patrols"
    assert note.external_id.startswith("note:")
    assert (note.mission, note.date, note.author.id) == ("ALPHA", today, ana)  # author's mission
    with world.session() as s:
        saved = s.get(Product, note.product_id)
        assert saved is not None
        lesson = s.get(Lesson, note.lesson_id)
        assert lesson is not None
        assert (saved.type, saved.date, saved.mission) == (ProductType.NOTE, today, "ALPHA")
        assert saved.source_url == "https://chat.example/archives/C1/p123"
        assert sorted(t.theme for t in saved.themes) == ["communications", "patrols"]
        assert [a.person_id for a in saved.authors] == [ana]
        assert lesson.status == LessonStatus.IDENTIFIED
        assert lesson.observation == "Two patrols lost contact after dark."
        assert lesson.recommendation == "Add a radio check to the patrol order."
    answer = await world.ask("radio checks night patrols", viewer=Viewer(None))
    assert answer.hits[0].lesson_id == note.lesson_id
    assert answer.hits[0].product_type == ProductType.NOTE


async def test_the_mission_given_wins_over_the_authors(world: Store) -> None:
    note = await Notes(world).capture(
        author_id=await person(world, "ana@x.org"),
        title="Fuel",
        lesson="Carry reserve fuel.",
        mission="UNMISS",
        platform="local",
    )

    assert note.mission == "UNMISS"


async def test_who_validates_a_note(world: Store) -> None:
    for author, validator in (
        ("ana@x.org", "boss@x.org"),  # the manager
        ("boss@x.org", "pia@x.org"),  # no manager: the PBPO of the author's mission (ALPHA)
        ("lone@x.org", "pia@x.org"),  # nobody for GAMMA: a PBPO of every mission
        ("pia@x.org", None),  # the only other PBPO is scoped to BETA: nobody
    ):
        note = await Notes(world).capture(
            author_id=await person(world, author), title="Fuel", lesson=author, platform="local"
        )

        assert (note.validator.email if note.validator else None) == validator, author
        if validator is not None:  # and the note awaits them at once
            assert note.external_id in (await awaiting_keys(world, validator))[0], author


async def test_an_author_without_an_email_is_still_the_author(world: Store) -> None:
    with world.session() as s:
        nameless = Person(name="No Mail", timezone="UTC", created_at=world.clock())
        s.add(nameless)
        s.flush()
        author = nameless.id
    note = await Notes(world).capture(
        author_id=author, title="Fuel", lesson="Reserve.", platform="teams"
    )

    with world.session() as s:
        linked = s.scalars(
            select(ProductAuthor.person_id).where(ProductAuthor.product_id == note.product_id)
        ).all()
    assert list(linked) == [author]


async def test_the_same_note_twice_is_saved_once(world: Store) -> None:
    notes, ana = Notes(world), await person(world, "ana@x.org")
    await notes.capture(author_id=ana, title="Fuel", lesson="Reserve.", platform="local")
    before = count_products(world)

    with pytest.raises(DomainError, match="saved this lesson already"):
        await notes.capture(author_id=ana, title=" Fuel ", lesson="Reserve.", platform="local")
    assert count_products(world) == before
    other = await notes.capture(author_id=ana, title="Fuel", lesson="Other.", platform="local")
    assert other.external_id.startswith("note:")


GOOD: dict[str, Any] = {"title": "Fuel", "lesson": "Carry reserve fuel."}


UNUSABLE: list[tuple[dict[str, Any], str]] = [
    ({"title": ""}, "write a title"),
    ({"title": "   \n "}, "write a title"),
    ({"title": "\u200b\u202e\u2066\x00"}, "write a title"),  # invisible: no title at all
    ({"title": "!!! ???"}, "write a title"),
    ({"lesson": ""}, "write what was learned"),
    ({"lesson": "\x00\x07\ufeff"}, "write what was learned"),
    ({"title": "x" * (MAX_TITLE + 1)}, f"under {MAX_TITLE}"),
    ({"lesson": "word " * 4000}, f"under {MAX_TEXT:,}"),
    ({"observation": "y" * 20_000}, "it has 20,000"),
    ({"recommendation": "z" * (MAX_TEXT + 1)}, "the recommendation"),
    ({"mission": "M" * 101}, "the mission"),
    ({"source_url": "javascript:alert(1)"}, "https://"),
    ({"source_url": "JAVASCRIPT://evil.example/%0aalert(1)"}, "https://"),
    ({"source_url": "ftp://files.example/x"}, "https://"),
    ({"source_url": "https://"}, "https://"),
    ({"source_url": "https://a b.example"}, "https://"),
    ({"source_url": "https://x.example/" + "a" * 1000}, "https://"),
    ({"source_url": "data:text/html,<script>"}, "https://"),
    ({"themes": [f"t{i}" for i in range(11)]}, "at most 10 themes"),
    ({"themes": ["t" * 41]}, "each theme"),
]


async def test_unusable_input_or_an_unknown_author_saves_nothing(world: Store) -> None:
    before = count_products(world)
    ana = await person(world, "ana@x.org")

    for change, message in UNUSABLE:
        with pytest.raises(DomainError, match=message):
            await Notes(world).capture(author_id=ana, platform="local", **(GOOD | change))
    with pytest.raises(DomainError, match="staff directory"):
        await Notes(world).capture(author_id=999_999, platform="local", **GOOD)
    assert count_products(world) == before


async def test_odd_unicode_is_cleaned_and_real_text_kept(world: Store) -> None:
    note = await Notes(world).capture(
        author_id=await person(world, "ana@x.org"),
        title="Élections\u202e à Bangui 🗳️\u200b\x00",
        lesson="Cafe\u0301 \ud800talks\x07 with 👩\u200d👩\u200d👧 families; خطة"
        "\r\n\r\n\r\n\r\nend",
        platform="local",
    )

    assert note.title == "Élections à Bangui 🗳️"
    assert note.lesson == "Café talks with 👩\u200d👩\u200d👧 families; خطة\n\nend"


# Awaiting validation ---------------------------------------------------------------------------


async def test_who_has_what_awaiting_their_validation(world: Store) -> None:
    for email, expected in (
        # A manager: p4 is co-written by boss (nobody validates their own), p5 is restricted,
        # p6 validated already.
        ("boss@x.org", ["p1", "p2", "p8"]),
        # A PBPO scoped to BETA: by the product's mission (p2, p7) or its lead author's (p8).
        ("sam@x.org", ["p2", "p7", "p8"]),
    ):
        keys, total, validator = await awaiting_keys(world, email)

        assert sorted(keys) == expected, email
        assert (total, validator) == (len(expected), True), email
    for email in ("ana@x.org", "lone@x.org", "zed@x.org"):  # staff, and an admin
        assert await awaiting_keys(world, email) == ([], 0, False), email


async def test_an_all_missions_pbpo_sees_every_lesson_their_own_mission_first_the_first_few(
    world: Store,
) -> None:
    keys, total, _ = await awaiting_keys(world, "pia@x.org")

    assert keys == ["p4", "p1", "p8", "p7", "p3", "p2"]  # ALPHA, then the rest; newest first
    assert total == 6
    found = await Notes(world).awaiting_validation(await person(world, "pia@x.org"), limit=2)

    assert keys_of(world, [p.lesson_id for p in found.lessons]) == ["p4", "p1"]
    assert found.total == 6
    first = found.lessons[0]
    assert (first.title, first.mission, first.author) == ("Product p4", "ALPHA", "Ana Alpha")
    assert (first.date, first.kind) == (date(2026, 1, 4), "After-Action Review")


async def test_the_audience_and_the_reporting_line_decide_not_the_role(world: Store) -> None:
    boss = await person(world, "boss@x.org")
    assert "p5" not in (await awaiting_keys(world, "boss@x.org"))[0]
    with world.session() as s:
        s.add(PersonGroup(person_id=boss, group="secret"))

    assert "p5" in (await awaiting_keys(world, "boss@x.org"))[0]  # now in its audience
    with world.session() as s:
        s.execute(update(PersonRole).where(PersonRole.person_id == boss).values(role=Role.STAFF))
    keys, _, validator = await awaiting_keys(world, "boss@x.org")
    assert validator  # people still report to boss
    assert sorted(keys) == ["p1", "p2", "p5", "p8"]


# Recently applied ------------------------------------------------------------------------------


async def test_recently_applied_lessons_newest_first_within_the_audience(world: Store) -> None:
    notes = Notes(world)
    outsider = await notes.recent_applied(Viewer(None), limit=5)
    insider = await notes.recent_applied(await world.viewer_for(await person(world, "ana@x.org")))

    assert keys_of(world, [a.lesson_id for a in outsider]) == ["a3", "a1"]
    assert keys_of(world, [a.lesson_id for a in insider]) == ["a2", "a3", "a1"]
    assert insider[0].applied_on == date(2026, 6, 1)
    assert (insider[0].mission, insider[0].kind) == ("ALPHA", "After-Action Review")
    assert len(await notes.recent_applied(Viewer(None), limit=1)) == 1
