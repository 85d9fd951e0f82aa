"""Store: importing records, all-or-nothing, and the lesson lifecycle, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import demo_records
from sqlalchemy import select

from knowledge.errors import DomainError, ImportFailed, LifecycleError, NotFound
from knowledge.models import (
    Action,
    ActionStatus,
    ImportRun,
    Lesson,
    LessonEvent,
    LessonStatus,
    Person,
    Product,
    ProductType,
    Role,
)
from knowledge.records import ActionRecord, LessonRecord, PersonRecord, ProductRecord
from knowledge.search.answer import Viewer
from knowledge.storage import Counts, Store

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "corpus.json"
CORPUS = json.loads(DEMO.read_text(encoding="utf-8"))
DEMO_COUNTS = Counts(
    products=len(CORPUS["products"]),
    lessons=sum(len(p["lessons"]) for p in CORPUS["products"]),
    actions=sum(len(x.get("actions", [])) for p in CORPUS["products"] for x in p["lessons"]),
    people=len(CORPUS["people"]),
)
ANYONE = Viewer(None)

Row = tuple[int, PersonRecord | ProductRecord]


def person(email: str, name: str = "", **fields: object) -> PersonRecord:
    """Return a person record; the name defaults to the email's local part."""
    return PersonRecord(name=name or email.split("@")[0], email=email, **fields)  # type: ignore[arg-type]


def lesson(text: str, **fields: object) -> LessonRecord:
    """Return a lesson record with this lesson text."""
    return LessonRecord(lesson=text, **fields)  # type: ignore[arg-type]


def product(
    external_id: str, title: str, *lessons: LessonRecord, **fields: object
) -> ProductRecord:
    """Return an AAR of 2025 in MINUSCA with these lessons (one plain lesson by default)."""
    values: dict[str, object] = {
        "type": ProductType.AAR,
        "date": date(2025, 3, 1),
        "mission": "MINUSCA",
        "summary": f"Summary of {title}.",
    } | fields
    body = lessons or (lesson("Check the fuel before the convoy leaves."),)
    return ProductRecord(external_id=external_id, title=title, lessons=body, **values)  # type: ignore[arg-type]


def rows(*records: PersonRecord | ProductRecord) -> list[Row]:
    """Number records from 1, as importers do."""
    return list(enumerate(records, start=1))


async def hit_ids(store: Store, question: str) -> list[str | None]:
    """Return the external ids of the products that answer the question."""
    answer = await store.ask(question, viewer=ANYONE, limit=10)
    return [h.external_id for h in answer.hits]


def lesson_ids(store: Store, external_id: str) -> list[int]:
    """Return the ids of a product's lessons, in order."""
    with store.session() as s:
        return list(
            s.scalars(
                select(Lesson.id)
                .join(Product, Product.id == Lesson.product_id)
                .where(Product.external_id == external_id)
                .order_by(Lesson.position)
            )
        )


def events(store: Store, lesson_id: int) -> list[tuple[str | None, str, str | None]]:
    """Return a lesson's lifecycle events as (from, to, note), oldest first."""
    with store.session() as s:
        found = s.execute(
            select(LessonEvent.from_status, LessonEvent.to_status, LessonEvent.note)
            .where(LessonEvent.lesson_id == lesson_id)
            .order_by(LessonEvent.id)
        )
        return [tuple(r) for r in found]  # type: ignore[misc]


# --- import --------------------------------------------------------------------------------------


async def test_demo_import_counts_what_the_corpus_holds(demo_store: Store) -> None:
    assert await demo_store.counts() == DEMO_COUNTS
    assert Counts(products=55, lessons=119, actions=96, people=17) == DEMO_COUNTS


async def test_first_import_reports_what_it_created(store: Store, today: date) -> None:
    stats = await store.import_records(demo_records(today), source="demo")
    assert (stats.created, stats.updated, stats.people) == (DEMO_COUNTS.products, 0, 17)
    assert (stats.lessons, stats.actions) == (DEMO_COUNTS.lessons, DEMO_COUNTS.actions)


async def test_reimport_is_idempotent_and_reports_updates(demo_store: Store, today: date) -> None:
    before = await hit_ids(demo_store, "what did we learn about elections?")
    stats = await demo_store.import_records(demo_records(today), source="demo again")
    assert (stats.created, stats.updated, stats.people) == (0, DEMO_COUNTS.products, 17)
    assert (stats.lessons, stats.actions) == (0, 0)
    assert await demo_store.counts() == DEMO_COUNTS
    assert await hit_ids(demo_store, "what did we learn about elections?") == before
    with demo_store.session() as s:
        runs = s.execute(select(ImportRun.source, ImportRun.created, ImportRun.updated)).all()
    assert [tuple(r) for r in runs] == [("demo", 55, 0), ("demo again", 0, 55)]


async def test_reimport_keeps_lifecycle_state(demo_store: Store, today: date) -> None:
    [first, *_] = lesson_ids(demo_store, "demo:minusca-cvr-2022")
    await demo_store.move_lesson(first, LessonStatus.VALIDATED)  # applied → validated (reopen)
    await demo_store.import_records(demo_records(today), source="demo again")
    assert (await demo_store.lesson(first)).status == LessonStatus.VALIDATED


async def test_reimport_with_a_changed_title_updates_it(store: Store) -> None:
    await store.import_records(
        rows(product("t:fuel", "Zephyrine convoy fuel audit"), product("t:other", "Rain")),
        source="one",
    )
    assert await hit_ids(store, "zephyrine") == ["t:fuel"]
    stats = await store.import_records(
        rows(product("t:fuel", "Quillback convoy fuel audit")), source="two"
    )
    assert (stats.created, stats.updated) == (0, 1)
    assert await hit_ids(store, "quillback") == ["t:fuel"]
    assert await hit_ids(store, "zephyrine") == []
    with store.session() as s:
        assert s.scalars(select(Product.title).where(Product.external_id == "t:fuel")).one() == (
            "Quillback convoy fuel audit"
        )
    assert await store.counts() == Counts(products=2, lessons=2, actions=0, people=0)


async def test_reimport_with_fewer_lessons_drops_the_rest(store: Store) -> None:
    three = product(
        "t:p", "Three lessons", lesson("Alpha wombat."), lesson("Beta wombat."), lesson("Gamma.")
    )
    await store.import_records(rows(three), source="one")
    await store.import_records(rows(replace(three, lessons=three.lessons[:1])), source="two")
    assert await store.counts() == Counts(products=1, lessons=1, actions=0, people=0)
    answer = await store.ask("wombat", viewer=ANYONE)
    assert [h.takeaway for h in answer.hits] == ["Alpha wombat."]


async def test_authors_by_name_become_people_once(store: Store) -> None:
    record = product("t:p", "Named authors", authors=("Ada Obi", "ada obi", "Bo Li"))
    await store.import_records(rows(record), source="one")
    await store.import_records(rows(record), source="two")
    with store.session() as s:
        names = sorted(s.scalars(select(Person.name)))
    assert names == ["Ada Obi", "Bo Li"]


# --- all or nothing ------------------------------------------------------------------------------


async def assert_nothing_written(store: Store, records: list[Row], row: int, field: str) -> str:
    """Import records that must fail at row/field; return the message after checking no change."""
    counts = await store.counts()
    elections = await hit_ids(store, "elections")
    with pytest.raises(ImportFailed) as info:
        await store.import_records(records, source="bad")
    assert (info.value.row, info.value.field) == (row, field)
    assert str(info.value).startswith(f"row {row}, field '{field}': ")
    assert await store.counts() == counts
    assert await hit_ids(store, "elections") == elections
    assert await hit_ids(store, "marmalade") == []
    with store.session() as s:
        assert s.scalars(select(ImportRun.source).where(ImportRun.source == "bad")).all() == []
    return info.value.message


async def test_unknown_action_owner_fails_the_whole_batch(demo_store: Store) -> None:
    good = product("t:good", "Marmalade logistics")
    bad = product(
        "t:bad",
        "Marmalade convoy",
        lesson(
            "Marmalade travels badly.",
            status=LessonStatus.VALIDATED,
            actions=(ActionRecord("Pack it better", owner_email="ghost@un.example"),),
        ),
    )
    records = rows(person("new.person@un.example"), good, bad)
    message = await assert_nothing_written(demo_store, records, row=3, field="owner")
    assert message == (
        "row 3, field 'owner': 'ghost@un.example' is not in the directory; add them under 'people'"
    )
    assert await demo_store.person_by_email("new.person@un.example") is None


async def test_unknown_manager_fails_the_whole_batch(demo_store: Store) -> None:
    records = rows(
        product("t:good", "Marmalade logistics"),
        person("new.person@un.example", manager_email="nobody@un.example"),
    )
    message = await assert_nothing_written(demo_store, records, row=2, field="manager")
    assert "manager 'nobody@un.example' is not in the directory" in message


async def test_bad_author_in_an_update_leaves_the_product_as_it_was(demo_store: Store) -> None:
    [original] = [p for p in CORPUS["products"] if p["external_id"] == "demo:minusca-cvr-2022"]
    changed = product("demo:minusca-cvr-2022", "Marmalade CVR", authors=("ghost@un.example",))
    await assert_nothing_written(demo_store, rows(changed), row=1, field="authors")
    with demo_store.session() as s:
        title = s.scalars(
            select(Product.title).where(Product.external_id == "demo:minusca-cvr-2022")
        ).one()
    assert title == original["title"]
    assert len(lesson_ids(demo_store, "demo:minusca-cvr-2022")) == len(original["lessons"])


async def test_failed_import_into_an_empty_store_leaves_it_empty(store: Store) -> None:
    bad = product(
        "t:bad",
        "Marmalade",
        lesson(
            "x",
            status=LessonStatus.VALIDATED,
            actions=(ActionRecord("y", owner_email="ghost@un.example"),),
        ),
    )
    await assert_nothing_written(store, rows(bad), row=1, field="owner")
    assert await store.counts() == Counts(0, 0, 0, 0)


# --- lifecycle through the Store -----------------------------------------------------------------


async def one_lesson(store: Store, **fields: object) -> int:
    """Import a product with one lesson and a PBPO; return the lesson id."""
    await store.import_records(
        rows(
            person("pbpo@un.example", roles=(Role.PBPO,)),
            person("owner@un.example"),
            product("t:life", "Lifecycle", lesson("Plan the rains.", **fields)),
        ),
        source="t",
    )
    [lesson_id] = lesson_ids(store, "t:life")
    return lesson_id


async def test_lesson_is_applied_when_its_last_action_closes(store: Store, now: datetime) -> None:
    lesson_id = await one_lesson(store)
    pbpo = await store.person_for("local", "PBPO@un.example")
    owner = await store.person_for("local", "owner@un.example")
    assert pbpo is not None and owner is not None

    validated = await store.move_lesson(lesson_id, LessonStatus.VALIDATED, actor_id=pbpo)
    assert validated.status == LessonStatus.VALIDATED
    assert (validated.validated_at, validated.validated_by_id) == (now, pbpo)

    first = await store.add_action(lesson_id, " Book helicopters ", owner_id=owner, due_date=None)
    second = await store.add_action(lesson_id, "Move the calendar", owner_id=None, due_date=None)
    assert (first.description, first.status, first.owner_id) == (
        "Book helicopters",
        ActionStatus.OPEN,
        owner,
    )

    with pytest.raises(LifecycleError, match="needs a short note of the evidence"):
        await store.move_action(first.id, ActionStatus.DONE, evidence="  ")
    done = await store.move_action(first.id, ActionStatus.DONE, evidence="Contract of 3 May")
    assert (done.status, done.evidence, done.closed_at) == (
        ActionStatus.DONE,
        "Contract of 3 May",
        now,
    )
    assert (await store.lesson(lesson_id)).status == LessonStatus.VALIDATED  # one still open

    await store.move_action(
        second.id, ActionStatus.NOT_DOING, actor_id=owner, reason="Law fixes it"
    )
    applied = await store.lesson(lesson_id)
    assert applied.status == LessonStatus.APPLIED
    assert applied.applied_at == now
    assert [a.status for a in applied.actions] == [ActionStatus.DONE, ActionStatus.NOT_DOING]
    assert events(store, lesson_id) == [
        ("identified", "validated", None),
        ("validated", "applied", "every action is closed"),
    ]

    reopened = await store.move_action(first.id, ActionStatus.OPEN)
    assert (reopened.status, reopened.closed_at) == (ActionStatus.OPEN, None)
    assert (await store.lesson(lesson_id)).status == LessonStatus.VALIDATED
    assert events(store, lesson_id)[-1] == ("applied", "validated", "an action was reopened")


async def test_only_not_doing_actions_do_not_apply_a_lesson(store: Store) -> None:
    lesson_id = await one_lesson(store)
    await store.move_lesson(lesson_id, LessonStatus.VALIDATED)
    action = await store.add_action(lesson_id, "Ask for money", owner_id=None, due_date=None)
    await store.move_action(action.id, ActionStatus.NOT_DOING, reason="No budget")
    assert (await store.lesson(lesson_id)).status == LessonStatus.VALIDATED
    with pytest.raises(LifecycleError) as info:
        await store.move_lesson(lesson_id, LessonStatus.APPLIED)
    assert info.value.message.endswith("no action was done.")


async def test_applying_by_hand_with_open_actions_is_refused(store: Store) -> None:
    lesson_id = await one_lesson(store)
    await store.move_lesson(lesson_id, LessonStatus.VALIDATED)
    await store.add_action(lesson_id, "Do it", owner_id=None, due_date=date(2027, 1, 1))
    with pytest.raises(LifecycleError) as info:
        await store.move_lesson(lesson_id, LessonStatus.APPLIED)
    assert info.value.message == "A lesson is applied only when every action is done: 1 still open."
    assert (await store.lesson(lesson_id)).status == LessonStatus.VALIDATED
    assert events(store, lesson_id) == [("identified", "validated", None)]


async def test_new_action_on_an_applied_lesson_reopens_it(store: Store) -> None:
    lesson_id = await one_lesson(store)
    await store.move_lesson(lesson_id, LessonStatus.VALIDATED)
    action = await store.add_action(lesson_id, "Do it", owner_id=None, due_date=None)
    await store.move_action(action.id, ActionStatus.DONE, evidence="Done on 1 May")
    assert (await store.lesson(lesson_id)).status == LessonStatus.APPLIED
    await store.add_action(lesson_id, "Do more", owner_id=None, due_date=None)
    assert (await store.lesson(lesson_id)).status == LessonStatus.VALIDATED
    assert events(store, lesson_id)[-1] == (
        "applied",
        "validated",
        "reopened: a new action was added",
    )


async def test_reject_needs_a_reason_and_reopen_clears_it(store: Store, now: datetime) -> None:
    lesson_id = await one_lesson(store)
    for note in (None, "", "   "):
        with pytest.raises(DomainError) as info:
            await store.move_lesson(lesson_id, LessonStatus.REJECTED, note=note)
        assert info.value.message == "Rejecting a lesson needs a short reason for its author."
    assert (await store.lesson(lesson_id)).status == LessonStatus.IDENTIFIED

    rejected = await store.move_lesson(lesson_id, LessonStatus.REJECTED, note="Duplicate of #3")
    assert (rejected.status, rejected.rejection_reason, rejected.rejected_at) == (
        LessonStatus.REJECTED,
        "Duplicate of #3",
        now,
    )
    with pytest.raises(LifecycleError, match="validate it first"):
        await store.add_action(lesson_id, "Do it", owner_id=None, due_date=None)

    reopened = await store.move_lesson(lesson_id, LessonStatus.IDENTIFIED)
    assert (reopened.status, reopened.rejection_reason, reopened.rejected_at) == (
        LessonStatus.IDENTIFIED,
        None,
        None,
    )
    assert events(store, lesson_id) == [
        ("identified", "rejected", "Duplicate of #3"),
        ("rejected", "identified", None),
    ]


async def test_add_action_on_an_identified_lesson_is_refused(store: Store) -> None:
    lesson_id = await one_lesson(store)
    with pytest.raises(LifecycleError) as info:
        await store.add_action(lesson_id, "Do it", owner_id=None, due_date=None)
    assert info.value.message == (
        "Actions follow validation: this lesson is identified, so validate it first."
    )
    assert (await store.counts()).actions == 0


async def test_add_action_needs_a_description(store: Store) -> None:
    lesson_id = await one_lesson(store)
    await store.move_lesson(lesson_id, LessonStatus.VALIDATED)
    with pytest.raises(DomainError, match="needs a description"):
        await store.add_action(lesson_id, "  ", owner_id=None, due_date=None)
    assert (await store.counts()).actions == 0


async def test_disallowed_lesson_move_changes_nothing(store: Store) -> None:
    lesson_id = await one_lesson(store)
    with pytest.raises(LifecycleError, match="from identified to applied"):
        await store.move_lesson(lesson_id, LessonStatus.APPLIED)
    assert (await store.lesson(lesson_id)).status == LessonStatus.IDENTIFIED
    assert events(store, lesson_id) == []


async def test_imported_lifecycle_state_is_kept(store: Store) -> None:
    record = lesson(
        "Plan the rains.",
        status=LessonStatus.APPLIED,
        validated_on=date(2025, 4, 1),
        actions=(ActionRecord("Did it", status=ActionStatus.DONE, evidence="Report"),),
    )
    lesson_id = await one_lesson(
        store, **{f: getattr(record, f) for f in ("status", "validated_on", "actions")}
    )
    found = await store.lesson(lesson_id)
    assert found.status == LessonStatus.APPLIED
    # Read back aware and in UTC on both backends (SQLite keeps no offset of its own).
    assert found.identified_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert found.validated_at == datetime(2025, 4, 1, 12, 0, tzinfo=UTC)
    assert found.validated_at.tzinfo == UTC and found.updated_at.tzinfo == UTC
    assert [(a.description, a.status, a.evidence) for a in found.actions] == [
        ("Did it", ActionStatus.DONE, "Report")
    ]
    assert found.product.external_id == "t:life"


async def test_datetimes_are_stored_in_utc_and_read_back_aware(store: Store, now: datetime) -> None:
    lesson_id = await one_lesson(store)
    store.clock = lambda: now.astimezone(timezone(timedelta(hours=3)))  # same instant, in Nairobi
    await store.move_lesson(lesson_id, LessonStatus.VALIDATED)
    found = await store.lesson(lesson_id)
    assert found.validated_at == now
    assert found.validated_at is not None and found.validated_at.utcoffset() == timedelta(0)
    with store.session() as s:
        at = s.scalars(select(LessonEvent.at).where(LessonEvent.lesson_id == lesson_id)).one()
    assert (at, at.tzinfo) == (now, UTC)


# --- not found -----------------------------------------------------------------------------------


async def test_unknown_ids_raise_not_found(demo_store: Store) -> None:
    missing = 10**6
    with pytest.raises(NotFound, match=f"no lesson #{missing}"):
        await demo_store.lesson(missing)
    with pytest.raises(NotFound, match=f"no lesson #{missing}"):
        await demo_store.move_lesson(missing, LessonStatus.VALIDATED)
    with pytest.raises(NotFound, match=f"no lesson #{missing}"):
        await demo_store.add_action(missing, "Do it", owner_id=None, due_date=None)
    with pytest.raises(NotFound, match=f"no action #{missing}"):
        await demo_store.move_action(missing, ActionStatus.DONE, evidence="e")
    with pytest.raises(NotFound, match="not in the directory"):
        await demo_store.viewer_for(missing)
    assert await demo_store.person_for("slack", "U404") is None
    assert await demo_store.person_by_email("nobody@un.example") is None
    assert await demo_store.counts() == DEMO_COUNTS


async def test_demo_actions_have_owners_from_the_directory(demo_store: Store) -> None:
    with demo_store.session() as s:
        owners = s.scalars(select(Action.owner_id).where(Action.owner_id.is_(None))).all()
        emails = set(s.scalars(select(Person.email)))
    assert owners == []
    assert emails == {p["email"] for p in CORPUS["people"]}


async def test_long_themes_and_tokens_import_on_every_backend(store: Store, today: date) -> None:
    """LLIS has topics over 64 characters; text can hold very long tokens (URLs, hashes)."""
    long_theme = "risk management / assessment and " * 4
    long_token = "x" * 300
    record = ProductRecord.from_mapping(
        {
            "external_id": "long:1",
            "type": "aar",
            "title": "Convoy planning",
            "themes": [long_theme],
            "lessons": [
                {"lesson": f"Plan convoys early. {long_token} https://a.example/{long_token}"}
            ],
        },
        today=today,
    )
    await store.import_records([(1, record)], source="long")
    answer = await store.ask("convoy planning", viewer=Viewer(None))
    assert [h.external_id for h in answer.hits] == ["long:1"]
    assert len(answer.hits[0].themes[0]) == 64
