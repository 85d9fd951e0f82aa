"""After-Action Reviews in the database: a stored state machine, answers, and what closing makes.

A review runs in one thread. Its questions are snapshotted when it starts (editing the question
set never breaks a running review), answers are stored the moment they arrive (anonymous ones
with no author: who took part is kept apart, in `review_contributors`), and closing saves an AAR
product in the lessons index and turns its recommendations into proposed actions. Everything
lives in the database, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from knowledge.dates import find_day
from knowledge.errors import DomainError, NotFound
from knowledge.models import (
    Action,
    ActionStatus,
    Lesson,
    Person,
    PersonRole,
    Product,
    ProductType,
    ProposalStatus,
    ProposedAction,
    Review,
    ReviewAnswer,
    ReviewContributor,
    ReviewStatus,
    Role,
)
from knowledge.records import ProductRecord
from knowledge.search.answer import Viewer
from knowledge.search.text import clip, fold, words
from knowledge.storage import Store
from knowledge.threads import blocking

MAX_ANSWER = 10_000
MAX_EVENT = 300
MAX_PROPOSALS = 50
_ACTIVE = (ReviewStatus.RUNNING, ReviewStatus.PAUSED)
REPEAT_SCORE = 75  # rapidfuzz token_set_ratio of two lessons' words that counts as "seen before"

log = logging.getLogger(__name__)


class QuestionKind(StrEnum):
    """What a question of a review asks; closing uses it to build lessons and actions."""

    EXPECTED = "expected"  # what was supposed to happen?
    ACTUAL = "actual"  # what actually happened?
    WENT_WELL = "went_well"  # what went well, and why?
    IMPROVE = "improve"  # what can be improved, and how?
    RECOMMEND = "recommend"  # who should do what, by when?
    ACHIEVEMENT = "achievement"  # EoAR: what did you achieve?
    LESSON = "lesson"  # EoAR: what did you learn?
    PRACTICE = "practice"  # EoAR: which good practices should be kept?
    GAP = "gap"  # EoAR: what gaps remain?
    OTHER = "other"  # an organisation's own question: kept in the record only


class Control(StrEnum):
    """What the facilitator can do to a running review."""

    NEXT = "next"
    BACK = "back"
    SKIP = "skip"
    PAUSE = "pause"
    RESUME = "resume"
    CLOSE = "close"
    CANCEL = "cancel"


_CONTROL_WHAT = {
    Control.NEXT: "move the review on",
    Control.SKIP: "skip a question",
    Control.BACK: "go back a question",
    Control.PAUSE: "pause the review",
    Control.RESUME: "resume the review",
    Control.CLOSE: "close the review",
    Control.CANCEL: "cancel the review",
}


@dataclass(frozen=True, slots=True)
class Question:
    """One question of a review, stored in `Review.questions` as "<kind>|<text>"."""

    kind: QuestionKind
    text: str

    def stored(self) -> str:
        """Return the question as stored in a review."""
        return f"{self.kind.value}|{self.text}"

    @classmethod
    def parse(cls, stored: str) -> Question:
        """Read a stored question (a plain string is a question of kind "other")."""
        kind, sep, text = stored.partition("|")
        if sep and kind in QuestionKind.__members__.values():
            return cls(QuestionKind(kind), text)
        return cls(QuestionKind.OTHER, stored)


DEFAULT_QUESTIONS = (
    Question(QuestionKind.EXPECTED, "What was supposed to happen?"),
    Question(QuestionKind.ACTUAL, "What actually happened?"),
    Question(QuestionKind.WENT_WELL, "What went well, and why?"),
    Question(QuestionKind.IMPROVE, "What can be improved, and how?"),
    Question(
        QuestionKind.RECOMMEND,
        "What do you recommend: who should do what, by when?",
    ),
)


QUESTION_TABLES = ("question", "eoar_question")  # AAR questions, EoAR interview questions


def load_questions(
    path: Path, *, table: str = "question", fallback: tuple[Question, ...] | None = None
) -> tuple[Question, ...]:
    """Read a question set from TOML: `[[question]]` tables with `text` and optional `kind`.

    The same file may hold the End of Assignment interview's questions as `[[eoar_question]]`
    (`table`). `fallback` is used when the file has questions for the other set only.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DomainError(f"The AAR question file {path} could not be read: {exc}") from None
    found = []
    for i, item in enumerate(data.get(table, []), 1):
        text = str(item.get("text", "")).strip() if isinstance(item, dict) else ""
        kind = str(item.get("kind", "other")).strip().lower() if isinstance(item, dict) else ""
        if not text or kind not in QuestionKind.__members__.values():
            kinds = ", ".join(k.value for k in QuestionKind)
            raise DomainError(f"{path}: {table} {i} needs a text and a kind among: {kinds}.")
        found.append(Question(QuestionKind(kind), " ".join(text.split())))
    if not found:
        if fallback is not None and any(t in data for t in QUESTION_TABLES):
            return fallback
        raise DomainError(f"{path} has no [[{table}]] entries.")
    return tuple(found)


# Views: what handlers get back (plain values, usable after the session is gone) -------------


@dataclass(frozen=True, slots=True)
class Member:
    """A person of the directory with the ids the chat platforms know them by."""

    id: int
    name: str
    email: str | None
    slack_user_id: str | None
    teams_aad_id: str | None
    mission: str | None
    timezone: str
    manager_id: int | None

    def user_id(self, platform: str) -> str | None:
        """Return the id this person has on a platform (their email on the local chat)."""
        return {"slack": self.slack_user_id, "teams": self.teams_aad_id}.get(platform, self.email)


@dataclass(frozen=True, slots=True)
class ReviewView:
    """A review as it stands."""

    id: int
    event: str
    platform: str
    channel_id: str
    thread_id: str | None
    channel_name: str | None
    facilitator_id: int | None
    facilitator_name: str
    status: ReviewStatus
    questions: tuple[Question, ...]
    step: int
    starts_at: datetime | None
    closed_at: datetime | None
    product_id: int | None
    kind: str = "aar"  # "eoar": an End of Assignment interview in a direct message
    step_started_at: datetime | None = None  # None while scheduled, or when time ran out
    space: str | None = None  # the channel's platform identity: what its audience opens

    @property
    def question(self) -> Question:
        """Return the current question."""
        return self.questions[min(self.step, len(self.questions) - 1)]

    @property
    def is_last(self) -> bool:
        """Return True on the last question."""
        return self.step >= len(self.questions) - 1


@dataclass(frozen=True, slots=True)
class AnswerView:
    """One stored answer; `author` is None when anonymous or from someone not in the directory."""

    id: int
    step: int
    text: str
    author: str | None
    anonymous: bool
    message_id: str | None


@dataclass(frozen=True, slots=True)
class Saved:
    """What storing an answer did."""

    answer: AnswerView
    review: ReviewView
    clipped: bool  # the text was longer than MAX_ANSWER and was cut
    first_guest: bool  # the first answer of this review from someone not in the directory


@dataclass(frozen=True, slots=True)
class Change:
    """An edit or deletion of a message that held an answer."""

    review: ReviewView
    applied: bool  # False: the review is closed, so its saved record was left as it is


@dataclass(frozen=True, slots=True)
class ProposalView:
    """An action a review proposed, on its way to its owner."""

    id: int
    review_id: int | None
    event: str
    description: str
    owner_id: int | None
    owner_name: str | None
    owner_hint: str | None
    due_date: date | None
    status: ProposalStatus
    note: str | None
    action_id: int | None
    facilitator_id: int | None
    facilitator_name: str
    kind: str = "aar"  # the kind of review that proposed it; "lesson": added on the lesson
    lesson_id: int | None = None

    @property
    def source(self) -> str:
        """Return what proposed the action, as a sentence says it."""
        return source_name(self.kind, self.event)


def source_name(kind: str, event: str) -> str:
    """Return how a sentence names a review: "the After-Action Review of Election day"."""
    if kind == "lesson":
        return f"the lesson “{event}”"
    if kind == "eoar":
        return f"the End of Assignment Report of {event}"
    return f"the After-Action Review of {event}"


@dataclass(frozen=True, slots=True)
class Repeat:
    """A new lesson that resembles one the index already holds."""

    lesson: str
    title: str
    kind: str
    year: int | None
    status: str
    open_actions: int


@dataclass(frozen=True, slots=True)
class Closing:
    """What closing a review did: the record saved, actions proposed, repeats found."""

    review: ReviewView
    answers: tuple[AnswerView, ...]
    participants: int
    guests: int
    product_id: int | None
    product_title: str | None
    lessons: int
    proposals: tuple[ProposalView, ...]
    validator: Member | None
    repeats: tuple[Repeat, ...] = ()


@dataclass(frozen=True, slots=True)
class Owner:
    """Who a recommendation names: a member, or only what was written ("@Bob")."""

    member: Member | None
    hint: str | None


# Pure rules ----------------------------------------------------------------------------------


def steer(
    status: ReviewStatus, step: int, total: int, control: Control
) -> tuple[ReviewStatus, int]:
    """Return the status and step a control word leads to, or raise DomainError."""
    if not status.is_active:
        raise DomainError(f"This review is {status.value} already.")
    match control:
        case Control.PAUSE if status == ReviewStatus.PAUSED:
            raise DomainError("The review is paused already. Say `resume` to carry on.")
        case Control.PAUSE:
            return ReviewStatus.PAUSED, step
        case Control.RESUME if status == ReviewStatus.RUNNING:
            raise DomainError("The review is not paused; it is running.")
        case Control.RESUME:
            return ReviewStatus.RUNNING, step
        case Control.CANCEL:
            return ReviewStatus.CANCELLED, step
        case Control.CLOSE:
            return ReviewStatus.CLOSED, step
        case _ if status == ReviewStatus.PAUSED:
            raise DomainError("The review is paused. Say `resume` first.")
        case Control.BACK if step == 0:
            raise DomainError("This is the first question already.")
        case Control.BACK:
            return ReviewStatus.RUNNING, step - 1
    if step + 1 >= total:
        raise DomainError(
            "That was the last question. Say `close` to finish and save the review, "
            "or `back` to return to an earlier question."
        )
    return ReviewStatus.RUNNING, step + 1


_SLACK = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_TEAMS = re.compile(r"<at>([^<]{1,100})</at>", re.IGNORECASE)
_EMAIL = re.compile(r"@?([\w.+-]+@[\w-]+(?:\.[\w-]+)+)")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.)])\s*")
# A sentence ends before a capital, a digit or a mention: "… by 15 Jan. @Bob to buy batteries."
_ACTION_END = re.compile(r"(?<=[.!?;])\s+(?=[\"'“(A-Z0-9@<])")
_OWNER_NAMED = re.compile(
    r"\b(?:owner|owned by|assigned to|responsible|lead|led by)\s*:?\s+"
    r"([^\W\d_][\w'\u2019.-]*(?:\s+[^\W\d_][\w'\u2019.-]*){0,2})",
    re.IGNORECASE,
)
_AT_NAME = re.compile(r"@([^\W\d_][\w'\u2019.-]*(?:\s+[^\W\d_][\w'\u2019.-]*){0,2})")


def find_owner(text: str, members: Sequence[Member]) -> Owner:
    """Return the person a sentence names with a mention, email or @Name (the first one)."""
    found: list[tuple[int, Owner]] = []
    if m := _SLACK.search(text):
        member = next((p for p in members if p.slack_user_id == m.group(1)), None)
        found.append((m.start(), Owner(member, None if member else m.group(0))))
    if m := _TEAMS.search(text):
        found.append((m.start(), _by_name(m.group(1).split(), members)))
    emails = list(_EMAIL.finditer(text))
    if emails:
        m = emails[0]
        email = m.group(1).lower().rstrip(".")
        member = next((p for p in members if (p.email or "").lower() == email), None)
        found.append((m.start(), Owner(member, None if member else email)))
    for m in _AT_NAME.finditer(text):
        if any(e.start() <= m.start() < e.end() for e in emails):
            continue  # the "@un.example" of an email address
        found.append((m.start(), _by_name(m.group(1).split(), members)))
        break
    if not found and (m := _OWNER_NAMED.search(text)):
        # "…, owner Amina Diallo, by 15 January": a name after "owner", without an @.
        named = _by_name(m.group(1).split(), members)
        if named.member is not None:
            found.append((m.start(), named))
    if not found:
        return Owner(None, None)
    return min(found, key=lambda pair: pair[0])[1]


_GLUE = re.compile(r"(?:[\s,;:|\u2013\u2014-]+|\s+(?:with|and|for|cc|inviting))+$", re.IGNORECASE)


def find_mentions(text: str, members: Sequence[Member]) -> tuple[str, list[Owner]]:
    """Return the text before its first mention, and everyone it mentions (in order).

    "Election day with @Tomás Herrera, <@U0PRIYA>" → ("Election day", [Tomás, Priya]). A text
    that starts with a mention is returned whole.
    """
    spans: list[tuple[int, int, Owner]] = []
    for m in _SLACK.finditer(text):
        member = next((p for p in members if p.slack_user_id == m.group(1)), None)
        spans.append((m.start(), m.end(), Owner(member, None if member else m.group(0))))
    for m in _TEAMS.finditer(text):
        spans.append((m.start(), m.end(), _by_name(m.group(1).split(), members)))
    emails = list(_EMAIL.finditer(text))
    for m in emails:
        email = m.group(1).lower().rstrip(".")
        member = next((p for p in members if (p.email or "").lower() == email), None)
        spans.append((m.start(), m.end(), Owner(member, None if member else email)))
    for m in _AT_NAME.finditer(text):
        if not any(a <= m.start() < b for a, b, _ in spans):
            spans.append((m.start(), m.end(), _by_name(m.group(1).split(), members)))
    spans.sort(key=lambda span: span[0])
    if not spans:
        return text.strip(), []
    head = _GLUE.sub("", text[: spans[0][0]]).strip()
    return head or text.strip(), [owner for _, _, owner in spans]


def _by_name(said: list[str], members: Sequence[Member]) -> Owner:
    """Match the first one to three words after "@" to a member's name."""
    said = [w.rstrip(".,;:!?") for w in said if w.rstrip(".,;:!?")][:3]
    names = {p.id: fold(p.name) for p in members}
    for k in range(len(said), 0, -1):
        wanted = fold(" ".join(said[:k]))
        exact = [p for p in members if names[p.id] == wanted]
        if len(exact) == 1:
            return Owner(exact[0], None)
    if members:
        for k in range(min(len(said), 3), 1, -1):
            best = process.extractOne(
                fold(" ".join(said[:k])), names, scorer=fuzz.ratio, score_cutoff=90
            )
            if best is not None:
                return Owner(next(p for p in members if p.id == best[2]), None)
        if said:
            first = fold(said[0])
            parts = [p for p in members if first in names[p.id].split()]
            if len(parts) == 1:
                return Owner(parts[0], None)
    hint = "@" + " ".join(w for w in said[:2] if w[:1].isupper() or w == said[0])
    return Owner(None, hint)


def split_recommendations(text: str) -> list[str]:
    """Split a recommendations answer into one sentence per proposed action."""
    found = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip()
        found += [" ".join(s.split()) for s in _ACTION_END.split(line) if len(words(s)) >= 2]
    return found


# The database ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Draft:
    """The product a review saves and where each recommendation belongs."""

    record: ProductRecord | None
    lessons: tuple[str, ...]
    recommendations: tuple[tuple[str, int], ...]  # (sentence, lesson position)


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """What kind of product a review's answers make, and which answers become its lessons."""

    type: ProductType
    external_id: str
    title: str
    heading: str  # the first line of the body
    lessons: tuple[tuple[QuestionKind, str], ...]  # answers that are lessons, with their label
    summary: tuple[tuple[QuestionKind, str], ...]  # answers that make the summary
    audience: tuple[str, ...] = ()  # restricted to these principals; () is open to everyone


def aar_spec(review: ReviewView) -> ProductSpec:
    """Return how an After-Action Review is saved: an AAR, open to everyone."""
    return ProductSpec(
        type=ProductType.AAR,
        external_id=f"review:{review.id}",
        title=f"AAR: {review.event}",
        heading=f"After-Action Review of {review.event}.",
        lessons=(
            (QuestionKind.WENT_WELL, "Went well"),
            (QuestionKind.IMPROVE, "To improve"),
            (QuestionKind.LESSON, "Lesson"),  # kinds an organisation's own questions may use
            (QuestionKind.PRACTICE, "Good practice"),
            (QuestionKind.GAP, "Gap"),
        ),
        summary=((QuestionKind.EXPECTED, "Planned"), (QuestionKind.ACTUAL, "What happened")),
    )


_blocking = blocking


class Reviews:
    """Every read and write of After-Action Reviews, over a Store's sessions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # Starting ------------------------------------------------------------------------------

    def _start(
        self,
        *,
        event: str,
        platform: str,
        channel_id: str,
        thread_id: str | None,
        channel_name: str | None,
        facilitator_id: int,
        questions: Sequence[Question],
        starts_at: datetime | None = None,
        space: str | None = None,
    ) -> ReviewView:
        """Create a review: running now, or scheduled when `starts_at` is given."""
        event = " ".join(event.split())
        if not event:
            raise DomainError("Give the event a name, for example `/aar start Election day`.")
        if len(event) > MAX_EVENT:
            raise DomainError(f"Keep the event name under {MAX_EVENT} characters.")
        if not questions:
            raise DomainError("A review needs at least one question.")
        now = self.store.clock()
        with self.store.session() as s:
            if thread_id is not None and starts_at is None:
                running = self._active(s, platform, channel_id, thread_id)
                if running is not None:
                    raise DomainError(
                        f"The review of '{running.event}' is still running in this thread. "
                        "Close it first, or start the new one in the channel."
                    )
            if thread_id is None and starts_at is None:
                orphan = self._orphan(s, platform, channel_id, facilitator_id, event)
                if orphan is not None:  # its opening never landed (a crash, a failed post)
                    log.info("review %s: its opening is posted again", orphan.id)
                    return self._view(s, orphan)
            review = Review(
                kind="aar",
                event=event,
                platform=platform,
                channel_id=channel_id,
                thread_id=thread_id,
                channel_name=channel_name,
                space=space,
                facilitator_id=facilitator_id,
                status=ReviewStatus.SCHEDULED if starts_at else ReviewStatus.RUNNING,
                questions=[q.stored() for q in questions],
                step=0,
                step_started_at=None if starts_at else now,
                starts_at=starts_at,
                created_at=now,
                updated_at=now,
            )
            s.add(review)
            s.flush()
            return self._view(s, review)

    start = _blocking(_start)

    def _posted(self, review_id: int, thread_id: str) -> ReviewView:
        """Remember the thread a review's opening message started."""
        with self.store.session() as s:
            review = self._review(s, review_id, lock=True)
            review.thread_id, review.updated_at = thread_id, self.store.clock()
            return self._view(s, review)

    posted = _blocking(_posted)

    def _due(self, now: datetime) -> list[ReviewView]:
        """Return the scheduled reviews whose start time has come (for the scheduler)."""
        with self.store.session() as s:
            found = s.scalars(
                select(Review)
                .where(Review.status == ReviewStatus.SCHEDULED, Review.starts_at <= now)
                .order_by(Review.starts_at, Review.id)
            ).all()
            return [self._view(s, r) for r in found]

    due = _blocking(_due)

    def _begin(self, review_id: int, now: datetime | None = None) -> ReviewView:
        """Start a scheduled review: it runs from its first question.

        One conditional write: of two schedulers starting it at once, one does.
        """
        now = now or self.store.clock()
        with self.store.session() as s:
            started = s.connection().execute(
                update(Review)
                .where(Review.id == review_id, Review.status == ReviewStatus.SCHEDULED)
                .values(status=ReviewStatus.RUNNING, step=0, step_started_at=now, updated_at=now)
            )
            review = self._review(s, review_id)
            if started.rowcount != 1:
                raise DomainError(f"This review is {review.status.value}, not scheduled.")
            return self._view(s, review)

    begin = _blocking(_begin)

    # Reading -------------------------------------------------------------------------------

    def _get(self, review_id: int) -> ReviewView:
        """Return a review, or raise NotFound."""
        with self.store.session() as s:
            return self._view(s, self._review(s, review_id))

    get = _blocking(_get)

    def _in_thread(
        self, platform: str, channel_id: str, thread_id: str, *, closed_since: datetime
    ) -> ReviewView | None:
        """Return the review of a thread: the active one, or one closed after `closed_since`."""
        with self.store.session() as s:
            review = self._active(s, platform, channel_id, thread_id)
            if review is None:
                review = s.scalars(
                    select(Review)
                    .where(
                        Review.kind == "aar",
                        Review.platform == platform,
                        Review.channel_id == channel_id,
                        Review.thread_id == thread_id,
                        Review.closed_at >= closed_since,
                    )
                    .order_by(Review.closed_at.desc(), Review.id.desc())
                ).first()
            return None if review is None else self._view(s, review)

    in_thread = _blocking(_in_thread)

    def _answers(self, review_id: int) -> list[AnswerView]:
        """Return a review's answers, question by question, in the order they came."""
        with self.store.session() as s:
            return self._answer_views(s, review_id)

    answers = _blocking(_answers)

    def _members(self) -> list[Member]:
        """Return everyone in the directory."""
        with self.store.session() as s:
            return [member_of(p) for p in s.scalars(select(Person).order_by(Person.id))]

    members = _blocking(_members)

    def _get_member(self, person_id: int) -> Member | None:
        """Return one person of the directory."""
        with self.store.session() as s:
            person = s.get(Person, person_id)
            return None if person is None else member_of(person)

    member = _blocking(_get_member)

    # Answers -------------------------------------------------------------------------------

    def _add_answer(
        self,
        review_id: int,
        *,
        step: int,
        text: str,
        person_id: int | None,
        anonymous: bool = False,
        message_id: str | None = None,
    ) -> Saved:
        """Store an answer at once; an anonymous one keeps no author, only a contributor row."""
        text = text.replace("\x00", "").strip()
        if not text:
            raise DomainError("That answer was empty, so there was nothing to add.")
        now = self.store.clock()
        with self.store.session() as s:
            review = self._review(s, review_id)
            if not review.status.is_active:
                raise DomainError(f"The review of '{review.event}' is {review.status.value}.")
            if not 0 <= step < len(review.questions):
                raise DomainError("That question is not part of this review.")
            if message_id and not anonymous:
                # The same message handled again (a platform's event replayed after a crash):
                # its answer is there already.
                kept = s.scalars(
                    select(ReviewAnswer).where(
                        ReviewAnswer.review_id == review_id, ReviewAnswer.message_id == message_id
                    )
                ).first()
                if kept is not None:
                    author = None if kept.person_id is None else _name(s, kept.person_id)
                    return Saved(
                        answer=_answer_view(kept, author),
                        review=self._view(s, review),
                        clipped=len(text) > MAX_ANSWER,
                        first_guest=False,
                    )
            first_guest = person_id is None and not anonymous and not self._has_guest(s, review_id)
            answer = ReviewAnswer(
                review_id=review_id,
                step=step,
                person_id=None if anonymous else person_id,
                anonymous=anonymous,
                text=text[:MAX_ANSWER],
                message_id=None if anonymous else message_id,
                created_at=now,
                updated_at=now,
            )
            s.add(answer)
            if person_id is not None and s.get(ReviewContributor, (review_id, person_id)) is None:
                s.add(ReviewContributor(review_id=review_id, person_id=person_id))
            s.flush()
            author = None if anonymous or person_id is None else _name(s, person_id)
            return Saved(
                answer=_answer_view(answer, author),
                review=self._view(s, review),
                clipped=len(text) > MAX_ANSWER,
                first_guest=first_guest,
            )

    add_answer = _blocking(_add_answer)

    def _edit_answer(
        self, platform: str, channel_id: str, message_id: str, text: str | None
    ) -> Change | None:
        """Update (text) or remove (None) the answer a message holds; None when none does."""
        with self.store.session() as s:
            found = s.execute(
                select(ReviewAnswer, Review)
                .join(Review, Review.id == ReviewAnswer.review_id)
                .where(
                    ReviewAnswer.message_id == message_id,
                    Review.platform == platform,
                    Review.channel_id == channel_id,
                )
                .order_by(ReviewAnswer.id.desc())
            ).first()
            if found is None:
                return None
            answer, review = found
            if not review.status.is_active:
                return Change(self._view(s, review), applied=False)
            if text is None or not text.strip():
                s.delete(answer)
            else:
                answer.text, answer.updated_at = text.strip()[:MAX_ANSWER], self.store.clock()
            return Change(self._view(s, review), applied=True)

    edit_answer = _blocking(_edit_answer)

    # The facilitator -----------------------------------------------------------------------

    def _control(
        self, review_id: int, control: Control, *, actor_id: int | None, step: int | None = None
    ) -> ReviewView:
        """Move, pause, resume or cancel a review (closing is `close`); facilitator only.

        `step` is the question a button was pressed on: a stale button does not move twice.
        """
        if control == Control.CLOSE:
            raise DomainError("Closing saves the review: use `close`.")
        with self.store.session() as s:
            review = self._review(s, review_id, lock=True)
            self._check_facilitator(s, review, actor_id, _CONTROL_WHAT[control])
            moves = control in (Control.NEXT, Control.SKIP, Control.BACK)
            if moves and step is not None and step != review.step and review.status.is_active:
                raise DomainError(
                    "The review has moved on since that button was posted: use the buttons "
                    "on the latest question."
                )
            status, new_step = steer(review.status, review.step, len(review.questions), control)
            now = self.store.clock()
            if new_step != review.step or status == ReviewStatus.RUNNING:
                review.step_started_at = now
            review.status, review.step, review.updated_at = status, new_step, now
            if status == ReviewStatus.CANCELLED:
                review.closed_at = now
            return self._view(s, review)

    control = _blocking(_control)

    def _orphan(
        self, s: Session, platform: str, channel_id: str, facilitator_id: int, event: str
    ) -> Review | None:
        """The facilitator's running review of this event here whose opening has no thread."""
        return s.scalars(
            select(Review)
            .where(
                Review.platform == platform,
                Review.channel_id == channel_id,
                Review.facilitator_id == facilitator_id,
                Review.event == event,
                Review.thread_id.is_(None),
                Review.status == ReviewStatus.RUNNING,
                Review.starts_at.is_(None),
            )
            .order_by(Review.id.desc())
        ).first()

    def _finish_orphans(self, before: datetime) -> list[int]:
        """Cancel running reviews whose opening never reached their channel since `before`.

        Nobody can answer a review with no thread: a crash or a failed post during its opening
        left it running. Starting it again (`/aar start` with the same event) resumes it before
        then; after, it is cancelled so it does not run for ever.
        """
        with self.store.session() as s:
            found = list(
                s.scalars(
                    select(Review).where(
                        Review.thread_id.is_(None),
                        Review.status == ReviewStatus.RUNNING,
                        # since it began running (a scheduled one began at its time)
                        func.coalesce(Review.step_started_at, Review.created_at) < before,
                        Review.kind == "aar",
                    )
                )
            )
            now = self.store.clock()
            for review in found:
                review.status, review.closed_at, review.updated_at = (
                    ReviewStatus.CANCELLED,
                    now,
                    now,
                )
                log.warning("review %s: its opening was never posted; cancelled", review.id)
            return [r.id for r in found]

    finish_orphans = _blocking(_finish_orphans)

    def _unstep(self, review_id: int, *, back_to: int, moved_to: int) -> bool:
        """Undo a move whose question could not be shown; False when the review moved since.

        Answers given meanwhile were to the question people saw: they go back with it.
        """
        with self.store.session() as s:
            review = self._review(s, review_id, lock=True)
            if review.step != moved_to or not review.status.is_active:
                return False
            since = review.step_started_at
            review.step, review.updated_at = back_to, self.store.clock()
            moved = update(ReviewAnswer).where(
                ReviewAnswer.review_id == review_id, ReviewAnswer.step == moved_to
            )
            if since is not None:
                moved = moved.where(ReviewAnswer.created_at >= since)
            s.execute(moved.values(step=back_to))
            log.info(
                "review %s: question %s was not shown; back to %s",
                review_id,
                moved_to + 1,
                back_to + 1,
            )
            return True

    unstep = _blocking(_unstep)

    def _hand_over(self, review_id: int, *, actor_id: int | None, to_id: int) -> ReviewView:
        """Make someone else the facilitator; only the facilitator can."""
        with self.store.session() as s:
            review = self._review(s, review_id, lock=True)
            self._check_facilitator(s, review, actor_id, "hand the review over")
            if not review.status.is_active:
                raise DomainError(f"This review is {review.status.value} already.")
            review.facilitator_id, review.updated_at = to_id, self.store.clock()
            return self._view(s, review)

    hand_over = _blocking(_hand_over)

    def _check_facilitator(
        self, s: Session, review: Review, actor_id: int | None, what: str
    ) -> None:
        if actor_id is None or actor_id != review.facilitator_id:
            name = _name(s, review.facilitator_id) if review.facilitator_id else "nobody yet"
            raise DomainError(f"Only the facilitator ({name}) can {what}.")

    # Closing -------------------------------------------------------------------------------

    async def close(self, review_id: int, *, actor_id: int | None, viewer: Viewer) -> Closing:
        """Close a review: save it as an AAR product, propose its actions, find repeats.

        `viewer` is who will read the summary: repeats are searched among what they may see.
        """
        review, answers, facilitator = await asyncio.to_thread(self._claim, review_id, actor_id)
        try:
            draft = await asyncio.to_thread(self._draft, review, answers, facilitator)
            if draft.record is not None:
                await self.store.import_records([(1, draft.record)], source=f"review:{review.id}")
        except BaseException:
            await asyncio.to_thread(self._unclaim, review.id, review.status)
            raise
        closing = await asyncio.to_thread(self._finish, review.id, draft)
        if closing.product_id is None:
            return closing
        repeats = await self._repeats(draft.lessons, closing.product_id, viewer)
        return replace(closing, repeats=tuple(repeats))

    def _draft(
        self, review: ReviewView, answers: list[AnswerView], facilitator: Member | None
    ) -> Draft:
        """Build the product a closed review saves (an AAR here; interviews make an EoAR)."""
        return draft_product(review, answers, facilitator, today=self.store.today())

    def _claim(
        self, review_id: int, actor_id: int | None
    ) -> tuple[ReviewView, list[AnswerView], Member | None]:
        """Mark a review closed with one conditional write: of two closes, one wins."""
        now = self.store.clock()
        with self.store.session() as s:
            review = self._review(s, review_id)
            self._check_facilitator(s, review, actor_id, "close the review")
            steer(review.status, review.step, len(review.questions), Control.CLOSE)
            view = self._view(s, review)
            claimed = s.connection().execute(
                update(Review)
                .where(Review.id == review_id, Review.status == review.status)
                .values(status=ReviewStatus.CLOSED, closed_at=now, updated_at=now)
            )
            if claimed.rowcount != 1:
                raise DomainError("This review is being closed already.")
            person = s.get(Person, review.facilitator_id) if review.facilitator_id else None
            facilitator = None if person is None else member_of(person)
            return view, self._answer_views(s, review_id), facilitator

    def _unclaim(self, review_id: int, status: ReviewStatus) -> None:
        """Reopen a review whose record could not be saved, so closing can be tried again."""
        with self.store.session() as s:
            review = self._review(s, review_id)
            review.status, review.closed_at = status, None

    def _finish(self, review_id: int, draft: Draft) -> Closing:
        with self.store.session() as s:
            review = self._review(s, review_id, lock=True)
            if draft.record is not None:
                review.product_id = s.scalars(
                    select(Product.id).where(Product.external_id == draft.record.external_id)
                ).first()
            self._propose(s, review, draft)
            return self._closing_view(s, review)

    def _propose(self, s: Session, review: Review, draft: Draft) -> None:
        rows = s.execute(
            select(Lesson.position, Lesson.id).where(Lesson.product_id == review.product_id)
        )
        lessons = {position: lesson_id for position, lesson_id in rows}
        members = [member_of(p) for p in s.scalars(select(Person))]
        today, now = self.store.today(), self.store.clock()
        for sentence, position in draft.recommendations[:MAX_PROPOSALS]:
            owner = find_owner(sentence, members)
            due = find_day(sentence, today=today)
            problems = []
            if owner.member is None:
                problems.append(
                    f"{owner.hint} is not in the directory" if owner.hint else "no owner named"
                )
            if due is None:
                problems.append("no due date")
            elif due.day < today:
                problems.append(f"the due date {due.day.isoformat()} is in the past")
            s.add(
                ProposedAction(
                    review_id=review.id,
                    lesson_id=lessons.get(position),
                    description=sentence[:2000],
                    owner_id=owner.member.id if owner.member else None,
                    owner_hint=owner.hint[:200] if owner.hint else None,
                    due_date=due.day if due else None,
                    status=ProposalStatus.DRAFT if problems else ProposalStatus.PROPOSED,
                    note="; ".join(problems) or None,
                    created_at=now,
                    updated_at=now,
                )
            )
        s.flush()

    def _closing_view(self, s: Session, review: Review) -> Closing:
        answers = self._answer_views(s, review.id)
        participants = s.scalar(
            select(func.count()).where(ReviewContributor.review_id == review.id)
        )
        product = s.get(Product, review.product_id) if review.product_id else None
        lessons = s.scalar(
            select(func.count()).where(Lesson.product_id == (product.id if product else -1))
        )
        proposals = s.scalars(
            select(ProposedAction)
            .where(ProposedAction.review_id == review.id)
            .order_by(ProposedAction.id)
        ).all()
        return Closing(
            review=self._view(s, review),
            answers=tuple(answers),
            participants=participants or 0,
            guests=sum(1 for a in answers if a.author is None and not a.anonymous),
            product_id=product.id if product else None,
            product_title=product.title if product else None,
            lessons=lessons or 0,
            proposals=tuple(proposal_view(s, p, review) for p in proposals),
            validator=validator_for(s, review.facilitator_id),
        )

    async def _repeats(
        self, lessons: Sequence[str], product_id: int, viewer: Viewer
    ) -> list[Repeat]:
        """Find lessons of other products that closely resemble the new ones."""
        found: list[tuple[str, int]] = []
        for text in lessons:
            answer = await self.store.ask(clip(text, 300), viewer=viewer, limit=4)
            found += [(text, h.lesson_id) for h in answer.hits if h.product_id != product_id]
        if not found:
            return []
        return await asyncio.to_thread(self._similar, found)

    def _similar(self, pairs: list[tuple[str, int]]) -> list[Repeat]:
        best: dict[str, tuple[float, Repeat]] = {}
        with self.store.session() as s:
            for text, lesson_id in pairs:
                lesson = s.get(Lesson, lesson_id)
                if lesson is None:
                    continue
                theirs = " ".join(words(f"{lesson.title or ''} {lesson.lesson}"))
                score = fuzz.token_set_ratio(" ".join(words(text)), theirs)
                if score >= REPEAT_SCORE and (text not in best or score > best[text][0]):
                    best[text] = (score, _repeat(text, lesson))
        return [repeat for _, repeat in best.values()]

    # Proposals -----------------------------------------------------------------------------

    def _get_proposal(self, proposal_id: int) -> ProposalView:
        """Return a proposed action, or raise NotFound."""
        with self.store.session() as s:
            proposal = self._proposal(s, proposal_id)
            return proposal_view(s, proposal, proposal.review)

    proposal = _blocking(_get_proposal)

    def _accept(self, proposal_id: int, *, actor_id: int | None) -> ProposalView:
        """Accept a proposed action as its owner: it becomes an open action at once."""
        with self.store.session() as s:
            proposal = self._owned(s, proposal_id, actor_id, "accept it")
            if proposal.lesson_id is None:
                raise DomainError("The lesson this action belonged to was removed.")
            view, now = proposal_view(s, proposal, proposal.review), self.store.clock()
            action = Action(
                lesson_id=proposal.lesson_id,
                description=proposal.description,
                owner_id=proposal.owner_id,
                due_date=proposal.due_date,
                status=ActionStatus.OPEN,
                notes=f"Proposed by {source_name(view.kind, view.event)}.",
                created_at=now,
                updated_at=now,
            )
            s.add(action)
            s.flush()
            if view.kind == "lesson":  # an action on a validated lesson, as Store.add_action
                self.store.action_added(s, action, actor_id=actor_id)
            proposal.action_id, proposal.status = action.id, ProposalStatus.ACCEPTED
            proposal.updated_at = now
            return proposal_view(s, proposal, proposal.review)

    accept = _blocking(_accept)

    def _decline(self, proposal_id: int, *, actor_id: int | None, reason: str) -> ProposalView:
        """Decline a proposed action as its owner, with a reason for the facilitator."""
        if not reason.strip():
            raise DomainError("Say briefly why, so the facilitator can find another owner.")
        with self.store.session() as s:
            proposal = self._owned(s, proposal_id, actor_id, "decline it")
            proposal.status, proposal.note = ProposalStatus.DECLINED, reason.strip()[:2000]
            proposal.updated_at = self.store.clock()
            return proposal_view(s, proposal, proposal.review)

    decline = _blocking(_decline)

    def _redate(self, proposal_id: int, *, actor_id: int | None, due: date) -> ProposalView:
        """Propose another due date as the owner (the proposal still waits for acceptance)."""
        if due < self.store.today():
            raise DomainError(f"{due.isoformat()} is in the past. Give a date from today on.")
        with self.store.session() as s:
            proposal = self._owned(s, proposal_id, actor_id, "change its date")
            proposal.due_date, proposal.updated_at = due, self.store.clock()
            proposal.note = f"new date proposed by {_name(s, actor_id)}"
            return proposal_view(s, proposal, proposal.review)

    redate = _blocking(_redate)

    def _assign(
        self,
        proposal_id: int,
        *,
        actor_id: int | None,
        owner_id: int,
        due: date,
        description: str | None = None,
    ) -> ProposalView:
        """Give a proposed action an owner and a due date (the facilitator or the owner)."""
        if due < self.store.today():
            raise DomainError(f"{due.isoformat()} is in the past. Give a date from today on.")
        with self.store.session() as s:
            proposal = self._proposal(s, proposal_id, lock=True)
            facilitator = (
                proposal.review.facilitator_id if proposal.review else proposal.proposed_by_id
            )
            if actor_id is None or actor_id not in (facilitator, proposal.owner_id):
                name = _name(s, facilitator) if facilitator else "the facilitator"
                raise DomainError(f"Only {name} or the proposed owner can assign this action.")
            if proposal.status not in (ProposalStatus.DRAFT, ProposalStatus.PROPOSED):
                raise DomainError(f"This action was {proposal.status.value} already.")
            if s.get(Person, owner_id) is None:
                raise NotFound("That person is not in the directory.")
            proposal.owner_id, proposal.owner_hint, proposal.due_date = owner_id, None, due
            if description and description.strip():
                proposal.description = description.strip()[:2000]
            proposal.status, proposal.note = ProposalStatus.PROPOSED, None
            proposal.updated_at = self.store.clock()
            s.flush()
            s.refresh(proposal)
            return proposal_view(s, proposal, proposal.review)

    assign = _blocking(_assign)

    def _owned(
        self, s: Session, proposal_id: int, actor_id: int | None, what: str
    ) -> ProposedAction:
        proposal = self._proposal(s, proposal_id, lock=True)
        if proposal.status == ProposalStatus.DRAFT:
            raise DomainError("This action is still a draft: the facilitator completes it first.")
        if proposal.status != ProposalStatus.PROPOSED:
            raise DomainError(f"This action was {proposal.status.value} already.")
        if actor_id is None or actor_id != proposal.owner_id:
            owner = _name(s, proposal.owner_id) if proposal.owner_id else "its owner"
            raise DomainError(f"This action was proposed to {owner}: only they can {what}.")
        return proposal

    # Helpers -------------------------------------------------------------------------------

    def _review(self, s: Session, review_id: int, *, lock: bool = False) -> Review:
        review = s.get(Review, review_id, with_for_update=lock)
        if review is None:
            raise NotFound("That review no longer exists.")
        return review

    def _proposal(self, s: Session, proposal_id: int, *, lock: bool = False) -> ProposedAction:
        # Only the proposal row: PostgreSQL cannot lock the outer-joined owner with it.
        lock_it = {"of": ProposedAction} if lock else None
        proposal = s.get(ProposedAction, proposal_id, with_for_update=lock_it)
        if proposal is None:
            raise NotFound("That proposed action no longer exists.")
        return proposal

    def _active(self, s: Session, platform: str, channel_id: str, thread_id: str) -> Review | None:
        return s.scalars(
            select(Review)
            .where(
                Review.kind == "aar",
                Review.platform == platform,
                Review.channel_id == channel_id,
                Review.thread_id == thread_id,
                Review.status.in_(_ACTIVE),
            )
            .order_by(Review.id.desc())
        ).first()

    def _has_guest(self, s: Session, review_id: int) -> bool:
        return (
            s.scalars(
                select(ReviewAnswer.id).where(
                    ReviewAnswer.review_id == review_id,
                    ReviewAnswer.person_id.is_(None),
                    ReviewAnswer.anonymous.is_(False),
                )
            ).first()
            is not None
        )

    def _answer_views(self, s: Session, review_id: int) -> list[AnswerView]:
        rows = s.execute(
            select(ReviewAnswer, Person.name)
            .outerjoin(Person, Person.id == ReviewAnswer.person_id)
            .where(ReviewAnswer.review_id == review_id)
            .order_by(ReviewAnswer.step, ReviewAnswer.id)
        )
        return [_answer_view(a, None if a.anonymous else name) for a, name in rows]

    def _view(self, s: Session, review: Review) -> ReviewView:
        return view_of(s, review)


def view_of(s: Session, review: Review) -> ReviewView:
    """Return a stored review as a ReviewView."""
    name = _name(s, review.facilitator_id) if review.facilitator_id else "nobody"
    return ReviewView(
        id=review.id,
        event=review.event,
        platform=review.platform,
        channel_id=review.channel_id,
        thread_id=review.thread_id,
        channel_name=review.channel_name,
        facilitator_id=review.facilitator_id,
        facilitator_name=name,
        status=review.status,
        questions=tuple(Question.parse(q) for q in review.questions),
        step=review.step,
        starts_at=review.starts_at,
        closed_at=review.closed_at,
        product_id=review.product_id,
        kind=review.kind,
        step_started_at=review.step_started_at,
        space=review.space,
    )


def draft_product(
    review: ReviewView,
    answers: Iterable[AnswerView],
    facilitator: Member | None,
    *,
    today: date,
    spec: ProductSpec | None = None,
) -> Draft:
    """Build the product of a review: for an AAR, a lesson per "went well" and "improve" answer.

    `spec` says which product (an AAR by default) and which answers become lessons.
    """
    spec = spec or aar_spec(review)
    by_kind: dict[QuestionKind, list[str]] = {k: [] for k in QuestionKind}
    grouped: dict[int, list[str]] = {}
    for a in answers:
        by_kind[review.questions[a.step].kind].append(a.text)
        grouped.setdefault(a.step, []).append(a.text)
    if not grouped:
        return Draft(record=None, lessons=(), recommendations=())
    lessons = [(label, t) for kind, label in spec.lessons for t in by_kind[kind]]
    recs = [r for text in by_kind[QuestionKind.RECOMMEND] for r in split_recommendations(text)]
    if not lessons:
        everything = by_kind[QuestionKind.RECOMMEND] or [t for g in grouped.values() for t in g]
        lessons = [("Recommendations" if recs else "Observations", "\n".join(everything))]
    placed = [(r, _closest(r, [t for _, t in lessons])) for r in recs]
    mapping: dict[str, Any] = {
        "external_id": spec.external_id,
        "type": spec.type.value,
        "title": spec.title,
        "summary": _summary(by_kind, spec.summary),
        "body": _body(review, grouped, spec.heading),
        "date": today.isoformat(),
        "mission": facilitator.mission if facilitator else None,
        "authors": [facilitator.email] if facilitator and facilitator.email else [],
        "audience": list(spec.audience),
        "lessons": [
            {
                "title": f"{label}: {clip(text, 120)}",
                "lesson": text,
                "recommendation": "\n".join(r for r, pos in placed if pos == i),
                "status": "identified",
            }
            for i, (label, text) in enumerate(lessons)
        ],
    }
    record = ProductRecord.from_mapping(mapping, today=today)
    return Draft(record, tuple(t for _, t in lessons), tuple(placed))


def _closest(recommendation: str, lessons: list[str]) -> int:
    """Return the position of the lesson a recommendation most likely answers."""
    best = process.extractOne(
        " ".join(words(recommendation)),
        [" ".join(words(t)) for t in lessons],
        scorer=fuzz.token_set_ratio,
    )
    return 0 if best is None else int(best[2])


def _summary(
    by_kind: dict[QuestionKind, list[str]], labels: tuple[tuple[QuestionKind, str], ...]
) -> str:
    parts = []
    for kind, label in labels:
        if by_kind[kind]:
            parts.append(f"{label}: {clip(' '.join(by_kind[kind]), 400)}")
    return "\n".join(parts)


def _body(review: ReviewView, grouped: dict[int, list[str]], heading: str) -> str:
    """Return the record of the review: every answer under its question, without names."""
    lines = [heading]
    for step, question in enumerate(review.questions):
        lines += ["", f"## {question.text}"]
        lines += [f"- {t}" for t in grouped.get(step, [])] or ["- (no answers)"]
    return "\n".join(lines)[:190_000]


_KINDS = {ProductType.AAR: "AAR", ProductType.EOAR: "EoAR"}


def _repeat(text: str, lesson: Lesson) -> Repeat:
    product = lesson.product
    title = lesson.title or product.title
    return Repeat(
        lesson=text,
        title=title,
        kind=_KINDS.get(product.type, product.type.label),
        year=product.date.year if product.date else None,
        status=lesson.status.value,
        open_actions=sum(1 for a in lesson.actions if not a.status.is_closed),
    )


def validator_for(s: Session, facilitator_id: int | None) -> Member | None:
    """Return who validates what this person captured: their manager, else a mission PBPO."""
    person = s.get(Person, facilitator_id) if facilitator_id else None
    if person is None:
        return None
    if person.manager_id is not None and person.manager_id != person.id:
        manager = s.get(Person, person.manager_id)
        if manager is not None:
            return member_of(manager)
    mission = person.mission or ""
    pbpo = s.scalars(
        select(Person)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .where(
            PersonRole.role == Role.PBPO,
            Person.id != person.id,
            or_(
                PersonRole.scope == mission,
                (PersonRole.scope == "") & (Person.mission == mission),
            ),
        )
        .order_by(PersonRole.scope.desc(), Person.id)
    ).first()
    return None if pbpo is None else member_of(pbpo)


def member_of(p: Person) -> Member:
    """Return a person of the directory as a Member (with their platform ids)."""
    return Member(
        id=p.id,
        name=p.name,
        email=p.email,
        slack_user_id=p.slack_user_id,
        teams_aad_id=p.teams_aad_id,
        mission=p.mission,
        timezone=p.timezone,
        manager_id=p.manager_id,
    )


def _name(s: Session, person_id: int | None) -> str:
    if person_id is None:
        return "someone"
    name = s.scalar(select(Person.name).where(Person.id == person_id))
    return name or "someone"


def _answer_view(a: ReviewAnswer, author: str | None) -> AnswerView:
    return AnswerView(
        id=a.id,
        step=a.step,
        text=a.text,
        author=author,
        anonymous=a.anonymous,
        message_id=a.message_id,
    )


def proposal_view(s: Session, p: ProposedAction, review: Review | None) -> ProposalView:
    if review is not None:
        event, kind, proposer = review.event, review.kind, review.facilitator_id
    else:  # proposed on a lesson directly ("Add actions")
        lesson = s.get(Lesson, p.lesson_id) if p.lesson_id is not None else None
        event = (lesson.title or lesson.product.title) if lesson else "a removed lesson"
        kind, proposer = "lesson", p.proposed_by_id
    return ProposalView(
        id=p.id,
        review_id=p.review_id,
        event=event,
        description=p.description,
        owner_id=p.owner_id,
        owner_name=p.owner.name if p.owner else None,
        owner_hint=p.owner_hint,
        due_date=p.due_date,
        status=p.status,
        note=p.note,
        action_id=p.action_id,
        facilitator_id=proposer,
        facilitator_name=_name(s, proposer),
        kind=kind,
        lesson_id=p.lesson_id,
    )
