"""Weekly digests name and count only the lessons their recipient may see, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from scheduler_world import Recorder, add_action, add_lesson, add_person, at_local, scheduler

from knowledge.models import Lesson, LessonStatus, ProductAudience, Role
from knowledge.storage import Store
from scheduler.clock import ManualClock

WED = date(2026, 11, 25)  # a Wednesday


def restrict(store: Store, lesson_id: int, principal: str) -> None:
    """Give a lesson's product an audience."""
    with store.session() as s:
        lesson = s.get(Lesson, lesson_id)
        assert lesson is not None
        s.add(ProductAudience(product_id=lesson.product_id, principal=principal))


async def test_digests_keep_restricted_lessons_to_their_audience(store: Store) -> None:
    boss = add_person(store, "Fatou Ndiaye", roles=((Role.MANAGER, ""),))
    add_person(store, "Pierre Martin", roles=((Role.PBPO, "MINUSCA"),))
    amina = add_person(store, "Amina Diallo", manager=boss)
    applied = datetime.combine(WED - timedelta(days=2), time(9), tzinfo=UTC)
    lessons = {
        title: add_lesson(store, title=title, status=LessonStatus.APPLIED, applied_at=applied)
        for title in ("Open convoy lesson", "Secret informant lesson")
    }
    restrict(store, lessons["Secret informant lesson"], "group:jmac")
    for title, lesson in lessons.items():
        add_action(store, lesson, amina, WED - timedelta(days=4), description=f"Step of {title}")
    rec = Recorder()
    s = scheduler(store, rec, ManualClock(at_local(WED, 9, 5)))
    await s.tick()
    [team] = [m for m in rec.to("fatou@example.org") if "Your team this week" in m.text]
    [mission] = [m for m in rec.to("pierre@example.org") if "Your week as PBPO" in m.text]
    assert "Step of Open convoy lesson" in team.text and "1 overdue" in team.text
    assert "Open convoy lesson" in mission.text
    for text in (team.text, mission.text):
        assert "Secret informant" not in text
