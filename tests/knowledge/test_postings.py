"""PostgreSQL's postings, built once per import: the same index, all-or-nothing, no leftovers."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from knowledge.errors import ImportFailed
from knowledge.models import ProductType
from knowledge.records import LessonRecord, PersonRecord, ProductRecord
from knowledge.search import postings
from knowledge.search.answer import Viewer
from knowledge.storage import Store

pytestmark = pytest.mark.parametrize("store", ["postgres"], indirect=True)
Records = list[tuple[int, PersonRecord | ProductRecord]]


def products(n: int, prefix: str = "p") -> Records:
    return [
        (
            i,
            ProductRecord(
                external_id=f"{prefix}{i}",
                type=ProductType.AAR,
                title=f"Convoy {i} to sector {i % 7}",
                summary="Escorts waited at the checkpoint for clearance.",
                date=date(2024, 1 + i % 12, 1),
                mission="UNMISS",
                themes=("logistics",),
                lessons=(
                    LessonRecord(
                        observation=f"Roadblock number {i} held the convoy.",
                        lesson="Clear the route first; carry a satellite phone.",
                        recommendation="Send a route reconnaissance a day ahead.",
                    ),
                ),
            ),
        )
        for i in range(n)
    ]


def index_of(store: Store) -> tuple[set[tuple[str, int, float]], dict[str, int], list[str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT term, lesson_id, impact FROM search_postings")).all()
        terms = dict(conn.execute(text("SELECT term, df FROM search_terms")).all())
        indexes = conn.execute(
            text(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'search_postings' "
                "AND schemaname = current_schema() ORDER BY indexname"
            )
        ).scalars()
        return {(t, int(i), round(float(s), 4)) for t, i, s in rows}, terms, list(indexes)


def staging_tables(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE tablename LIKE 'search_stage_%'")
            ).scalars()
        )


async def test_a_rebuild_makes_the_same_index_as_inserting_into_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postings, "REBUILD_MIN_POSTINGS", 10**12)  # into the indexes
    await store.import_records(products(40), source="t")
    inserted = index_of(store)
    with store.engine.begin() as conn:  # empty the index again, keeping its structure
        conn.execute(text("TRUNCATE search_postings, search_docs, search_terms, lessons CASCADE"))
        conn.execute(text("TRUNCATE products CASCADE"))
        conn.execute(text("DELETE FROM meta WHERE key = 'search_docs'"))
    monkeypatch.setattr(postings, "REBUILD_MIN_POSTINGS", 0)  # indexes dropped, built again
    await store.import_records(products(40), source="t")
    rebuilt = index_of(store)
    shift = min(i for _, i, _ in rebuilt[0]) - min(i for _, i, _ in inserted[0])  # new ids
    assert {(t, i - shift, s) for t, i, s in rebuilt[0]} == inserted[0]
    assert rebuilt[1] == inserted[1] and rebuilt[2] == inserted[2] and len(rebuilt[2]) == 2
    assert staging_tables(store) == []
    found = await store.ask("satellite phone on convoys", viewer=Viewer(None))
    assert len(found.hits) == 5


async def test_a_failed_import_indexes_nothing_and_leaves_no_table_behind(store: Store) -> None:
    await store.import_records(products(3), source="t")
    before = index_of(store)
    bad = ProductRecord(
        external_id="bad",
        type=ProductType.AAR,
        title="Bad",
        date=date(2024, 1, 1),
        authors=("nobody@un.example",),  # not in the directory: the row is refused
        lessons=(LessonRecord(lesson="Never indexed."),),
    )
    with pytest.raises(ImportFailed):
        await store.import_records([*products(1500, "q"), (1501, bad)], source="t")
    assert index_of(store) == before
    assert staging_tables(store) == []
    await store.import_records(products(2, "r"), source="t")  # the same pooled connection
    assert len(index_of(store)[0]) > len(before[0])
