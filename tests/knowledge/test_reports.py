"""Reports: learning metrics and dashboard views, per viewer, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import not_, select

from knowledge.errors import NotFound
from knowledge.models import (
    Action,
    ActionStatus,
    Feedback,
    Lesson,
    LessonStatus,
    Product,
    ProductType,
    Question,
)
from knowledge.records import ActionRecord, LessonRecord, PersonRecord, ProductRecord
from knowledge.reports import GROUPINGS, PAGE_SIZE, Reports, UnansweredQuestion, visible
from knowledge.search.answer import SET_ASIDE, Viewer, _hidden
from knowledge.storage import Store

DEMO = Path(__file__).resolve().parents[2] / "knowledge" / "demo" / "corpus.json"
CORPUS: dict[str, Any] = json.loads(DEMO.read_text(encoding="utf-8"))
PRODUCTS: list[dict[str, Any]] = CORPUS["products"]
NAMES = {p["email"]: p["name"] for p in CORPUS["people"]}
ANYONE = Viewer(None)
ELECTIONS = Viewer(None, frozenset({"channel:elections-team"}))
PBPOS = Viewer(None, frozenset({"group:pbpo"}))
PBPO_EMAIL = "farida.rahimi@un.example"  # a PBPO: her role opens "group:pbpo"
PBPO_ONLY = "demo:eoar-petrova-untmis-2025"
ELECTIONS_ONLY = "demo:minusca-polling-security-2025"
OPEN = ("open", "in_progress", "blocked")


def seen_by(principals: frozenset[str]) -> list[dict[str, Any]]:
    """Return the demo products a viewer with these principals may see.

    A restricted product is open to its audience and to its authors.
    """
    return [
        p
        for p in PRODUCTS
        if not p.get("audience")
        or (set(p["audience"]) | {f"person:{a}" for a in p["authors"]}) & principals
    ]


def open_actions(principals: frozenset[str]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Return (product, action) of every open demo action these principals may see."""
    return [
        (p, a)
        for p in seen_by(principals)
        for lesson in p["lessons"]
        for a in lesson.get("actions", [])
        if a["status"] in OPEN
    ]


async def pbpo(store: Store) -> Viewer:
    """Return the viewer of the demo PBPO, as the dashboard builds it."""
    return await store.viewer_for(await store.person_for("local", PBPO_EMAIL))


def product_lessons(store: Store, external_id: str) -> list[int]:
    """Return the lesson ids of a product, in order."""
    with store.session() as s:
        return list(
            s.scalars(
                select(Lesson.id)
                .join(Product, Product.id == Lesson.product_id)
                .where(Product.external_id == external_id)
                .order_by(Lesson.position)
            )
        )


# Visibility ---------------------------------------------------------------------------------


async def test_visible_hides_exactly_what_search_hides(demo_store: Store) -> None:
    viewers = [ANYONE, ELECTIONS, await pbpo(demo_store), Viewer(7, frozenset({"group:x"}))]
    with demo_store.engine.connect() as conn:
        for viewer in viewers:
            hidden = set(
                conn.scalars(
                    select(Lesson.id)
                    .join(Product, Product.id == Lesson.product_id)
                    .where(not_(visible(viewer)))
                )
            )
            # rejected and withdrawn lessons asked for: only the audience rule is compared
            assert hidden == set(_hidden(conn, viewer, frozenset(SET_ASIDE)))
            assert hidden  # every one of these viewers misses some restricted lesson


# Funnel and median --------------------------------------------------------------------------


async def test_funnel_counts_match_the_corpus(demo_store: Store) -> None:
    for email in (None, PBPO_EMAIL, "tomas.herrera@un.example"):
        person = await demo_store.person_for("local", email) if email else None
        viewer = await demo_store.viewer_for(person)
        statuses = Counter(x["status"] for p in seen_by(viewer.principals) for x in p["lessons"])

        funnel = await Reports(demo_store).funnel(viewer)

        assert funnel.captured == sum(statuses.values())
        assert funnel.validated == statuses["validated"] + statuses["applied"]
        assert funnel.applied == statuses["applied"]
        assert funnel.rejected == statuses["rejected"]
        assert funnel.stages() == [
            ("Captured", funnel.captured),
            ("Validated", funnel.validated),
            ("Applied", funnel.applied),
        ]


async def test_funnel_counts_restricted_lessons_only_for_their_audience(demo_store: Store) -> None:
    reports = Reports(demo_store)
    restricted = next(p for p in PRODUCTS if p["external_id"] == PBPO_ONLY)["lessons"]

    outsider, insider = await reports.funnel(ANYONE), await reports.funnel(PBPOS)

    assert insider.captured - outsider.captured == len(restricted)
    validated = sum(x["status"] in ("validated", "applied") for x in restricted)
    assert insider.validated - outsider.validated == validated


async def test_median_days_to_apply_matches_the_corpus(demo_store: Store) -> None:
    days = [
        (date.fromisoformat(x["applied_on"]) - date.fromisoformat(p["date"])).days
        for p in seen_by(frozenset())
        for x in p["lessons"]
        if x["status"] == "applied"
    ]

    median = await Reports(demo_store).median_days_to_apply(ANYONE)

    assert median == pytest.approx(statistics.median(days))


async def test_median_days_to_apply_is_none_without_applied_lessons(store: Store) -> None:
    await store.import_records(
        [(1, ProductRecord("x:1", ProductType.AAR, "An AAR", lessons=(LessonRecord("L"),)))],
        source="test",
    )

    assert await Reports(store).median_days_to_apply(ANYONE) is None
    assert (await Reports(store).funnel(ANYONE)).captured == 1


# Overdue over time --------------------------------------------------------------------------


def _at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


async def _actions_with_history(store: Store, today: date) -> dict[str, int]:
    """Import a public and a restricted lesson with actions, then set their history."""
    owner = PersonRecord(name="Ada Owner", email="ada@un.example")

    def product(external_id: str, n: int, **fields: Any) -> ProductRecord:
        actions = tuple(ActionRecord(f"{external_id} action {i}") for i in range(n))
        lesson = LessonRecord("L", status=LessonStatus.VALIDATED, actions=actions)
        return ProductRecord(external_id, ProductType.AAR, external_id, lessons=(lesson,), **fields)

    await store.import_records(
        [(1, owner), (2, product("public", 5)), (3, product("secret", 1, audience=("group:x",)))],
        source="test",
    )
    d = today
    history = {  # description: (due, created, closed)
        "public action 0": (d - timedelta(30), d - timedelta(60), None),
        "public action 1": (d - timedelta(50), d - timedelta(40), d - timedelta(10)),
        "public action 2": (d - timedelta(5), d - timedelta(20), d - timedelta(3)),
        "public action 3": (None, d - timedelta(90), None),
        "public action 4": (d - timedelta(21), d - timedelta(70), d - timedelta(14)),
        "secret action 0": (d - timedelta(20), d - timedelta(30), None),
    }
    ids = {}
    with store.session() as s:
        for action in s.scalars(select(Action)):
            due, created, closed = history[action.description]
            action.due_date, action.created_at = due, _at(created)
            action.closed_at = _at(closed) if closed else None
            action.status = ActionStatus.DONE if closed else ActionStatus.OPEN
            ids[action.description] = action.id
    return ids


async def test_overdue_over_time_counts_actions_as_they_stood_each_week(
    store: Store, today: date
) -> None:
    await _actions_with_history(store, today)
    reports = Reports(store)

    points = await reports.overdue_over_time(ANYONE, weeks=8)
    with_secret = await reports.overdue_over_time(Viewer(None, frozenset({"group:x"})), weeks=8)

    assert [d for d, _ in points] == [today - timedelta(weeks=k) for k in range(7, -1, -1)]
    # Worked by hand (weeks back: count): action 1 is overdue from its creation (day -40) until
    # it closed (day -10); action 0 from day -29; action 4 from day -20 until closed on day -14,
    # which is a week end: closed by the end of that day, so not counted there.
    assert points == [
        (today - timedelta(weeks=7), 0),  # day -49: action 1 not created yet
        (today - timedelta(weeks=6), 0),  # day -42
        (today - timedelta(weeks=5), 1),  # day -35: action 1
        (today - timedelta(weeks=4), 2),  # day -28: actions 0 and 1
        (today - timedelta(weeks=3), 2),  # day -21: 0, 1 (action 4 is due on that day)
        (today - timedelta(weeks=2), 2),  # day -14: 0, 1 (4 closed that day)
        (today - timedelta(weeks=1), 1),  # day -7: 0 (1 closed on day -10)
        (today, 1),  # action 0; action 2 closed before today
    ]
    secret = [n - m for (_, n), (_, m) in zip(with_secret, points, strict=True)]
    assert secret == [0, 0, 0, 0, 0, 1, 1, 1]  # due day -20, created day -30, still open


async def test_overdue_over_time_today_counts_the_demo_overdue_actions(
    demo_store: Store, today: date
) -> None:
    late = [a for _, a in open_actions(frozenset()) if a["due_in_days"] < 0]

    points = await Reports(demo_store).overdue_over_time(ANYONE)

    assert len(points) == 12
    assert points[-1] == (today, len(late))
    # Imported actions date from their lesson's validation (else the product's date) and a
    # closed one closed when its lesson was applied (else on its due date): so the past weeks
    # are the open actions already late then, plus closed ones applied only later.
    expected = []
    for day, _ in points:
        n = 0
        for product in seen_by(frozenset()):
            for lesson in product["lessons"]:
                created = date.fromisoformat(lesson.get("validated_on") or product["date"])
                for action in lesson.get("actions", []):
                    due = today + timedelta(days=action["due_in_days"])
                    if action["status"] in OPEN:
                        closed = None
                    else:
                        closed = date.fromisoformat(lesson.get("applied_on") or due.isoformat())
                        closed = min(max(closed, created), today)
                    if created <= day and due < day and (closed is None or closed > day):
                        n += 1
        expected.append((day, n))
    assert points == expected
    assert any(n for _, n in points[:-1])  # the demo history is not flat


# Questions without a good answer ------------------------------------------------------------


async def test_unanswered_questions_are_the_most_asked_without_a_good_answer(
    store: Store, now: datetime
) -> None:
    await store.import_records(
        [
            (1, PersonRecord(name="Asker", email="asker@un.example")),
            (2, ProductRecord("x:1", ProductType.AAR, "AAR", lessons=(LessonRecord("L"),))),
        ],
        source="test",
    )
    lesson_id = product_lessons(store, "x:1")[0]
    asker = await store.person_for("local", "asker@un.example")
    asked = [  # (text, normalized, hits, hours ago)
        ("Drones?", "drones", 0, 30),
        ("drones", "drones", 0, 20),
        ("DRONES please", "drones", 0, 2),
        ("fuel", "fuel", 4, 10),
        ("Fuel!", "fuel", 4, 1),
        ("convoys", "convoys", 3, 5),
        ("elections", "elections", 0, 6),
        ("Elections", "elections", 2, 7),
    ]
    votes = {"fuel": [False, False, True], "convoys": [True, False], "elections": [True]}
    with store.session() as s:
        rows = {}
        for text_, normalized, hits, hours in asked:
            q = Question(
                person_id=asker,
                platform="local",
                text=text_,
                normalized=normalized,
                hits=hits,
                asked_at=now - timedelta(hours=hours),
            )
            s.add(q)
            rows[normalized] = q
        s.flush()
        for normalized, helpful in votes.items():
            for h in helpful:
                s.add(
                    Feedback(
                        lesson_id=lesson_id, question_id=rows[normalized].id, helpful=h, at=now
                    )
                )

    found = await Reports(store).unanswered_questions()

    assert found == [
        UnansweredQuestion(
            text="DRONES please",
            normalized="drones",
            asked=3,
            no_answer=3,
            helpful=0,
            not_helpful=0,
            last_asked=now - timedelta(hours=2),
        ),
        UnansweredQuestion(
            text="Fuel!",
            normalized="fuel",
            asked=2,
            no_answer=0,
            helpful=1,
            not_helpful=2,
            last_asked=now - timedelta(hours=1),
        ),
    ]
    assert [q.normalized for q in await Reports(store).unanswered_questions(limit=1)] == ["drones"]


async def test_unanswered_questions_is_empty_when_nobody_asked(store: Store) -> None:
    assert await Reports(store).unanswered_questions() == []


# Actions board ------------------------------------------------------------------------------


def expected_board(principals: frozenset[str], by: str) -> dict[str, tuple[int, int]]:
    """Return {group: (open, overdue)} computed from the corpus."""
    counts: Counter[str] = Counter()
    late: Counter[str] = Counter()
    for product, action in open_actions(principals):
        groups = {
            "mission": [product["mission"]],
            "theme": product["themes"],
            "owner": [NAMES[action["owner"]]],
        }[by]
        for group in groups:
            counts[group] += 1
            late[group] += action["due_in_days"] < 0
    return {g: (counts[g], late[g]) for g in counts}


async def test_actions_board_matches_the_corpus(demo_store: Store) -> None:
    cases = [(v.principals, v, by) for v in (ANYONE, ELECTIONS) for by in GROUPINGS]
    for principals, viewer, by in cases:
        board = await Reports(demo_store).actions_board(viewer, by)

        assert {r.group: (r.open, r.overdue) for r in board.rows} == expected_board(principals, by)
        keys = [(-r.overdue, -r.open, r.group.casefold()) for r in board.rows]
        assert keys == sorted(keys)
        actions = open_actions(principals)
        assert board.total_open == len(actions)
        assert board.total_overdue == sum(a["due_in_days"] < 0 for _, a in actions)


async def test_actions_board_lists_overdue_actions_oldest_first(
    demo_store: Store, today: date
) -> None:
    late = [(p, a) for p, a in open_actions(frozenset()) if a["due_in_days"] < 0]

    board = await Reports(demo_store).actions_board(ANYONE, "owner")

    assert sorted(o.description for o in board.overdue) == sorted(a["description"] for _, a in late)
    assert [o.due_date for o in board.overdue] == sorted(o.due_date for o in board.overdue)
    by_description = {a["description"]: (p, a) for p, a in late}
    for o in board.overdue:
        product, action = by_description[o.description]
        assert o.owner == NAMES[action["owner"]]
        assert o.days_overdue == -action["due_in_days"] == (today - o.due_date).days
        assert o.lesson_title == product["title"]
        assert o.mission == product["mission"]
        assert o.lesson_id in product_lessons(demo_store, product["external_id"])


async def test_actions_board_shows_restricted_actions_only_to_their_audience(
    demo_store: Store,
) -> None:
    secret = next(p for p in PRODUCTS if p["external_id"] == PBPO_ONLY)
    (action,) = (a for x in secret["lessons"] for a in x.get("actions", []))
    assert action["due_in_days"] < 0 and action["status"] in OPEN
    reports = Reports(demo_store)

    outsider = await reports.actions_board(ANYONE, "mission")
    insider = await reports.actions_board(PBPOS, "mission")

    assert action["description"] not in {o.description for o in outsider.overdue}
    assert action["description"] in {o.description for o in insider.overdue}
    assert insider.total_overdue == outsider.total_overdue + 1


async def test_actions_board_refuses_an_unknown_grouping(store: Store) -> None:
    with pytest.raises(ValueError, match="mission, theme, owner"):
        await Reports(store).actions_board(ANYONE, "colour")  # type: ignore[arg-type]


# Browsing -----------------------------------------------------------------------------------


async def test_browse_without_a_query_pages_through_every_visible_lesson_newest_first(
    demo_store: Store,
) -> None:
    reports = Reports(demo_store)
    expected = sum(len(p["lessons"]) for p in seen_by(frozenset()))

    first = await reports.browse(ANYONE, "  ", 1)
    pages = [first] + [await reports.browse(ANYONE, "", n) for n in range(2, first.pages + 1)]

    assert first.total == expected and first.pages == -(-expected // PAGE_SIZE)
    assert first.text == "" and first.query is None
    rows = [r for page in pages for r in page.rows]
    assert len(rows) == len({r.lesson_id for r in rows}) == expected
    assert all(len(p.rows) == PAGE_SIZE for p in pages[:-1])
    dates = [r.date for r in rows]
    assert dates == sorted(dates, key=lambda d: d or date.min, reverse=True)
    newest = max(seen_by(frozenset()), key=lambda p: p["date"])
    assert rows[0].title == newest["title"] and rows[0].mission == newest["mission"]
    assert rows[0].status == LessonStatus(newest["lessons"][-1]["status"])
    assert (await reports.browse(ANYONE, "", first.pages + 1)).rows == ()


async def test_browse_shows_restricted_lessons_only_to_their_audience(demo_store: Store) -> None:
    secret = next(p for p in PRODUCTS if p["external_id"] == ELECTIONS_ONLY)
    ids = set(product_lessons(demo_store, ELECTIONS_ONLY))
    reports = Reports(demo_store)

    async def everything(viewer: Viewer, query: str) -> set[int]:
        first = await reports.browse(viewer, query, 1)
        pages = [await reports.browse(viewer, query, n) for n in range(1, first.pages + 1)]
        return {r.lesson_id for page in pages for r in page.rows}

    assert not ids & await everything(ANYONE, "")
    assert ids <= await everything(ELECTIONS, "")
    question = "polling station security"
    assert not ids & await everything(ANYONE, question)
    assert ids & await everything(ELECTIONS, question)
    assert secret["title"] in {r.title for r in (await reports.browse(ELECTIONS, question)).rows}


async def test_browse_with_a_query_answers_as_chat_does(demo_store: Store) -> None:
    for question in ("type:aar election", "status:applied", "#gender since 2023", "in MINUSCA"):
        answer = await demo_store.ask(question, viewer=ANYONE, limit=50)

        found = await Reports(demo_store).browse(ANYONE, question)

        assert found.rows and [r.lesson_id for r in found.rows] == [
            h.lesson_id for h in answer.hits[:PAGE_SIZE]
        ]
        assert found.total == len(answer.hits) and found.query == answer.query
        assert found.query is not None and found.query.has_filters
        if found.query.types:
            assert {r.product_type for r in found.rows} == {ProductType.AAR}
        if found.query.statuses:
            assert {r.status for r in found.rows} == {LessonStatus.APPLIED}
        if found.query.since:
            assert all(r.date and r.date >= date(2023, 1, 1) for r in found.rows)
        if found.query.missions:
            assert {r.mission for r in found.rows} == {"MINUSCA"}


async def test_browse_survives_hostile_queries(demo_store: Store) -> None:
    reports = Reports(demo_store)
    for query in ['"', "NEAR(a b)", "a* OR -b", "col:x ^y", "'; drop table lessons; --", "😀 ☃"]:
        found = await reports.browse(ANYONE, query)
        assert found.page == 1 and found.total == len(found.rows) <= PAGE_SIZE


# Lesson page --------------------------------------------------------------------------------


async def test_lesson_page_shows_lifecycle_actions_product_and_votes(
    store: Store, now: datetime
) -> None:
    people = [
        PersonRecord(name="Vera Validator", email="vera@un.example"),
        PersonRecord(name="Otto Owner", email="otto@un.example"),
    ]
    product = ProductRecord(
        "x:page",
        ProductType.PRACTICE_NOTE,
        "A practice note",
        date=date(2025, 2, 1),
        mission="UNMISS",
        authors=("vera@un.example",),
        themes=("logistics", "gender"),
        source_url="https://lessons.example/pn/1",
        lessons=(LessonRecord("Check fuel early.", title="Fuel", observation="Convoys stalled."),),
    )
    await store.import_records(list(enumerate([*people, product], 1)), source="test")
    (lesson_id,) = product_lessons(store, "x:page")
    vera = await store.person_for("local", "vera@un.example")
    otto = await store.person_for("local", "otto@un.example")
    await store.move_lesson(lesson_id, LessonStatus.VALIDATED, actor_id=vera, note="sound")
    action = await store.add_action(
        lesson_id, "Stock fuel", owner_id=otto, due_date=date(2026, 1, 1)
    )
    await store.move_action(action.id, ActionStatus.DONE, actor_id=otto, evidence="receipts")
    with store.session() as s:
        s.add_all(Feedback(lesson_id=lesson_id, helpful=h, at=now) for h in (True, True, False))

    page = await Reports(store).lesson_page(ANYONE, lesson_id)

    assert page.title == "A practice note — Fuel"
    assert (page.lesson, page.observation) == ("Check fuel early.", "Convoys stalled.")
    assert page.status == LessonStatus.APPLIED and page.validated_by == "Vera Validator"
    assert page.identified_at == datetime(2025, 2, 1, 12, tzinfo=UTC)
    assert page.validated_at == page.applied_at == now
    assert (page.product_type, page.product_title, page.mission, page.date) == (
        ProductType.PRACTICE_NOTE,
        "A practice note",
        "UNMISS",
        date(2025, 2, 1),
    )
    assert page.authors == ("Vera Validator",) and page.themes == ("gender", "logistics")
    assert page.source_url == "https://lessons.example/pn/1" and page.audience == ()
    assert [(e.from_status, e.to_status, e.actor, e.note) for e in page.events] == [
        ("identified", "validated", "Vera Validator", "sound"),
        ("validated", "applied", "Otto Owner", "every action is closed"),
    ]
    assert [(a.description, a.owner, a.status, a.overdue) for a in page.actions] == [
        ("Stock fuel", "Otto Owner", ActionStatus.DONE, False)
    ]
    assert (page.helpful, page.not_helpful) == (2, 1)


async def test_lesson_page_of_demo_lesson_lists_owners_and_overdue_actions(
    demo_store: Store, today: date
) -> None:
    product = next(
        p for p in seen_by(frozenset()) if any(len(x.get("actions", [])) > 1 for x in p["lessons"])
    )
    position, record = next(
        (i, x) for i, x in enumerate(product["lessons"]) if len(x.get("actions", [])) > 1
    )
    lesson_id = product_lessons(demo_store, product["external_id"])[position]

    page = await Reports(demo_store).lesson_page(ANYONE, lesson_id)

    assert page.status == LessonStatus(record["status"])
    assert [(a.description, a.owner, a.status.value) for a in page.actions] == [
        (a["description"], NAMES[a["owner"]], a["status"]) for a in record["actions"]
    ]
    assert [a.overdue for a in page.actions] == [
        a["due_in_days"] < 0 and a["status"] in OPEN for a in record["actions"]
    ]
    assert page.authors == tuple(NAMES[e] for e in product["authors"])


async def test_lesson_page_of_a_hidden_lesson_reads_as_missing(demo_store: Store) -> None:
    (secret, *_) = product_lessons(demo_store, PBPO_ONLY)
    reports = Reports(demo_store)
    with demo_store.session() as s:
        missing = (s.scalar(select(Lesson.id).order_by(Lesson.id.desc())) or 0) + 1

    with pytest.raises(NotFound) as hidden:
        await reports.lesson_page(ANYONE, secret)
    with pytest.raises(NotFound) as absent:
        await reports.lesson_page(ANYONE, missing)

    assert hidden.value.message == f"There is no lesson #{secret}."
    assert absent.value.message == f"There is no lesson #{missing}."
    page = await reports.lesson_page(await pbpo(demo_store), secret)
    assert page == await reports.lesson_page(PBPOS, secret)
    assert page.audience == ("group:pbpo", "person:elena.petrova@un.example")
    assert page.mission == "UNTMIS"


async def test_person_name(demo_store: Store) -> None:
    farida = await demo_store.person_for("local", PBPO_EMAIL)
    assert farida is not None

    assert await Reports(demo_store).person_name(farida) == NAMES[PBPO_EMAIL]
    assert await Reports(demo_store).person_name(10**6) is None
