"""Read import files (JSON, JSONL, CSV, Markdown, NASA LLIS) into validated records, streaming.

Every reader yields `(row, record)` pairs one at a time, so a file of 100,000 products is never
held in memory. Validation is the records' own (`*.from_mapping`); readers only reshape a row into
the mapping those expect and add the row number to any error.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from knowledge import jsonstream
from knowledge.errors import ImportFailed
from knowledge.jsonstream import JsonStream
from knowledge.models import LessonStatus, ProductType
from knowledge.records import MAX_TITLE, PersonRecord, ProductRecord

logger = logging.getLogger(__name__)

Record = PersonRecord | ProductRecord
Reader = Callable[[Path, date], Iterator[tuple[int, Record]]]

SUPPORTED = "Supported: .json, .jsonl, .csv, .md"
_CHUNK = 1 << 20
_EXTENSIONS = {".json": "json", ".jsonl": "jsonl", ".csv": "csv", ".md": "markdown"}
_CSV_FIELD_LIMIT = 10 * 1024 * 1024
_CSV_REQUIRED = ("external_id", "type", "title")
_CSV_PRODUCT = ("external_id", "type", "title", "summary", "body", "date", "mission", "source_url")
_LESSON_TEXT = ("observation", "lesson", "recommendation")
_LESSON_LIMIT = 1_000
_SECTION = re.compile(r"^##\s+(observation|lesson|recommendation)s?\b(.*)$", re.IGNORECASE)
_ORDER = {kind: i for i, kind in enumerate(_LESSON_TEXT)}
_FRONT_PAIR = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$")
_FRONT_ITEM = re.compile(r"^\s*-\s+(.*)$")


@dataclass(frozen=True, slots=True)
class Source:
    """An import file whose format is known."""

    path: Path
    format: str  # "json" | "jsonl" | "csv" | "markdown" | "llis"

    def records(self, *, today: date) -> Iterator[tuple[int, Record]]:
        """Yield each validated record with the row number a user would count."""
        return _READERS[self.format](self.path, today)

    def estimate(self) -> int:
        """Return a cheap estimate of the number of records, for a progress bar."""
        if self.format == "markdown":
            return 1
        if self.format == "json":
            return _occurrences(self.path, b'"external_id"') + _occurrences(self.path, b'"email"')
        lines = _line_count(self.path)
        return max(lines - 1, 0) if self.format == "csv" else lines


def open_source(path: Path) -> Source:
    """Detect the format of an import file and check that it can be read."""
    if not path.exists():
        raise ImportFailed(f"{path} does not exist")
    if not path.is_file():
        raise ImportFailed(f"{path} is not a file")
    fmt = _EXTENSIONS.get(path.suffix.lower().replace(".markdown", ".md"))
    if fmt is None:
        kind = f"'{path.suffix}'" if path.suffix else "(no extension)"
        raise ImportFailed(f"{path.name} has an unknown file type {kind}. {SUPPORTED}")
    if fmt == "jsonl" and _sniff_llis(path):
        fmt = "llis"
    else:
        _open(path).close()
    logger.debug("reading %s as %s", path, fmt)
    return Source(path, fmt)


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as err:
        raise ImportFailed(f"cannot read {path}: {err.strerror or err}") from err


@contextmanager
def _at_row(row: int, where: str = "") -> Iterator[None]:
    """Add the row number (and where in the file) to a validation error."""
    try:
        yield
    except ImportFailed as err:
        if err.row is not None:
            raise
        message = err.message.removeprefix(f"field '{err.field}': ") if err.field else err.message
        raise ImportFailed(message + where, row=row, field=err.field) from err


def _object(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ImportFailed(f"must be an object, not {type(value).__name__}")
    return value


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield each line with its 1-based number, decoded as UTF-8 without BOM or NUL bytes."""
    with _open(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                message = f"is not UTF-8 text (byte {err.start + 1}); save the file as UTF-8"
                raise ImportFailed(message, row=number) from None
            yield number, text.replace("\x00", "")


def _line_count(path: Path) -> int:
    count, last = 0, b"\n"
    with _open(path) as handle:
        while chunk := handle.read(_CHUNK):
            count, last = count + chunk.count(b"\n"), chunk[-1:]
    return count + (last != b"\n")


def _occurrences(path: Path, needle: bytes) -> int:
    """Count a byte string in a file chunk by chunk, including across chunk edges."""
    total, edge = 0, b""
    with _open(path) as handle:
        while chunk := handle.read(max(_CHUNK, len(needle))):
            total += chunk.count(needle) + (edge + chunk[: len(needle) - 1]).count(needle)
            edge = chunk[1 - len(needle) :]
    return total


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def _clip(text: str, limit: int) -> str:
    """Shorten text to at most `limit` characters at a word boundary."""
    if len(text) <= limit:
        return text
    parts = text[: limit - 1].rsplit(None, 1)
    return (parts[0] if len(parts) == 2 else text[: limit - 1]).rstrip(" ,;:") + "…"


def _read_json(path: Path, today: date) -> Iterator[tuple[int, Record]]:
    """Read a list of products, or an object with "people" and "products" lists."""
    builders: dict[str, Callable[[Mapping[str, Any]], Record]] = {
        "people": lambda data: PersonRecord.from_mapping(data, today=today),
        "products": lambda data: ProductRecord.from_mapping(data, today=today),
    }
    with io.TextIOWrapper(_open(path), encoding="utf-8-sig") as handle:
        stream = JsonStream(handle, path.name)
        first = stream.peek()
        if first == "[":
            yield from _build_each(stream.items(), builders["products"], "")
        elif first == "{":
            for key in stream.members():
                if key in builders and stream.peek() == "[":
                    yield from _build_each(stream.items(), builders[key], f' (in "{key}")')
                elif stream.value() is not None and key in builders:
                    raise ImportFailed("must be a list", field=key)
        else:
            stream.value()
            shape = 'a list of products or an object with "people" and "products" lists'
            raise ImportFailed(f"{path.name} must hold {shape}")
        stream.end()


def _build_each(
    values: Iterator[Any], build: Callable[[Mapping[str, Any]], Record], where: str
) -> Iterator[tuple[int, Record]]:
    for row, value in enumerate(values, start=1):
        with _at_row(row, where):
            record = build(_object(value))
        yield row, record


def _read_jsonl(path: Path, today: date) -> Iterator[tuple[int, Record]]:
    """Read one product (or one NASA LLIS lesson) per line, skipping blank lines."""
    for row, line in _lines(path):
        if not line.strip():
            continue
        with _at_row(row):
            try:
                data = _object(jsonstream.loads(line))
            except json.JSONDecodeError as err:
                raise ImportFailed(f"is not valid JSON: {err.msg} (column {err.colno})") from None
            except ValueError as err:  # nested too deeply
                raise ImportFailed(f"is not valid JSON: {err}") from None
            if _is_llis(data):
                record = _llis_record(data, today)
            else:
                record = ProductRecord.from_mapping(data, today=today)
        yield row, record


def _sniff_llis(path: Path) -> bool:
    """Return True when the first non-blank line of a JSONL file is a NASA LLIS lesson."""
    with _open(path) as handle:
        for raw in handle:
            if raw.strip():
                try:
                    data = jsonstream.loads(raw.decode("utf-8-sig", errors="replace"))
                except ValueError:
                    return False
                return isinstance(data, dict) and _is_llis(data)
    return False


def _is_llis(data: Mapping[str, Any]) -> bool:
    return "lesson_id" in data and "lessons_learned" in data


def _llis_record(data: Mapping[str, Any], today: date) -> ProductRecord:
    """Build a Lessons Learned Study from an LLIS lesson; an odd date becomes no date."""
    mapping = _llis_mapping(data)
    for when in (data.get("lesson_date"), data.get("publish_date")):
        if when:
            try:
                return ProductRecord.from_mapping({**mapping, "date": when}, today=today)
            except ImportFailed as err:
                if err.field != "date":
                    raise
                logger.debug("LLIS lesson %s: ignoring date %r", data.get("lesson_id"), when)
    return ProductRecord.from_mapping(mapping, today=today)


def _llis_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    lesson_id = data.get("lesson_id")
    if lesson_id is None or str(lesson_id).strip() == "":
        raise ImportFailed("is required", field="lesson_id")
    text = {key: _plain(data.get(key)) for key in ("title", "abstract", "lessons_learned")}
    lesson = {
        "observation": _plain(data.get("driving_event")),
        "lesson": text["lessons_learned"],
        "recommendation": _plain(data.get("recommendations")),
        "status": LessonStatus.VALIDATED.value,  # NASA publishes validated lessons
    }
    if not any(lesson[key] for key in _LESSON_TEXT):
        lesson["lesson"] = text["abstract"]  # a few lessons are only an abstract and a report
    title = (
        text["title"]
        or _clip(text["lessons_learned"] or text["abstract"] or lesson["observation"], 120)
        or f"LLIS lesson {lesson_id}"
    )
    return {
        "external_id": f"llis:{str(lesson_id).strip()}",
        "type": ProductType.LESSONS_LEARNED_STUDY.value,
        "title": _clip(title, MAX_TITLE),
        "summary": text["abstract"],
        "body": _plain(data.get("evidence")),
        "mission": _plain(data.get("organization")),
        "themes": data.get("topics") or [],
        "source_url": _plain(data.get("url")),
        "lessons": [lesson] if any(lesson[key] for key in _LESSON_TEXT) else [],
    }


def _plain(value: Any) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value)


def _read_csv(path: Path, today: date) -> Iterator[tuple[int, Record]]:
    """Read one product (with one lesson) per row, or one person per row of a people file."""
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    reader = csv.DictReader(line for _, line in _lines(path))
    try:
        header = reader.fieldnames
    except csv.Error as err:
        raise ImportFailed(f"is not valid CSV: {err}", row=1) from None
    if not header:
        raise ImportFailed(f"{path.name} is empty; it needs a header row")
    reader.fieldnames = [name.strip().lower() for name in header]
    build = _csv_builder(set(reader.fieldnames), header, path.name)
    while True:
        try:
            row = next(reader, None)
        except csv.Error as err:
            raise ImportFailed(f"is not valid CSV: {err}", row=reader.line_num) from None
        if row is None:
            return
        # the row began as many lines back as its quoted values hold line breaks
        start = reader.line_num - sum(
            str(v).rstrip("\n").count("\n") for k, v in row.items() if k and v
        )
        _check_shape(row, len(reader.fieldnames), start)
        with _at_row(start):
            record = build(row, today)
        yield start, record


# Columns that hold a line or two, never rows of the file: a line in one that reads like a row
# (commas for half the columns) means a quote was left open and the rows after it read into it.
_ONE_LINE = ("external_id", "type", "title", "date", "mission", "authors", "themes", "status")


def _check_shape(row: Mapping[str | None, Any], columns: int, start: int) -> None:
    """Stop at a row swallowed by an open quote, or with too many or too few values."""
    for key in _ONE_LINE:
        value = row.get(key)
        lines = value.strip().split("\n")[1:] if isinstance(value, str) else []
        if any(line.count(",") >= max(2, columns // 2) for line in lines):
            raise ImportFailed(
                "holds a line break: is a quote left open on this row? The rows after it were "
                "read into this field",
                row=start,
                field=key,
            )
    extra = row.get(None)
    missing = [k for k, v in row.items() if k is not None and v is None]
    if extra or missing:
        count = columns + len(extra or ()) - len(missing)
        raise ImportFailed(
            f"has {count} values for {columns} columns (a comma too many or too few?)",
            row=start,
            field=missing[0] if missing else None,
        )


def _csv_builder(
    columns: set[str], header: Sequence[str], name: str
) -> Callable[[Mapping[str, Any], date], Record]:
    """Pick the row builder from the header, or fail before reading any row."""
    if {"email", "name"} <= columns and "title" not in columns:
        return _csv_person
    missing = [column for column in _CSV_REQUIRED if column not in columns]
    if missing:
        found = ", ".join(header) or "none"
        raise ImportFailed(
            f"{name} lacks the column(s) {', '.join(missing)} (found: {found}). A products CSV"
            " needs external_id, type and title; a people CSV needs name and email"
        )
    return _csv_product


def _csv_product(row: Mapping[str, Any], today: date) -> ProductRecord:
    data: dict[str, Any] = {key: row.get(key) for key in _CSV_PRODUCT}
    for key in ("authors", "themes", "audience"):
        data[key] = _split(row.get(key))
    lesson = {key: row.get(key) for key in (*_LESSON_TEXT, "status")}
    has_lesson = any((lesson[key] or "").strip() for key in _LESSON_TEXT)
    data["lessons"] = [lesson] if has_lesson else []
    return ProductRecord.from_mapping(data, today=today)


def _csv_person(row: Mapping[str, Any], today: date) -> PersonRecord:
    data = {key: value for key, value in row.items() if key}
    data["roles"], data["groups"] = _split(row.get("roles")), _split(row.get("groups"))
    return PersonRecord.from_mapping(data, today=today)


def _read_markdown(path: Path, today: date) -> Iterator[tuple[int, Record]]:
    """Read one product from a Markdown file with front matter."""
    with _at_row(1):
        with _open(path) as handle:
            raw = handle.read()
        try:
            text = raw.decode("utf-8-sig").replace("\x00", "")
        except UnicodeDecodeError as err:
            raise ImportFailed(f"is not UTF-8 text (byte {err.start + 1})") from None
        meta, body = _front_matter(text)
        record = ProductRecord.from_mapping(_markdown_mapping(path, meta, body), today=today)
    yield 1, record


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split off front matter: `key: value`, `key: [a, b]` and `key:` with `  - item` lines."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    close = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if close is None:
        raise ImportFailed("the front matter has no closing '---' line")
    meta: dict[str, Any] = {}
    key: str | None = None
    for number, line in enumerate(lines[1:close], start=2):
        item = _FRONT_ITEM.match(line)
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if item and key is not None and not isinstance(meta[key], str):
            meta[key] = [*(meta[key] or []), _unquote(item[1])]
            continue
        pair = _FRONT_PAIR.match(line)
        if pair is None:
            raise ImportFailed(f"front matter line {number} is not 'key: value': {line.strip()}")
        key, value = pair[1].lower(), pair[2].strip()
        meta[key] = _front_value(value) if value else None
    return meta, "\n".join(lines[close + 1 :])


def _front_value(value: str) -> str | list[str]:
    if value.startswith("[") and value.endswith("]"):
        return [_unquote(part) for part in value[1:-1].split(",") if part.strip()]
    return _unquote(value)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _markdown_mapping(path: Path, meta: dict[str, Any], body: str) -> dict[str, Any]:
    data = dict(meta)
    data["external_id"] = data.get("external_id") or f"md:{path.stem}"
    sections = _sections(body)
    if sections is None:
        first = _first_paragraphs(body)
        data["body"], lessons = body.strip(), [{"lesson": first}] if first else []
    else:
        data["body"], lessons = sections
    status = data.pop("lesson_status", None)
    data["lessons"] = [{**lesson, "status": status} for lesson in lessons]
    return data


def _sections(body: str) -> tuple[str, list[dict[str, str]]] | None:
    """Split a body on Observation / Lesson / Recommendation headings, if it has any."""
    preamble: list[str] = []
    lessons: list[dict[str, list[str]]] = []
    target = preamble
    for line in body.splitlines():
        heading = _SECTION.match(line.strip())
        if heading is None:
            target.append(line)
            continue
        kind = heading[1].lower()
        current = lessons[-1] if lessons else None
        if current is None or (
            kind != "recommendation" and any(_ORDER.get(k, -1) >= _ORDER[kind] for k in current)
        ):
            current = {}
            lessons.append(current)
        if kind == "lesson" and ":" in heading[2]:
            current["title"] = [heading[2].partition(":")[2]]
        target = current.setdefault(kind, [])
        while target and not target[-1].strip():
            target.pop()
        if target:
            target.append("")  # a second Recommendation heading adds a paragraph
    if not lessons:
        return None
    texts = [{key: "\n".join(lines).strip() for key, lines in x.items()} for x in lessons]
    return "\n".join(preamble).strip(), texts


def _first_paragraphs(body: str) -> str:
    """Return the first paragraphs of a body (headings left out), up to about 1,000 chars."""
    taken: list[str] = []
    size = 0
    for block in re.split(r"\n\s*\n", body):
        lines = [line for line in block.strip().splitlines() if not line.lstrip().startswith("#")]
        paragraph = "\n".join(lines).strip()
        if not paragraph:
            continue
        if taken and size + len(paragraph) > _LESSON_LIMIT:
            break
        taken.append(paragraph)
        size += len(paragraph) + 2
    return _clip("\n\n".join(taken), _LESSON_LIMIT)


_READERS: dict[str, Reader] = {
    "json": _read_json,
    "jsonl": _read_jsonl,
    "llis": _read_jsonl,
    "csv": _read_csv,
    "markdown": _read_markdown,
}
