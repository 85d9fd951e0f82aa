"""The hot path's caches and group commits: fast, and never stale after this process wrote."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import date

import pytest
from sqlalchemy import create_engine, select, text

from knowledge.batching import Batch
from knowledge.caching import Expiring, WriteWatch
from knowledge.models import ProductType, QuestionLesson
from knowledge.records import LessonRecord, PersonRecord, ProductRecord
from knowledge.search.answer import Viewer
from knowledge.storage import Store

ANYONE = Viewer(None)


class Ticks:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_expires_after_its_time() -> None:
    clock = Ticks()
    cache: Expiring[str, int] = Expiring(ttl=10, size=10, clock=clock)
    cache.put("a", 1, generation=0)
    clock.now = 9.9
    assert cache.get("a", 0) == 1
    clock.now = 10.1
    assert cache.get("a", 0) is None
    assert len(cache) == 0


def test_an_entry_from_an_older_generation_is_outdated() -> None:
    cache: Expiring[str, int] = Expiring(ttl=60, size=10)
    cache.put("a", 1, generation=3)
    assert cache.get("a", 3) == 1
    assert cache.get("a", 4) is None


def test_the_cache_keeps_only_its_size_dropping_the_oldest() -> None:
    cache: Expiring[int, int] = Expiring(ttl=60, size=3)
    for n in range(5):
        cache.put(n, n, generation=0)
    assert [cache.get(n, 0) for n in range(5)] == [None, None, 2, 3, 4]


def test_writes_to_content_tables_move_the_generation_and_the_hot_paths_own_do_not() -> None:
    engine = create_engine("sqlite://")
    watch = WriteWatch(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE lessons (id INTEGER PRIMARY KEY, t TEXT)"))
        conn.execute(text("CREATE TABLE questions (id INTEGER PRIMARY KEY, t TEXT)"))
        conn.execute(text("CREATE TEMP TABLE query_words (w TEXT)"))
        for bookkeeping in ("teams_references", "scheduler_notifications", "audit_events"):
            conn.execute(text(f"CREATE TABLE {bookkeeping} (id INTEGER PRIMARY KEY, t TEXT)"))
    start = watch.generation
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO questions (t) VALUES ('q')"))
        conn.execute(text("INSERT INTO teams_references (t) VALUES ('a Teams chat')"))
        conn.execute(text("UPDATE scheduler_notifications SET t = 'sent'"))
        conn.execute(text("INSERT INTO audit_events (t) VALUES ('granted')"))
        conn.execute(text("INSERT INTO temp.query_words (w) VALUES ('w')"))
        conn.execute(text("DELETE FROM temp.query_words"))
        conn.execute(text("SELECT * FROM lessons"))
        conn.execute(text("WITH x AS (SELECT 1) SELECT * FROM x"))
    assert watch.generation == start
    with engine.begin() as conn:
        conn.execute(text("UPDATE lessons SET t = 'x'"))
        during = watch.generation
    assert during > start
    assert watch.generation > during  # once more at commit


def _product(external_id: str, title: str, lesson: str, **fields: object) -> ProductRecord:
    return ProductRecord(
        external_id=external_id,
        type=ProductType.AAR,
        title=title,
        date=date(2025, 3, 1),
        mission="MINUSCA",
        lessons=(LessonRecord(lesson=lesson),),
        **fields,  # type: ignore[arg-type]
    )


async def test_an_answer_is_reused_until_the_index_changes(store: Store) -> None:
    await store.import_records(
        [(1, _product("p1", "Fuel convoys", "Escort fuel convoys at dawn."))], source="t"
    )
    first = await store.ask("fuel convoys", viewer=ANYONE)
    again = await store.ask("fuel convoys", viewer=ANYONE)
    assert again is first  # from the cache: no second search

    await store.import_records(
        [(2, _product("p2", "Fuel depots", "Guard fuel depots with the host state police."))],
        source="t",
    )
    changed = await store.ask("fuel convoys", viewer=ANYONE)
    assert changed is not first
    assert {h.title for h in changed.hits} == {"Fuel convoys", "Fuel depots"}


async def test_a_restricted_answer_is_never_shared_with_another_audience(store: Store) -> None:
    radio = _product("p1", "Radio codes", "Change radio codes weekly.", audience=("group:jmac",))
    await store.import_records([(1, radio)], source="t")
    insider = Viewer(None, frozenset({"group:jmac"}))
    assert [h.title for h in (await store.ask("radio codes", viewer=insider)).hits] == [
        "Radio codes"
    ]
    assert (await store.ask("radio codes", viewer=ANYONE)).hits == ()


async def test_people_whom_no_audience_names_share_one_cached_answer(store: Store) -> None:
    radio = _product("p1", "Radio codes", "Change radio codes weekly.", audience=("group:jmac",))
    fuel = _product("p2", "Fuel codes", "Label fuel drums with codes.")
    await store.import_records([(1, radio), (2, fuel)], source="t")
    amina = Viewer(1, frozenset({"person:amina@un.example", "group:staff"}))
    tomas = Viewer(2, frozenset({"person:tomas@un.example", "group:staff"}))
    insider = Viewer(3, frozenset({"person:kwame@un.example", "group:jmac"}))
    first = await store.ask("codes", viewer=amina)
    assert await store.ask("codes", viewer=tomas) is first  # no audience names either of them
    inside = await store.ask("codes", viewer=insider)
    assert inside is not first
    assert {h.title for h in inside.hits} == {"Radio codes", "Fuel codes"}
    assert {h.title for h in first.hits} == {"Fuel codes"}


async def test_a_linked_user_is_found_at_once_and_a_new_role_opens_lessons(store: Store) -> None:
    assert await store.person_for("slack", "U1") is None  # not cached: linking comes next
    person = await store.link_user("slack", "U1", email="a@un.example", name="A")
    assert await store.person_for("slack", "U1") == person

    before = await store.viewer_for(person)
    await store.import_records(
        [(1, PersonRecord(name="A", email="a@un.example", groups=("jmac",)))], source="t"
    )
    after = await store.viewer_for(person)
    assert "group:jmac" not in before.principals
    assert "group:jmac" in after.principals


async def test_concurrent_redeliveries_of_one_event_count_once(store: Store) -> None:
    found = await asyncio.gather(*(store.first_time("slack", "Ev1") for _ in range(5)))
    found += await asyncio.gather(
        store.first_time("slack", "Ev1"), store.first_time("slack", "Ev2")
    )
    assert found == [True, False, False, False, False, False, True]


async def test_two_replicas_agree_on_which_one_handles_an_event(store: Store) -> None:
    other = Store.open(store.engine.url.render_as_string(hide_password=False))
    try:
        results = await asyncio.gather(
            *(s.first_time("slack", f"Ev{n}") for n in range(20) for s in (store, other))
        )
    finally:
        other.close()
    assert sum(results) == 20
    assert all(a != b for a, b in zip(results[::2], results[1::2], strict=True))


async def test_questions_asked_together_get_their_own_ids_in_order(store: Store) -> None:
    ids = await asyncio.gather(
        *(
            store.log_question(f"question {n}", person_id=None, platform="slack", hits=n)
            for n in range(30)
        )
    )
    assert len(set(ids)) == 30
    texts = [(await store.question(i)).text for i in ids]
    assert texts == [f"question {n}" for n in range(30)]


async def test_logging_a_question_and_its_answer_leaves_the_caches_alone(store: Store) -> None:
    await store.import_records(
        [(1, _product("q1", "Fuel", "Night convoys need a fuel reserve."))], source="t"
    )
    answer = await store.ask("fuel convoys", viewer=ANYONE)
    assert answer.hits
    start = store.writes.generation
    await store.log_question(
        "fuel convoys", person_id=None, platform="slack", hits=len(answer.hits),
        lessons=[hit.lesson_id for hit in answer.hits],
    )  # fmt: skip
    assert store.writes.generation == start  # else every answer after a question is recomputed


async def test_a_lesson_gone_since_its_answer_does_not_lose_the_question(store: Store) -> None:
    await store.import_records(
        [(1, _product("q1", "Fuel", "Night convoys need a fuel reserve."))], source="t"
    )
    [hit] = (await store.ask("fuel convoys", viewer=ANYONE)).hits
    gone = hit.lesson_id + 1000  # re-imported away between the answer and the log
    asked = await asyncio.gather(
        store.log_question("fuel", person_id=None, platform="slack", hits=2,
                           lessons=[hit.lesson_id, gone]),
        store.log_question("convoys", person_id=None, platform="slack", hits=1,
                           lessons=[hit.lesson_id]),
    )  # fmt: skip
    with store.session() as s:
        given = s.execute(select(QuestionLesson.question_id, QuestionLesson.lesson_id)).all()
    assert sorted(given) == sorted((q, hit.lesson_id) for q in asked)


async def test_a_failed_group_fails_every_caller_and_the_next_group_goes_on() -> None:
    calls: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if 13 in items:
            raise RuntimeError("disk full")
        return [i * 2 for i in items]

    batch: Batch[int, int] = Batch(write)
    results = await asyncio.gather(*(batch.submit(i) for i in (12, 13)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await batch.submit(4) == 8
    assert calls[-1] == [4]


async def test_a_batch_never_writes_more_than_its_most_at_once() -> None:
    sizes: list[int] = []

    def write(items: Sequence[int]) -> list[int]:
        sizes.append(len(items))
        return list(items)

    batch: Batch[int, int] = Batch(write, most=7)
    assert await asyncio.gather(*(batch.submit(i) for i in range(20))) == list(range(20))
    assert max(sizes) <= 7
    assert sum(sizes) == 20


@pytest.mark.parametrize("count", [1, 2])
async def test_a_lone_write_goes_at_once(count: int) -> None:
    batch: Batch[int, int] = Batch(lambda items: list(items))
    for n in range(count):
        assert await asyncio.wait_for(batch.submit(n), timeout=2) == n


async def _until(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    for _ in range(int(seconds / 0.05)):
        if check():
            return True
        await asyncio.sleep(0.05)
    return check()


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_another_process_hears_a_committed_write_at_once_and_a_rolled_back_one_never(
    store: Store,
) -> None:
    other = Store.open(store.engine.url.render_as_string(hide_password=False))
    other.listen()
    store.listen()  # hears itself too, but ignores its own announcements
    try:
        listeners = [s._listener for s in (store, other) if s._listener is not None]
        assert await _until(lambda: all(x.listening.is_set() for x in listeners))
        cached = other.writes.generation
        with pytest.raises(RuntimeError), store.session() as s:
            s.execute(text("UPDATE products SET title = title"))
            s.execute(text("INSERT INTO meta (key, value) VALUES ('x', 'y')"))
            raise RuntimeError("rolled back")
        await asyncio.sleep(1.2)
        assert other.writes.generation == cached  # nothing committed, nothing heard
        await store.import_records(
            [(1, _product("n1", "Night convoys", "Fuel reserves for night convoys."))], source="t"
        )
        assert await _until(lambda: other.writes.generation > cached)
        assert store._listener is not None and store._listener.heard == 0
    finally:
        other.close()


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
async def test_a_write_in_another_schema_of_the_database_is_not_heard(store: Store) -> None:
    """Announcements name their schema: deployments (and parallel test runs) sharing one
    database in several schemas do not empty each other's caches."""
    from conftest import private_schema, schema_url

    from knowledge.database import make_engine, upgrade

    store.listen()
    with private_schema("lessons_elsewhere") as schema:
        engine = make_engine(schema_url(schema))
        upgrade(engine)
        engine.dispose()
        elsewhere = Store.open(schema_url(schema))
        try:
            assert store._listener is not None
            assert await _until(store._listener.listening.is_set)
            cached = store.writes.generation
            await elsewhere.import_records(
                [(1, _product("n1", "Night convoys", "Fuel reserves."))], source="t"
            )
            await asyncio.sleep(1.2)
            assert store.writes.generation == cached and store._listener.heard == 0
        finally:
            elsewhere.close()
