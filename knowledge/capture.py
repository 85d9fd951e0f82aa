"""Lesson notes captured in chat, and the lists of the home surface.

A lesson note ("Save as lesson" on a message, `/lessons new`) is a product of type `note` with
one *identified* lesson, written through `Store.import_records` so it is searchable at once.
Its validator is the author's manager, else a PBPO of the author's mission (the rule After-Action
Reviews use), else any PBPO whose scope is every mission, else nobody.

Who sees a lesson under "awaiting your validation" follows who may validate it
(`knowledge.permissions.RULES[Operation.VALIDATE_LESSON]`, here as a query):

- the manager of the lesson's lead author (the first author of its product);
- a PBPO whose role is scoped to a mission, for lessons of that mission (the product's mission or
  the lead author's);
- a PBPO whose scope is "" (every mission, as imported people are), for every lesson: those of
  their own mission come first.

Nobody sees a lesson they wrote (lead or co-author): nobody validates their own lesson. Admins may
validate but are not sent lists. Restricted lessons stay with their audience here as everywhere.
Within a rank, the newest lessons come first; the total says how many more wait.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, case, exists, func, or_, select, true
from sqlalchemy.orm import Session, aliased

from knowledge.errors import DomainError, NotFound
from knowledge.models import (
    Lesson,
    LessonStatus,
    Person,
    PersonRole,
    Product,
    ProductAuthor,
    ProductType,
    Role,
)
from knowledge.permissions import RULES, Operation
from knowledge.records import ProductRecord
from knowledge.reports import lesson_title, visible
from knowledge.reviews import Member, member_of, validator_for
from knowledge.search.answer import Viewer
from knowledge.storage import Store

MAX_TITLE = 200
MAX_TEXT = 5_000  # per field: a note is a paragraph or three, not a report
MAX_MISSION = 100
MAX_URL = 1_000
MAX_THEMES = 10
MAX_THEME = 40
# Invisible characters that only hide or reorder text: zero-width spaces, bidi overrides and
# isolates, word joiners, BOM. Joiners (U+200C/U+200D) stay: emoji and some scripts need them.
_INVISIBLE = re.compile(r"[\u00ad\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class CapturedNote:
    """A lesson note just saved, and who should validate it."""

    product_id: int
    lesson_id: int
    external_id: str
    title: str
    lesson: str
    mission: str | None
    date: date
    source_url: str | None
    author: Member
    validator: Member | None


@dataclass(frozen=True, slots=True)
class PendingLesson:
    """An identified lesson waiting for someone's validation."""

    lesson_id: int
    title: str
    mission: str | None
    date: date | None
    author: str | None
    kind: str


@dataclass(frozen=True, slots=True)
class Awaiting:
    """Lessons awaiting a person's validation: the first few and how many in all.

    `validator` says whether the person validates at all: a manager, a PBPO, or someone with
    people reporting to them.
    """

    lessons: tuple[PendingLesson, ...]
    total: int
    validator: bool


@dataclass(frozen=True, slots=True)
class AppliedLesson:
    """A lesson that became practice: its change was made and checked."""

    lesson_id: int
    title: str
    mission: str | None
    applied_on: date | None
    kind: str
    source_url: str | None


def _input[T](name: str, check: Callable[[], T]) -> T:
    """Run a check of one form input; its error names the input (shown beside it)."""
    try:
        return check()
    except DomainError as exc:
        raise DomainError(exc.message, field=name) from None


def clean_text(value: str, *, field: str, limit: int, required: bool = False) -> str:
    """Return text without control or invisible characters, or raise DomainError.

    `field` names the field in messages ("the title"). Text with no letter or digit counts as
    empty: a title of zero-width spaces is no title.
    """
    return _checked(_cleaned(value), field=field, limit=limit, required=required)


def clean_line(value: str, *, field: str, limit: int, required: bool = False) -> str:
    """Return one line of text (whitespace collapsed), cleaned as `clean_text` does."""
    line = " ".join(_cleaned(value).split())
    return _checked(line, field=field, limit=limit, required=required)


def _cleaned(value: str) -> str:
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\t", " "))
    text = "".join(c for c in text if c == "\n" or unicodedata.category(c) not in ("Cc", "Cs"))
    text = _INVISIBLE.sub("", text)
    return _BLANK_LINES.sub("\n\n", "\n".join(line.rstrip() for line in text.split("\n"))).strip()


def _checked(text: str, *, field: str, limit: int, required: bool) -> str:
    if not any(c.isalnum() for c in text):
        if required:
            raise DomainError(f"Please write {field}: it is needed to save the lesson.")
        return ""
    if len(text) > limit:
        raise DomainError(
            f"Please keep {field} under {limit:,} characters (it has {len(text):,}). Put the "
            "rest in the source document and link to it."
        )
    return text


def clean_url(value: str) -> str | None:
    """Return an http(s) link, None for none, or raise DomainError."""
    url = value.strip().removeprefix("<").removesuffix(">")
    if not url:
        return None
    problem = len(url) > MAX_URL or any(c.isspace() or unicodedata.category(c) == "Cc" for c in url)
    try:
        parts = urlsplit(url)
    except ValueError:
        problem = True
    else:
        problem = problem or parts.scheme.lower() not in ("http", "https") or not parts.hostname
    if problem:
        raise DomainError(
            "The source link must be a web address starting with https:// or http:// (the "
            "message's permalink, say), or be left empty."
        )
    return url


def clean_themes(values: Sequence[str]) -> tuple[str, ...]:
    """Return themes as tags ("#Gender" → "gender"), or raise DomainError."""
    themes: list[str] = []
    for value in values:
        theme = clean_line(value, field="each theme", limit=MAX_THEME).lstrip("#").strip()
        if theme and theme.lower() not in themes:
            themes.append(theme.lower())
    if len(themes) > MAX_THEMES:
        raise DomainError(f"Please give at most {MAX_THEMES} themes.")
    return tuple(themes)


class Notes:
    """Lesson notes and the home surface's lists, over a Store's sessions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # Capturing -----------------------------------------------------------------------------

    async def capture(
        self,
        *,
        author_id: int,
        title: str,
        lesson: str,
        observation: str = "",
        recommendation: str = "",
        mission: str | None = None,
        themes: Sequence[str] = (),
        source_url: str | None = None,
        platform: str,
    ) -> CapturedNote:
        """Save a lesson note with one identified lesson, searchable at once.

        Raise DomainError, saving nothing, when the input is not usable (see `clean_text`,
        `clean_url`, `clean_themes`) or the author saved this very note already.
        """
        fields: dict[str, Any] = {
            "title": _input(
                "title",
                lambda: clean_line(title, field="a title", limit=MAX_TITLE, required=True),
            ),
            "lesson": _input(
                "lesson",
                lambda: clean_text(lesson, field="what was learned", limit=MAX_TEXT, required=True),
            ),
            "observation": _input(
                "observation",
                lambda: clean_text(observation, field="the observation", limit=MAX_TEXT),
            ),
            "recommendation": _input(
                "recommendation",
                lambda: clean_text(recommendation, field="the recommendation", limit=MAX_TEXT),
            ),
            "mission": _input(
                "mission",
                lambda: clean_line(mission or "", field="the mission", limit=MAX_MISSION),
            ),
            "themes": _input("themes", lambda: clean_themes(themes)),
            "source_url": _input("source", lambda: clean_url(source_url or "")),
        }
        author, record = await asyncio.to_thread(self._draft, author_id, fields, platform)
        await self.store.import_records(
            [(1, record)], source=f"chat:{platform}:{record.external_id}"
        )
        return await asyncio.to_thread(self._saved, author, record)

    def _draft(
        self, author_id: int, fields: dict[str, Any], platform: str
    ) -> tuple[Member, ProductRecord]:
        with self.store.session() as s:
            person = s.get(Person, author_id)
            if person is None:
                raise NotFound("You are not in the staff directory, so I cannot save lessons.")
            key = hashlib.sha256(
                f"{author_id}\n{fields['title']}\n{fields['lesson']}".encode()
            ).hexdigest()[:24]
            external_id = f"note:{key}"
            saved = s.scalars(select(Product).where(Product.external_id == external_id)).first()
            if saved is not None:
                when = saved.date.isoformat() if saved.date else "earlier"
                raise DomainError(
                    f"You saved this lesson already ({when}): *{saved.title}*. Nothing was "
                    "saved twice."
                )
            author = member_of(person)
        return author, _record(external_id, fields, author, platform, today=self.store.today())

    def _saved(self, author: Member, record: ProductRecord) -> CapturedNote:
        with self.store.session() as s:
            product = s.scalars(
                select(Product).where(Product.external_id == record.external_id)
            ).one()
            lesson = s.scalars(select(Lesson).where(Lesson.product_id == product.id)).one()
            if not author.email:  # the import links authors by email: link this one by id
                s.add(ProductAuthor(product_id=product.id, person_id=author.id, position=0))
            return CapturedNote(
                product_id=product.id,
                lesson_id=lesson.id,
                external_id=record.external_id,
                title=product.title,
                lesson=lesson.lesson,
                mission=product.mission,
                date=product.date or self.store.today(),
                source_url=product.source_url,
                author=author,
                validator=self._validator(s, author.id),
            )

    def _validator(self, s: Session, author_id: int) -> Member | None:
        """Return the author's manager, else a PBPO of their mission, else any all-mission PBPO."""
        found = validator_for(s, author_id)  # the rule reviews use
        if found is not None:
            return found
        anyone = s.scalars(
            select(Person)
            .join(PersonRole, PersonRole.person_id == Person.id)
            .where(PersonRole.role == Role.PBPO, PersonRole.scope == "", Person.id != author_id)
            .order_by(Person.id)
        ).first()
        return None if anyone is None else member_of(anyone)

    # The home surface ----------------------------------------------------------------------

    async def awaiting_validation(self, person_id: int, *, limit: int = 5) -> Awaiting:
        """Return the identified lessons this person may validate (see the module's rules)."""
        viewer = await self.store.viewer_for(person_id)
        return await asyncio.to_thread(self._awaiting, person_id, viewer, limit)

    def _awaiting(self, person_id: int, viewer: Viewer, limit: int) -> Awaiting:
        with self.store.session() as s:
            me = s.get(Person, person_id)
            if me is None:
                return Awaiting((), 0, validator=False)
            rule = RULES[Operation.VALIDATE_LESSON]
            scopes = {r.scope for r in me.roles if r.role in rule.roles}
            reports = rule.managers and s.scalar(
                select(exists().where(Person.manager_id == person_id))
            )
            if not (scopes or reports or any(r.role == Role.MANAGER for r in me.roles)):
                return Awaiting((), 0, validator=False)
            lessons, total = _pending(s, me, scopes, viewer, limit)
            return Awaiting(lessons, total, validator=True)

    async def recent_applied(self, viewer: Viewer, *, limit: int = 5) -> list[AppliedLesson]:
        """Return the lessons applied most recently that this viewer may see.

        Until good practices can be promoted, these stand in for them, under their own name.
        """
        return await asyncio.to_thread(self._recent_applied, viewer, limit)

    def _recent_applied(self, viewer: Viewer, limit: int) -> list[AppliedLesson]:
        with self.store.session() as s:
            rows = s.execute(
                select(Lesson, Product)
                .join(Product, Product.id == Lesson.product_id)
                .where(Lesson.status == LessonStatus.APPLIED, visible(viewer))
                .order_by(Lesson.applied_at.desc(), Lesson.id.desc())
                .limit(limit)
            ).all()
            return [
                AppliedLesson(
                    lesson_id=lesson.id,
                    title=lesson_title(product.title, lesson.title),
                    mission=product.mission,
                    applied_on=lesson.applied_at.date() if lesson.applied_at else None,
                    kind=product.type.label,
                    source_url=product.source_url,
                )
                for lesson, product in rows
            ]


def _record(
    external_id: str, fields: dict[str, Any], author: Member, platform: str, *, today: date
) -> ProductRecord:
    """Return the note as an import record: a `note` product with one identified lesson."""
    mapping = {
        "external_id": external_id,
        "type": ProductType.NOTE.value,
        "title": fields["title"],
        "body": f"Lesson note captured in chat ({platform[:16]}) by {author.name}.",
        "date": today.isoformat(),
        "mission": fields["mission"] or author.mission,
        "authors": [author.email] if author.email else [],
        "themes": list(fields["themes"]),
        "source_url": fields["source_url"],
        "lessons": [
            {
                "observation": fields["observation"],
                "lesson": fields["lesson"],
                "recommendation": fields["recommendation"],
                "status": LessonStatus.IDENTIFIED.value,
            }
        ],
    }
    return ProductRecord.from_mapping(mapping, today=today)


def _pending(
    s: Session, me: Person, scopes: set[str], viewer: Viewer, limit: int
) -> tuple[tuple[PendingLesson, ...], int]:
    """Return the first identified lessons `me` may validate, and how many there are."""
    lead, link = aliased(Person), aliased(ProductAuthor)
    first = (
        select(ProductAuthor.product_id, func.min(ProductAuthor.position).label("position"))
        .group_by(ProductAuthor.product_id)
        .subquery()
    )
    allowed, rank = _rules(me, scopes, lead)
    mine = select(ProductAuthor.product_id).where(ProductAuthor.person_id == me.id)
    query = (
        select(Lesson, Product, lead.name)
        .join(Product, Product.id == Lesson.product_id)
        .outerjoin(first, first.c.product_id == Product.id)
        .outerjoin(link, (link.product_id == Product.id) & (link.position == first.c.position))
        .outerjoin(lead, lead.id == link.person_id)
        .where(
            Lesson.status == LessonStatus.IDENTIFIED,
            visible(viewer),
            Product.id.not_in(mine),
            or_(*allowed),
        )
    )
    total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = s.execute(
        query.order_by(rank, Lesson.identified_at.desc(), Lesson.id.desc()).limit(limit)
    ).all()
    lessons = tuple(
        PendingLesson(
            lesson_id=lesson.id,
            title=lesson_title(product.title, lesson.title),
            mission=product.mission,
            date=product.date,
            author=author,
            kind=product.type.label,
        )
        for lesson, product, author in rows
    )
    return lessons, total


def _rules(
    me: Person, scopes: set[str], lead: type[Person]
) -> tuple[list[ColumnElement[bool]], ColumnElement[Any]]:
    """Return which lessons `me` may validate, and their rank (people, missions, the rest)."""
    ranks: list[tuple[ColumnElement[bool], int]] = [(lead.manager_id == me.id, 0)]
    missions = sorted(scope for scope in scopes if scope)
    if missions:
        ranks.append((or_(Product.mission.in_(missions), lead.mission.in_(missions)), 1))
    allowed = [condition for condition, _ in ranks]
    if "" in scopes:  # a PBPO of every mission: all lessons, their own mission's first
        if me.mission:
            ranks.append((or_(Product.mission == me.mission, lead.mission == me.mission), 1))
        allowed.append(true())
    return allowed, case(*ranks, else_=2)
