"""Write imported records into the index in bulk, inside the caller's transaction.

Products are keyed by external id: a new one is inserted, a known one has its content updated
(title, text, themes, lessons' text) while its lessons keep their lifecycle state and actions.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime
from typing import Any, Protocol

from rapidfuzz import fuzz, process
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from knowledge.copying import copy_rows, copy_with_ids
from knowledge.errors import ImportFailed
from knowledge.models import (
    Action,
    ImportRun,
    Lesson,
    Meta,
    Person,
    PersonGroup,
    PersonRole,
    Product,
    ProductAudience,
    ProductAuthor,
    ProductTheme,
    SearchWord,
)
from knowledge.records import LessonRecord, PersonRecord, ProductRecord
from knowledge.search import analysis
from knowledge.search.index import IndexDoc, SearchIndex
from knowledge.search.text import words

log = logging.getLogger(__name__)

BATCH = 1000


class Progress(Protocol):
    """Told how many records were written after each batch, then the import's last step."""

    def __call__(self, done: int, step: str = "", /) -> None:
        """`step` is "indexing" when the records are written and the search index follows."""


@dataclass(slots=True)
class ImportStats:
    """What one import did."""

    created: int = 0
    updated: int = 0
    people: int = 0
    lessons: int = 0
    actions: int = 0
    seconds: float = 0.0


@dataclass(slots=True)
class _Batch:
    rows: list[tuple[int, ProductRecord]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)


def _unknown(kind: str, said: str, known: dict[str, str], flag: str) -> str:
    """Say that a mission or theme is unknown, what it may have meant, and how to add it."""
    close = process.extract(said.casefold(), list(known), scorer=fuzz.ratio, score_cutoff=70)
    best = max((score for _, score, _ in close), default=0)
    meant = sorted(known[name] for name, score, _ in close if score == best)
    hint = f" (did you mean {' or '.join(meant)}?)" if meant else ""
    return f"'{said}' is not a {kind} the lessons index knows{hint}; pass {flag} to add it"


class Loader:
    """Load people and products into the index within one transaction."""

    def __init__(
        self,
        conn: Connection,
        *,
        index: SearchIndex,
        now: datetime,
        progress: Progress | None,
        new_missions: bool = True,
        new_themes: bool = True,
    ) -> None:
        self.conn, self.index, self.now, self.progress = conn, index, now, progress
        # Missions and themes the index knows: an import may only name these unless told
        # (--new-missions, --new-themes). An empty index knows none, so its first import may.
        self.missions: dict[str, str] | None = None
        self.themes: dict[str, str] | None = None
        if not new_missions:
            found = list(conn.execute(select(Product.mission).distinct()).scalars())
            found += conn.execute(select(Person.mission).distinct()).scalars()
            self.missions = {m.casefold(): m for m in found if m} or None
        if not new_themes:
            themes = conn.execute(select(ProductTheme.theme).distinct()).scalars().all()
            self.themes = {t.casefold(): t for t in themes if t} or None
        self.stats = ImportStats()
        self.people: dict[str, int] = {
            (email or "").lower(): pid
            for pid, email in conn.execute(select(Person.id, Person.email))
            if email
        }
        self.by_name: dict[str, int] = {
            name.casefold(): pid for pid, name in conn.execute(select(Person.id, Person.name))
        }
        self.words: Counter[str] = Counter()
        self.languages: dict[int, str] = {}
        self.managers: list[tuple[int, PersonRecord]] = []
        self.bulk = conn.dialect.name == "postgresql"  # COPY rather than INSERT … RETURNING

    def load(
        self, records: Iterable[tuple[int, PersonRecord | ProductRecord]], *, source: str
    ) -> ImportStats:
        """Write every record, then the search statistics; raise ImportFailed on a bad row."""
        started = time.perf_counter()
        batch, seen = _Batch(), 0
        for row, record in records:
            seen += 1
            if isinstance(record, PersonRecord):
                self._person(row, record)
                if self.missions is not None and record.mission:
                    self.missions.setdefault(record.mission.casefold(), record.mission)
                continue
            self._check_known(row, record)
            if record.external_id in batch.keys or len(batch.rows) >= BATCH:
                self._products(batch.rows)
                batch = _Batch()
                if self.progress:
                    self.progress(seen - 1)
            batch.rows.append((row, record))
            batch.keys.add(record.external_id)
        self._products(batch.rows)
        self._link_managers()
        if self.progress:
            self.progress(seen, "indexing")
        self._finish(source)
        self.stats.seconds = time.perf_counter() - started
        return self.stats

    def _check_known(self, row: int, record: ProductRecord) -> None:
        """Stop at a mission or theme the index does not know (a typo, most often)."""
        missions, mission = self.missions, record.mission
        if missions is not None and mission and mission.casefold() not in missions:
            raise ImportFailed(
                _unknown("mission", mission, missions, "--new-missions"),
                row=row,
                field="mission",
            )
        if self.themes is not None:
            for theme in record.themes:
                if theme.casefold() not in self.themes:
                    raise ImportFailed(
                        _unknown("theme", theme, self.themes, "--new-themes"),
                        row=row,
                        field="themes",
                    )

    # People ------------------------------------------------------------------------------

    def _person(self, row: int, record: PersonRecord) -> None:
        values = {
            "name": record.name,
            "email": record.email,
            "timezone": record.timezone,
            "mission": record.mission,
            "assignment_end": record.assignment_end,
            "slack_user_id": record.slack_user_id,
            "teams_aad_id": record.teams_aad_id,
        }
        pid = self.people.get(record.email)
        if pid is None:
            pid = self.conn.execute(
                insert(Person).values(created_at=self.now, **values).returning(Person.id)
            ).scalar_one()
        else:
            self.conn.execute(update(Person).where(Person.id == pid).values(**values))
            self.conn.execute(delete(PersonRole).where(PersonRole.person_id == pid))
            self.conn.execute(delete(PersonGroup).where(PersonGroup.person_id == pid))
        self.conn.execute(
            insert(PersonRole),
            [{"person_id": pid, "role": r, "scope": ""} for r in dict.fromkeys(record.roles)],
        )
        if record.groups:
            self.conn.execute(
                insert(PersonGroup),
                [{"person_id": pid, "group": g} for g in dict.fromkeys(record.groups)],
            )
        self.people[record.email] = pid
        self.by_name[record.name.casefold()] = pid
        self.stats.people += 1
        if record.manager_email:
            self.managers.append((row, record))

    def _link_managers(self) -> None:
        for row, record in self.managers:
            manager = self.people.get(record.manager_email or "")
            if manager is None:
                raise ImportFailed(
                    f"manager '{record.manager_email}' is not in the directory",
                    row=row,
                    field="manager",
                )
            self.conn.execute(
                update(Person)
                .where(Person.id == self.people[record.email])
                .values(manager_id=manager)
            )

    def _person_id(self, who: str, row: int, field_name: str) -> int:
        key = who.strip().lower()
        if "@" in key:
            if key not in self.people:
                raise ImportFailed(
                    f"'{who}' is not in the directory; add them under 'people'",
                    row=row,
                    field=field_name,
                )
            return self.people[key]
        found = self.by_name.get(who.strip().casefold())
        if found is None:
            found = self.conn.execute(
                insert(Person)
                .values(name=who.strip(), timezone="UTC", created_at=self.now)
                .returning(Person.id)
            ).scalar_one()
            self.by_name[who.strip().casefold()] = found
        return found

    # Products ----------------------------------------------------------------------------

    def _language(self, record: ProductRecord, lesson: LessonRecord) -> str:
        """Return the lesson's language, detected once per batch (stored, then indexed)."""
        found = self.languages.get(id(lesson))
        if found is None:
            found = self.languages[id(lesson)] = lesson_language(record, lesson)
        return found

    def _products(self, rows: list[tuple[int, ProductRecord]]) -> None:
        self.languages.clear()  # keyed by the batch's records, alive until the next batch
        if not rows:
            return
        known = dict(
            self.conn.execute(
                select(Product.external_id, Product.id).where(
                    Product.external_id.in_([r.external_id for _, r in rows])
                )
            ).all()
        )
        fresh = [(row, r) for row, r in rows if r.external_id not in known]
        ids = self._insert_products(fresh)
        for row, record in rows:
            if record.external_id in known:
                self._update_product(row, known[record.external_id], record)
        self._insert_lessons([(row, ids[r.external_id], r) for row, r in fresh])
        self.stats.created += len(fresh)
        self.stats.updated += len(rows) - len(fresh)

    def _product_values(self, record: ProductRecord) -> dict[str, Any]:
        return {
            "external_id": record.external_id,
            "type": record.type,
            "title": record.title,
            "summary": record.summary,
            "body": record.body,
            "date": record.date,
            "mission": record.mission,
            "source_url": record.source_url,
            "status": record.status,
            "updated_at": self.now,
        }

    def _insert_products(self, rows: list[tuple[int, ProductRecord]]) -> dict[str, int]:
        if not rows:
            return {}
        values = [self._product_values(r) | {"created_at": self.now} for _, r in rows]
        if self.bulk:
            pids = copy_with_ids(self.conn, Product.__tablename__, values)
            ids = {r.external_id: pid for (_, r), pid in zip(rows, pids, strict=True)}
        else:
            result = self.conn.execute(
                insert(Product).returning(
                    Product.id, Product.external_id, sort_by_parameter_order=True
                ),
                values,
            )
            ids = {str(ext): int(pid) for pid, ext in result}
        self._product_links([(row, ids[r.external_id], r) for row, r in rows])
        return ids

    def _product_links(self, rows: list[tuple[int, int, ProductRecord]]) -> None:
        themes = [{"product_id": pid, "theme": t} for _, pid, r in rows for t in r.themes]
        authors, audience = [], []
        for row, pid, record in rows:
            author_ids = [self._person_id(a, row, "authors") for a in record.authors]
            authors += [
                {"product_id": pid, "person_id": a, "position": i}
                for i, a in enumerate(dict.fromkeys(author_ids))
            ]
            if record.audience:
                principals = dict.fromkeys(record.audience)
                principals.update({f"person:{a.lower()}": None for a in record.authors if "@" in a})
                audience += [{"product_id": pid, "principal": p} for p in principals]
        for model, values in (
            (ProductTheme, themes),
            (ProductAuthor, authors),
            (ProductAudience, audience),
        ):
            if values and self.bulk:
                copy_rows(self.conn, model.__tablename__, values)
            elif values:
                self.conn.execute(insert(model), values)

    def _update_product(self, row: int, pid: int, record: ProductRecord) -> None:
        values = self._product_values(record)
        self.conn.execute(update(Product).where(Product.id == pid).values(**values))
        for model in (ProductTheme, ProductAuthor, ProductAudience):
            self.conn.execute(delete(model).where(model.product_id == pid))
        self._product_links([(row, pid, record)])
        old = dict(
            self.conn.execute(
                select(Lesson.position, Lesson.id).where(Lesson.product_id == pid)
            ).all()
        )
        self.index.remove(self.conn, list(old.values()))
        for position, lesson in enumerate(record.lessons):
            if position in old:
                self.conn.execute(
                    update(Lesson)
                    .where(Lesson.id == old[position])
                    .values(
                        title=lesson.title,
                        observation=lesson.observation,
                        lesson=lesson.lesson,
                        recommendation=lesson.recommendation,
                        language=self._language(record, lesson),
                        updated_at=self.now,
                    )
                )
        gone = [lid for pos, lid in old.items() if pos >= len(record.lessons)]
        if gone:
            self.conn.execute(delete(Lesson).where(Lesson.id.in_(gone)))
        kept = {p: lid for p, lid in old.items() if p < len(record.lessons)}
        self._index(
            [(kept[p], record, lesson) for p, lesson in enumerate(record.lessons) if p in kept],
            count_words=False,
        )
        extra = [(p, lesson) for p, lesson in enumerate(record.lessons) if p not in kept]
        if extra:
            self._insert_lessons([(row, pid, record)], only=dict(extra))

    # Lessons and actions -----------------------------------------------------------------

    def _insert_lessons(
        self,
        rows: list[tuple[int, int, ProductRecord]],
        only: dict[int, LessonRecord] | None = None,
    ) -> None:
        values, owners = [], []
        for row, pid, record in rows:
            lessons = only if only is not None else dict(enumerate(record.lessons))
            for position, lesson in lessons.items():
                values.append(self._lesson_values(pid, position, record, lesson))
                owners.append((row, record, lesson))
        if not values:
            return
        if self.bulk:
            lesson_ids = copy_with_ids(self.conn, Lesson.__tablename__, values)
        else:
            result = self.conn.execute(
                insert(Lesson).returning(Lesson.id, sort_by_parameter_order=True), values
            )
            lesson_ids = list(result.scalars())
        self.stats.lessons += len(lesson_ids)
        self._insert_actions(
            [
                (lid, row, record, lesson)
                for lid, (row, record, lesson) in zip(lesson_ids, owners, strict=True)
            ]
        )
        self._index(
            [
                (lid, record, lesson)
                for lid, (_, record, lesson) in zip(lesson_ids, owners, strict=True)
            ],
            count_words=True,
        )

    def _lesson_values(
        self, pid: int, position: int, record: ProductRecord, lesson: LessonRecord
    ) -> dict[str, Any]:
        identified = _at(record.date) or self.now
        validated = _at(lesson.validated_on) if lesson.status.value != "identified" else None
        return {
            "product_id": pid,
            "position": position,
            "title": lesson.title,
            "observation": lesson.observation,
            "lesson": lesson.lesson,
            "recommendation": lesson.recommendation,
            "language": self._language(record, lesson),
            "status": lesson.status,
            "identified_at": identified,
            # Validated when the source says so, else on its date (an LLIS lesson was published
            # validated on its date, not today); only an undated one is validated "now".
            "validated_at": validated
            or (identified if lesson.status.value in ("validated", "applied") else None),
            "applied_at": (_at(lesson.applied_on) or self.now)
            if lesson.status.value == "applied"
            else None,
            "rejected_at": self.now if lesson.status.value == "rejected" else None,
            "rejection_reason": lesson.rejection_reason,
            "updated_at": self.now,
        }

    def _insert_actions(self, rows: list[tuple[int, int, ProductRecord, LessonRecord]]) -> None:
        values = []
        for lesson_id, row, record, lesson in rows:
            # An imported action has no history of its own: it was created when its lesson was
            # validated (else identified), and a closed one closed when the lesson was applied
            # (else on its due date). Never later than now: the dashboard's history uses these.
            created = min(_at(lesson.validated_on) or _at(record.date) or self.now, self.now)
            for action in lesson.actions:
                closed = _at(lesson.applied_on) or _at(action.due_date) or self.now
                closed = min(max(closed, created), self.now)
                owner = (
                    self._person_id(action.owner_email, row, "owner")
                    if action.owner_email
                    else None
                )
                values.append(
                    {
                        "lesson_id": lesson_id,
                        "description": action.description,
                        "owner_id": owner,
                        "due_date": action.due_date,
                        "status": action.status,
                        "notes": action.notes,
                        "evidence": action.evidence,
                        "reason": action.reason,
                        "created_at": created,
                        "updated_at": self.now,
                        "closed_at": closed if action.status.is_closed else None,
                    }
                )
        if values and self.bulk:
            copy_rows(self.conn, Action.__tablename__, values)
        elif values:
            self.conn.execute(insert(Action), values)
        self.stats.actions += len(values)

    # Search index ------------------------------------------------------------------------

    def _index(
        self, rows: list[tuple[int, ProductRecord, LessonRecord]], *, count_words: bool
    ) -> None:
        docs = [
            index_doc(lid, record, lesson, self._language(record, lesson))
            for lid, record, lesson in rows
        ]
        self.index.add(self.conn, docs)
        if count_words:
            # The vocabulary for typo correction: the short fields are enough, and cheap.
            for _, record, lesson in rows:
                text_ = " ".join(
                    (record.title, record.summary, lesson.lesson, lesson.recommendation)
                )
                self.words.update(set(words(text_)))

    def _finish(self, source: str) -> None:
        self._save_words()
        self.index.refresh(self.conn)
        version = self.conn.execute(
            select(Meta.value).where(Meta.key == "index_version")
        ).scalar_one_or_none()
        if version is None:
            self.conn.execute(insert(Meta).values(key="index_version", value="1"))
        else:
            self.conn.execute(
                update(Meta).where(Meta.key == "index_version").values(value=str(int(version) + 1))
            )
        self.conn.execute(
            insert(ImportRun).values(
                source=source[:1000],
                created=self.stats.created,
                updated=self.stats.updated,
                details={
                    "people": self.stats.people,
                    "lessons": self.stats.lessons,
                    "actions": self.stats.actions,
                },
                at=self.now,
            )
        )

    def _save_words(self) -> None:
        entries = [{"word": w, "df": n} for w, n in self.words.items() if len(w) <= 64]
        if not entries:
            return
        dialect = self.conn.dialect.name
        maker = sqlite_insert if dialect == "sqlite" else pg_insert
        statement = maker(SearchWord)
        statement = statement.on_conflict_do_update(
            index_elements=[SearchWord.word], set_={"df": SearchWord.df + statement.excluded.df}
        )
        for i in range(0, len(entries), 5000):
            self.conn.execute(statement, entries[i : i + 5000])
        self.words.clear()


def lesson_language(record: ProductRecord, lesson: LessonRecord) -> str:
    """Return the lesson's language: its own, else its product's, else detected from its text."""
    given = lesson.language or record.language
    if given:
        return given
    text_ = "\n".join(
        (lesson.title or "", lesson.observation, lesson.lesson, lesson.recommendation)
    )
    if len(text_) < 80:  # a line or two: the product's title and summary help tell
        text_ += "\n" + record.title + "\n" + record.summary
    return analysis.detect(text_)


def index_doc(
    lesson_id: int, record: ProductRecord, lesson: LessonRecord, language: str | None = None
) -> IndexDoc:
    """Return the searchable fields of a lesson of a product, in its language (detected when
    not given)."""
    title = record.title if not lesson.title else f"{record.title} — {lesson.title}"
    tags = " ".join(
        (*(t.replace("-", " ") for t in record.themes), record.mission or "", record.type.label)
    )
    return IndexDoc(
        lesson_id=lesson_id,
        title=title,
        summary=record.summary,
        lesson=f"{lesson.observation}\n{lesson.lesson}".strip(),
        recommendation=lesson.recommendation,
        tags=tags,
        language=language or lesson_language(record, lesson),
    )


def _at(day: date | None) -> datetime | None:
    return datetime.combine(day, dtime(12, 0), tzinfo=UTC) if day else None


__all__ = ["ImportStats", "Loader", "Progress", "index_doc"]
