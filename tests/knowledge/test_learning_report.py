"""The learning report, usefulness and "who knows": scoped, and restricted lessons kept out."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from handlers.ask import ask
from handlers.chat import UserRef
from knowledge.curation import Curation
from knowledge.errors import DomainError, NotAllowed, NotFound
from knowledge.experts import Experts, asked_topic
from knowledge.learning_report import LearningReports, parse_since
from knowledge.models import Action, ActionStatus, Lesson, LessonStatus, Product, Role
from knowledge.practices import Practices
from knowledge.report_export import FORMATS, export, safe_cell
from knowledge.report_scope import Scope
from knowledge.reports import Reports
from knowledge.roles import Roles
from knowledge.search.answer import Viewer
from knowledge.storage import Store
from knowledge.usefulness import LessonUse, split

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "corpus.json"
CORPUS: dict[str, Any] = json.loads(DEMO.read_text(encoding="utf-8"))
PRODUCTS: list[dict[str, Any]] = CORPUS["products"]
AMINA = "amina.diallo@un.example"  # MINUSCA staff, in no restricted audience
FARIDA = "farida.rahimi@un.example"  # PBPO (every mission in the demo)
SOFIA = "sofia.lindqvist@un.example"  # manager of Jean-Baptiste Mukendi and Priya Raman
RESTRICTED = [p for p in PRODUCTS if p.get("audience")]
INJECTION = "=cmd|' /C calc'!A0"


async def person(store: Store, email: str) -> int:
    """Return the id of a demo person."""
    found = await store.person_by_email(email)
    assert found is not None
    return found.id


async def make_pbpo_of(store: Store, email: str, mission: str) -> int:
    """Make a demo person a PBPO of one mission only and return their id."""
    pid = await person(store, email)
    roles = Roles(store)
    await roles.revoke(pid, Role.PBPO, actor_id=None, surface="cli", checked=False)
    await roles.grant(pid, Role.PBPO, scope=mission, actor_id=None, surface="cli", checked=False)
    return pid


def lessons_of(products: list[dict[str, Any]]) -> int:
    """Return how many lessons these demo products hold."""
    return sum(len(p["lessons"]) for p in products)


def restricted_ids(store: Store) -> list[int]:
    """Return the lesson ids of every restricted demo product."""
    ids = [p["external_id"] for p in RESTRICTED]
    with store.session() as s:
        return list(
            s.scalars(
                select(Lesson.id)
                .join(Product, Product.id == Lesson.product_id)
                .where(Product.external_id.in_(ids))
            )
        )


def titles_of_restricted(store: Store) -> list[str]:
    """Return the product titles and action descriptions of restricted lessons."""
    with store.session() as s:
        lessons = s.scalars(select(Lesson).where(Lesson.id.in_(restricted_ids(store)))).all()
        return sorted(
            {lesson.product.title for lesson in lessons}
            | {a.description for lesson in lessons for a in lesson.actions}
        )


async def use_restricted_lessons(store: Store, voter: int, today: date) -> None:
    """Vote on every restricted lesson and give each an overdue action, as if they were used."""
    ids = restricted_ids(store)
    insider = Viewer(voter, insiders(store))  # someone in every audience used them
    for lid in ids:
        await store.record_feedback(lid, viewer=insider, question_id=None, helpful=False)
    with store.session() as s:
        for lid in ids:
            stamp = store.clock()
            s.add(
                Action(
                    lesson_id=lid,
                    description=f"secret follow-up of lesson {lid}",
                    due_date=today - timedelta(days=5),
                    status=ActionStatus.OPEN,
                    created_at=stamp - timedelta(days=30),
                    updated_at=stamp,
                )
            )


async def test_a_pbpo_of_a_mission_sees_that_mission_and_what_their_audience_opens(
    demo_store: Store,
) -> None:
    farida = await make_pbpo_of(demo_store, FARIDA, "MINUSCA")
    report = await LearningReports(demo_store).for_person(farida)
    mine = [
        p
        for p in PRODUCTS
        if p.get("mission") == "MINUSCA"
        and (not p.get("audience") or FARIDA in p["authors"] or "group:pbpo" in p["audience"])
    ]
    assert report.scope == "MINUSCA"
    assert report.funnel.captured == lessons_of(mine)
    assert {r.group for r in report.boards["mission"]} == {"MINUSCA"}
    assert report.total_open == sum(
        1
        for p in mine
        for lesson in p["lessons"]
        for a in lesson.get("actions", [])
        if a["status"] in ("open", "in_progress", "blocked")
    )


async def test_an_outsider_never_sees_restricted_lessons_in_any_format(
    demo_store: Store, today: date
) -> None:
    amina = await make_pbpo_of(demo_store, AMINA, "MINUSCA")
    await use_restricted_lessons(demo_store, await person(demo_store, FARIDA), today)
    report = await LearningReports(demo_store).for_person(amina)
    minusca_open = [p for p in PRODUCTS if p.get("mission") == "MINUSCA" and not p.get("audience")]
    assert report.funnel.captured == lessons_of(minusca_open)  # restricted ones not even counted
    assert report.usefulness.total_reuse == sum(
        1
        for p in minusca_open
        for lesson in p["lessons"]
        for a in lesson.get("actions", [])
        if a["status"] == "done"
    )
    secrets = titles_of_restricted(demo_store)
    assert secrets
    for fmt in FORMATS:
        text = export(report, fmt)
        leaked = [t for t in secrets if t in text or json.dumps(t)[1:-1] in text]
        assert leaked == [], fmt


async def test_an_insider_sees_the_restricted_lessons_they_may(
    demo_store: Store, today: date
) -> None:
    farida = await make_pbpo_of(demo_store, FARIDA, "MINUSCA")
    await use_restricted_lessons(demo_store, await person(demo_store, AMINA), today)
    report = await LearningReports(demo_store).for_person(farida)
    text = export(report, "md")
    assert "secret follow-up" in text  # her own restricted lesson's action, overdue
    assert report.usefulness.needs_work  # the votes on it


async def test_a_manager_sees_their_people_and_a_staff_member_is_told_who_can(
    demo_store: Store,
) -> None:
    reports = LearningReports(demo_store)
    sofia = await person(demo_store, SOFIA)
    team = {SOFIA, "jean-baptiste.mukendi@un.example", "priya.raman@un.example"}
    theirs = [p for p in PRODUCTS if team & set(p["authors"]) and not p.get("audience")]
    report = await reports.for_person(sofia)
    assert report.scope == "your team"
    assert report.funnel.captured == lessons_of(theirs)
    with pytest.raises(NotAllowed, match="Only a manager, PBPO or mission leader"):
        await reports.for_person(await person(demo_store, AMINA))
    with pytest.raises(NotAllowed, match="export reports"):
        await reports.for_person(None)


async def test_a_mission_outside_ones_scope_is_refused_and_inside_it_narrows(
    demo_store: Store,
) -> None:
    farida = await make_pbpo_of(demo_store, FARIDA, "MINUSCA")
    reports = LearningReports(demo_store)
    with pytest.raises(NotAllowed, match="of UNMISS, or an admin can export reports"):
        await reports.for_person(farida, mission="UNMISS")
    narrowed = await reports.for_person(farida, mission="minusca")
    assert narrowed.funnel == (await reports.for_person(farida)).funnel
    admin = await reports.for_command_line(mission="UNMISS")
    unmiss = [p for p in PRODUCTS if p.get("mission") == "UNMISS" and not p.get("audience")]
    assert admin.funnel.captured == lessons_of(unmiss)


async def test_since_counts_only_what_happened_since(demo_store: Store, today: date) -> None:
    reports = LearningReports(demo_store)
    later = await reports.for_command_line(since=today + timedelta(days=1))
    assert (later.funnel.captured, later.funnel.applied, later.median_days_to_apply) == (0, 0, None)
    assert later.usefulness.total_reuse == 0
    ever = await reports.for_command_line()
    assert ever.funnel.captured == lessons_of([p for p in PRODUCTS if not p.get("audience")])
    assert ever.total_open == later.total_open  # open actions are as of today


async def test_the_question_backlog_is_scoped_to_the_askers_mission(demo_store: Store) -> None:
    amina = await person(demo_store, AMINA)
    grace = await person(demo_store, "grace.achieng@un.example")
    for who, question in ((amina, "ballot paper recycling"), (grace, "river barge patrols")):
        await demo_store.log_question(question, person_id=who, platform="local", hits=0)
    pbpo = await make_pbpo_of(demo_store, FARIDA, "MINUSCA")
    report = await LearningReports(demo_store).for_person(pbpo)
    assert [q.text for q in report.unanswered] == ["ballot paper recycling"]
    everyone = await LearningReports(demo_store).for_command_line()
    assert {q.text for q in everyone.unanswered} >= {
        "ballot paper recycling",
        "river barge patrols",
    }


async def test_answers_that_gave_a_lesson_count_as_its_reuse(
    demo_store: Store, today: date
) -> None:
    amina = await person(demo_store, AMINA)
    viewer = await demo_store.viewer_for(amina)
    who = UserRef("local", AMINA, "Amina Diallo")
    for _ in range(3):
        reply = await ask("air retrieval of results", store=demo_store, viewer=viewer, who=who)
    answer = await demo_store.ask("air retrieval of results", viewer=viewer)
    given = [hit.lesson_id for hit in answer.hits]
    assert given and reply.elements
    await ask("what did we learn about xylophones?", store=demo_store, viewer=viewer, who=who)

    everyone = await LearningReports(demo_store).for_command_line()
    uses = {u.lesson_id: u for u in everyone.usefulness.reused}
    top = uses[given[0]]
    assert (top.answers, top.helpful + top.not_helpful, top.reuse) == (
        3, 0, 3 + top.done_actions
    )  # fmt: skip
    later = await LearningReports(demo_store).for_command_line(since=today + timedelta(days=1))
    assert later.usefulness.total_reuse == 0
    listed = json.loads(export(everyone, "json"))["usefulness"]["reused"]
    assert any(u["lesson_id"] == given[0] and u["answers"] == 3 for u in listed)


async def test_csv_cells_that_look_like_formulas_are_quoted(demo_store: Store, today: date) -> None:
    with demo_store.session() as s:
        lesson = s.scalars(
            select(Lesson).join(Product).where(Product.external_id == "demo:minusca-cvr-2022")
        ).first()
        assert lesson is not None
        s.add(
            Action(
                lesson_id=lesson.id,
                description=INJECTION,
                due_date=today - timedelta(days=2),
                status=ActionStatus.OPEN,
                created_at=demo_store.clock(),
                updated_at=demo_store.clock(),
            )
        )
    report = await LearningReports(demo_store).for_command_line(mission="MINUSCA")
    rows = list(csv.reader(io.StringIO(export(report, "csv"))))
    cells = [cell for row in rows for cell in row]
    assert "'" + INJECTION in cells
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)
    assert [safe_cell(v) for v in ("+1", "@x", "\tx", "\rx", "-2", "ok", 3)] == [
        "'+1",
        "'@x",
        "'\tx",
        "'\rx",
        "'-2",
        "ok",
        3,
    ]


async def test_a_carriage_return_in_a_question_stays_inside_its_csv_cell(
    demo_store: Store,
) -> None:
    amina = await person(demo_store, AMINA)
    asked = "ballot\rpaper recycling"
    await demo_store.log_question(asked, person_id=amina, platform="local", hits=0)
    report = await LearningReports(demo_store).for_command_line()
    text = export(report, "csv")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert all(len(row) == len(rows[0]) for row in rows)
    assert asked in [row[1] for row in rows if row[0] == "unanswered_question"]


async def test_json_keys_are_stable(demo_store: Store) -> None:
    data = json.loads(export(await LearningReports(demo_store).for_command_line(), "json"))
    assert sorted(data) == [
        "actions",
        "generated_at",
        "lessons",
        "median_days_to_apply",
        "mission",
        "recently_applied",
        "scope",
        "since",
        "unanswered_questions",
        "usefulness",
    ]
    assert sorted(data["lessons"]) == ["applied", "captured", "rejected", "validated"]
    assert sorted(data["usefulness"]) == ["helps", "needs_work", "reused", "total_reuse"]


def test_usefulness_sorts_what_helps_from_what_needs_work() -> None:
    uses = [
        LessonUse(1, "A", None, helpful=3, not_helpful=0, done_actions=0),
        LessonUse(2, "B", None, helpful=0, not_helpful=2, done_actions=0),
        LessonUse(3, "C", None, helpful=1, not_helpful=0, done_actions=4),
        LessonUse(4, "D", None, helpful=1, not_helpful=1, done_actions=0),
    ]
    found = split(uses)
    assert [u.lesson_id for u in found.helps] == [1, 3]
    assert [u.lesson_id for u in found.reused] == [3, 1, 2, 4]
    assert [u.lesson_id for u in found.needs_work] == [2]
    assert found.total_reuse == 3 + 2 + 5 + 2


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("who knows about election security?", "election security"),
        ("Who knows DDR", "DDR"),
        ("hey, anyone who knows about convoys?", "convoys"),
        ("who has experience with flood response", "flood response"),
        ("what did we learn about elections?", None),
        ("who knows", None),
    ],
)
def test_who_knows_questions_are_recognised(text: str, topic: str | None) -> None:
    assert asked_topic(text) == topic


async def test_who_knows_names_authors_and_appliers_without_revealing_restricted_lessons(
    demo_store: Store,
) -> None:
    experts = Experts(demo_store)
    outsider = await experts.who_knows("polling station security elections", viewer=Viewer(None))
    insider = await experts.who_knows(
        "polling station security elections",
        viewer=Viewer(None, frozenset({"channel:elections-team"})),
    )
    secret = next(
        p["title"] for p in PRODUCTS if p["external_id"].endswith("polling-security-2025")
    )
    assert outsider and insider
    assert not any(secret in t for e in outsider for t in (*e.authored, *e.applied))
    assert any(secret in t for e in insider for t in e.authored)
    names = [e.name for e in outsider]
    assert len(names) == len(set(names))
    assert all(e.authored or e.applied for e in outsider)
    assert await experts.who_knows("zzzzqqq", viewer=Viewer(None)) == []


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-01-15", date(2026, 1, 15)),
        ("2025-03", date(2025, 3, 1)),
        (" 2024 ", date(2024, 1, 1)),
    ],
)
def test_since_takes_a_day_a_month_or_a_year(text: str, day: date) -> None:
    assert parse_since(text) == day


@pytest.mark.parametrize("text", ["yesterday-ish", "2026-13-01", "2026-02-30", ""])
def test_a_bad_since_says_what_a_date_looks_like(text: str) -> None:
    with pytest.raises(DomainError, match="is not a date: use a day like 2026-01-15"):
        parse_since(text)


async def test_every_surface_keeps_a_restricted_lesson_from_an_outsider(
    demo_store: Store, today: date
) -> None:
    """Answers, the dashboard's browser and lesson page, reports, exports, "who knows", good
    practices and priority lessons."""
    product = next(p for p in PRODUCTS if p["external_id"].endswith("polling-security-2025"))
    question = "polling station security elections"
    amina = await make_pbpo_of(demo_store, AMINA, "MINUSCA")
    await use_restricted_lessons(demo_store, await person(demo_store, FARIDA), today)
    outsider = await demo_store.viewer_for(amina)
    insider = await demo_store.viewer_for(amina, channel="elections-team")
    with demo_store.session() as s:
        ids = set(
            s.scalars(
                select(Lesson.id)
                .join(Product, Product.id == Lesson.product_id)
                .where(Product.external_id == product["external_id"])
            )
        )
    reports = Reports(demo_store)
    await _promote_and_prioritise(demo_store, ids, await person(demo_store, FARIDA))
    for viewer, sees in ((outsider, False), (insider, True)):
        practices = await Practices(demo_store).standing(viewer)
        assert any(p.lesson_id in ids for p in practices) is sees
        priorities = await Curation(demo_store).priority_list(viewer, missions=None, today=today)
        assert any(p.lesson_id in ids for p in priorities) is sees
        answer = await demo_store.ask(question, viewer=viewer, limit=50)
        assert any(h.lesson_id in ids for h in answer.hits) is sees
        browsed = await reports.browse(viewer, question)
        assert any(r.title.startswith(product["title"]) for r in browsed.rows) is sees
        experts = await Experts(demo_store).who_knows(question, viewer=viewer)
        named = [t for e in experts for t in (*e.authored, *e.applied)]
        assert any(product["title"] in t for t in named) is sees
    hidden = sorted(ids)[0]
    with pytest.raises(NotFound):
        await reports.lesson_page(outsider, hidden)
    report = await LearningReports(demo_store).build(outsider, await _scope(demo_store, amina))
    for fmt in FORMATS:
        assert product["title"] not in export(report, fmt)


async def _promote_and_prioritise(store: Store, ids: set[int], pbpo: int) -> None:
    """Promote a validated lesson of the restricted report to its channel, and flag it."""
    with store.session() as s:
        lesson = s.scalars(
            select(Lesson.id).where(Lesson.id.in_(ids), Lesson.status == LessonStatus.VALIDATED)
        ).first()
    assert lesson is not None
    await Practices(store).promote(
        lesson, actor_id=pbpo, why="works", audience="#elections-team", surface="local",
        channel="elections-team",
    )  # fmt: skip
    await Curation(store).flag(
        lesson, True, actor_id=pbpo, why="season", surface="local", channel="elections-team"
    )


async def _scope(store: Store, person_id: int) -> Scope:
    return await LearningReports(store).scope(person_id)


def insiders(store: Store) -> frozenset[str]:
    """Return every principal some restricted product names."""
    with store.connection() as conn:
        return frozenset(conn.execute(text("SELECT principal FROM product_audience")).scalars())
