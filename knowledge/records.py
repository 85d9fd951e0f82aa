"""Plain records of people, products, lessons and actions, as importers read them.

Records are validated when built from a mapping (`*.from_mapping`), so every importer reports
the same errors, naming the field. Dates relative to the load day (`due_in_days`) are resolved
with the `today` the caller passes in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import available_timezones

from knowledge.errors import ImportFailed
from knowledge.models import ActionStatus, LessonStatus, ProductStatus, ProductType, Role
from knowledge.search.analysis import LANGUAGES

Day = date  # ProductRecord has a field named `date`

MAX_TEXT = 200_000
MAX_TITLE = 500
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TYPE_ALIASES = {
    "after action review": ProductType.AAR,
    "after-action review": ProductType.AAR,
    "end of assignment report": ProductType.EOAR,
    "practice note": ProductType.PRACTICE_NOTE,
    "survey of practice": ProductType.SURVEY_OF_PRACTICE,
    "lessons learned study": ProductType.LESSONS_LEARNED_STUDY,
}


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """A person to create or update, keyed by email."""

    name: str
    email: str
    roles: tuple[Role, ...] = (Role.STAFF,)
    mission: str | None = None
    timezone: str = "UTC"
    manager_email: str | None = None
    assignment_end: date | None = None
    groups: tuple[str, ...] = ()
    slack_user_id: str | None = None
    teams_aad_id: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, today: date) -> PersonRecord:
        """Build and validate a person from an import mapping."""
        email = _text(data, "email", required=True, limit=320).lower()
        if not _EMAIL.match(email):
            raise ImportFailed(f"{_said(email)} is not an email address", field="email")
        tz = _text(data, "timezone") or "UTC"
        if tz not in _zones():
            raise ImportFailed(
                f"{_said(tz)} is not a time zone (try 'Africa/Bangui')", field="timezone"
            )
        end = _date(data, "assignment_end")
        if end is None and data.get("assignment_end_in_days") is not None:
            end = today + timedelta(days=_int(data, "assignment_end_in_days"))
        return cls(
            name=_text(data, "name", required=True, limit=200),
            email=email,
            roles=tuple(_enum_list(data, "roles", Role)) or (Role.STAFF,),
            mission=_text(data, "mission") or None,
            timezone=tz,
            manager_email=(_text(data, "manager") or "").lower() or None,
            assignment_end=end,
            groups=tuple(_short(g, "groups", 100) for g in _list(data, "groups")),
            slack_user_id=_text(data, "slack_user_id", limit=64) or None,
            teams_aad_id=_text(data, "teams_aad_id", limit=64) or None,
        )


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """A follow-up action of a lesson."""

    description: str
    owner_email: str | None = None
    due_date: date | None = None
    status: ActionStatus = ActionStatus.OPEN
    notes: str = ""
    evidence: str | None = None
    reason: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, today: date) -> ActionRecord:
        """Build and validate an action from an import mapping."""
        due = _date(data, "due") or _date(data, "due_date")
        if due is None and data.get("due_in_days") is not None:
            due = today + timedelta(days=_int(data, "due_in_days"))
        status = _enum(data, "status", ActionStatus, ActionStatus.OPEN)
        evidence = _text(data, "evidence") or None
        reason = _text(data, "reason") or None
        if status == ActionStatus.DONE and not evidence:
            raise ImportFailed("a done action needs its evidence", field="evidence")
        if status == ActionStatus.NOT_DOING and not reason:
            raise ImportFailed("an action marked not_doing needs a reason", field="reason")
        return cls(
            description=_text(data, "description", required=True),
            owner_email=(_text(data, "owner") or "").lower() or None,
            due_date=due,
            status=status,
            notes=_text(data, "notes"),
            evidence=evidence,
            reason=reason,
        )


@dataclass(frozen=True, slots=True)
class LessonRecord:
    """One lesson: observation → lesson → recommendation, with its actions."""

    lesson: str
    observation: str = ""
    recommendation: str = ""
    title: str | None = None
    status: LessonStatus = LessonStatus.IDENTIFIED
    validated_on: date | None = None
    applied_on: date | None = None
    rejection_reason: str | None = None
    actions: tuple[ActionRecord, ...] = ()
    language: str | None = None  # ISO 639-1; None: the product's, else detected at import

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, today: date) -> LessonRecord:
        """Build and validate a lesson from an import mapping."""
        status = _enum(data, "status", LessonStatus, LessonStatus.IDENTIFIED)
        actions = tuple(
            ActionRecord.from_mapping(_mapping(a, f"actions[{i}]"), today=today)
            for i, a in enumerate(_list(data, "actions"))
        )
        record = cls(
            lesson=_text(data, "lesson"),
            observation=_text(data, "observation"),
            recommendation=_text(data, "recommendation"),
            title=_text(data, "title", limit=MAX_TITLE) or None,
            status=status,
            validated_on=_date(data, "validated_on"),
            applied_on=_date(data, "applied_on"),
            rejection_reason=_text(data, "reason") or None,
            actions=actions,
            language=_language(data),
        )
        if not (record.lesson or record.observation or record.recommendation):
            raise ImportFailed("a lesson needs some text", field="lesson")
        if status in (LessonStatus.IDENTIFIED, LessonStatus.REJECTED) and actions:
            raise ImportFailed(f"a {status.value} lesson cannot have actions yet", field="actions")
        if status == LessonStatus.APPLIED and not any(
            a.status == ActionStatus.DONE for a in actions
        ):
            raise ImportFailed("an applied lesson needs at least one done action", field="status")
        if status == LessonStatus.APPLIED and any(not a.status.is_closed for a in actions):
            raise ImportFailed("an applied lesson cannot have open actions", field="status")
        return record


@dataclass(frozen=True, slots=True)
class ProductRecord:
    """A knowledge product with its lessons, keyed by external id for idempotent import."""

    external_id: str
    type: ProductType
    title: str
    summary: str = ""
    body: str = ""
    date: date | None = None
    mission: str | None = None
    authors: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    source_url: str | None = None
    status: ProductStatus = ProductStatus.PUBLISHED
    lessons: tuple[LessonRecord, ...] = ()
    language: str | None = None  # ISO 639-1 of its lessons; None: detected per lesson

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, today: Day) -> ProductRecord:
        """Build and validate a product from an import mapping."""
        lessons = tuple(
            LessonRecord.from_mapping(_mapping(x, f"lessons[{i}]"), today=today)
            for i, x in enumerate(_list(data, "lessons"))
        )
        product_type = _TYPE_ALIASES.get(_text(data, "type").lower().replace("_", " "))
        return cls(
            external_id=_text(data, "external_id", required=True, limit=200),
            type=product_type or _enum(data, "type", ProductType, None),
            title=_text(data, "title", required=True, limit=MAX_TITLE),
            summary=_text(data, "summary"),
            body=_text(data, "body"),
            date=_date(data, "date"),
            mission=_text(data, "mission", limit=100) or None,
            authors=tuple(str(a).strip() for a in _list(data, "authors") if str(a).strip()),
            # Themes are tags: long ones (some LLIS topics) are cut to the column's 64 characters.
            themes=tuple(dict.fromkeys(_slug(t)[:64] for t in _list(data, "themes") if _slug(t))),
            audience=tuple(
                _short(a, "audience", 200) for a in _list(data, "audience") if str(a).strip()
            ),
            source_url=_text(data, "source_url", limit=1000) or None,
            status=_enum(data, "status", ProductStatus, ProductStatus.PUBLISHED),
            lessons=lessons,
            language=_language(data),
        )


def _language(data: Mapping[str, Any]) -> str | None:
    """Return the optional `language` as an ISO 639-1 code of a UN language ("fr-FR" → "fr")."""
    said = _text(data, "language", limit=20)
    if not said:
        return None
    code = re.split(r"[-_]", said.strip().lower())[0]
    if code not in LANGUAGES:
        raise ImportFailed(
            f"{_said(said)} is not one of the languages the index knows ({', '.join(LANGUAGES)})",
            field="language",
        )
    return code


def _short(value: Any, field: str, limit: int) -> str:
    text = str(value).strip()
    if len(text) > limit:
        raise ImportFailed(f"'{text[:40]}…' is longer than {limit} characters", field=field)
    return text


def _said(value: Any, limit: int = 60) -> str:
    """Quote a bad value for an error message, clipped: a 1 MB cell is not echoed back."""
    text = str(value)
    return f"'{text}'" if len(text) <= limit else f"'{text[: limit - 1]}…'"


def _slug(value: Any) -> str:
    return re.sub(r"[\s_]+", "-", str(value).strip().lower())


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ImportFailed("must be an object", field=name)
    return value


def _text(
    data: Mapping[str, Any], key: str, *, required: bool = False, limit: int = MAX_TEXT
) -> str:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ImportFailed("is required", field=key)
        return ""
    if not isinstance(value, str | int | float):
        raise ImportFailed("must be text", field=key)
    result = str(value).replace("\x00", "").strip()
    if len(result) > limit:
        raise ImportFailed(f"is longer than {limit:,} characters", field=key)
    return result


def _int(data: Mapping[str, Any], key: str) -> int:
    try:
        return int(str(data.get(key)).strip())
    except ValueError:
        raise ImportFailed(f"{_said(data.get(key))} is not a whole number", field=key) from None


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v for v in re.split(r"[;|,]", value) if v.strip()]
    if not isinstance(value, list | tuple):
        raise ImportFailed("must be a list", field=key)
    return list(value)


def _date(data: Mapping[str, Any], key: str) -> date | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for candidate in (text[:10], text):
        try:
            parsed = date.fromisoformat(candidate)
        except ValueError:
            continue
        if not 1900 <= parsed.year <= 2100:
            break
        return parsed
    raise ImportFailed(f"{_said(text)} is not a date (use YYYY-MM-DD)", field=key)


def _enum[E: (ProductType, ProductStatus, LessonStatus, ActionStatus, Role)](
    data: Mapping[str, Any], key: str, cls: type[E], default: E | None
) -> E:
    value = data.get(key)
    if value is None or value == "":
        if default is None:
            raise ImportFailed("is required", field=key)
        return default
    try:
        return cls(str(value).strip().lower().replace(" ", "_").replace("-", "_"))
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise ImportFailed(f"{_said(value)} is not one of: {allowed}", field=key) from None


def _enum_list(data: Mapping[str, Any], key: str, cls: type[Role]) -> list[Role]:
    return [_enum({key: v}, key, cls, None) for v in _list(data, key)]


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


_ZONES: frozenset[str] | None = None
