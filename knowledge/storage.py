"""Store: the one door to the lessons index (sessions, queries, lifecycle changes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Concatenate

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.orm import Session, selectinload

from knowledge import database, lifecycle
from knowledge.errors import DomainError, NotFound
from knowledge.loader import ImportStats, Loader, Progress
from knowledge.models import (
    Action,
    ActionStatus,
    Lesson,
    LessonEvent,
    LessonStatus,
    Person,
    Product,
)
from knowledge.records import PersonRecord, ProductRecord
from knowledge.search.answer import Answer, Searcher, Viewer
from knowledge.search.glossary import Glossary
from knowledge.search.index import PostgresIndex, SearchIndex, SqliteIndex

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


def _blocking[**P, R](
    fn: Callable[Concatenate[Store, P], R],
) -> Callable[Concatenate[Store, P], Coroutine[Any, Any, R]]:
    """Run a blocking store method in a worker thread, so callers can await it."""

    async def run(self: Store, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(fn, self, *args, **kwargs)

    run.__doc__, run.__name__ = fn.__doc__, fn.__name__.lstrip("_")
    return run


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

    def close(self) -> None:
        """Release every pooled connection."""
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
    ) -> ImportStats:
        """Write records in one transaction: all of them, or nothing."""
        with self.connection() as conn:
            loader = Loader(conn, index=self.index, now=self.clock(), progress=progress)
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
                conn, question, viewer=viewer, today=self.today(), limit=limit
            )

    ask = _blocking(_ask)

    # People ------------------------------------------------------------------------------

    def _viewer_for(self, person_id: int | None, *, channel: str | None = None) -> Viewer:
        """Return who is asking, with the groups and channel that open restricted lessons."""
        principals = {f"channel:{channel}"} if channel else set()
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

    viewer_for = _blocking(_viewer_for)

    def _person_for(self, platform: str, user_id: str) -> int | None:
        """Return the person id behind a platform user id (local users are their email)."""
        column = {"slack": Person.slack_user_id, "teams": Person.teams_aad_id}.get(
            platform, Person.email
        )
        key = user_id.lower() if column is Person.email else user_id
        with self.engine.connect() as conn:
            return conn.execute(select(Person.id).where(column == key)).scalar_one_or_none()

    person_for = _blocking(_person_for)

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
    ) -> Lesson:
        """Move a lesson along its lifecycle, recording who did it and why."""
        with self.session() as s:
            lesson = self._lesson(s, lesson_id)
            if target == LessonStatus.APPLIED:
                lifecycle.check_can_apply(lesson.status, [a.status for a in lesson.actions])
            lifecycle.transition(lesson.status, target)
            if target == LessonStatus.REJECTED and not (note and note.strip()):
                raise DomainError("Rejecting a lesson needs a short reason for its author.")
            self._set_status(s, lesson, target, actor_id=actor_id, note=note)
            return lesson

    move_lesson = _blocking(_move_lesson)

    def _add_action(
        self,
        lesson_id: int,
        description: str,
        *,
        owner_id: int | None,
        due_date: date | None,
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
                )
            s.flush()
            return action

    add_action = _blocking(_add_action)

    def _move_action(
        self,
        action_id: int,
        target: ActionStatus,
        *,
        actor_id: int | None = None,
        evidence: str | None = None,
        reason: str | None = None,
    ) -> Action:
        """Change an action's status; the lesson becomes applied when its last action closes."""
        with self.session() as s:
            action = s.get(Action, action_id)
            if action is None:
                raise NotFound(f"There is no action #{action_id}.")
            lifecycle.check_action_move(action.status, target, evidence=evidence, reason=reason)
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
                )
            elif lesson.status == LessonStatus.APPLIED and not target.is_closed:
                self._set_status(
                    s,
                    lesson,
                    LessonStatus.VALIDATED,
                    actor_id=actor_id,
                    note="an action was reopened",
                )
            return action

    move_action = _blocking(_move_action)

    def _get_lesson(self, lesson_id: int) -> Lesson:
        """Return a lesson with its product and actions."""
        with self.session() as s:
            return self._lesson(s, lesson_id)

    lesson = _blocking(_get_lesson)

    def _lesson(self, s: Session, lesson_id: int) -> Lesson:
        lesson = s.scalars(
            select(Lesson)
            .where(Lesson.id == lesson_id)
            .options(selectinload(Lesson.actions), selectinload(Lesson.product))
        ).first()
        if lesson is None:
            raise NotFound(f"There is no lesson #{lesson_id}.")
        return lesson

    def _set_status(
        self,
        s: Session,
        lesson: Lesson,
        target: LessonStatus,
        *,
        actor_id: int | None,
        note: str | None,
    ) -> None:
        now = self.clock()
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
