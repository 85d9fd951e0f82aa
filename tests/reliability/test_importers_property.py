"""Property-based tests of the importers: any bytes in any supported format give records or a
friendly `ImportFailed` (naming the row where it can), never another exception.

CSV gets the worst: other encodings (UTF-16, Latin-1, CP1252), BOMs, NUL bytes, CR-only line
ends, unbalanced quotes and 1 MB fields.
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

import hostile  # noqa: F401  (the hypothesis profile)
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from knowledge.errors import ImportFailed
from knowledge.importers import open_source
from knowledge.records import ProductRecord

TODAY = date(2026, 11, 25)
HEADER = "external_id,type,title,summary,date,authors,themes,observation,lesson,status"
GOOD_ROW = 'aar-1,aar,Fuel convoy AAR,,2024-03-01,A B,logistics,seen,"Vet, early",identified'
MEGABYTE = 1024 * 1024
CELL = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(['"', '""', "\x00", "\r", "\n", "=cmd|' /C calc'!A0", "\ufeff", ";;;", ","]),
)
ROW = st.lists(CELL, min_size=0, max_size=12).map(",".join)
ENCODING = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"])


def read_all(data: bytes, suffix: str) -> list[object]:
    """Write data to a file of this kind and read every record; ImportFailed passes through."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"import{suffix}"
        path.write_bytes(data)
        return [record for _, record in open_source(path).records(today=TODAY)]


def records_or_failure(data: bytes, suffix: str) -> list[object] | ImportFailed:
    try:
        return read_all(data, suffix)
    except ImportFailed as exc:
        assert exc.message and "Traceback" not in exc.message
        return exc


@given(st.lists(ROW, max_size=8), ENCODING, st.sampled_from(["\n", "\r\n", "\r"]))
@example([GOOD_ROW, "\x00" + GOOD_ROW.replace("aar-1", "aar-2")], "utf-8-sig", "\r\n")
def test_csv_rows_of_anything_import_or_fail_by_row(
    rows: list[str], encoding: str, newline: str
) -> None:
    text = newline.join([HEADER, *rows]) + newline
    data = text.encode(encoding, errors="replace")

    found = records_or_failure(data, ".csv")

    if isinstance(found, ImportFailed) and encoding in ("utf-16", "latin-1", "cp1252"):
        assert "UTF-8" in found.message or found.row is not None or "CSV" in found.message


@given(st.binary(max_size=2000))
@example(b"\xef\xbb\xbf" + HEADER.encode() + b"\n" + GOOD_ROW.encode())
@example(b"\xff\xfe" + HEADER.encode("utf-16-le"))
@example(b'"' * 3000)
@example(b"\x00" * 100)
def test_csv_of_random_bytes_imports_or_fails_with_a_message(data: bytes) -> None:
    records_or_failure(data, ".csv")


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".md"])
@given(data=st.binary(max_size=1500))
@example(data=b"[" * 100_000)  # RecursionError in json before the fix
@example(data=b'[{"external_id": "a", "type": "aar", "title": "t", "x": ' + b"[" * 5000 + b"]")
@example(data=b'{"a":' * 50_000)
@example(data=b"---\ntitle: x\n---\n" + b"#" * 10_000)
def test_other_formats_of_random_bytes_import_or_fail(suffix: str, data: bytes) -> None:
    records_or_failure(data, suffix)


@pytest.mark.parametrize("column", ["title", "summary", "lesson", "themes", "date"])
def test_a_one_megabyte_field_is_refused_by_row_and_field_or_kept(column: str) -> None:
    huge = "word " * (MEGABYTE // 5)
    row = {"external_id": "aar-1", "type": "aar", "title": "Title", "lesson": "Seen."}
    row[column] = huge
    cells = [f'"{row.get(name, "")}"' for name in HEADER.split(",")]
    data = (HEADER + "\n" + ",".join(cells) + "\n").encode()

    found = records_or_failure(data, ".csv")

    if isinstance(found, ImportFailed):
        assert (found.row, found.field) == (2, column)
        assert len(found.message) < 300  # the message names the limit, it does not echo
    else:
        (record,) = found
        assert isinstance(record, ProductRecord)


def test_a_row_of_nul_bytes_and_a_bom_in_the_middle_is_read_as_text() -> None:
    data = (HEADER + "\n" + GOOD_ROW.replace("Fuel", "\x00Fu\x00el\ufeff") + "\n").encode()

    (record,) = read_all(data, ".csv")

    assert isinstance(record, ProductRecord)
    assert "\x00" not in record.title
