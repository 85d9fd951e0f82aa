"""What closing a review saves: the product its answers make, and who validates it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from knowledge.models import (
    Person,
    PersonRole,
    ProductType,
    Role,
)
from knowledge.records import ProductRecord
from knowledge.reviews.names import split_recommendations
from knowledge.reviews.questions import QuestionKind
from knowledge.reviews.views import EOAR_KIND, AnswerView, Member, ReviewView, member_of
from knowledge.search.text import clip, words


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


def eoar_spec(
    review: ReviewView, author: Member | None, *, audience: Sequence[str], year: int
) -> ProductSpec:
    """Return how an interview is saved: an EoAR whose lessons, practices and gaps are lessons."""
    name = author.name if author else review.event
    place = f", {author.mission}" if author and author.mission else ""
    return ProductSpec(
        type=ProductType.EOAR,
        external_id=f"eoar:{review.id}",
        title=f"End of Assignment Report: {name}{place} ({year})",
        heading=f"End of Assignment Report of {name}{place}, from an interview with Lessons Bot.",
        lessons=(
            (QuestionKind.LESSON, "Lesson"),
            (QuestionKind.PRACTICE, "Good practice"),
            (QuestionKind.WENT_WELL, "Good practice"),
            (QuestionKind.GAP, "Gap"),
            (QuestionKind.IMPROVE, "Gap"),
        ),
        summary=((QuestionKind.ACHIEVEMENT, "Key achievements"),),
        # A report must never become public because nobody in its audience has an email: the
        # review's own principal keeps it restricted (to nobody but the database) in that case.
        audience=tuple(audience) or (f"review:{review.id}",),
    )


def audience_of(s: Session, person_id: int | None) -> list[str]:
    """Return who may see a person's EoAR before validation: them, their manager, mission PBPOs.

    Principals are "person:<email>", as search matches them; people without an email cannot be
    named in an audience.
    """
    person = s.get(Person, person_id) if person_id else None
    if person is None:
        return []
    people = [person]
    if person.manager_id is not None:
        manager = s.get(Person, person.manager_id)
        people += [manager] if manager is not None else []
    if person.mission:
        people += s.scalars(
            select(Person)
            .join(PersonRole, PersonRole.person_id == Person.id)
            .where(
                PersonRole.role == Role.PBPO,
                or_(
                    PersonRole.scope == person.mission,
                    (PersonRole.scope == "") & (Person.mission == person.mission),
                ),
            )
            .order_by(Person.id)
        ).all()
    return list(dict.fromkeys(f"person:{p.email.lower()}" for p in people if p.email))


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


def draft_of(
    s: Session,
    review: ReviewView,
    answers: Iterable[AnswerView],
    facilitator: Member | None,
    *,
    today: date,
) -> Draft:
    """Build what a closed review saves: an AAR, or an EoAR restricted to its audience."""
    spec = None
    if review.kind == EOAR_KIND:
        audience = audience_of(s, review.facilitator_id)
        spec = eoar_spec(review, facilitator, audience=audience, year=today.year)
    return draft_product(review, answers, facilitator, today=today, spec=spec)
