"""*Ask a colleague*: a question the lessons could not answer, handed to people who may know.

Who may know: the people who wrote or applied the nearest lessons (the experts search), and the
PBPO of the asker's mission. Each gets the question as a card; their answer (a line, a lesson
of the index, or both) goes back to the asker, who can save it as a lesson note in one click.
One row per (question, colleague) in `question_referrals`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from knowledge.errors import DomainError, NotFound
from knowledge.experts import Experts
from knowledge.models import (
    Lesson,
    Person,
    PersonRole,
    ProductAudience,
    Question,
    Referral,
    Role,
)
from knowledge.search.answer import Hit
from knowledge.storage import Store
from knowledge.threads import blocking

CONTACTS = 3  # people named under "who might know"
MAX_ANSWER = 2_000


@dataclass(frozen=True, slots=True)
class Contact:
    """A person who might know, and why they are named."""

    person_id: int
    name: str
    mission: str | None
    email: str | None
    why: str


@dataclass(frozen=True, slots=True)
class ReferralView:
    """A question handed to one colleague, and their answer when it came."""

    id: int
    question_id: int
    question: str
    platform: str
    channel_id: str | None
    thread_id: str | None
    asker_id: int | None
    asker_name: str
    colleague_id: int
    colleague_name: str
    colleague_mission: str | None
    answer: str | None
    lesson_id: int | None
    lesson_title: str | None
    note_id: int | None


class Referrals:
    """Hand questions to colleagues and carry their answers back, over a Store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def who_might_know(
        self, hits: Sequence[Hit], *, asker_id: int | None, limit: int = CONTACTS
    ) -> list[Contact]:
        """Return who wrote or applied the nearest lessons, then the asker's mission's PBPO."""
        experts = await Experts(self.store).rank(list(hits[:3]), limit=limit) if hits else []
        found = [
            Contact(
                e.person_id,
                e.name,
                e.mission,
                e.email,
                f"wrote _{e.authored[0]}_" if e.authored else f"applied _{e.applied[0]}_",
            )
            for e in experts
            if e.person_id != asker_id
        ][: limit - 1]
        pbpo = await self._pbpo_for(asker_id)
        if pbpo is not None:
            same = [i for i, c in enumerate(found) if c.person_id == pbpo.person_id]
            if same:  # an author who is also the PBPO: named once, for both
                c = found[same[0]]
                found[same[0]] = replace(c, why=f"{c.why}; {pbpo.why}")
            else:
                found.append(pbpo)
        return found[:limit]

    @blocking
    def _pbpo_for(self, asker_id: int | None) -> Contact | None:
        """Return the PBPO of the asker's mission (else one of every mission)."""
        with self.store.session() as s:
            asker = s.get(Person, asker_id) if asker_id is not None else None
            mission = (asker.mission if asker else None) or ""
            pbpo = s.scalars(
                select(Person)
                .join(PersonRole, PersonRole.person_id == Person.id)
                .where(
                    PersonRole.role == Role.PBPO,
                    Person.id != (asker_id or 0),
                    or_(
                        PersonRole.scope == mission,
                        (PersonRole.scope == "") & (Person.mission == mission),
                        PersonRole.scope == "",
                    ),
                )
                .order_by(
                    (PersonRole.scope == mission).desc(),
                    (Person.mission == mission).desc(),
                    Person.id,
                )
            ).first()
            if pbpo is None:
                return None
            where = f"PBPO of {mission}" if mission and pbpo.mission == mission else "PBPO"
            return Contact(pbpo.id, pbpo.name, pbpo.mission, pbpo.email, where)

    @blocking
    def refer(
        self, question_id: int, *, asker_id: int | None, platform: str, people: Sequence[int]
    ) -> list[ReferralView]:
        """Hand a question to these people (once each); only its asker may. Return the new ones."""
        now = self.store.clock()
        with self.store.session() as s:
            question = s.get(Question, question_id)
            if question is None:
                raise NotFound("I no longer have that question. Ask it again, please.")
            if question.person_id != asker_id or question.platform != platform[:16]:
                raise DomainError("Only the person who asked this question can hand it on.")
            asked = set(
                s.scalars(select(Referral.person_id).where(Referral.question_id == question_id))
            )
            new = []
            for person_id in dict.fromkeys(people):
                if person_id in asked or person_id == asker_id:
                    continue
                referral = Referral(question_id=question_id, person_id=person_id, asked_at=now)
                s.add(referral)
                new.append(referral)
            s.flush()
            return [_view(s, r) for r in new]

    @blocking
    def get(self, referral_id: int) -> ReferralView:
        """Return a referral as it stands."""
        with self.store.session() as s:
            return _view(s, _referral(s, referral_id))

    @blocking
    def answer(
        self, referral_id: int, *, person_id: int | None, text: str, lesson_id: int | None
    ) -> ReferralView:
        """Keep a colleague's answer (a new one replaces theirs); only that colleague may."""
        text = " ".join(text.split())
        if len(text) > MAX_ANSWER:
            raise DomainError(f"Please keep the answer under {MAX_ANSWER} characters.")
        if not text and lesson_id is None:
            raise DomainError("Write a line of answer, or give the number of a lesson (#42).")
        with self.store.session() as s:
            referral = _referral(s, referral_id)
            if referral.person_id != person_id:
                raise DomainError("This question was handed to someone else.")
            lesson = s.get(Lesson, lesson_id) if lesson_id is not None else None
            if lesson_id is not None and lesson is None:
                raise NotFound(f"There is no lesson #{lesson_id}.")
            if lesson is not None and s.scalar(
                select(ProductAudience.product_id).where(
                    ProductAudience.product_id == lesson.product_id
                )
            ):
                # The asker may not be in its audience: its title is not passed on.
                raise DomainError(
                    f"Lesson #{lesson_id} is restricted to its audience: answer in words instead."
                )
            referral.answer, referral.lesson_id = text or None, lesson_id
            referral.answered_at = self.store.clock()
            s.flush()
            return _view(s, referral)

    @blocking
    def saved(self, referral_id: int, note_id: int) -> None:
        """Record the lesson note an answer was saved as."""
        with self.store.session() as s:
            _referral(s, referral_id).note_id = note_id


def _referral(s: Session, referral_id: int) -> Referral:
    found = s.get(Referral, referral_id)
    if found is None:
        raise NotFound("That question is no longer waiting for an answer.")
    return found


def _view(s: Session, r: Referral) -> ReferralView:
    question = s.get(Question, r.question_id)
    assert question is not None  # the referral goes with its question (ON DELETE CASCADE)
    asker = s.get(Person, question.person_id) if question.person_id else None
    colleague = s.get(Person, r.person_id)
    lesson = s.get(Lesson, r.lesson_id) if r.lesson_id else None
    return ReferralView(
        id=r.id,
        question_id=question.id,
        question=question.text,
        platform=question.platform,
        channel_id=question.channel_id,
        thread_id=question.thread_id,
        asker_id=question.person_id,
        asker_name=asker.name if asker else "Someone",
        colleague_id=r.person_id,
        colleague_name=colleague.name if colleague else "A colleague",
        colleague_mission=colleague.mission if colleague else None,
        answer=r.answer,
        lesson_id=r.lesson_id,
        lesson_title=(lesson.title or lesson.product.title) if lesson else None,
        note_id=r.note_id,
    )
