"""What askers' votes do in search, for PBPOs: the report of lessons moved, and undo / restore.

Votes move a lesson for the kind of question they were cast on, within [0.8, 1.2] of its score
and fading with a 90-day half-life (`knowledge.search.votes` has the rules). A PBPO sees which
lessons votes move, for which kind of question, by how much and by how many votes (`report`),
and may undo the votes' effect on a lesson, for one kind of question or every kind (`undo`),
and undo that undo (`restore`). Undo and restore are a PBPO's decision on the lesson (the rule
of search curation: a PBPO of its mission, or an admin) and go to the audit trail; votes cast
after an undo count again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from knowledge import audit
from knowledge.errors import DomainError, NotAllowed
from knowledge.models import Feedback, Lesson, Person, Product, Question, Role, VoteUndo
from knowledge.permissions import Operation, can, require
from knowledge.practices import visible_lesson
from knowledge.reports import lesson_title
from knowledge.roles import actor_of, lesson_subject
from knowledge.search.answer import Viewer
from knowledge.search.votes import (
    EVERY_KIND,
    SAME_KIND,
    Vote,
    factor,
    kind_of,
    read_undos,
    read_votes,
    similarity,
    undone,
)
from knowledge.storage import Store

MAX_WHY = 1_000
UNDO, RESTORE = "undo_vote_effect", "restore_vote_effect"


@dataclass(frozen=True, slots=True)
class Move:
    """What the votes on one lesson, cast on one kind of question, do for that kind now."""

    lesson_id: int
    title: str
    mission: str | None
    kind: str
    helpful: int
    not_helpful: int
    undone: int  # of those votes, set aside by a PBPO's undo
    factor: float  # what the lesson's score is multiplied by for this kind of question

    @property
    def percent(self) -> int:
        """Return the move in whole percent (+12: the score times 1.12)."""
        return round((self.factor - 1.0) * 100)

    def as_json(self) -> dict[str, object]:
        """Return it as plain JSON values (stable keys)."""
        return {
            "lesson_id": self.lesson_id,
            "title": self.title,
            "mission": self.mission,
            "kind": self.kind,
            "helpful": self.helpful,
            "not_helpful": self.not_helpful,
            "undone": self.undone,
            "factor": round(self.factor, 4),
        }


@dataclass(frozen=True, slots=True)
class Undone:
    """A standing undo, as the report lists it."""

    undo_id: int
    lesson_id: int
    title: str
    kind: str  # "" every kind of question
    by: str | None
    at: datetime
    why: str | None


@dataclass(frozen=True, slots=True)
class Report:
    """Lessons votes move (most moved first), and the undos standing."""

    moves: tuple[Move, ...]
    undos: tuple[Undone, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """An undo or a restore as made: the lesson, the kind, the votes and the factor's move."""

    lesson_id: int
    title: str
    kind: str
    votes: int
    before: float
    after: float


class VoteEffects:
    """The votes report, undo and restore, over a Store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def report(self, actor_id: int | None, *, everything: bool = False) -> Report:
        """Return the lessons votes move that this PBPO may curate (`everything`: the command
        line's view, every lesson). Anyone else is refused (NotAllowed)."""
        viewer = None if everything else await self.store.viewer_for(actor_id)
        return await asyncio.to_thread(self._report, actor_id, viewer)

    async def undo(
        self,
        lesson_id: int,
        kind: str,
        *,
        actor_id: int | None,
        why: str = "",
        surface: str,
        channel: str | None = None,
    ) -> Change:
        """Set aside the votes cast so far on a lesson for a kind of question ("": every kind)."""
        viewer = await self.store.viewer_for(actor_id, channel=channel)
        return await asyncio.to_thread(
            self._undo, lesson_id, kind, actor_id, why, surface, viewer, False
        )

    async def restore(
        self,
        lesson_id: int,
        kind: str,
        *,
        actor_id: int | None,
        why: str = "",
        surface: str,
        channel: str | None = None,
    ) -> Change:
        """Undo the undos of a lesson (for a kind of question, "": all): its votes count again."""
        viewer = await self.store.viewer_for(actor_id, channel=channel)
        return await asyncio.to_thread(
            self._undo, lesson_id, kind, actor_id, why, surface, viewer, True
        )

    # --------------------------------------------------------------------------------------

    def _report(self, actor_id: int | None, viewer: Viewer | None) -> Report:
        now = self.store.clock()
        with self.store.session() as s:
            self._analyse(s)
            actor = actor_of(s, actor_id)
            if viewer is not None and not any(
                role in (Role.PBPO, Role.ADMIN) for role, _ in actor.roles
            ):
                raise NotAllowed("Only a PBPO or an admin can see what votes do in search.")
            conn = s.connection()
            votes = read_votes(conn, _voted(conn))
            lessons = {v.lesson_id for v in votes}
            undos = read_undos(conn, sorted(lessons))
            shown = {
                lesson.id: lesson
                for lesson in s.scalars(select(Lesson).where(Lesson.id.in_(sorted(lessons))))
                if viewer is None
                or can(actor, Operation.CURATE_SEARCH, lesson_subject(s, lesson)).allowed
            }
            if viewer is not None:  # restricted lessons only to those who may see them
                visible = self.store._visible_lessons(viewer, list(shown))
                shown = {lid: lesson for lid, lesson in shown.items() if lid in visible}
            moves = []
            groups: dict[tuple[int, str], list[Vote]] = {}
            for vote in votes:
                if vote.lesson_id in shown:
                    groups.setdefault((vote.lesson_id, vote.kind), []).append(vote)
            for (lid, kind), group in groups.items():
                lesson = shown[lid]
                counting = [v for v in votes if v.lesson_id == lid and not undone(v, undos)]
                moves.append(
                    Move(
                        lesson_id=lid,
                        title=lesson_title(lesson.product.title, lesson.title),
                        mission=lesson.product.mission,
                        kind=kind,
                        helpful=sum(1 for v in group if v.helpful),
                        not_helpful=sum(1 for v in group if not v.helpful),
                        undone=sum(1 for v in group if undone(v, undos)),
                        factor=factor(counting, kind, now),
                    )
                )
            moves.sort(key=lambda m: (-abs(m.factor - 1.0), -(m.helpful + m.not_helpful), m.kind))
            standing = s.execute(
                select(VoteUndo, Person.name)
                .outerjoin(Person, Person.id == VoteUndo.undone_by_id)
                .where(VoteUndo.restored_at.is_(None), VoteUndo.lesson_id.in_(sorted(shown)))
                .order_by(VoteUndo.id)
            ).all()
            listed = tuple(
                Undone(
                    u.id,
                    u.lesson_id,
                    lesson_title(shown[u.lesson_id].product.title, shown[u.lesson_id].title),
                    u.kind,
                    name,
                    u.undone_at,
                    u.why,
                )
                for u, name in standing
            )
            return Report(tuple(moves), listed)

    def _undo(
        self,
        lesson_id: int,
        typed: str,
        actor_id: int | None,
        why: str,
        surface: str,
        viewer: Viewer,
        restore: bool,
    ) -> Change:
        note = " ".join(why.split())[:MAX_WHY] or None
        now = self.store.clock()
        with self.store.session() as s:
            lesson = visible_lesson(s, self.store, lesson_id, viewer)
            require(actor_of(s, actor_id), Operation.CURATE_SEARCH, lesson_subject(s, lesson))
            self._analyse(s, lesson.id)
            conn = s.connection()
            votes = read_votes(conn, [lesson.id])
            kind = self._kind_named(conn, typed, votes)
            undos = read_undos(conn, [lesson.id])
            title = lesson_title(lesson.product.title, lesson.title)
            for_kind = [v for v in votes if not kind or similarity(v.kind, kind) >= SAME_KIND]
            said = f"“{kind}”" if kind else "any kind of question"
            before = _largest(for_kind, undos, kind, now)
            if restore:
                standing = s.scalars(
                    select(VoteUndo).where(
                        VoteUndo.lesson_id == lesson.id,
                        VoteUndo.restored_at.is_(None),
                    )
                ).all()
                mine = [
                    u
                    for u in standing
                    if not kind
                    or u.kind == kind
                    or (u.kind and similarity(u.kind, kind) >= SAME_KIND)
                ]
                if not mine:
                    raise DomainError(
                        f"No undo of votes stands on lesson #{lesson.id} for {said}: "
                        "nothing to restore."
                    )
                ids = [u.id for u in mine]
                s.execute(
                    update(VoteUndo)
                    .where(VoteUndo.id.in_(ids))
                    .values(restored_at=now, restored_by_id=actor_id)
                )
                left = read_undos(conn, [lesson.id])
                after = _largest(for_kind, left, kind, now)
                counted = sum(1 for v in for_kind if undone(v, undos) and not undone(v, left))
            else:
                counted = sum(1 for v in for_kind if not undone(v, undos))
                if not counted:
                    raise DomainError(
                        f"No votes move lesson #{lesson.id} for {said}: nothing to undo."
                    )
                s.add(
                    VoteUndo(
                        lesson_id=lesson.id, kind=kind, why=note, undone_by_id=actor_id,
                        undone_at=now,
                    )
                )  # fmt: skip
                after = 1.0
            audit.record(
                s,
                at=now,
                person_id=actor_id,
                surface=surface,
                operation=RESTORE if restore else UNDO,
                kind="lesson",
                subject_id=lesson.id,
                before={"votes_factor": round(before, 4)},
                after={"votes_factor": round(after, 4), "kind": kind or "every kind"},
                note=note,
            )
            return Change(lesson.id, title, kind, counted, before, after)

    def _kind_named(self, conn: Connection, typed: str, votes: list[Vote]) -> str:
        """Return the kind of question typed: one of the report's kinds as listed, or the
        kind of the words read as a question; "" (every kind) when nothing is typed."""
        if not typed.strip():
            return EVERY_KIND
        listed = kind_of(typed.lower().split())
        if any(v.kind == listed for v in votes):
            return listed
        kind = self.store.searcher.kind(conn, typed, today=self.store.today())
        if not kind:
            raise DomainError(f"“{typed}” names no kind of question: say its words, or nothing.")
        return kind

    def _analyse(self, s: Session, lesson_id: int | None = None) -> None:
        """Give votes cast before kinds were kept (migration 0080) the kind of their question;
        a vote without a question gets "" (it moves nothing)."""
        query = select(Feedback).where(Feedback.kind.is_(None))
        if lesson_id is not None:
            query = query.where(Feedback.lesson_id == lesson_id)
        pending = s.scalars(query).all()
        texts: dict[int, str] = {}
        for vote in pending:
            if vote.question_id is not None and vote.question_id not in texts:
                texts[vote.question_id] = s.get_one(Question, vote.question_id).text
        conn, today = s.connection(), self.store.today()
        kinds = {qid: self.store.searcher.kind(conn, t, today=today) for qid, t in texts.items()}
        for vote in pending:
            vote.kind = kinds.get(vote.question_id or 0, "")


def _voted(conn: Connection) -> list[int]:
    """Return the lessons with analysed votes."""
    return [
        int(lid)
        for (lid,) in conn.execute(
            select(Feedback.lesson_id)
            .where(Feedback.kind.is_not(None), Feedback.kind != "")
            .distinct()
            .join(Lesson, Lesson.id == Feedback.lesson_id)
            .join(Product, Product.id == Lesson.product_id)
        )
    ]


def _largest(votes: list[Vote], undos: list, kind: str, now: datetime) -> float:  # type: ignore[type-arg]
    """Return the factor furthest from 1 the votes give, for this kind or (kind "") any of
    the kinds they were cast on."""
    counting = [v for v in votes if not undone(v, undos)]
    kinds = [kind] if kind else sorted({v.kind for v in votes})
    found = [factor(counting, k, now) for k in kinds] or [1.0]
    return max(found, key=lambda f: abs(f - 1.0))
