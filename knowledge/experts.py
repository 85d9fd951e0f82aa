""" "Who knows about X?": the people who wrote or applied the lessons closest to X.

The lessons come from the search index, as the asker's answer would (restricted lessons only
for their audience, withdrawn ones never), so a person is credited only through lessons the
asker may see and only those lessons' titles are shown. People are ranked by how close the
lessons they authored, or applied (a follow-up action of theirs done), are to the topic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from knowledge.models import Action, ActionStatus, Lesson, Person, ProductAuthor
from knowledge.search.answer import Hit, Viewer
from knowledge.storage import Store
from knowledge.threads import blocking

DEPTH = 25  # lessons of the answer that count
LISTED = 5
AUTHORED, APPLIED = 1.0, 0.6  # writing a lesson says more about what one knows than applying it

_ASKED = re.compile(
    r"^\W*(?:(?:hey|hi|so|ok|please)\b[\s,]*)*(?:"
    r"(?:is\s+there\s+)?any(?:one|body)\s+(?:who\s+)?(?:knows?|has\s+experience)"
    r"|who\s+(?:else\s+)?(?:knows?|has\s+(?:experience|worked|dealt)|worked|can\s+help)"
    r")\b(?:\s+(?:about|of|on|with|in|regarding))?\s+(?P<topic>.+)$",
    re.IGNORECASE | re.DOTALL,
)


def asked_topic(text: str) -> str | None:
    """Return X of "who knows about X?" (and its variants), or None for another question."""
    found = _ASKED.match(" ".join(text.split()))
    if found is None:
        return None
    topic = found.group("topic").strip(" ?!.")
    return topic or None


@dataclass(slots=True)
class Expert:
    """A person to contact, with the lessons they wrote and applied on the topic."""

    person_id: int
    name: str
    mission: str | None
    email: str | None
    score: float = 0.0
    authored: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        """Return the expert as plain JSON values."""
        return {
            "person_id": self.person_id,
            "name": self.name,
            "mission": self.mission,
            "email": self.email,
            "authored": list(self.authored),
            "applied": list(self.applied),
        }


class Experts:
    """Find people who know about a topic, over a Store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def who_knows(self, topic: str, *, viewer: Viewer, limit: int = LISTED) -> list[Expert]:
        """Return the people who wrote or applied the lessons closest to topic, best first."""
        answer = await self.store.ask(topic, viewer=viewer, limit=DEPTH)
        if not answer.hits:
            return []
        return await self.rank(answer.hits, limit=limit)

    def _rank(self, hits: Sequence[Hit], *, limit: int = LISTED) -> list[Expert]:
        """Rank the authors and appliers of these lessons (best first)."""
        weight = {h.lesson_id: 1.0 / (1 + rank) for rank, h in enumerate(hits)}
        titles = {h.lesson_id: h.title for h in hits}
        position: dict[str, int] = {}
        for rank, hit in enumerate(hits):
            position.setdefault(hit.title, rank)
        people = (Person.id, Person.name, Person.mission, Person.email)
        with self.store.engine.connect() as conn:
            authored = conn.execute(
                select(*people, Lesson.id)
                .join(ProductAuthor, ProductAuthor.person_id == Person.id)
                .join(Lesson, Lesson.product_id == ProductAuthor.product_id)
                .where(Lesson.id.in_(list(weight)))
            ).all()
            applied = conn.execute(
                select(*people, Action.lesson_id)
                .join(Action, Action.owner_id == Person.id)
                .where(Action.lesson_id.in_(list(weight)), Action.status == ActionStatus.DONE)
                .distinct()
            ).all()
        experts: dict[int, Expert] = {}
        for rows, kind, factor in ((authored, "authored", AUTHORED), (applied, "applied", APPLIED)):
            for pid, name, mission, email, lesson_id in rows:
                expert = experts.setdefault(pid, Expert(pid, name, mission, email))
                listed: list[str] = getattr(expert, kind)
                if titles[lesson_id] not in listed:
                    listed.append(titles[lesson_id])
                expert.score += factor * weight[lesson_id]
        ranked = sorted(experts.values(), key=lambda e: (-e.score, e.name.casefold(), e.person_id))
        for expert in ranked:  # the closest lessons first
            for listed in (expert.authored, expert.applied):
                listed.sort(key=position.__getitem__)
        return ranked[: max(1, limit)]

    rank = blocking(_rank)
