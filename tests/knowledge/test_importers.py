"""Importers: each file format read into validated records, and the errors users see."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from itertools import islice
from pathlib import Path

import pytest

from knowledge import importers, jsonstream
from knowledge.errors import ImportFailed
from knowledge.importers import Record, Source, open_source
from knowledge.models import LessonStatus, ProductType, Role
from knowledge.records import MAX_TITLE, PersonRecord, ProductRecord

TODAY = date(2026, 11, 25)
DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "corpus.json"
SHARED = Path(
    os.environ.get("LESSONS_SHARED_DIR") or Path(__file__).resolve().parents[3] / "shared"
)
LLIS = SHARED / "data" / "llis" / "llis_2021-12-10.jsonl"
needs_llis = pytest.mark.skipif(
    not LLIS.is_file(), reason=f"NASA LLIS export not found at {LLIS} (set LESSONS_SHARED_DIR)"
)

PRODUCT = {
    "external_id": "aar-1",
    "type": "aar",
    "title": "Fuel convoy AAR",
    "lessons": [{"lesson": "Vet the fuel suppliers early."}],
}
PERSON = {"name": "Amina Diallo", "email": "Amina.Diallo@un.example", "roles": ["staff"]}
CSV_HEADER = "external_id,type,title,summary,date,authors,themes,observation,lesson,status\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path) -> list[tuple[int, Record]]:
    return list(open_source(path).records(today=TODAY))


def products(path: Path) -> list[ProductRecord]:
    found = [record for _, record in read(path)]
    assert all(isinstance(r, ProductRecord) for r in found)
    return [r for r in found if isinstance(r, ProductRecord)]


def failure(path: Path) -> ImportFailed:
    with pytest.raises(ImportFailed) as info:
        read(path)
    return info.value


# --- JSON ----------------------------------------------------------------------------------------


def test_json_list_of_products(tmp_path: Path) -> None:
    second = {**PRODUCT, "external_id": "aar-2", "themes": ["Fuel Supply", "logistics"]}
    path = write(tmp_path / "products.json", json.dumps([PRODUCT, second]))
    source = open_source(path)
    assert source.format == "json"
    assert source.estimate() == 2
    rows = list(source.records(today=TODAY))
    assert [row for row, _ in rows] == [1, 2]
    first, last = (r for _, r in rows)
    assert isinstance(first, ProductRecord) and isinstance(last, ProductRecord)
    assert first.type == ProductType.AAR
    assert first.lessons[0].lesson == "Vet the fuel suppliers early."
    assert last.themes == ("fuel-supply", "logistics")


def test_json_people_and_products(tmp_path: Path) -> None:
    data = {
        "people": [PERSON, {**PERSON, "email": "b@un.example", "assignment_end_in_days": 10}],
        "products": [PRODUCT],
        "notes": {"ignored": True},
    }
    rows = read(write(tmp_path / "corpus.json", json.dumps(data, indent=2)))
    assert [(row, type(r).__name__) for row, r in rows] == [
        (1, "PersonRecord"),
        (2, "PersonRecord"),
        (1, "ProductRecord"),
    ]
    first, second = rows[0][1], rows[1][1]
    assert isinstance(first, PersonRecord) and isinstance(second, PersonRecord)
    assert first.email == "amina.diallo@un.example"
    assert second.assignment_end == TODAY + timedelta(days=10)


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_json_demo_corpus_streams_in_small_chunks(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = json.loads(DEMO.read_text(encoding="utf-8"))
    expected = [PersonRecord.from_mapping(p, today=TODAY) for p in whole["people"]] + [
        ProductRecord.from_mapping(p, today=TODAY) for p in whole["products"]
    ]
    # Values, keys, numbers (and the estimate's needles) straddle reads.
    monkeypatch.setattr(jsonstream, "_CHUNK", chunk)
    monkeypatch.setattr(importers, "_CHUNK", chunk)
    source = open_source(DEMO)
    assert [record for _, record in source.records(today=TODAY)] == expected
    assert source.estimate() == len(expected) == 72


def test_json_error_names_line_and_column(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = '{\n  "products": [\n    {"external_id": "a", "type": "aar",, "title": "x"}\n  ]\n}\n'
    path = write(tmp_path / "broken.json", text)
    message = str(failure(path))
    assert "broken.json is not valid JSON" in message
    assert "line 3, column 40" in message
    monkeypatch.setattr(jsonstream, "_CHUNK", 5)
    assert str(failure(path)) == message


def test_json_rejects_other_shapes(tmp_path: Path) -> None:
    assert "must hold a list of products" in str(failure(write(tmp_path / "a.json", '"x"')))
    error = failure(write(tmp_path / "b.json", '{"people": {"name": "x"}}'))
    assert (error.field, str(error)) == ("people", "field 'people': must be a list")
    error = failure(write(tmp_path / "c.json", "[1]"))
    assert str(error) == "row 1: must be an object, not int"
    assert "Extra data" in str(failure(write(tmp_path / "d.json", "[] []")))
    assert "Expecting value at line 1, column 1" in str(failure(write(tmp_path / "e.json", "")))


# --- JSONL ---------------------------------------------------------------------------------------


def test_jsonl_one_product_a_line(tmp_path: Path) -> None:
    lines = [json.dumps(PRODUCT), "", json.dumps({**PRODUCT, "external_id": "aar-2"})]
    path = write(tmp_path / "products.jsonl", "\n".join(lines) + "\n")
    source = open_source(path)
    assert source.format == "jsonl"
    assert source.estimate() == 3
    rows = list(source.records(today=TODAY))
    assert [(row, r.external_id) for row, r in rows if isinstance(r, ProductRecord)] == [
        (1, "aar-1"),
        (3, "aar-2"),
    ]


def test_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.jsonl", json.dumps(PRODUCT) + "\n{not json}\n")
    assert str(failure(path)).startswith("row 2: is not valid JSON: Expecting property name")
    no_title = {key: value for key, value in PRODUCT.items() if key != "title"}
    path = write(tmp_path / "untitled.jsonl", f"\n{json.dumps(no_title)}\n")
    error = failure(path)
    assert (error.row, error.field, str(error)) == (2, "title", "row 2, field 'title': is required")


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_with_bom_nul_and_semicolon_lists(tmp_path: Path) -> None:
    text = (
        "\ufeff"
        + CSV_HEADER.replace("\n", ",extra\n")
        + 'aar-1,AAR,Fuel convoy,"Short, sweet",2024-03-01,a@un.example; b@un.example,'
        "Fuel Supply;Logistics,Trucks\x00 were late,Vet suppliers early,validated,ignored\n"
        'pn-1,Practice Note,"A note\nover two lines",,,,,,,,\n'
        "\n"
        "pn-2,practice_note,No lesson,,,,,,,,\n"
    )
    path = tmp_path / "products.csv"
    path.write_bytes(text.encode("utf-8"))
    source = open_source(path)
    assert (source.format, source.estimate()) == ("csv", 5)
    rows = list(source.records(today=TODAY))
    assert [row for row, _ in rows] == [2, 3, 6]
    first, second, third = (r for _, r in rows)
    assert isinstance(first, ProductRecord) and isinstance(second, ProductRecord)
    assert isinstance(third, ProductRecord)
    assert first.external_id == "aar-1" and first.type == ProductType.AAR
    assert first.summary == "Short, sweet"
    assert first.date == date(2024, 3, 1)
    assert first.authors == ("a@un.example", "b@un.example")
    assert first.themes == ("fuel-supply", "logistics")
    (lesson,) = first.lessons
    assert lesson.observation == "Trucks were late"
    assert lesson.lesson == "Vet suppliers early"
    assert lesson.status == LessonStatus.VALIDATED
    assert second.type == ProductType.PRACTICE_NOTE and second.title == "A note\nover two lines"
    assert second.lessons == () and third.external_id == "pn-2"


def test_csv_of_people(tmp_path: Path) -> None:
    text = (
        "name,email,roles,mission,timezone,desk\n"
        "Grace,grace@un.example,manager; pbpo,UNMISS,Africa/Juba,ignored\n"
    )
    rows = read(write(tmp_path / "people.csv", text))
    assert len(rows) == 1
    row, person = rows[0]
    assert row == 2 and isinstance(person, PersonRecord)
    assert person.roles == (Role.MANAGER, Role.PBPO)
    assert (person.mission, person.timezone) == ("UNMISS", "Africa/Juba")


def test_csv_without_required_columns_fails_before_any_row(tmp_path: Path) -> None:
    path = write(tmp_path / "odd.csv", "id,kind,headline\n1,aar,Fuel\n")
    message = str(failure(path))
    assert "lacks the column(s) external_id, type, title" in message
    assert "found: id, kind, headline" in message
    assert "is empty" in str(failure(write(tmp_path / "empty.csv", "")))


def test_csv_errors_name_row_and_field(tmp_path: Path) -> None:
    rows = "aar-1,aar,Fine,,2023-12-01,,,,x,\naar-2,aar,Bad date,,2023-13-45,,,,x,\n"
    error = failure(write(tmp_path / "dates.csv", CSV_HEADER + rows))
    assert (error.row, error.field) == (3, "date")
    assert str(error) == "row 3, field 'date': '2023-13-45' is not a date (use YYYY-MM-DD)"
    path = tmp_path / "latin1.csv"
    path.write_bytes((CSV_HEADER + "aar-1,aar,Caf\xe9,,,,,,x,\n").encode("latin-1"))
    error = failure(path)
    assert error.row == 2 and "is not UTF-8 text" in str(error)


def test_unknown_type_lists_the_allowed_ones(tmp_path: Path) -> None:
    error = failure(write(tmp_path / "t.csv", CSV_HEADER + "x-1,memo,Memo,,,,,,x,\n"))
    assert error.field == "type"
    assert str(error) == (
        "row 2, field 'type': 'memo' is not one of: "
        "aar, eoar, practice_note, survey_of_practice, lessons_learned_study, note"
    )


def test_wrong_email_names_row_and_field(tmp_path: Path) -> None:
    data = {"people": [PERSON, {**PERSON, "email": "amina at un"}]}
    error = failure(write(tmp_path / "people.json", json.dumps(data)))
    assert (error.row, error.field) == (2, "email")
    expected = "row 2, field 'email': 'amina at un' is not an email address (in \"people\")"
    assert str(error) == expected


# --- Markdown ------------------------------------------------------------------------------------

SECTIONED = """---
type: "After-Action Review"
title: 'Elections: logistics'
date: 2024-05-02
themes: [Elections, "Logistics"]
authors:
  - a@un.example
  - "b@un.example"
lesson_status: validated
---
Context before any section.

## Observation
Ballots arrived late.

## Lesson: Plan the airlift
Book helicopters a month ahead.

## Recommendation
Sign a standby contract.

## Recommendations
Review it yearly.

## Lesson 2
Train polling staff on site.

## Observation
Radios failed.
"""


def test_markdown_with_sections(tmp_path: Path) -> None:
    source = open_source(write(tmp_path / "elections.markdown", SECTIONED))
    assert (source.format, source.estimate()) == ("markdown", 1)
    ((row, product),) = list(source.records(today=TODAY))
    assert row == 1 and isinstance(product, ProductRecord)
    assert product.external_id == "md:elections"
    assert (product.type, product.title) == (ProductType.AAR, "Elections: logistics")
    assert product.date == date(2024, 5, 2)
    assert product.themes == ("elections", "logistics")
    assert product.authors == ("a@un.example", "b@un.example")
    assert product.body == "Context before any section."
    first, second, third = product.lessons
    assert first.observation == "Ballots arrived late."
    assert (first.title, first.lesson) == ("Plan the airlift", "Book helicopters a month ahead.")
    assert first.recommendation == "Sign a standby contract.\n\nReview it yearly."
    assert first.status == LessonStatus.VALIDATED
    assert (second.lesson, second.observation) == ("Train polling staff on site.", "")
    assert (third.observation, third.lesson) == ("Radios failed.", "")


def test_markdown_without_sections(tmp_path: Path) -> None:
    long = "word " * 300
    text = (
        "---\nexternal_id: pn-7\ntype: practice_note\ntitle: Radios\n---\n"
        "# Radios\n\nCharge the radios nightly.\nKeep spares.\n\n" + long + "\n\nLast part.\n"
    )
    (product,) = products(write(tmp_path / "radios.md", text))
    assert product.external_id == "pn-7"
    assert product.body.startswith("# Radios") and product.body.endswith("Last part.")
    (lesson,) = product.lessons
    assert lesson.lesson == "Charge the radios nightly.\nKeep spares."
    assert lesson.status == LessonStatus.IDENTIFIED
    only_long = "---\ntype: aar\ntitle: Long\n---\n" + long
    (product,) = products(write(tmp_path / "long.md", only_long))
    assert len(product.lessons[0].lesson) <= 1_000 and product.lessons[0].lesson.endswith("…")


def test_markdown_errors(tmp_path: Path) -> None:
    error = failure(write(tmp_path / "a.md", "---\ntype: aar\ntitle: X\n"))
    assert str(error) == "row 1: the front matter has no closing '---' line"
    error = failure(write(tmp_path / "b.md", "---\ntype: aar\njust words\n---\nBody\n"))
    assert "front matter line 3 is not 'key: value'" in str(error)
    error = failure(write(tmp_path / "c.md", "---\ntype: aar\n---\nBody\n"))
    assert str(error) == "row 1, field 'title': is required"


# --- NASA LLIS -----------------------------------------------------------------------------------


@needs_llis
def test_llis_first_lines(tmp_path: Path) -> None:
    with LLIS.open(encoding="utf-8") as handle:
        lines = list(islice(handle, 3))
    path = write(tmp_path / "llis.jsonl", "".join(lines))
    source = open_source(path)
    assert (source.format, source.estimate()) == ("llis", 3)
    rows = list(source.records(today=TODAY))
    assert [row for row, _ in rows] == [1, 2, 3]
    raw = json.loads(lines[0])
    product = rows[0][1]
    assert isinstance(product, ProductRecord)
    assert product.external_id == f"llis:{raw['lesson_id']}"
    assert product.type == ProductType.LESSONS_LEARNED_STUDY
    assert product.title == raw["title"]
    assert product.summary == (raw["abstract"] or "")
    assert product.body == (raw["evidence"] or "")
    assert product.date == date.fromisoformat(raw["lesson_date"])
    assert (product.mission, product.source_url) == (raw["organization"], raw["url"])
    assert "test-facility" in product.themes
    (lesson,) = product.lessons
    assert lesson.observation == raw["driving_event"].strip()
    assert lesson.lesson == raw["lessons_learned"].strip()
    assert lesson.recommendation == raw["recommendations"].strip()
    assert lesson.status == LessonStatus.VALIDATED


@needs_llis
def test_llis_whole_export() -> None:
    source = open_source(LLIS)
    assert source.format == "llis"
    assert source.estimate() == 2_102
    records = [record for _, record in source.records(today=TODAY)]
    assert len(records) == 2_102
    ids = {r.external_id for r in records if isinstance(r, ProductRecord)}
    assert len(ids) == 2_102


def test_llis_odd_lines_are_tolerated(tmp_path: Path) -> None:
    base = {"lesson_id": 1, "lessons_learned": "Test the test rig.", "url": "https://x.example"}
    lines = [
        {**base, "title": "Odd date", "lesson_date": "unknown", "publish_date": "2019-02-30"},
        {**base, "lesson_id": 2, "title": None, "lesson_date": "1999-01-05T00:00:00"},
        {**base, "lesson_id": 3, "title": "T" * 600, "publish_date": "2001-02-03"},
        {"lesson_id": 4, "title": "Report", "abstract": "Only a summary.", "lessons_learned": None},
    ]
    path = write(tmp_path / "odd.jsonl", "\n".join(json.dumps(line) for line in lines))
    assert open_source(path).format == "llis"
    odd, untitled, long, report = products(path)
    assert odd.date is None and odd.title == "Odd date"
    assert untitled.title == "Test the test rig." and untitled.date == date(1999, 1, 5)
    assert len(long.title) == MAX_TITLE and long.date == date(2001, 2, 3)
    assert report.lessons[0].lesson == "Only a summary." and report.summary == "Only a summary."


# --- opening files -------------------------------------------------------------------------------


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match=r"notes\.txt has an unknown file type '\.txt'"):
        open_source(write(tmp_path / "notes.txt", "hello"))
    with pytest.raises(ImportFailed, match=r"Supported: \.json, \.jsonl, \.csv, \.md"):
        open_source(write(tmp_path / "notes.xlsx", "hello"))
    with pytest.raises(ImportFailed, match=r"missing\.json does not exist"):
        open_source(tmp_path / "missing.json")
    with pytest.raises(ImportFailed, match="is not a file"):
        open_source(tmp_path)


def test_records_can_stop_early(tmp_path: Path) -> None:
    path = write(tmp_path / "many.jsonl", "\n".join(json.dumps(PRODUCT) for _ in range(50)))
    source = Source(path, "jsonl")
    assert len(list(islice(source.records(today=TODAY), 2))) == 2


@pytest.mark.parametrize(
    ("row", "says"),
    [
        (
            'aar-9,AAR,"Fuel convoy,Short,2024-03-01,,,,,,\npn-9,practice_note,Next row,,,,,,,,\n',
            "row 2, field 'title': holds a line break: is a quote left open on this row?",
        ),
        ("aar-9,AAR,Fuel convoy\n", "row 2, field 'summary': has 3 values for 10 columns"),
        ("aar-9,AAR,Fuel convoy,,,,,,,,,,\n", "row 2: has 13 values for 10 columns"),
    ],
)
def test_a_malformed_csv_row_stops_the_import_naming_row_and_field(
    tmp_path: Path, row: str, says: str
) -> None:
    path = tmp_path / "products.csv"
    path.write_text(CSV_HEADER + row, encoding="utf-8")
    with pytest.raises(ImportFailed) as failed:
        list(open_source(path).records(today=TODAY))
    assert str(failed.value).startswith(says)
