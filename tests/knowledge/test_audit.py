"""The audit trail: every lesson, action and role change recorded, and read back by filter."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from knowledge.audit import Audit, AuditRow, parse_subject
from knowledge.errors import DomainError, NotAllowed
from knowledge.models import ActionStatus, Lesson, LessonStatus, ProductType, Role
from knowledge.records import LessonRecord, PersonRecord, ProductRecord
from knowledge.roles import Roles
from knowledge.storage import Store


async def world(store: Store) -> tuple[int, int, int, int]:
    """Return (lesson id, pbpo, owner, admin) of one identified MINUSCA lesson and three people."""
    people = [
        PersonRecord(name="Pat PBPO", email="pbpo@un.example", roles=(Role.PBPO,)),
        PersonRecord(name="Olu Owner", email="owner@un.example"),
        PersonRecord(name="Ada Admin", email="admin@un.example", roles=(Role.ADMIN,)),
    ]
    product = ProductRecord(
        external_id="t:1",
        type=ProductType.AAR,
        title="Rains",
        mission="MINUSCA",
        lessons=(LessonRecord(lesson="Plan for the rains."),),
    )
    await store.import_records(list(enumerate([*people, product], 1)), source="t")
    ids = [await store.person_for("local", f"{who}@un.example") for who in ("pbpo", "owner")]
    admin = await store.person_for("local", "admin@un.example")
    with store.session() as s:
        lesson_id = s.scalars(select(Lesson.id)).one()
    assert lesson_id is not None and None not in ids and admin is not None
    return lesson_id, ids[0] or 0, ids[1] or 0, admin


def summary(rows: list[AuditRow]) -> list[tuple[str | None, str, str, str, dict, dict]]:
    return [(r.person, r.surface, r.operation, r.subject, r.before, r.after) for r in rows]


async def test_lesson_and_action_changes_are_recorded_with_who_and_where(store: Store) -> None:
    lesson_id, pbpo, owner, _ = await world(store)

    await store.move_lesson(lesson_id, LessonStatus.VALIDATED, actor_id=pbpo, surface="slack")
    action = await store.add_action(
        lesson_id, "Buy tarps", owner_id=owner, due_date=None, actor_id=pbpo, surface="teams"
    )
    await store.update_action(
        action.id, actor_id=owner, due_date=date(2027, 1, 5), note="waiting", surface="local"
    )
    await store.update_action(action.id, actor_id=owner, note="only a note", surface="local")
    await store.move_action(
        action.id, ActionStatus.DONE, actor_id=owner, evidence="tarps bought", surface="local"
    )

    rows = await Audit(store).events()
    assert summary(rows) == [
        ("Pat PBPO", "slack", "validate_lesson", f"lesson:{lesson_id}",
         {"status": "identified"}, {"status": "validated"}),
        ("Pat PBPO", "teams", "add_action", f"action:{action.id}", {},
         {"status": "open", "owner_id": owner, "due_date": None, "lesson_id": lesson_id}),
        ("Olu Owner", "local", "update_action", f"action:{action.id}",
         {"due_date": None}, {"due_date": "2027-01-05"}),
        ("Olu Owner", "local", "update_action", f"action:{action.id}",
         {"status": "open"}, {"status": "done"}),
        ("Olu Owner", "local", "apply_lesson", f"lesson:{lesson_id}",
         {"status": "validated"}, {"status": "applied"}),
    ]  # fmt: skip
    assert rows[3].note == "tarps bought" and rows[4].note == "every action is closed"
    assert all(r.at.tzinfo is not None for r in rows)


async def test_a_hand_over_records_the_owners(store: Store) -> None:
    lesson_id, pbpo, owner, admin = await world(store)
    await store.move_lesson(lesson_id, LessonStatus.VALIDATED, actor_id=pbpo)
    action = await store.add_action(lesson_id, "Buy tarps", owner_id=owner, due_date=None)

    await store.update_action(action.id, actor_id=owner, owner_id=admin, surface="slack")

    last = (await Audit(store).events(subject=("action", action.id)))[-1]
    assert (last.operation, last.before, last.after) == (
        "update_action",
        {"owner_id": owner},
        {"owner_id": admin},
    )
    assert (await Audit(store).events())[0].surface == "system"  # no surface given: the bot's


async def test_role_grants_and_revocations_are_recorded_and_need_an_admin(store: Store) -> None:
    _, pbpo, owner, admin = await world(store)
    roles = Roles(store)

    with pytest.raises(NotAllowed, match=r"^Only an admin can grant roles\.$"):
        await roles.grant(owner, Role.PBPO, scope="MINUSCA", actor_id=pbpo, surface="slack")
    granted = await roles.grant(owner, Role.PBPO, scope="minusca", actor_id=admin, surface="slack")
    again = await roles.grant(owner, Role.PBPO, scope="MINUSCA", actor_id=admin, surface="slack")
    revoked = await roles.revoke(owner, Role.PBPO, scope="MINUSCA", actor_id=None, surface="cli",
                                 checked=False)  # fmt: skip

    assert (granted.changed, granted.scope, again.changed, revoked.changed) == (
        True,
        "MINUSCA",  # spelled as the index spells the mission
        False,
        True,
    )
    rows = await Audit(store).events(subject=("person", owner))
    assert summary(rows) == [
        ("Ada Admin", "slack", "grant_role", f"person:{owner}",
         {"roles": ["staff"]}, {"roles": ["pbpo:MINUSCA", "staff"]}),
        (None, "cli", "revoke_role", f"person:{owner}",
         {"roles": ["pbpo:MINUSCA", "staff"]}, {"roles": ["staff"]}),
    ]  # fmt: skip


async def test_the_last_admin_keeps_their_role(store: Store) -> None:
    _, _, owner, admin = await world(store)
    roles = Roles(store)
    with pytest.raises(DomainError, match="Ada Admin is the last admin"):
        await roles.revoke(admin, Role.ADMIN, actor_id=admin, surface="local")
    await roles.grant(owner, Role.ADMIN, actor_id=admin, surface="local")
    await roles.revoke(admin, Role.ADMIN, actor_id=admin, surface="local")
    with pytest.raises(DomainError, match="holds everywhere"):
        await roles.grant(owner, Role.ADMIN, scope="MINUSCA", actor_id=owner, surface="local")


async def test_events_are_filtered_by_time_subject_and_count(store: Store) -> None:
    lesson_id, pbpo, _, _ = await world(store)
    clock = [datetime(2026, 11, 1, 9, 0, tzinfo=UTC)]
    store.clock = lambda: clock[0]
    await store.move_lesson(lesson_id, LessonStatus.VALIDATED, actor_id=pbpo)
    clock[0] += timedelta(days=10)
    await store.move_lesson(lesson_id, LessonStatus.REJECTED, actor_id=pbpo, note="duplicate")
    clock[0] += timedelta(days=10)
    await store.move_lesson(lesson_id, LessonStatus.WITHDRAWN, actor_id=pbpo, note="obsolete")
    audit = Audit(store)

    assert [r.operation for r in await audit.events()] == [
        "validate_lesson",
        "reject_lesson",
        "withdraw_lesson",
    ]
    since = await audit.events(since=datetime(2026, 11, 5, tzinfo=UTC))
    assert [r.operation for r in since] == ["reject_lesson", "withdraw_lesson"]
    last = await audit.events(subject=("lesson", lesson_id), limit=1)
    assert [(r.operation, r.note) for r in last] == [("withdraw_lesson", "obsolete")]
    assert await audit.events(subject=("lesson", lesson_id + 1)) == []


def test_subjects_are_read_as_kind_and_id() -> None:
    assert parse_subject(" Lesson:42 ") == ("lesson", 42)
    for bad in ("lesson", "lesson:x", "thing:3", ":4"):
        with pytest.raises(DomainError, match="A subject is <kind>:<id>"):
            parse_subject(bad)
