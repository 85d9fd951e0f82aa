"""The dashboard over real HTTP on 127.0.0.1: pages, viewers, restricted lessons, bad input."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from yarl import URL

from bot.keys import STORE
from bot.local.dashboard import AS_COOKIE, MAX_QUERY, add_routes
from handlers.chat import ConversationRef, Message, UserRef
from handlers.deps import Deps
from handlers.router import dispatch
from knowledge.models import Lesson, LessonStatus, Product, ProductType, Question
from knowledge.records import LessonRecord, ProductRecord
from knowledge.storage import Store

Client = TestClient[web.Request, web.Application]
DEMO = Path(__file__).resolve().parents[3] / "knowledge" / "demo" / "corpus.json"
CORPUS: dict[str, Any] = json.loads(DEMO.read_text(encoding="utf-8"))
PUBLIC = [p for p in CORPUS["products"] if not p.get("audience")]
NAMES = {p["email"]: p["name"] for p in CORPUS["people"]}
OPEN = ("open", "in_progress", "blocked")
TOMAS = "tomas.herrera@un.example"  # an author of two restricted products
SECRET = "demo:minusca-polling-security-2025"  # restricted to channel:elections-team
HOSTILE = "<script>alert(1)</script>\"'&"


class Doc(HTMLParser):
    """A parsed page: its start tags with attributes, and its text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.chunks: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        """Return the page's text with whitespace collapsed."""
        return " ".join(" ".join(self.chunks).split())

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        """Return the attributes of every tag of this name whose attributes include attrs."""
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [a for t, a in self.tags if t == tag and wanted.items() <= a.items()]

    def links(self, prefix: str) -> list[str]:
        """Return the href of every link starting with prefix."""
        return [a["href"] for a in self.find("a") if a.get("href", "").startswith(prefix)]


async def serve(store: Store) -> Client:
    """Serve only the dashboard, with this store, on a free port of 127.0.0.1."""
    app = web.Application()
    app[STORE] = store
    add_routes(app)
    client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(demo_store: Store) -> AsyncIterator[Client]:
    client = await serve(demo_store)
    yield client
    await client.close()


async def page(client: Client, path: str | URL, *, status: int = 200, who: str = "") -> Doc:
    """GET a dashboard page as someone (the local chat's cookie) and check it is a whole page."""
    cookies = {AS_COOKIE: quote(who, safe="")} if who else {}  # as chat.js sets it
    response = await client.get(path, cookies=cookies)
    body = await response.text()
    assert response.status == status, body[:2000]
    assert response.content_type == "text/html" and response.charset == "utf-8"
    assert "script-src" not in response.headers["Content-Security-Policy"]  # none at all
    assert body.startswith("<!doctype html>") and "<script" not in body.lower()
    doc = Doc(body)
    assert doc.find("meta", charset="utf-8")
    assert doc.find("link", rel="stylesheet", href="/static/dashboard.css")
    hrefs = [a["href"] for a in doc.find("a")]
    assert {"/", "/dashboard", "/dashboard/lessons", "/dashboard/actions"} <= set(hrefs)
    return doc


def lesson_ids(store: Store, external_id: str) -> list[int]:
    with store.session() as s:
        return list(
            s.scalars(
                select(Lesson.id)
                .join(Product, Product.id == Lesson.product_id)
                .where(Product.external_id == external_id)
                .order_by(Lesson.position)
            )
        )


def tile(doc: Doc, label: str) -> str:
    """Return the value of the stat tile with this label."""
    found = re.search(re.escape(label) + r" ([\d,—]+)", doc.text)
    assert found, doc.text
    return found.group(1)


# Overview -----------------------------------------------------------------------------------


async def test_overview_shows_figures_charts_and_unanswered_questions(
    client: Client, demo_store: Store, now: Any
) -> None:
    with demo_store.session() as s:
        for _ in range(2):
            s.add(Question(platform="local", text=HOSTILE, normalized="x", hits=0, asked_at=now))
    lessons = [x for p in PUBLIC for x in p["lessons"]]
    actions = [a for x in lessons for a in x.get("actions", []) if a["status"] in OPEN]

    doc = await page(client, "/dashboard")

    assert "Viewing as a guest" in doc.text
    assert tile(doc, "Lessons captured") == str(len(lessons))
    assert tile(doc, "Lessons applied") == str(sum(x["status"] == "applied" for x in lessons))
    assert tile(doc, "Open actions") == str(len(actions))
    assert tile(doc, "Overdue actions") == str(sum(a["due_in_days"] < 0 for a in actions))
    assert int(tile(doc, "Median days to apply")) > 0
    charts = doc.find("svg", role="img")
    assert [c["class"] for c in charts] == ["chart chart-funnel", "chart chart-line"]
    assert f"{HOSTILE} 2" in doc.text  # the question, escaped, asked twice
    assert doc.links("/dashboard/lessons?q=%3Cscript%3E")


async def test_a_question_the_search_could_not_answer_is_listed_without_votes(
    client: Client, demo_store: Store
) -> None:
    """Issue 20: an abstained answer reaches "questions without a good answer" at once."""
    nyibol = UserRef("local", "nyibol.deng@un.example")
    for question in ("lessons about cholera outbreaks in camps", "elections"):
        await dispatch(
            Message(nyibol, ConversationRef("local", "dm:9"), question), Deps(demo_store)
        )

    doc = await page(client, "/dashboard")

    assert "lessons about cholera outbreaks in camps 1" in doc.text
    assert "elections 1" not in doc.text


async def test_overview_of_an_empty_index_shows_empty_states(store: Store) -> None:
    client = await serve(store)
    try:
        doc = await page(client, "/dashboard")
    finally:
        await client.close()

    assert tile(doc, "Lessons captured") == "0" and tile(doc, "Median days to apply") == "—"
    assert "No lessons yet: nothing to show in the funnel." in doc.text
    assert "No unanswered questions yet." in doc.text
    assert [c["class"] for c in doc.find("svg")] == ["chart chart-empty", "chart chart-line"]


async def test_the_chat_cookie_chooses_who_is_viewing(client: Client) -> None:
    guest = await page(client, "/dashboard")
    tomas = await page(client, "/dashboard", who=TOMAS)
    unknown = await page(client, "/dashboard", who="nobody@un.example")
    odd = await page(client, "/dashboard", who="\x00<b>é\U0001f600")

    assert f"Viewing as {NAMES[TOMAS]}" in tomas.text
    restricted = [
        p for p in CORPUS["products"] if p.get("audience") and TOMAS in p.get("authors", [])
    ]
    extra = sum(len(p["lessons"]) for p in restricted)
    assert int(tile(tomas, "Lessons captured")) == int(tile(guest, "Lessons captured")) + extra
    assert unknown.text == guest.text == odd.text


# Lessons browser ----------------------------------------------------------------------------


async def test_lessons_browser_pages_through_the_newest_lessons(client: Client) -> None:
    total = sum(len(p["lessons"]) for p in PUBLIC)
    pages = -(-total // 20)

    first = await page(client, "/dashboard/lessons")
    last = await page(client, f"/dashboard/lessons?page={pages}")

    assert first.find("input", name="q", type="search", value="")
    assert "type:aar" in first.text and "#gender" in first.text  # filter hints
    assert f"{total} lessons, newest first." in first.text
    assert len(first.find("ol", class_="lessons")) == 1
    assert len(first.links("/dashboard/lessons/")) == 20
    assert f"Page 1 of {pages}" in first.text and first.links("/dashboard/lessons?page=2")
    assert len(last.links("/dashboard/lessons/")) == total - 20 * (pages - 1)
    assert last.links(f"/dashboard/lessons?page={pages - 1}")
    newest = max(PUBLIC, key=lambda p: p["date"])
    assert newest["title"] in first.text
    beyond = await page(client, f"/dashboard/lessons?q=peace&page={pages + 5}")
    assert "No lessons on this page." in beyond.text
    assert beyond.links("/dashboard/lessons?q=peace") == ["/dashboard/lessons?q=peace"]


async def test_lessons_search_uses_the_chat_filters(client: Client) -> None:
    doc = await page(client, "/dashboard/lessons?q=" + quote("type:aar election"))

    assert doc.find("input", name="q", value="type:aar election")
    assert "type: After-Action Review" in doc.text
    shown = re.findall(
        r"(After-Action Review|End of Assignment Report|Practice Note|"
        r"Survey of Practice|Lessons Learned Study) · ",
        doc.text,
    )
    assert shown and set(shown) == {"After-Action Review"}
    assert len(doc.links("/dashboard/lessons/")) == len(shown)


async def test_restricted_lessons_reach_only_their_audience(
    client: Client, demo_store: Store
) -> None:
    secret = next(p for p in CORPUS["products"] if p["external_id"] == SECRET)
    ids = lesson_ids(demo_store, SECRET)
    search = "/dashboard/lessons?q=" + quote("polling station security")

    for path in ("/dashboard/lessons", search):
        assert secret["title"] not in (await page(client, path)).text
        assert secret["title"] in (await page(client, path, who=TOMAS)).text

    hidden = await page(client, f"/dashboard/lessons/{ids[0]}", status=404)
    missing = await page(client, "/dashboard/lessons/99999", status=404)
    assert hidden.text.replace(str(ids[0]), "N") == missing.text.replace("99999", "N")
    shown = await page(client, f"/dashboard/lessons/{ids[0]}", who=TOMAS)
    assert secret["title"] in shown.text and "channel:elections-team" in shown.text

    late = [
        a["description"]
        for p in CORPUS["products"]
        if p.get("audience") and TOMAS in p["authors"]
        for x in p["lessons"]
        for a in x.get("actions", [])
        if a["status"] in OPEN and a["due_in_days"] < 0
    ]
    assert late
    guest, insider = (
        await page(client, "/dashboard/actions"),
        await page(client, "/dashboard/actions", who=TOMAS),
    )
    assert not any(d in guest.text for d in late) and all(d in insider.text for d in late)


# Lesson page --------------------------------------------------------------------------------


async def test_lesson_page_shows_lifecycle_actions_and_source(
    client: Client, demo_store: Store
) -> None:
    product, position, record = next(
        (p, i, x)
        for p in PUBLIC
        for i, x in enumerate(p["lessons"])
        if x["status"] == "applied" and len(x.get("actions", [])) > 1
    )
    lesson_id = lesson_ids(demo_store, product["external_id"])[position]

    doc = await page(client, f"/dashboard/lessons/{lesson_id}")

    steps = doc.find("li")
    assert [s["class"] for s in steps if "step" in s.get("class", "")] == [
        "step done step-identified",
        "step done step-validated",
        "step current step-applied",
    ]
    assert doc.find("span", class_="badge badge-applied")
    applied = date.fromisoformat(record["applied_on"])
    assert doc.find("time", datetime=applied.isoformat())
    assert doc.find("time", datetime=product["date"])
    for action in record["actions"]:
        assert action["description"] in doc.text and NAMES[action["owner"]] in doc.text
    assert doc.find("a", href=product["source_url"])
    assert record["lesson"] in doc.text and product["mission"] in doc.text


async def test_lesson_page_escapes_data_and_links_only_web_sources(store: Store) -> None:
    hostile = ProductRecord(
        "x:hostile",
        ProductType.AAR,
        f"Title {HOSTILE}",
        mission=f"M{HOSTILE}"[:100],
        themes=("<b>theme</b>",),
        source_url="javascript:alert(1)",
        lessons=(
            LessonRecord(
                f"Lesson {HOSTILE}", status=LessonStatus.REJECTED, rejection_reason=HOSTILE
            ),
        ),
    )
    await store.import_records([(1, hostile)], source="test")
    (lesson_id,) = lesson_ids(store, "x:hostile")
    client = await serve(store)
    try:
        response = await client.get(f"/dashboard/lessons/{lesson_id}")
        body = await response.text()
        listing = await (await client.get("/dashboard/lessons")).text()
    finally:
        await client.close()

    assert response.status == 200
    for html in (body, listing):
        assert "<script>" not in html and "<b>theme" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;" in html
    doc = Doc(body)
    assert not doc.links("javascript:") and f"Title {HOSTILE}" in doc.text
    assert "Rejected" in doc.text and doc.find("li", class_="step todo step-validated")


# Actions board ------------------------------------------------------------------------------


async def test_actions_board_groups_by_mission_theme_and_owner(client: Client) -> None:
    actions = [
        (p, a)
        for p in PUBLIC
        for x in p["lessons"]
        for a in x.get("actions", [])
        if a["status"] in OPEN
    ]
    late = [(p, a) for p, a in actions if a["due_in_days"] < 0]

    default = await page(client, "/dashboard/actions")
    by = {
        g: await page(client, f"/dashboard/actions?by={g}") for g in ("mission", "theme", "owner")
    }

    assert default.text == by["mission"].text
    for group, doc in by.items():
        assert doc.find("a", href=f"/dashboard/actions?by={group}", aria_current="page")
        assert [c["class"] for c in doc.find("svg")] == ["chart chart-bars"]
        assert tile(doc, "Overdue actions") == str(len(late))
        assert len(doc.links("/dashboard/lessons/")) == len(late)  # one per overdue action
    owners = {NAMES[a["owner"]] for _, a in actions}
    assert all(name in by["owner"].text for name in owners)
    assert all(theme in by["theme"].text for p, _ in actions for theme in p["themes"])
    oldest = min(late, key=lambda pa: pa[1]["due_in_days"])[1]
    text = by["owner"].text
    assert text.index(oldest["description"]) < min(
        text.index(a["description"]) for _, a in late if a is not oldest
    )


# Bad input ----------------------------------------------------------------------------------


BAD_INPUT = [  # (path, status, what the page says)
    ("/dashboard/lessons/abc", 404, "There is no lesson #abc."),
    ("/dashboard/lessons/0", 404, "There is no lesson #0."),
    ("/dashboard/lessons/-3", 404, "There is no lesson #-3."),
    ("/dashboard/lessons/99999999999999999999", 404, "There is no lesson"),
    ("/dashboard/lessons/%D9%A3", 404, "There is no lesson"),  # an Arabic-Indic three
    ("/dashboard/lessons?page=-1", 400, "The page must be a number"),
    ("/dashboard/lessons?page=abc", 400, "The page must be a number"),
    ("/dashboard/lessons?page=10001", 400, "The page must be a number"),
    ("/dashboard/lessons?q=" + "a" * (MAX_QUERY + 1), 400, "Searches are limited"),
    ("/dashboard/actions?by=xyz", 400, "Group actions by mission, theme or owner"),
    ("/dashboard/actions?by=", 400, "Group actions by mission, theme or owner"),
]


async def test_bad_input_gets_a_friendly_page(client: Client) -> None:
    for path, status, says in BAD_INPUT:
        doc = await page(client, URL(path, encoded=True), status=status)

        assert says in doc.text, path
        assert doc.links("/dashboard")


async def test_an_unexpected_failure_shows_a_reference_not_a_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Store.open("postgresql+psycopg://postgres@127.0.0.1:1/lessons")  # nothing listens
    client = await serve(store)
    try:
        doc = await page(client, "/dashboard", status=500)
    finally:
        await client.close()
        store.close()

    found = re.search(r"Something went wrong on our side \(reference (\w{8})\)", doc.text)
    assert found and "Traceback" not in doc.text and "psycopg" not in doc.text
    assert any(found.group(1) in r.getMessage() and r.exc_info for r in caplog.records)


async def test_hostile_searches_never_fail(client: Client) -> None:
    queries = [
        '"',
        '"unbalanced',
        "NEAR(election security)",
        "elect* OR -security AND NOT ^x",
        "title:election {col}:x",
        "'; DROP TABLE lessons; --",
        "%00 and \x00 nul",
        "\u202eevil\u202c \u200b zero-width",
        "😀 ☃ 中文 العربية",
        HOSTILE,
        "type:aar type:eoar status:nonsense since 99999",
        "a" * MAX_QUERY,
    ]
    for q in queries:
        doc = await page(client, "/dashboard/lessons?q=" + quote(q))
        assert "lesson" in doc.text
    # Raw bytes that are not UTF-8 (a lone surrogate, a stray continuation byte).
    for raw in ("%ED%A0%80", "%C3%28", "%FF"):
        await page(client, URL(f"/dashboard/lessons?q={raw}", encoded=True))
    doc = await page(client, "/dashboard/lessons?q=" + quote(HOSTILE))
    assert doc.find("input", name="q", value=HOSTILE)
