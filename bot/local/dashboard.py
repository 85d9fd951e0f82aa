"""The read-only knowledge dashboard at /dashboard: lessons, actions and learning metrics.

Server-rendered HTML with inline SVG charts and no JavaScript. Everything is computed for the
person the local chat acts as (cookie `lessons_as`), so restricted lessons reach only their
audience here as in chat; without that cookie the dashboard shows what anyone may see.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from urllib.parse import unquote, urlencode, urlsplit

from aiohttp import web

from bot.keys import STORE
from bot.local import charts
from knowledge.errors import NotFound
from knowledge.models import LessonStatus
from knowledge.reports import (
    GROUPINGS,
    Browse,
    GroupBy,
    LessonPage,
    OverdueAction,
    Reports,
    UnansweredQuestion,
)
from knowledge.search.answer import Viewer
from knowledge.search.query import Query

log = logging.getLogger(__name__)

AS_COOKIE = "lessons_as"
MAX_QUERY = 500
MAX_PAGE = 10_000
MAX_ID = 2**31 - 1
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
NAV = (
    ("chat", "/", "Chat"),
    ("overview", "/dashboard", "Dashboard"),
    ("lessons", "/dashboard/lessons", "Lessons"),
    ("actions", "/dashboard/actions", "Actions"),
)
BADGES = {"identified": "◔", "validated": "◑", "applied": "●", "rejected": "○"}
GROUP_NAMES = {"mission": "Mission", "theme": "Theme", "owner": "Owner"}
HINTS = ("type:aar", "mission:MINUSCA", "since 2023", "#gender", "status:applied")


class BadRequest(Exception):
    """A query parameter the dashboard cannot use; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Visit:
    """Who is looking, and the reports computed for them."""

    reports: Reports
    viewer: Viewer
    name: str | None


@dataclass(frozen=True, slots=True)
class Page:
    """A rendered page body with its title and the nav entry it belongs to."""

    title: str
    body: str
    active: str


View = Callable[[web.Request, Visit], Awaitable[Page]]


def add_routes(app: web.Application) -> None:
    """Mount the dashboard pages (GET only); the app must hold the Store under STORE."""
    app.router.add_get("/dashboard", _handler(overview))
    app.router.add_get("/dashboard/lessons", _handler(lessons))
    app.router.add_get("/dashboard/lessons/{id}", _handler(lesson))
    app.router.add_get("/dashboard/actions", _handler(actions))


def _handler(view: View) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap a view: resolve the viewer, render the layout, turn errors into friendly pages."""

    async def handle(request: web.Request) -> web.Response:
        visit: Visit | None = None
        try:
            visit = await _visit(request)
            return _respond(await view(request, visit), visit)
        except BadRequest as error:
            return _respond(_problem("That request did not work", str(error)), visit, 400)
        except NotFound as error:
            return _respond(_problem("Not found", error.message), visit, 404)
        except Exception:  # show a reference, not a stack trace; the log has the details
            ref = uuid.uuid4().hex[:8]
            log.exception("dashboard error (reference %s) on %s", ref, request.path)
            text = f"Something went wrong on our side (reference {ref})."
            return _respond(_problem("Something went wrong", text), visit, 500)

    return handle


async def _visit(request: web.Request) -> Visit:
    """Return who is looking: the local chat's acting-as person, or anyone."""
    store = request.app[STORE]
    reports = Reports(store)
    email = unquote(request.cookies.get(AS_COOKIE, ""), errors="replace").strip()
    if email and len(email) <= 320 and _clean(email) == email:
        person_id = await store.person_for("local", email)
        if person_id is not None:
            try:
                viewer = await store.viewer_for(person_id)
            except NotFound:  # removed from the directory since the lookup
                return Visit(reports, await store.viewer_for(None), None)
            return Visit(reports, viewer, await reports.person_name(person_id))
    return Visit(reports, await store.viewer_for(None), None)


# Pages --------------------------------------------------------------------------------------


async def overview(request: web.Request, visit: Visit) -> Page:
    """Show the learning metrics: stat tiles, funnel, median days, overdue trend, questions."""
    r, v = visit.reports, visit.viewer
    funnel, median, trend, questions, board = await asyncio.gather(
        r.funnel(v),
        r.median_days_to_apply(v),
        r.overdue_over_time(v),
        r.unanswered_questions(),
        r.actions_board(v, "mission", limit=1),
    )
    share = (
        f"{round(100 * funnel.applied / funnel.captured)}% of captured" if funnel.captured else ""
    )
    tiles = "".join(
        (
            _tile("Lessons captured", f"{funnel.captured:,}", f"{funnel.rejected:,} rejected"),
            _tile("Lessons applied", f"{funnel.applied:,}", share),
            _tile(
                "Median days to apply",
                "—" if median is None else f"{median:,.0f}",
                "from identified to applied",
            ),
            _tile("Open actions", f"{board.total_open:,}", "not yet done"),
            _tile("Overdue actions", f"{board.total_overdue:,}", "past their due date"),
        )
    )
    weeks = len(trend)
    body = (
        "<h1>Learning at a glance</h1>"
        f'<section class="tiles" aria-label="Key figures">{tiles}</section>'
        '<div class="grid"><section class="card"><h2>From captured to applied</h2>'
        f"{charts.funnel_chart(funnel.stages(), title='Lesson funnel')}"
        '<p class="note">A lesson is only learned once a change has been applied. '
        f"Rejected lessons ({funnel.rejected:,}) count as captured.</p></section>"
        f'<section class="card"><h2>Overdue actions, last {weeks} weeks</h2>'
        f"{charts.line_chart(trend, f'Overdue actions at the end of each week ({weeks} weeks)')}"
        '<p class="note"><a href="/dashboard/actions">See who and what is overdue</a></p>'
        "</section></div>"
        '<section class="card"><h2>Questions without a good answer</h2>'
        f"{_questions(questions)}</section>"
    )
    return Page("Dashboard", body, "overview")


async def lessons(request: web.Request, visit: Visit) -> Page:
    """Browse lessons: the newest first, or search with the same filters as chat."""
    raw = request.query.get("q", "")
    if len(raw) > MAX_QUERY:
        raise BadRequest(f"Searches are limited to {MAX_QUERY} characters; try a shorter one.")
    page = _page_number(request.query.get("page"))
    found = await visit.reports.browse(visit.viewer, _clean(raw), page)
    hints = ", ".join(f"<code>{_e(h)}</code>" for h in HINTS)
    body = (
        "<h1>Lessons</h1>"
        '<form class="search" method="get" action="/dashboard/lessons" role="search">'
        '<label for="q">Search lessons</label>'
        f'<input id="q" name="q" type="search" value="{_e(found.text)}" maxlength="{MAX_QUERY}" '
        'placeholder="e.g. election security in MINUSCA since 2022">'
        '<button type="submit">Search</button></form>'
        f'<p class="hint">Filters work as in chat: {hints}.</p>'
        f"{_summary(found)}{_lesson_list(found)}{_pager(found)}"
    )
    return Page("Lessons", body, "lessons")


async def lesson(request: web.Request, visit: Visit) -> Page:
    """Show one lesson: lifecycle, text, source product, actions and history."""
    raw = request.match_info["id"]
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID):
        raise NotFound(f"There is no lesson #{raw}.")
    p = await visit.reports.lesson_page(visit.viewer, int(raw))
    texts = "".join(
        f"<h2>{name}</h2><p>{_e(value)}</p>"
        for name, value in (
            ("Observation", p.observation),
            ("Lesson", p.lesson),
            ("Recommendation", p.recommendation),
        )
        if value.strip()
    )
    votes = f"{p.helpful:,} found it helpful · {p.not_helpful:,} did not"
    body = (
        '<p class="crumbs"><a href="/dashboard/lessons">Lessons</a> / '
        f"lesson #{p.lesson_id}</p>"
        f"<h1>{_e(p.title)} {_badge(p.status.value)}</h1>"
        f"{_stepper(p)}"
        f'<div class="grid"><section class="card text">{texts}'
        f'<p class="note">{votes}</p></section>'
        f'<section class="card"><h2>Source product</h2>{_product(p)}</section></div>'
        f'<section class="card"><h2>Actions{_progress(p)}</h2>{_lesson_actions(p)}</section>'
        f'<section class="card"><h2>History</h2>{_history(p)}</section>'
    )
    return Page(p.title, body, "lessons")


async def actions(request: web.Request, visit: Visit) -> Page:
    """Show open and overdue actions by mission, theme or owner, and the overdue list."""
    by = request.query.get("by", "mission")
    if by not in GROUPINGS:
        raise BadRequest("Group actions by mission, theme or owner (for example ?by=owner).")
    group: GroupBy = by
    board = await visit.reports.actions_board(visit.viewer, group)
    tabs = "".join(
        f'<a href="/dashboard/actions?by={g}"{_current(g == by)}>By {g}</a>' for g in GROUPINGS
    )
    name = GROUP_NAMES[by]
    table = _table(
        (name, "Open", "Overdue"),
        ((_e(r.group), f"{r.open:,}", f"{r.overdue:,}") for r in board.rows),
        empty="No open actions.",
    )
    chart = charts.bar_chart(
        [(r.group, r.open, r.overdue) for r in board.rows],
        title=f"Open and overdue actions by {by}",
    )
    body = (
        "<h1>Actions board</h1>"
        f'<nav class="tabs" aria-label="Group by">{tabs}</nav>'
        '<section class="tiles" aria-label="Key figures">'
        f"{_tile('Open actions', f'{board.total_open:,}', 'not yet done')}"
        f"{_tile('Overdue actions', f'{board.total_overdue:,}', 'past their due date')}</section>"
        f'<section class="card"><h2>By {by}</h2>{chart}'
        f"<details><summary>The same figures as a table</summary>{table}</details></section>"
        f'<section class="card"><h2>Overdue actions</h2>{_overdue_table(board.overdue)}</section>'
    )
    return Page("Actions", body, "actions")


# Fragments ----------------------------------------------------------------------------------


def _questions(questions: Iterable[UnansweredQuestion]) -> str:
    rows = []
    for q in questions:
        why = f"{q.not_helpful:,} of {q.helpful + q.not_helpful:,} votes: not helpful"
        if q.no_answer * 2 > q.asked:
            why = f"found nothing {q.no_answer:,} of {q.asked:,} times"
        if q.no_answer == q.asked:
            why = "found nothing"
        link = "/dashboard/lessons?" + urlencode({"q": q.text})
        rows.append(
            (
                f'<a href="{_e(link)}">{_e(q.text)}</a>',
                f"{q.asked:,}",
                _when(q.last_asked),
                _e(why),
            )
        )
    return _table(
        ("Question", "Asked", "Last asked", "Why"), rows, empty="No unanswered questions yet."
    )


def _summary(found: Browse) -> str:
    if not found.text:
        return f'<p class="summary">{found.total:,} lessons, newest first.</p>'
    parts = [f"{found.total:,} lesson{'s' * (found.total != 1)} for “{_e(found.text)}”"]
    if found.query is not None and found.query.relaxed:
        parts.append("nothing matched your type, mission, status or date, so without them")
    if found.did_you_mean:
        link = "/dashboard/lessons?" + urlencode({"q": found.did_you_mean})
        parts.append(f'searched for <a href="{_e(link)}">{_e(found.did_you_mean)}</a>')
    filters = _filters(found.query) if found.query is not None else []
    chips = "".join(f'<li class="chip">{_e(f)}</li>' for f in filters)
    listed = f'<ul class="chips" aria-label="Filters">{chips}</ul>' if chips else ""
    return f'<p class="summary">{"; ".join(parts)}.</p>{listed}'


def _filters(query: Query) -> list[str]:
    found = [f"type: {t.label}" for t in sorted(query.types)]
    found += [f"mission: {m}" for m in sorted(query.missions)]
    found += [f"#{t}" for t in sorted(query.themes)]
    found += [f"status: {s.value}" for s in sorted(query.statuses)]
    found += [f"since {query.since.isoformat()}"] if query.since else []
    found += [f"until {query.until.isoformat()}"] if query.until else []
    return found + [f"note: {n}" for n in query.notes]


def _lesson_list(found: Browse) -> str:
    if not found.rows:
        if found.page > 1:
            first = "/dashboard/lessons?" + urlencode({"q": found.text} if found.text else {})
            back = f'<a href="{_e(first)}">Back to page 1</a>'
            return f'<p class="empty">No lessons on this page. {back}.</p>'
        return '<p class="empty">No lessons match. Try fewer words or filters.</p>'
    items = "".join(
        f'<li><h2><a href="/dashboard/lessons/{r.lesson_id}">{_e(r.title)}</a></h2>'
        f'<p class="meta">{_badge(r.status.value)} {_e(r.product_type.label)} · '
        f"{_e(r.mission or '—')} · {_when(r.date)}</p><p>{_e(r.takeaway)}</p></li>"
        for r in found.rows
    )
    return f'<ol class="lessons">{items}</ol>'


def _pager(found: Browse) -> str:
    if found.pages <= 1:
        return ""

    def link(page: int, label: str, rel: str) -> str:
        query = urlencode({"q": found.text, "page": page} if found.text else {"page": page})
        return f'<a rel="{rel}" href="/dashboard/lessons?{_e(query)}">{label}</a>'

    prev = link(found.page - 1, "← Previous", "prev") if found.page > 1 else ""
    following = link(found.page + 1, "Next →", "next") if found.page < found.pages else ""
    where = f"<span>Page {found.page:,} of {found.pages:,}</span>"
    return f'<nav class="pager" aria-label="Pages">{prev}{where}{following}</nav>'


def _stepper(p: LessonPage) -> str:
    steps = (
        ("identified", "Identified", p.identified_at),
        ("validated", "Validated", p.validated_at),
        ("applied", "Applied", p.applied_at),
    )
    reached = {"identified": 0, "validated": 1, "applied": 2}.get(p.status.value, -1)
    items = []
    for i, (key, label, at) in enumerate(steps):
        state = "done" if i < reached else "current" if i == reached else "todo"
        when = _when(at) if at and i <= reached else "not yet"
        current = ' aria-current="step"' if i == reached else ""
        items.append(
            f'<li class="step {state} step-{key}"{current}><span class="dot" aria-hidden="true">'
            f"</span><strong>{label}</strong><span>{when}</span></li>"
        )
    rejected = ""
    if p.status.value == "rejected":
        reason = f": {_e(p.rejection_reason)}" if p.rejection_reason else ""
        rejected = f'<p class="rejected">Rejected {_when(p.rejected_at)}{reason}</p>'
    by = f'<p class="note">Validated by {_e(p.validated_by)}.</p>' if p.validated_by else ""
    label = "Lifecycle: identified, validated, applied"
    return f'<ol class="stepper" aria-label="{label}">{"".join(items)}</ol>{rejected}{by}'


def _product(p: LessonPage) -> str:
    url = p.source_url or ""
    safe = urlsplit(url).scheme in ("http", "https")
    title = f'<a href="{_e(url)}" rel="noreferrer">{_e(p.product_title)}</a>' if safe else ""
    rows = [
        ("Type", _e(p.product_type.label)),
        ("Title", title or _e(p.product_title)),
        ("Date", _when(p.date)),
        ("Mission", _e(p.mission or "—")),
        ("Authors", _e(", ".join(p.authors) or "—")),
        ("Themes", _e(", ".join(f"#{t}" for t in p.themes) or "—")),
    ]
    if p.audience:
        rows.append(("Restricted to", _e(", ".join(p.audience))))
    if p.summary.strip():
        rows.append(("Summary", _e(p.summary)))
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<dl class="facts">{items}</dl>'


def _progress(p: LessonPage) -> str:
    done, total = p.progress
    return f" — {done} of {total} done" if total else ""


def _lesson_actions(p: LessonPage) -> str:
    rows = [
        (
            _e(a.description),
            _e(a.owner or "Unassigned"),
            _when(a.due_date) + (' <span class="late">overdue</span>' if a.overdue else ""),
            _action_badge(a.status.value),
            _when(a.closed_at) if a.closed_at else "—",
        )
        for a in p.actions
    ]
    rows += [
        (
            _e(w.description),
            _e(w.owner or "Unassigned"),
            _when(w.due_date),
            "proposed, waiting for its owner",
            "—",
        )
        for w in p.waiting
    ]
    if p.status in (LessonStatus.VALIDATED, LessonStatus.APPLIED):
        empty = (
            "No actions yet. Its validator, its authors and the mission's PBPOs add them with "
            "“Add actions” in chat (or `lessons action add` from the shell)."
        )
    else:
        empty = "No actions yet: they are added once the lesson is validated."
    headers = ("Action", "Owner", "Due", "Status", "Closed")
    return _table(headers, rows, empty=empty)


def _history(p: LessonPage) -> str:
    if not p.events:
        return '<p class="empty">No recorded changes since the lesson was imported.</p>'
    items = "".join(
        f"<li>{_when(e.at)}: {_e(e.from_status or 'new')} → {_badge(e.to_status)}"
        f"{' by ' + _e(e.actor) if e.actor else ''}{' — ' + _e(e.note) if e.note else ''}</li>"
        for e in p.events
    )
    return f'<ol class="history">{items}</ol>'


def _overdue_table(overdue: Iterable[OverdueAction]) -> str:
    rows = []
    for a in overdue:
        rows.append(
            (
                _e(a.description),
                _e(a.owner or "Unassigned"),
                _when(a.due_date),
                f"{a.days_overdue:,}",
                f'<a href="/dashboard/lessons/{a.lesson_id}">{_e(a.lesson_title)}</a>',
                _e(a.mission or "—"),
            )
        )
    headers = ("Action", "Owner", "Due", "Days overdue", "Lesson", "Mission")
    return _table(headers, rows, empty="Nothing is overdue.")


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], *, empty: str) -> str:
    """Return a table of already-escaped cells, or the empty message when there are no rows."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{_e(empty)}</p>'
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _tile(label: str, value: str, note: str) -> str:
    return (
        f'<div class="tile"><span class="label">{_e(label)}</span>'
        f'<strong class="value">{_e(value)}</strong><span class="note">{_e(note)}</span></div>'
    )


# Layout and helpers -------------------------------------------------------------------------


def _respond(page: Page, visit: Visit | None, status: int = 200) -> web.Response:
    who = (
        f"Viewing as <strong>{_e(visit.name)}</strong>"
        if visit and visit.name
        else "Viewing as a guest: restricted lessons are hidden"
    )
    nav = "".join(
        f'<a href="{href}"{_current(key == page.active)}>{label}</a>' for key, href, label in NAV
    )
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(page.title)} · Lessons dashboard</title>"
        '<link rel="stylesheet" href="/static/dashboard.css"></head><body>'
        '<a class="skip" href="#main">Skip to content</a>'
        f'<header class="top"><nav aria-label="Main">{nav}</nav><p class="who">{who}</p></header>'
        f'<main id="main">{page.body}</main>'
        "<footer><p>Lessons Bot · read-only dashboard</p></footer></body></html>"
    )
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Vary"] = "Cookie"
    return response


def _problem(title: str, message: str) -> Page:
    body = (
        f'<h1>{_e(title)}</h1><p class="problem">{_e(message)}</p>'
        '<p><a href="/dashboard">Back to the dashboard</a> · '
        '<a href="/dashboard/lessons">Browse lessons</a></p>'
    )
    return Page(title, body, "")


def _page_number(raw: str | None) -> int:
    if raw is None or raw == "":
        return 1
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequest(f"The page must be a number from 1 to {MAX_PAGE:,}.")
    return int(raw)


def _clean(text: str) -> str:
    """Drop control characters and lone surrogates; tabs and newlines become spaces."""
    text = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    return "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cs"))


def _badge(status: str) -> str:
    symbol = BADGES.get(status, "")
    return f'<span class="badge badge-{_e(status)}">{symbol} {_e(status)}</span>'


def _action_badge(status: str) -> str:
    return f'<span class="badge action-{_e(status)}">{_e(status.replace("_", " "))}</span>'


def _when(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    day = value.date() if isinstance(value, datetime) else value
    return f'<time datetime="{day.isoformat()}">{day.day} {day:%b %Y}</time>'


def _current(active: bool) -> str:
    return ' aria-current="page"' if active else ""


def _e(value: str) -> str:
    return escape(value, quote=True)
