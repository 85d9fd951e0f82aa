"""Store: the one door to the lessons index (sessions, queries, lifecycle changes)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from knowledge import access, audit, database, lifecycle
from knowledge.batching import Batch
from knowledge.caching import Expiring, WriteListener, WriteWatch
from knowledge.errors import DomainError, NotFound
from knowledge.loader import ImportStats, Loader, Progress
from knowledge.models import (
    Action,
    ActionStatus,
    AudienceLink,
    Feedback,
    Lesson,
    LessonEvent,
    LessonStatus,
    Meta,
    Person,
    PersonRole,
    ProcessedEvent,
    Product,
    ProductAudience,
    Question,
    QuestionLesson,
    Role,
)
from knowledge.records import PersonRecord, ProductRecord
from knowledge.search.answer import Answer, Hit, Searcher, Viewer
from knowledge.search.answer import lesson_hits as hits_of
from knowledge.search.glossary import Glossary
from knowledge.search.index import PostgresIndex, SearchIndex, SqliteIndex
from knowledge.search.query import Query
from knowledge.search.text import fold
from knowledge.threads import blocking

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


_blocking = blocking

# How long the hot path trusts what it looked up. Writes made by this process are seen at once
# (see knowledge.caching.WriteWatch); these bound how stale a lookup may be after another
# replica changed the directory or the index.
PEOPLE_TTL = 300.0
VIEWER_TTL = 60.0
ANSWER_TTL = 30.0


@dataclass(frozen=True, slots=True)
class ActionView:
    """An action with what its owner needs to act on it."""

    id: int
    description: str
    status: ActionStatus
    due_date: date | None
    lesson_id: int
    lesson_title: str
    mission: str | None
    owner_id: int | None
    owner_name: str | None
    notes: str

    def is_overdue(self, today: date) -> bool:
        """Return True when the action is open and past its due date."""
        return not self.status.is_closed and self.due_date is not None and self.due_date < today


@dataclass(frozen=True, slots=True)
class PersonView:
    """A person of the directory, as the chat surfaces show them."""

    id: int
    name: str
    email: str | None
    roles: tuple[str, ...]
    mission: str | None
    timezone: str


@dataclass(frozen=True, slots=True)
class Counts:
    """How much the index holds."""

    products: int
    lessons: int
    actions: int
    people: int


class Store:
    """Sessions and every read and write of the lessons index."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utcnow,
        glossary: Glossary | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.index: SearchIndex = (
            SqliteIndex(engine) if engine.dialect.name == "sqlite" else PostgresIndex()
        )
        self.searcher = Searcher(index=self.index, glossary=glossary or Glossary.load())
        self.writes = WriteWatch(engine)
        self._listener: WriteListener | None = None
        self._people_ids: Expiring[tuple[str, str], int] = Expiring(ttl=PEOPLE_TTL, size=20_000)
        self._viewers: Expiring[tuple[int | None, str | None], Viewer] = Expiring(
            ttl=VIEWER_TTL, size=20_000
        )
        self._answers: Expiring[tuple[str, frozenset[str], int, date, str | None], Answer] = (
            Expiring(ttl=ANSWER_TTL, size=2_000)
        )
        self._audience_sets: Expiring[str | None, frozenset[str]] = Expiring(ttl=ANSWER_TTL, size=4)
        self._secret: str | None = None
        self._versions: Batch[None, str | None] = Batch(self._index_versions)
        self._parsers: Expiring[date, Callable[[str], Query]] = Expiring(ttl=ANSWER_TTL, size=4)
        self._events: Batch[tuple[str, str], bool] = Batch(self._record_events)
        self._questions: Batch[dict[str, Any], int] = Batch(self._log_questions)

    @classmethod
    def open(cls, url: str, *, glossary_path: Path | None = None, **kwargs: Any) -> Store:
        """Connect to the database at url (the schema is not touched)."""
        glossary = Glossary.load(*([glossary_path] if glossary_path else []))
        return cls(database.make_engine(url), glossary=glossary, **kwargs)

    @property
    def backend(self) -> str:
        """Return "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    def today(self) -> date:
        """Return today's date by the store's clock."""
        return self.clock().date()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield an ORM session in a transaction that commits on success."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Yield a Core connection in a transaction that commits on success."""
        with self.engine.begin() as connection:
            yield connection

    def listen(self) -> None:
        """Hear other processes' writes (PostgreSQL; once): their commits reach the caches at once.

        For the server (`lessons run` and each of its workers): without it, another process's
        change (a role, a badge) shows here only when the caches' time runs out.
        """
        if self.engine.dialect.name == "postgresql" and self._listener is None:
            self._listener = WriteListener(self.engine, self.writes)
            self._listener.start()

    def close(self) -> None:
        """Release every pooled connection (and stop listening)."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        self.engine.dispose()

    # Schema and health -----------------------------------------------------------------

    def _upgrade(self) -> None:
        """Bring the schema to the newest revision."""
        database.upgrade(self.engine)

    upgrade = _blocking(_upgrade)

    def _ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # any failure means "not healthy"; the log says why
            log.warning("database ping failed", exc_info=True)
            return False
        return True

    ping = _blocking(_ping)

    def _counts(self) -> Counts:
        """Count products, lessons, actions and people."""
        with self.engine.connect() as c:
            n = [
                c.execute(select(func.count()).select_from(m)).scalar_one()
                for m in (Product, Lesson, Action, Person)
            ]
        return Counts(*n)

    counts = _blocking(_counts)

    # Import ------------------------------------------------------------------------------

    def _import_records(
        self,
        records: Iterable[tuple[int, PersonRecord | ProductRecord]],
        *,
        source: str,
        progress: Progress | None = None,
        new_missions: bool = True,
        new_themes: bool = True,
    ) -> ImportStats:
        """Write records in one transaction: all of them, or nothing.

        `new_missions` / `new_themes` False: a mission or theme the index does not know yet
        stops the import (the `lessons import` default).
        """
        with self.connection() as conn:
            loader = Loader(
                conn,
                index=self.index,
                now=self.clock(),
                progress=progress,
                new_missions=new_missions,
                new_themes=new_themes,
            )
            stats = loader.load(records, source=source)
        self.searcher.forget()
        self.index.maintain(self.engine)
        return stats

    import_records = _blocking(_import_records)

    # Search ------------------------------------------------------------------------------

    def _ask(self, question: str, *, viewer: Viewer, limit: int = 5) -> Answer:
        """Answer "what did we learn about X?" for this viewer."""
        with self.engine.connect() as conn:
            return self.searcher.answer(
                conn, question, viewer=viewer, today=self.today(), limit=limit, now=self.clock()
            )

    async def ask(self, question: str, *, viewer: Viewer, limit: int = 5) -> Answer:
        """Answer "what did we learn about X?" for this viewer.

        The same question asked again within ANSWER_TTL, with the index unchanged, gets the same
        answer without a search. Changes this process makes show at once; an import by another
        process too (the index version); another process's lifecycle change (a badge) may take
        up to ANSWER_TTL to show.
        """
        # The index version (moved by every import, in any process) is read for each question,
        # once for all the questions that arrive together: another replica's import shows at once.
        version = await self._versions.submit(None)
        generation = self.writes.generation
        # Only the principals some restricted product names change an answer: everyone else
        # shares it (a person's own `person:` principal would make each answer theirs alone).
        principals = viewer.principals & await self._audiences(version, generation)
        key = (question, principals, limit, self.today(), version)
        found = self._answers.get(key, generation)
        if found is None:
            found = await asyncio.to_thread(self._ask, question, viewer=viewer, limit=limit)
            self._answers.put(key, found, generation)
        return found

    def _log_question(
        self,
        question: str,
        *,
        person_id: int | None,
        platform: str,
        hits: int,
        channel_id: str | None = None,
        thread_id: str | None = None,
        lessons: Sequence[int] = (),
        answered: bool | None = None,
    ) -> int:
        """Record a question, how many lessons answered it and where; return its id."""
        return self._log_questions(
            [
                _question_row(
                    question, person_id, platform, hits, channel_id, thread_id, lessons, answered
                )
            ]
        )[0]

    async def _audiences(self, version: str | None, generation: int) -> frozenset[str]:
        """Return the principals that open some restricted product (cached like answers)."""
        found = self._audience_sets.get(version, generation)
        if found is None:
            found = await asyncio.to_thread(self._audience_principals)
            self._audience_sets.put(version, found, generation)
        return found

    def _audience_principals(self) -> frozenset[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(ProductAudience.principal).distinct())
            return frozenset(str(p) for (p,) in rows)

    def _index_versions(self, waiting: Sequence[None]) -> list[str | None]:
        """Read the index version once for everyone waiting for it."""
        with self.engine.connect() as conn:
            version = conn.execute(
                select(Meta.value).where(Meta.key == "index_version")
            ).scalar_one_or_none()
        return [version] * len(waiting)

    async def log_question(
        self,
        question: str,
        *,
        person_id: int | None,
        platform: str,
        hits: int,
        channel_id: str | None = None,
        thread_id: str | None = None,
        lessons: Sequence[int] = (),
        answered: bool | None = None,
    ) -> int:
        """Record a question (in one transaction with others asked at the same moment).

        `lessons` are the lessons its answer gave, in order: they count as the lessons' reuse.
        `answered` says whether the answer found something good (None: not judged).
        """
        row = _question_row(
            question, person_id, platform, hits, channel_id, thread_id, lessons, answered
        )
        return await self._questions.submit(row)

    def _log_questions(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Insert question rows (and their answers' lessons) in one transaction; return their ids
        in the same order."""
        now = self.clock()
        stamped = [
            {k: v for k, v in row.items() if k != "lessons"}
            | {"asked_at": row.get("asked_at") or now}
            for row in rows
        ]
        with self.connection() as conn:
            found = conn.execute(
                insert(Question).returning(Question.id, sort_by_parameter_order=True), stamped
            )
            ids = [int(i) for (i,) in found]
            given = [
                {"question_id": qid, "lesson_id": lesson, "rank": rank}
                for qid, row in zip(ids, rows, strict=True)
                for rank, lesson in enumerate(dict.fromkeys(row.get("lessons", ())), 1)
            ]
            if given:  # a lesson re-imported away since the answer is not counted
                wanted = {g["lesson_id"] for g in given}
                there = set(conn.scalars(select(Lesson.id).where(Lesson.id.in_(wanted))))
                given = [g for g in given if g["lesson_id"] in there]
            if given:
                conn.execute(insert(QuestionLesson), given)
            return ids

    def _question_text(self, question_id: int) -> str:
        """Return the text of a logged question."""
        return self._question(question_id).text

    question_text = _blocking(_question_text)

    def _question(self, question_id: int) -> Question:
        """Return a logged question (detached: read its columns, not its relations)."""
        with self.session() as s:
            found = s.get(Question, question_id)
        if found is None:
            raise NotFound("I no longer have that question. Ask it again, please.")
        return found

    question = _blocking(_question)

    def _last_question(
        self,
        platform: str,
        channel_id: str,
        thread_id: str | None,
        *,
        own: bool = False,
        person_id: int | None = None,
    ) -> Question | None:
        """Return the last question answered in a thread (thread_id None: outside threads).

        With own=True, only the last one person_id asked there (None: people outside the
        directory).
        """
        where = [Question.platform == platform[:16], Question.channel_id == channel_id[:100]]
        where.append(
            Question.thread_id.is_(None) if thread_id is None else Question.thread_id == thread_id
        )
        if own:
            where.append(
                Question.person_id.is_(None)
                if person_id is None
                else Question.person_id == person_id
            )
        with self.session() as s:
            return s.scalars(
                select(Question).where(*where).order_by(Question.id.desc()).limit(1)
            ).first()

    last_question = _blocking(_last_question)

    def _question_parser(self) -> Callable[[str], Query]:
        """Return a question parser that knows the index's missions and themes (pure, cached)."""
        with self.engine.connect() as conn:
            return self.searcher.parser(conn, today=self.today())

    async def question_parser(self) -> Callable[[str], Query]:
        """Return a question parser that knows the index's missions and themes (pure, cached)."""
        key, generation = self.today(), self.writes.generation
        found = self._parsers.get(key, generation)
        if found is None:
            # The parser is pure: the same words (follow-up checks, mission names) parse once.
            found = lru_cache(maxsize=2_048)(await asyncio.to_thread(self._question_parser))
            self._parsers.put(key, found, generation)
        return found

    def _record_feedback(
        self,
        lesson_id: int,
        *,
        viewer: Viewer,
        question_id: int | None,
        helpful: bool,
        guest: str | None = None,
    ) -> bool:
        """Record a vote on a lesson the viewer may see; a voter's new vote replaces their old.

        The voter is the viewer's person, else `guest` (the platform's id of someone outside
        the directory: a local chat guest's session); one vote per voter and lesson, by a
        unique index. A lesson the viewer may not see is refused (NotFound) and nothing is
        written. Return True when the vote is new or changed, False when it repeats the last.

        The vote keeps the kind of question it was cast on (`knowledge.search.votes`): it moves
        the lesson for questions of that kind, so answers cached before it are forgotten.
        """
        person_id = viewer.person_id
        if person_id is not None:
            voter = f"person:{person_id}"
        elif guest:
            voter = guest[:200]
        else:
            raise DomainError("I don't know who you are, so I can't record a vote.")
        try:
            with self.session() as s:
                access.check_visible(s.connection(), viewer.principals, lesson_id)
                asked = s.get(Question, question_id) if question_id is not None else None
                question_id = asked.id if asked is not None else None
                kind = (
                    self.searcher.kind(s.connection(), asked.text, today=self.today())
                    if asked is not None
                    else None
                )
                existing = s.scalars(
                    select(Feedback).where(Feedback.voter == voter, Feedback.lesson_id == lesson_id)
                ).first()
                if existing is not None:
                    changed = existing.helpful != helpful
                    existing.helpful, existing.at = helpful, self.clock()
                    existing.question_id = question_id or existing.question_id
                    existing.kind = kind if kind is not None else existing.kind
                else:
                    s.add(
                        Feedback(
                            lesson_id=lesson_id,
                            person_id=person_id,
                            question_id=question_id,
                            helpful=helpful,
                            at=self.clock(),
                            voter=voter,
                            kind=kind,
                        )
                    )
                    changed = True
        except IntegrityError:  # the same voter's vote, from another request, won the race
            return False
        self.writes.bump()  # even a repeated vote is a newer one: its weight starts afresh
        return changed

    record_feedback = _blocking(_record_feedback)

    def _visible_lessons(self, viewer: Viewer, lesson_ids: Iterable[int]) -> frozenset[int]:
        """Return the lessons of `lesson_ids` this viewer may see (see `knowledge.access`)."""
        with self.engine.connect() as conn:
            return access.visible_lessons(conn, viewer.principals, lesson_ids)

    visible_lessons = _blocking(_visible_lessons)

    def _lesson_hits(self, viewer: Viewer, lesson_ids: Sequence[int]) -> tuple[Hit, ...]:
        """Return the lessons of `lesson_ids` this viewer may see, as answer cards show them."""
        with self.engine.connect() as conn:
            allowed = access.visible_lessons(conn, viewer.principals, lesson_ids)
            return hits_of(conn, [i for i in lesson_ids if i in allowed])

    lesson_hits = _blocking(_lesson_hits)

    def _seal(self, message: str) -> str:
        """Return a short keyed digest of message, made with this database's own secret.

        Forms the bot hands one person carry it (an AAR's anonymous answer form): a form id
        someone wrote themselves, or one handed to someone else, does not match. The secret is
        made once, at random, and shared by every process through the `meta` table.
        """
        secret = self._secret
        if secret is None:
            for _ in range(2):  # another process may make it at the same moment: read theirs
                try:
                    with self.session() as s:
                        row = s.get(Meta, "form_secret")
                        if row is None:
                            row = Meta(key="form_secret", value=secrets.token_hex(32))
                            s.add(row)
                        secret = row.value
                    break
                except IntegrityError:
                    continue
            if secret is None:
                raise DomainError("Sorry, I could not open that form. Please try again.")
            self._secret = secret
        digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
        return digest[:24]

    seal = _blocking(_seal)

    # People ------------------------------------------------------------------------------

    def _viewer_for(self, person_id: int | None, *, channel: str | None = None) -> Viewer:
        """Return who is asking, with the groups and conversation that open restricted lessons.

        `channel` is the conversation's platform identity (`ConversationRef.space`), never its
        name: it holds "channel:<identity>" and the audiences a PBPO linked to it.
        """
        principals: set[str] = set()
        if channel:
            principals.add(f"channel:{channel}")
            with self.engine.connect() as conn:
                linked = conn.execute(
                    select(AudienceLink.audience).where(AudienceLink.space == channel)
                )
                principals.update(str(a) for (a,) in linked)
        if person_id is None:
            return Viewer(person_id=None, principals=frozenset(principals))
        with self.session() as s:
            person = s.get(Person, person_id)
            if person is None:
                raise NotFound("That person is not in the directory.")
            if person.email:
                principals.add(f"person:{person.email}")
            principals.update(f"group:{g.group}" for g in person.groups)
            principals.update(f"group:{r.role.value}" for r in person.roles)
        return Viewer(person_id=person_id, principals=frozenset(principals))

    async def viewer_for(self, person_id: int | None, *, channel: str | None = None) -> Viewer:
        """Return who is asking, with the groups and channel that open restricted lessons."""
        key, generation = (person_id, channel), self.writes.generation
        found = self._viewers.get(key, generation)
        if found is None:
            found = await asyncio.to_thread(self._viewer_for, person_id, channel=channel)
            self._viewers.put(key, found, generation)
        return found

    def _person_for(self, platform: str, user_id: str) -> int | None:
        """Return the person id behind a platform user id (local users are their email)."""
        column = {"slack": Person.slack_user_id, "teams": Person.teams_aad_id}.get(
            platform, Person.email
        )
        key = user_id.lower() if column is Person.email else user_id
        with self.engine.connect() as conn:
            return conn.execute(select(Person.id).where(column == key)).scalar_one_or_none()

    async def person_for(self, platform: str, user_id: str) -> int | None:
        """Return the person id behind a platform user id (local users are their email)."""
        key, generation = (platform, user_id), self.writes.generation
        found = self._people_ids.get(key, generation)
        if found is None:
            found = await asyncio.to_thread(self._person_for, platform, user_id)
            if found is not None:  # an unknown user may be linked a moment later
                self._people_ids.put(key, found, generation)
        return found

    def _people(self) -> list[PersonView]:
        """Return everyone in the directory, by name."""
        with self.session() as s:
            people = s.scalars(select(Person).order_by(Person.name, Person.id)).all()
            return [
                PersonView(
                    id=p.id,
                    name=p.name,
                    email=p.email,
                    roles=tuple(sorted({r.role.value for r in p.roles})),
                    mission=p.mission,
                    timezone=p.timezone,
                )
                for p in people
            ]

    people = _blocking(_people)

    def _link_user(
        self,
        platform: str,
        user_id: str,
        *,
        email: str | None,
        name: str,
        timezone: str | None = None,
    ) -> int:
        """Tie a platform user to a person of the directory, by email; create unknown staff.

        Return the person id. A person already tied to another id of this platform keeps it.
        """
        column = {"slack": "slack_user_id", "teams": "teams_aad_id"}[platform]
        email = email.strip().lower() if email and "@" in email else None
        for attempt in range(3):
            try:
                return self._link_once(platform, column, user_id, email, name, timezone)
            except IntegrityError:
                # Another message of this user (here or on another replica) linked them a
                # moment ago: its row is there now, the next attempt finds it.
                if attempt == 2:
                    raise
                log.info("%s user %s was linked meanwhile; looking again", platform, user_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _link_once(
        self,
        platform: str,
        column: str,
        user_id: str,
        email: str | None,
        name: str,
        timezone: str | None,
    ) -> int:
        attr = getattr(Person, column)
        with self.session() as s:
            person = s.scalars(select(Person).where(attr == user_id)).first()
            if person is None and email:
                person = s.scalars(select(Person).where(Person.email == email)).first()
            if person is None:
                person = Person(
                    name=(name or "").strip()[:200] or f"{platform} user {user_id}",
                    email=email,
                    timezone="UTC",
                    created_at=self.clock(),
                )
                person.roles.append(PersonRole(role=Role.STAFF, scope=""))
                s.add(person)
            if getattr(person, column) is None:
                setattr(person, column, user_id)
            if timezone:
                person.timezone = timezone[:64]
            s.flush()
            return person.id

    link_user = _blocking(_link_user)

    def _first_time(self, platform: str, event_id: str) -> bool:
        """Record a platform event; return False when it was seen before (a redelivery)."""
        return self._record_events([(platform, event_id)])[0]

    async def first_time(self, platform: str, event_id: str) -> bool:
        """Record a platform event (with others arriving at the same moment); False: seen."""
        return await self._events.submit((platform, event_id))

    def _record_events(self, events: Sequence[tuple[str, str]]) -> list[bool]:
        """Record events in one transaction; True for each one not recorded before.

        The same event twice in one group (a retry racing its original) is new only once.
        """
        keys = [(p[:16], e[:200]) for p, e in events]
        unique = list(dict.fromkeys(keys))
        now = self.clock()
        dialect = sqlite if self.backend == "sqlite" else postgresql
        statement = (
            dialect.insert(ProcessedEvent)
            .on_conflict_do_nothing()
            .returning(ProcessedEvent.platform, ProcessedEvent.event_id)
        )
        rows = [{"platform": p, "event_id": e, "received_at": now} for p, e in unique]
        with self.connection() as conn:
            new = {(p, e) for p, e in conn.execute(statement, rows)}
        answered: list[bool] = []
        for key in keys:
            answered.append(key in new)
            new.discard(key)
        return answered

    def _forget_events(self, before: datetime) -> int:
        """Drop the record of events older than `before` (redeliveries stop within hours)."""
        with self.session() as s:
            result = s.execute(delete(ProcessedEvent).where(ProcessedEvent.received_at < before))
            return int(getattr(result, "rowcount", 0) or 0)

    forget_events = _blocking(_forget_events)

    def _person_by_email(self, email: str) -> Person | None:
        """Return the person with this email, if any."""
        with self.session() as s:
            return s.scalars(select(Person).where(Person.email == email.lower())).first()

    person_by_email = _blocking(_person_by_email)

    # Lifecycle ---------------------------------------------------------------------------

    def _move_lesson(
        self,
        lesson_id: int,
        target: LessonStatus,
        *,
        actor_id: int | None = None,
        note: str | None = None,
        surface: str = audit.SYSTEM,
    ) -> Lesson:
        """Move a lesson along its lifecycle, recording who did it, why and from where."""
        with self.session() as s:
            lesson = self._lesson(s, lesson_id)
            self.change_status(s, lesson, target, actor_id=actor_id, note=note, surface=surface)
            return lesson

    move_lesson = _blocking(_move_lesson)

    def change_status(
        self,
        s: Session,
        lesson: Lesson,
        target: LessonStatus,
        *,
        actor_id: int | None,
        note: str | None,
        surface: str,
    ) -> None:
        """Move a lesson inside a session, as the lifecycle allows; record the event and audit."""
        if target == LessonStatus.APPLIED:
            lifecycle.check_can_apply(lesson.status, [a.status for a in lesson.actions])
        lifecycle.transition(lesson.status, target)
        if target == LessonStatus.REJECTED and not (note and note.strip()):
            raise DomainError("Rejecting a lesson needs a short reason for its author.")
        if target == LessonStatus.WITHDRAWN and not (note and note.strip()):
            raise DomainError("Withdrawing a lesson needs a reason, kept on its record.")
        if target == LessonStatus.WITHDRAWN:  # nothing more is expected of its owners
            for action in lesson.actions:
                if not action.status.is_closed:
                    self._cancel(s, action, f"the lesson was withdrawn: {note}", actor_id, surface)
        self._set_status(s, lesson, target, actor_id=actor_id, note=note, surface=surface)

    def _cancel(
        self, s: Session, action: Action, reason: str, actor_id: int | None, surface: str
    ) -> None:
        before, now = {"status": action.status}, self.clock()
        action.status, action.reason = ActionStatus.NOT_DOING, reason
        action.closed_at = action.updated_at = now
        after = {"status": action.status}
        self._audit_action(
            s, action, "update_action", actor_id, surface, before, after, note=reason
        )

    def _add_action(
        self,
        lesson_id: int,
        description: str,
        *,
        owner_id: int | None,
        due_date: date | None,
        actor_id: int | None = None,
        surface: str = audit.SYSTEM,
    ) -> Action:
        """Add a follow-up action to a validated lesson."""
        if not description.strip():
            raise DomainError("An action needs a description of what will be done.")
        with self.session() as s:
            lesson = self._lesson(s, lesson_id)
            lifecycle.check_can_add_action(lesson.status)
            now = self.clock()
            action = Action(
                lesson_id=lesson.id,
                description=description.strip(),
                owner_id=owner_id,
                due_date=due_date,
                status=ActionStatus.OPEN,
                notes="",
                created_at=now,
                updated_at=now,
            )
            s.add(action)
            if lesson.status == LessonStatus.APPLIED:
                self._set_status(
                    s,
                    lesson,
                    LessonStatus.VALIDATED,
                    actor_id=None,
                    note="reopened: a new action was added",
                    surface=surface,
                )
            s.flush()
            self._audit_action(
                s, action, "add_action", actor_id, surface, {}, action_fields(action)
            )
            return action

    add_action = _blocking(_add_action)

    def action_added(
        self, s: Session, action: Action, *, actor_id: int | None, surface: str = audit.SYSTEM
    ) -> None:
        """Record an action added inside a session: an applied lesson reopens; audit it."""
        lesson = self._lesson(s, action.lesson_id)
        if lesson.status == LessonStatus.APPLIED:
            self._set_status(
                s,
                lesson,
                LessonStatus.VALIDATED,
                actor_id=None,
                note="reopened: a new action was added",
                surface=surface,
            )
        self._audit_action(s, action, "add_action", actor_id, surface, {}, action_fields(action))

    def _move_action(
        self,
        action_id: int,
        target: ActionStatus,
        *,
        actor_id: int | None = None,
        evidence: str | None = None,
        reason: str | None = None,
        surface: str = audit.SYSTEM,
    ) -> Action:
        """Change an action's status; the lesson becomes applied when its last action closes."""
        with self.session() as s:
            action = s.get(Action, action_id)
            if action is None:
                raise NotFound(f"There is no action #{action_id}.")
            lifecycle.check_action_move(action.status, target, evidence=evidence, reason=reason)
            self._audit_action(
                s,
                action,
                "update_action",
                actor_id,
                surface,
                {"status": action.status},
                {"status": target},
                note=evidence if target == ActionStatus.DONE else reason,
            )
            now = self.clock()
            action.status, action.updated_at = target, now
            action.closed_at = now if target.is_closed else None
            if target == ActionStatus.DONE:
                action.evidence = evidence
            if reason:
                action.reason = reason
            s.flush()
            lesson = self._lesson(s, action.lesson_id)
            if lifecycle.is_ready_to_apply(lesson.status, [a.status for a in lesson.actions]):
                self._set_status(
                    s,
                    lesson,
                    LessonStatus.APPLIED,
                    actor_id=actor_id,
                    note="every action is closed",
                    surface=surface,
                )
            elif lesson.status == LessonStatus.APPLIED and not target.is_closed:
                self._set_status(
                    s,
                    lesson,
                    LessonStatus.VALIDATED,
                    actor_id=actor_id,
                    note="an action was reopened",
                    surface=surface,
                )
            return action

    move_action = _blocking(_move_action)

    def _actions_of(self, person_id: int, *, include_closed: bool = False) -> list[ActionView]:
        """Return a person's actions: overdue first, then by due date."""
        with self.session() as s:
            query = (
                select(Action, Lesson, Product)
                .join(Lesson, Action.lesson_id == Lesson.id)
                .join(Product, Lesson.product_id == Product.id)
                .where(Action.owner_id == person_id)
            )
            if not include_closed:
                query = query.where(
                    Action.status.not_in([ActionStatus.DONE, ActionStatus.NOT_DOING])
                )
            rows = s.execute(query).all()
            views = [_action_view(a, lesson, product) for a, lesson, product in rows]
        return sorted(views, key=lambda v: (v.due_date is None, v.due_date or date.max, v.id))

    actions_of = _blocking(_actions_of)

    def _action(self, action_id: int) -> ActionView:
        """Return one action."""
        with self.session() as s:
            row = s.execute(
                select(Action, Lesson, Product)
                .join(Lesson, Action.lesson_id == Lesson.id)
                .join(Product, Lesson.product_id == Product.id)
                .where(Action.id == action_id)
            ).first()
            if row is None:
                raise NotFound(f"There is no action #{action_id}.")
            return _action_view(*row)

    action = _blocking(_action)

    def _update_action(
        self,
        action_id: int,
        *,
        actor_id: int | None,
        due_date: date | None = None,
        owner_id: int | None = None,
        note: str | None = None,
        surface: str = audit.SYSTEM,
    ) -> ActionView:
        """Change an open action's due date or owner, keeping a dated note of why."""
        with self.session() as s:
            action = s.get(Action, action_id)
            if action is None:
                raise NotFound(f"There is no action #{action_id}.")
            if action.status.is_closed:
                raise DomainError("That action is already closed.")
            before = {"due_date": action.due_date, "owner_id": action.owner_id}
            stamp = self.clock().date().isoformat()
            lines = [action.notes] if action.notes else []
            if due_date is not None:
                if due_date < self.today():
                    raise DomainError("The new due date is in the past: pick today or later.")
                lines.append(f"{stamp}: due date {action.due_date or 'none'} → {due_date}")
                action.due_date = due_date
            if owner_id is not None and owner_id != action.owner_id:
                new_owner = s.get(Person, owner_id)
                if new_owner is None:
                    raise NotFound("That person is not in the directory.")
                lines.append(f"{stamp}: handed over to {new_owner.name}")
                action.owner_id = owner_id
            if note:
                lines.append(f"{stamp}: {note.strip()[:2000]}")
            action.notes = "\n".join(lines)
            action.updated_at = self.clock()
            after = {"due_date": action.due_date, "owner_id": action.owner_id}
            changed = [k for k in before if before[k] != after[k]]
            self._audit_action(
                s,
                action,
                "update_action",
                actor_id,
                surface,
                {k: before[k] for k in changed},
                {k: after[k] for k in changed},
                note=note,
            )
            s.flush()
            lesson = self._lesson(s, action.lesson_id)
            return _action_view(action, lesson, lesson.product)

    update_action = _blocking(_update_action)

    def _get_lesson(self, lesson_id: int) -> Lesson:
        """Return a lesson with its product and actions."""
        with self.session() as s:
            return self._lesson(s, lesson_id)

    lesson = _blocking(_get_lesson)

    def lesson_in(self, s: Session, lesson_id: int) -> Lesson:
        """Return a lesson with its product and actions, inside a session, or raise NotFound."""
        return self._lesson(s, lesson_id)

    def _lesson(self, s: Session, lesson_id: int) -> Lesson:
        lesson = s.scalars(
            select(Lesson)
            .where(Lesson.id == lesson_id)
            .options(selectinload(Lesson.actions), selectinload(Lesson.product))
        ).first()
        if lesson is None:
            raise NotFound(f"There is no lesson #{lesson_id}.")
        return lesson

    def _audit_action(
        self,
        s: Session,
        action: Action,
        operation: str,
        actor_id: int | None,
        surface: str,
        before: dict[str, Any],
        after: dict[str, Any],
        *,
        note: str | None = None,
    ) -> None:
        if before == after:
            return  # a note alone changes nothing the audit follows
        audit.record(
            s,
            at=self.clock(),
            person_id=actor_id,
            surface=surface,
            operation=operation,
            kind="action",
            subject_id=action.id,
            before=before,
            after=after,
            note=note,
        )

    def _set_status(
        self,
        s: Session,
        lesson: Lesson,
        target: LessonStatus,
        *,
        actor_id: int | None,
        note: str | None,
        surface: str = audit.SYSTEM,
    ) -> None:
        now = self.clock()
        move = lifecycle.transition(lesson.status, target)
        audit.record(
            s,
            at=now,
            person_id=actor_id,
            surface=surface,
            operation=f"{move.name}_lesson",
            kind="lesson",
            subject_id=lesson.id,
            before={"status": lesson.status},
            after={"status": target},
            note=note,
        )
        s.add(
            LessonEvent(
                lesson_id=lesson.id,
                from_status=lesson.status.value,
                to_status=target.value,
                actor_id=actor_id,
                note=note,
                at=now,
            )
        )
        lesson.status, lesson.updated_at = target, now
        if target == LessonStatus.VALIDATED and lesson.validated_at is None:
            lesson.validated_at, lesson.validated_by_id = now, actor_id
        elif target == LessonStatus.APPLIED:
            lesson.applied_at = now
        elif target == LessonStatus.REJECTED:
            lesson.rejected_at, lesson.rejection_reason = now, note
        elif target == LessonStatus.IDENTIFIED:
            lesson.rejected_at = lesson.rejection_reason = None


def action_fields(action: Action) -> dict[str, Any]:
    return {
        "status": action.status,
        "owner_id": action.owner_id,
        "due_date": action.due_date,
        "lesson_id": action.lesson_id,
    }


def _action_view(action: Action, lesson: Lesson, product: Product) -> ActionView:
    return ActionView(
        id=action.id,
        description=action.description,
        status=action.status,
        due_date=action.due_date,
        lesson_id=lesson.id,
        lesson_title=lesson.title or product.title,
        mission=product.mission,
        owner_id=action.owner_id,
        owner_name=action.owner.name if action.owner else None,
        notes=action.notes,
    )


def _question_row(
    question: str,
    person_id: int | None,
    platform: str,
    hits: int,
    channel_id: str | None,
    thread_id: str | None,
    lessons: Sequence[int] = (),
    answered: bool | None = None,
) -> dict[str, Any]:
    return {
        "answered": answered,
        "lessons": tuple(lessons),
        "person_id": person_id,
        "platform": platform[:16],
        "text": question[:2000],
        "normalized": " ".join(fold(question).split())[:300],
        "hits": hits,
        "asked_at": None,
        "channel_id": channel_id[:100] if channel_id else None,
        "thread_id": thread_id[:100] if thread_id else None,
    }
