"""The weekly jobs of good practices, through the scheduler's tick on both databases.

A channel gets one practice of the week (one its members may all see, a different one each
week); a mission leader gets one list of priority lessons a week (those they may see, of their
missions); a second tick, or a second replica, in the same week sends nothing more.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from scheduler_world import Recorder, set_prefs
from sqlalchemy import select

from knowledge.curation import Curation
from knowledge.models import (
    Lesson,
    LessonStatus,
    Notification,
    NotificationStatus,
    Person,
    PersonRole,
    PracticePost,
    Product,
    ProductType,
    Role,
)
from knowledge.practices import Practices
from knowledge.records import LessonRecord, PersonRecord, ProductRecord
from knowledge.storage import Store
from knowledge.weekly import Weekly, week_of
from scheduler.clock import ManualClock
from scheduler.jobs import Scheduler
from scheduler.practices import PRIORITY, due

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # ISO week 2026-W49
PEOPLE = (
    PersonRecord(name="Pia PBPO", email="pia@un.example", mission="MINUSCA", roles=(Role.PBPO,)),
    PersonRecord(name="Lea Leader", email="lea@un.example", mission="MINUSCA",
                 roles=(Role.MISSION_LEADER,)),
    PersonRecord(name="Uma Leader", email="uma@un.example", mission="UNMISS",
                 roles=(Role.MISSION_LEADER,)),
)  # fmt: skip


def product(external_id: str, text: str, **fields: object) -> ProductRecord:
    values: dict[str, object] = {"type": ProductType.AAR, "mission": "MINUSCA",
                                 "date": date(2025, 1, 1)} | fields  # fmt: skip
    lessons = (LessonRecord(lesson=text),)
    return ProductRecord(external_id=external_id, title=external_id, lessons=lessons, **values)  # type: ignore[arg-type]


async def world(store: Store) -> dict[str, int]:
    products = [
        product("fuel", "Night convoys need a fuel reserve."),
        product("water", "Escort water trucks."),
        product("jmac", "Ambush patterns repeat.", audience=("group:minusca-jmac", "group:pbpo")),
    ]
    await store.import_records(list(enumerate([*PEOPLE, *products], 1)), source="t")
    ids = {p.email: await store.person_for("local", p.email) or 0 for p in PEOPLE}
    with store.session() as s:
        rows = s.execute(select(Product.external_id, Lesson.id).join(Lesson.product)).all()
    ids |= {str(ext): int(lid) for ext, lid in rows}
    with store.session() as s:  # each leader leads their own mission
        for role in s.scalars(select(PersonRole).where(PersonRole.role == Role.MISSION_LEADER)):
            role.scope = "UNMISS" if role.person_id == ids["uma@un.example"] else "MINUSCA"
    pia = ids["pia@un.example"]
    for key in ("fuel", "water", "jmac"):
        await store.move_lesson(ids[key], LessonStatus.VALIDATED, actor_id=pia)
    return ids


def scheduler(store: Store, clock: ManualClock, recorder: Recorder, name: str = "a") -> Scheduler:
    return Scheduler(store=store, notifiers=[recorder], clock=clock, name=name, reviews=False)


async def test_a_channel_gets_one_practice_a_week_never_a_restricted_one(store: Store) -> None:
    ids = await world(store)
    pia = ids["pia@un.example"]
    practices = Practices(store)
    await practices.promote(ids["fuel"], actor_id=pia, why="saved convoys", surface="local")
    await practices.promote(ids["water"], actor_id=pia, why="kept wells safe", surface="local")
    await practices.promote(
        ids["jmac"], actor_id=pia, why="read patterns", audience="group:pbpo",
        surface="local",
    )  # fmt: skip
    await Weekly(store).set_channel(
        "local", "general", "general", on=True, actor_id=pia, surface="local"
    )
    clock, recorder = ManualClock(MONDAY), Recorder()
    a, b = scheduler(store, clock, recorder, "a"), scheduler(store, clock, recorder, "b")

    first = await a.tick()
    assert first.practices == 1
    [(where, card)] = recorder.posts
    assert where.channel_id == "general"
    assert "Practice of the week" in card.fallback and "kept wells safe" in card.fallback
    assert (await b.tick()).practices == 0  # the other replica, the same week
    clock.advance(timedelta(hours=2))
    assert (await a.tick()).practices == 0  # the job again, the same week
    assert len(recorder.posts) == 1

    clock.advance(timedelta(days=7))
    await a.tick()
    assert len(recorder.posts) == 2 and "saved convoys" in recorder.posts[1][1].fallback
    clock.advance(timedelta(days=7))
    await a.tick()  # the rotation starts again: never the restricted JMAC practice
    texts = [reply.fallback for _, reply in recorder.posts]
    assert len(texts) == 3 and not any("read patterns" in t for t in texts)
    with store.session() as s:
        periods = s.scalars(select(PracticePost.period).order_by(PracticePost.period)).all()
    assert periods == ["2026-W49", "2026-W50", "2026-W51"]


async def test_mission_leaders_get_their_priority_list_once_a_week(store: Store) -> None:
    ids = await world(store)
    pia, lea = ids["pia@un.example"], ids["lea@un.example"]
    curation = Curation(store)
    await curation.flag(ids["fuel"], True, actor_id=lea, why="convoy season", surface="local")
    await curation.flag(ids["jmac"], True, actor_id=pia, why="ambushes", surface="local")
    await store.add_action(ids["fuel"], "Reserve line", owner_id=None, due_date=date(2026, 1, 5))
    clock, recorder = ManualClock(MONDAY), Recorder()
    a, b = scheduler(store, clock, recorder, "a"), scheduler(store, clock, recorder, "b")

    await a.tick()
    await b.tick()
    [sent] = [s for s in recorder.sent if "Priority lessons" in s.text]
    assert sent.to.user_id == "lea@un.example"  # Uma leads UNMISS: no priority lesson there
    assert "fuel" in sent.text and "1 open (1 overdue), 0 done" in sent.text
    assert "Ambush" not in sent.text and "jmac" not in sent.text  # restricted: not hers to see
    with store.session() as s:
        row = s.scalars(select(Notification).where(Notification.kind == PRIORITY)).one()
    assert (row.recipient_id, row.period, row.status) == (lea, "2026-W49", NotificationStatus.SENT)

    clock.advance(timedelta(days=7))
    await a.tick()
    assert len([s for s in recorder.sent if "Priority lessons" in s.text]) == 2


async def flagged(store: Store) -> dict[str, int]:
    ids = await world(store)
    await Curation(store).flag(
        ids["fuel"], True, actor_id=ids["lea@un.example"], why="convoys", surface="local"
    )
    return ids


def lists(recorder: Recorder) -> list[str]:
    return [s.text for s in recorder.sent if "Priority lessons" in s.text]


async def hourly(
    store: Store, clock: ManualClock, recorder: Recorder, hours: int
) -> list[datetime]:
    """Tick every hour for a while; return the moments at which a list went out."""
    a, went = scheduler(store, clock, recorder), []
    for _ in range(hours):
        before = len(lists(recorder))
        await a.tick()
        if len(lists(recorder)) > before:
            went.append(clock())
        clock.advance(timedelta(hours=1))
    return went


async def test_a_leader_gets_her_list_in_her_own_working_hours(store: Store) -> None:
    ids = await flagged(store)
    with store.session() as s:
        lea = s.get(Person, ids["lea@un.example"])
        assert lea is not None
        lea.timezone = "America/New_York"
    clock, recorder = ManualClock(MONDAY.replace(hour=7)), Recorder()

    went = await hourly(store, clock, recorder, 12)
    assert went == [MONDAY.replace(hour=14)]  # 09:00 in New York, in winter
    assert len(lists(recorder)) == 1


async def test_a_muted_leader_gets_no_list_and_one_away_gets_it_when_back(store: Store) -> None:
    ids = await flagged(store)
    lea = ids["lea@un.example"]
    set_prefs(store, lea, muted=True)
    clock, recorder = ManualClock(MONDAY), Recorder()
    assert await hourly(store, clock, recorder, 10) == []
    [row] = [r for r in _rows(store) if r.recipient_id == lea]
    assert (row.status, row.last_error) == (NotificationStatus.SKIPPED, "not delivered: muted")

    set_prefs(store, lea, muted=False, away_from=date(2026, 12, 7), away_until=date(2026, 12, 8))
    clock.set(MONDAY + timedelta(days=7))  # away Monday and Tuesday of the next week
    went = await hourly(store, clock, recorder, 60)
    assert went == [datetime(2026, 12, 9, 9, 0, tzinfo=UTC)]  # her Wednesday, 09:00
    assert len(lists(recorder)) == 1


async def test_a_list_not_delivered_is_tried_an_hour_later_and_never_sent_twice(
    store: Store,
) -> None:
    await flagged(store)
    clock, recorder = ManualClock(MONDAY), Recorder(fail_before=1)
    went = await hourly(store, clock, recorder, 3)
    assert went == [MONDAY.replace(hour=10)]  # 09:00 failed; 10:00 went
    assert len(lists(recorder)) == 1

    clock.set(MONDAY + timedelta(days=7))
    recorder.fail_after = 1  # delivered, but the platform's answer is lost
    await hourly(store, clock, recorder, 3)
    assert len(lists(recorder)) == 2  # the retry found it: not posted again
    assert any(key.startswith(PRIORITY) for key in recorder.finds)
    assert [r.status for r in _rows(store)] == [NotificationStatus.SENT] * 2


def _rows(store: Store) -> list[Notification]:
    with store.session() as s:
        query = select(Notification).where(Notification.kind == PRIORITY)
        return list(s.scalars(query.order_by(Notification.id)))


def test_nothing_goes_out_before_monday_morning() -> None:
    assert not due(datetime(2026, 11, 30, 6, 59, tzinfo=UTC))
    assert due(datetime(2026, 11, 30, 7, 0, tzinfo=UTC))
    assert due(datetime(2026, 12, 6, 23, 0, tzinfo=UTC))
    assert week_of(date(2026, 11, 30)) == "2026-W49"
