"""The import's progress bar: on a terminal, for imports of thousands of records, both backends."""

from __future__ import annotations

import io
from datetime import date

from bot.progress import SHOWN_FROM, progress_bar
from knowledge.models import ProductType
from knowledge.records import LessonRecord, PersonRecord, ProductRecord
from knowledge.storage import Store


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def records(n: int) -> list[tuple[int, PersonRecord | ProductRecord]]:
    return [
        (
            i,
            ProductRecord(
                external_id=f"p{i}",
                type=ProductType.AAR,
                title=f"Convoy {i}",
                date=date(2024, 1, 1),
                lessons=(LessonRecord(lesson=f"Clear the route first ({i})."),),
            ),
        )
        for i in range(n)
    ]


def test_no_bar_for_a_small_import_or_off_a_terminal() -> None:
    assert progress_bar(SHOWN_FROM - 1, Terminal()) is None
    assert progress_bar(100_000, io.StringIO()) is None


async def test_a_large_import_shows_its_progress_then_the_indexing_step(store: Store) -> None:
    terminal, n = Terminal(), SHOWN_FROM + 100
    await store.import_records(records(n), source="t", progress=progress_bar(n, terminal))
    shown = terminal.getvalue()
    assert f"1,000/{n:,} records" in shown and f"{n:,}/{n:,} records" in shown
    assert shown.endswith("building the search index…\n")
    assert shown.count("\r") == 4  # after each full batch of 1,000, and once at the end
