"""What Helpful / Not helpful votes do to a lesson's place in search: bounded, decaying, per
kind of question, undoable.

**The kind of question** is the set of index terms (stems, on the backend's own analyser) of the
words the asker typed, once the query parser has taken out the framing ("what did we learn
about") and the filters ("in MINUSCA", "since 2022"), with misspellings corrected and without
glossary expansions: "lessons about IED threats to convoys" and "convoy IED threat" are both
`convoy ied threat`. It is what the search itself matched, so it needs no model and no list of
themes, and two questions are of the same kind when their terms overlap: a vote counts for a
question in proportion to the overlap (Jaccard) of the two kinds, and not at all below
`SAME_KIND` (half): a vote on "IED threats to convoys" counts fully for "convoy IED threats",
2/3 for "IED convoys", and nothing for "convoy fuel reserves" or "elections".

**Bounded.** Each vote weighs ±`STEP` (5 %) times its decay times that overlap; the lesson's
score is multiplied by 1 + the sum, held within [`LOW`, `HIGH`] = [0.8, 1.2] however many
votes. Only lessons the search already retrieved for the question are reweighed, so a vote
never brings an unrelated lesson into an answer, and a strong match keeps at least 80 % of its
score. **Decaying**: a vote weighs half after `HALF_LIFE_DAYS` (90) from when it was cast, by
the store's clock. **Undoable**: a PBPO's undo (`vote_undos`, `knowledge.votes`) sets aside
the votes cast until then on a lesson for a kind of question (or every kind); votes cast later
count again, and the undo can itself be undone (restored).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from knowledge.models import Feedback, VoteUndo

HALF_LIFE_DAYS = 90.0
STEP = 0.05
LOW, HIGH = 0.8, 1.2
SAME_KIND = 0.5
MAX_KIND = 300  # characters (feedback.kind, vote_undos.kind)
EVERY_KIND = ""


@dataclass(frozen=True, slots=True)
class Vote:
    """One vote as search reads it."""

    lesson_id: int
    helpful: bool
    at: datetime
    kind: str


@dataclass(frozen=True, slots=True)
class Undo:
    """A standing undo: the votes on a lesson cast until `at`, for a kind ('' every kind)."""

    lesson_id: int
    at: datetime
    kind: str


def kind_of(terms: Iterable[str]) -> str:
    """Return the kind of question these index terms make: sorted, space-separated, bounded."""
    kind = ""
    for term in sorted({t for t in terms if t and " " not in t}):
        if len(kind) + len(term) + 1 > MAX_KIND:
            break
        kind = f"{kind} {term}" if kind else term
    return kind


def similarity(a: str, b: str) -> float:
    """Return the overlap (Jaccard) of two kinds of question; 0 when either is empty."""
    x, y = set(a.split()), set(b.split())
    if not x or not y:
        return 0.0
    return len(x & y) / len(x | y)


def decay(at: datetime, now: datetime) -> float:
    """Return a vote's weight now: 1 when cast, half after HALF_LIFE_DAYS."""
    days = max(0.0, (now - at).total_seconds() / 86_400)
    return float(0.5 ** (days / HALF_LIFE_DAYS))


def undone(vote: Vote, undos: Iterable[Undo]) -> bool:
    """Return True when a standing undo sets this vote aside."""
    return any(
        u.lesson_id == vote.lesson_id
        and vote.at <= u.at
        and (u.kind == EVERY_KIND or similarity(u.kind, vote.kind) >= SAME_KIND)
        for u in undos
    )


def pull(votes: Iterable[Vote], kind: str, now: datetime) -> float:
    """Return the votes' net pull for a kind of question (helpful plus, not helpful minus)."""
    total = 0.0
    for vote in votes:
        overlap = similarity(vote.kind, kind)
        if overlap >= SAME_KIND:
            total += (1.0 if vote.helpful else -1.0) * decay(vote.at, now) * overlap
    return total


def factor(votes: Iterable[Vote], kind: str, now: datetime) -> float:
    """Return what the votes multiply a lesson's score by for a kind of question."""
    return min(HIGH, max(LOW, 1.0 + STEP * pull(votes, kind, now)))


def read_votes(conn: Connection, lesson_ids: Sequence[int]) -> list[Vote]:
    """Return the analysed votes on these lessons (by the feedback's lesson index)."""
    if not lesson_ids:
        return []
    rows = conn.execute(
        select(Feedback.lesson_id, Feedback.helpful, Feedback.at, Feedback.kind).where(
            Feedback.lesson_id.in_(list(lesson_ids)),
            Feedback.kind.is_not(None),
            Feedback.kind != "",
        )
    )
    return [Vote(int(lid), bool(helpful), at, str(kind)) for lid, helpful, at, kind in rows]


def read_undos(conn: Connection, lesson_ids: Sequence[int]) -> list[Undo]:
    """Return the standing undos of these lessons."""
    if not lesson_ids:
        return []
    rows = conn.execute(
        select(VoteUndo.lesson_id, VoteUndo.undone_at, VoteUndo.kind).where(
            VoteUndo.lesson_id.in_(list(lesson_ids)), VoteUndo.restored_at.is_(None)
        )
    )
    return [Undo(int(lid), at, str(kind)) for lid, at, kind in rows]


def effects(
    conn: Connection, lesson_ids: Sequence[int], kind: str, now: datetime
) -> dict[int, float]:
    """Return the vote factor of each of these lessons that votes move for this kind of
    question (lessons they leave alone are absent). One query when no vote is of this kind."""
    if not kind or not lesson_ids:
        return {}
    votes = [v for v in read_votes(conn, lesson_ids) if similarity(v.kind, kind) >= SAME_KIND]
    if not votes:
        return {}
    undos = read_undos(conn, sorted({v.lesson_id for v in votes}))
    by_lesson: dict[int, list[Vote]] = {}
    for vote in votes:
        if not undone(vote, undos):
            by_lesson.setdefault(vote.lesson_id, []).append(vote)
    found = {lid: factor(vs, kind, now) for lid, vs in by_lesson.items()}
    return {lid: f for lid, f in found.items() if f != 1.0}
