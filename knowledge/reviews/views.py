"""What the review store hands back: plain values, usable after the session is gone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.models import (
    Lesson,
    Person,
    ProposalStatus,
    ProposedAction,
    Review,
    ReviewAnswer,
    ReviewStatus,
)
from knowledge.reviews.questions import Question

AAR_KIND = "aar"  # an After-Action Review, in a channel thread
EOAR_KIND = "eoar"  # an End of Assignment interview, in a direct message


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


def view_of(s: Session, review: Review) -> ReviewView:
    """Return a stored review as a ReviewView."""
    name = name_of(s, review.facilitator_id) if review.facilitator_id else "nobody"
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


def name_of(s: Session, person_id: int | None) -> str:
    """Return a person's name ("someone" when unknown)."""
    if person_id is None:
        return "someone"
    name = s.scalar(select(Person.name).where(Person.id == person_id))
    return name or "someone"


def answer_view(a: ReviewAnswer, author: str | None) -> AnswerView:
    """Return a stored answer as an AnswerView."""
    return AnswerView(
        id=a.id,
        step=a.step,
        text=a.text,
        author=author,
        anonymous=a.anonymous,
        message_id=a.message_id,
    )


def proposal_view(s: Session, p: ProposedAction, review: Review | None) -> ProposalView:
    """Return a proposed action as a ProposalView (`review` None: proposed on a lesson)."""
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
        facilitator_name=name_of(s, proposer),
        kind=kind,
        lesson_id=p.lesson_id,
    )
