"""Every message the scheduler sends a person shows only what that person may see (finding 3).

A world with one person of every role (staff, manager, PBPO, mission leader, admin), none in the
audience of a restricted lesson whose title carries a marker word, and for each of them every
reason to be written to about it: their own overdue and soon-due actions on it, a report's
unanswered action on it (an escalation, and the manager's weekly digest), their assignment's end
with an action on it still open (departure), "did the change work?" on it as its validator, the
PBPO's week with it applied and found helpful, an End of Assignment reminder. Eleven days of the
real scheduler later, no message to them holds the lesson's marker; an action's own words reach
only its owner; and every kind was sent. An insider in the same places sees the marker: the
sweep can see a leak.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import _fakes  # noqa: F401
import pytest
from scheduler_world import (
    Recorder,
    add_action,
    add_lesson,
    add_person,
    at_local,
    ledger,
    scheduler,
)
from sqlalchemy import select

from knowledge.access import RESTRICTED
from knowledge.models import (
    Feedback,
    LessonStatus,
    NotificationStatus,
    PersonGroup,
    ProductAudience,
    Role,
)
from knowledge.models import Lesson as LessonRow
from knowledge.storage import Store
from scheduler.clock import ManualClock
from scheduler.kinds import Kind

WED = date(2026, 11, 25)
TITLE_MARK = "Quillwort"  # in the restricted lesson's title: only its audience may read it
ACTION_MARK = "Bramblefinch"  # in actions on it: only their owners may read them
ROLES = {
    "staff": (),
    "manager": ((Role.MANAGER, ""),),
    "pbpo": ((Role.PBPO, ""),),
    "leader": ((Role.MISSION_LEADER, ""),),
    "admin": ((Role.ADMIN, ""),),
}


def restricted_lesson(store: Store, *, validated_by: int, applied: bool = True) -> int:
    applied_at = at_local(WED, 10) - timedelta(weeks=6, days=1) if applied else None
    lesson = add_lesson(
        store,
        title=f"{TITLE_MARK} cache protocol for the northern sector",
        status=LessonStatus.APPLIED if applied else LessonStatus.VALIDATED,
        validated_by=validated_by,
        applied_at=applied_at,
    )
    with store.session() as s:
        row = s.get(LessonRow, lesson)
        assert row is not None
        s.add(ProductAudience(product_id=row.product_id, principal="group:secret-cell"))
        s.add(Feedback(lesson_id=lesson, person_id=validated_by, helpful=True, at=store.clock()))
    return lesson


def world(store: Store, label: str, roles: tuple[tuple[Role, str], ...], insider: bool) -> int:
    """Add one person with these roles and every reason to be written to; return their id."""
    first = f"{label.title()}{'In' if insider else 'Out'}"
    person = add_person(store, f"{first} Person", roles=roles, email=f"{first.lower()}@example.org",
                        assignment_end=WED + timedelta(days=14))  # fmt: skip
    report = add_person(store, f"{first}report Person", manager=person,
                        email=f"{first.lower()}.report@example.org")  # fmt: skip
    leaver = add_person(store, f"{first}leaver Person", roles=roles, manager=person,
                        email=f"{first.lower()}.leaver@example.org",
                        assignment_end=WED - timedelta(days=1))  # fmt: skip
    if insider:
        with store.session() as s:
            s.add(PersonGroup(person_id=person, group="secret-cell"))
            s.add(PersonGroup(person_id=leaver, group="secret-cell"))
    lesson = restricted_lesson(store, validated_by=person)
    for owner, due in (
        (person, WED - timedelta(days=1)),
        (person, WED + timedelta(days=2)),
        (report, WED - timedelta(days=2)),
        (leaver, WED + timedelta(days=30)),
    ):
        add_action(store, lesson, owner, due, description=f"Step {ACTION_MARK}{owner}x")
    return person


@pytest.mark.parametrize("escalate_after", [3, 1])
async def test_every_message_kind_to_every_role_shows_only_what_they_may_see(
    store: Store, escalate_after: int
) -> None:
    from scheduler.config import Cadence, SchedulerSettings

    outsiders = {label: world(store, label, roles, False) for label, roles in ROLES.items()}
    insider = world(store, "manager", ROLES["manager"], True)
    rec = Recorder()
    clock = ManualClock(at_local(WED, 9, 5))
    settings = SchedulerSettings(cadence=Cadence(escalate_after=escalate_after))
    s = scheduler(store, rec, clock, settings)
    for offset in range(11):
        clock.set(at_local(WED + timedelta(days=offset), 9, 5))
        await s.tick()

    leaks: list[str] = []
    emails = {}
    with store.session() as session:
        from knowledge.models import Person

        for person in session.scalars(select(Person)):
            emails[person.email] = person
    for sent in rec.sent:
        person = emails[sent.to.user_id]
        inside = any(g.group == "secret-cell" for g in person.groups)
        words = repr(sent.reply)
        if TITLE_MARK in words and not inside:
            leaks.append(f"{person.name}: the lesson's title")
        for owner in re.findall(rf"{ACTION_MARK}(\d+)x", words):
            if int(owner) != person.id and not inside:
                leaks.append(f"{person.name}: the words of person {owner}'s action")
    assert leaks == []

    # Every kind went to an outsider, for every role where the kind exists.
    sent_rows = [n for n in ledger(store) if n.status == NotificationStatus.SENT]
    kinds = {(n.kind, n.recipient_id) for n in sent_rows}
    for label, person in outsiders.items():
        wanted = {Kind.NUDGE, Kind.DUE_SOON, Kind.ESCALATE, Kind.FOLLOWUP, Kind.DIGEST}
        if label == "pbpo":
            wanted.add(Kind.PBPO)
        if label in ("manager", "leader"):
            wanted.add(Kind.EOAR)
        missing = {k for k in wanted if (k, person) not in kinds}
        assert missing == set(), f"{label}: {missing}"
    assert {n.kind for n in sent_rows} >= {k.value for k in Kind}
    restricted_said = [m for m in rec.sent if RESTRICTED in m.text]
    assert restricted_said  # the outsiders were told a restricted lesson is there

    # The insider's messages name the lesson: the sweep would see a leak.
    insider_email = next(e for e, p in emails.items() if p.id == insider)
    assert any(TITLE_MARK in repr(m.reply) for m in rec.to(insider_email))
