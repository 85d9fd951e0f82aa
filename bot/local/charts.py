"""Server-rendered SVG charts for the dashboard: no JavaScript, no external resources.

Every chart is an accessible image (`role="img"`, a `<title>` and a `<desc>` that states the
figures in words), scales with its container through its viewBox, escapes every label, and shows
an empty-state message rather than a broken chart when there is nothing to draw.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import date
from html import escape

# viewBox widths, close to the width each chart is shown at, so its text stays readable.
FUNNEL_WIDTH, LINE_WIDTH, BAR_WIDTH, EMPTY_WIDTH = 520, 560, 680, 520
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
INK, MUTED, GRID = "#1f2933", "#52606d", "#d9e2ec"
# The lifecycle colours of dashboard.css (--identified, --validated, --applied).
STAGE_COLOURS = ("#8a5a00", "#1d5fa8", "#1e7a3c")
OPEN_COLOUR, OVERDUE_COLOUR = "#1d5fa8", "#c2410c"
MAX_BARS = 25
LABEL_CHARS = 26


def funnel_chart(stages: Sequence[tuple[str, int]], *, title: str = "Lesson funnel") -> str:
    """Return a funnel of stages (label, count), each with its count and conversion rate."""
    if not stages or not any(n > 0 for _, n in stages):
        return empty_chart(title, "No lessons yet: nothing to show in the funnel.")
    row, top = 56, 8
    height = top + row * len(stages)
    widest = max(max(n, 0) for _, n in stages)
    left, area = 112, 260
    centre = left + area / 2
    parts, words = [], []
    for i, (label, count) in enumerate(stages):
        y = top + i * row
        width = max(2.0, area * max(count, 0) / widest) if count > 0 else 0.0
        rate = _rate(count, stages[i - 1][1]) if i else None
        colour = STAGE_COLOURS[min(i, len(STAGE_COLOURS) - 1)]
        note = f"{rate} of {stages[i - 1][0].lower()}" if rate else ("100%" if i == 0 else "—")
        parts.append(
            f'<text x="{left - 12}" y="{y + 28}" text-anchor="end" fill="{INK}" '
            f'font-weight="600">{_e(_clip(label, 16))}</text>'
            f'<rect x="{centre - width / 2:.1f}" y="{y + 6}" width="{width:.1f}" '
            f'height="{row - 16}" rx="4" fill="{colour}">'
            f"<title>{_e(label)}: {count:,} ({_e(note)})</title></rect>"
            f'<text x="{left + area + 14}" y="{y + 24}" fill="{INK}" font-weight="700" '
            f'font-size="16">{count:,}</text>'
            f'<text x="{left + area + 14}" y="{y + 42}" fill="{MUTED}" font-size="12">'
            f"{_e(note)}</text>"
        )
        words.append(f"{label} {count:,}" + (f" ({note})" if i else ""))
    return _svg("funnel", FUNNEL_WIDTH, height, title, "; ".join(words) + ".", "".join(parts))


def line_chart(
    points: Sequence[tuple[date, int]],
    title: str,
    *,
    y_label: str = "Overdue actions",
    x_label: str = "Week ending",
) -> str:
    """Return a line chart of counts over dates, with axes, tick labels and a dot per point."""
    if not points:
        return empty_chart(title, "No data yet.")
    width, height, left, right, top, bottom = LINE_WIDTH, 250, 44, 30, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    step, peak = _ticks(max(n for _, n in points))
    n = len(points)

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(v: int) -> float:
        return top + plot_h - plot_h * v / peak

    grid = "".join(
        f'<line x1="{left}" y1="{y(v):.1f}" x2="{width - right}" y2="{y(v):.1f}" '
        f'stroke="{GRID}"/><text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end" '
        f'fill="{MUTED}" font-size="12">{v:,}</text>'
        for v in range(0, peak + 1, step)
    )
    every = max(1, math.ceil(n / 6))
    ticks = "".join(
        f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle" fill="{MUTED}" '
        f'font-size="12">{_e(_day(d))}</text>'
        for i, (d, _) in enumerate(points)
        if (n - 1 - i) % every == 0
    )
    path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(points))
    dots = "".join(
        f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="4" fill="{OVERDUE_COLOUR}">'
        f"<title>{_e(_day(d, year=True))}: {v:,}</title></circle>"
        for i, (d, v) in enumerate(points)
    )
    last_d, last_v = points[-1]
    body = (
        f'<text x="{left}" y="16" fill="{MUTED}" font-size="12">{_e(y_label)}</text>{grid}'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        f'stroke="{MUTED}"/>{ticks}'
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" fill="{MUTED}" '
        f'font-size="12">{_e(x_label)}</text>'
        f'<polyline points="{path}" fill="none" stroke="{OVERDUE_COLOUR}" stroke-width="2.5" '
        f'stroke-linejoin="round"/>{dots}'
        f'<text x="{x(n - 1):.1f}" y="{y(last_v) - 10:.1f}" text-anchor="end" fill="{INK}" '
        f'font-weight="700">{last_v:,}</text>'
    )
    values = [v for _, v in points]
    desc = (
        f"{y_label} from {_day(points[0][0], year=True)} to {_day(last_d, year=True)}: "
        f"lowest {min(values):,}, highest {max(values):,}, latest {last_v:,}."
    )
    return _svg("line", width, height, title, desc, body)


def bar_chart(
    rows: Sequence[tuple[str, int, int]],
    *,
    title: str = "Open and overdue actions",
    series: tuple[str, str] = ("Open", "Overdue"),
) -> str:
    """Return paired horizontal bars per group (label, open, overdue), with a legend."""
    if not rows:
        return empty_chart(title, "No open actions: nothing is waiting.")
    shown, hidden = rows[:MAX_BARS], len(rows) - MAX_BARS
    band, top, left, area = 44, 36, 200, 400
    height = top + band * len(shown) + (24 if hidden > 0 else 4)
    widest = max(1, *(max(a, b) for _, a, b in shown))
    legend = "".join(
        f'<rect x="{left + i * 120}" y="8" width="14" height="14" rx="2" fill="{c}"/>'
        f'<text x="{left + i * 120 + 20}" y="20" fill="{INK}" font-size="13">{_e(name)}</text>'
        for i, (name, c) in enumerate(zip(series, (OPEN_COLOUR, OVERDUE_COLOUR), strict=True))
    )
    parts = [legend]
    for i, (label, first, second) in enumerate(shown):
        y = top + i * band
        parts.append(
            f'<text x="{left - 10}" y="{y + 24}" text-anchor="end" fill="{INK}">'
            f"<title>{_e(label)}</title>{_e(_clip(label, LABEL_CHARS))}</text>"
        )
        for j, (value, colour, name) in enumerate(
            ((first, OPEN_COLOUR, series[0]), (second, OVERDUE_COLOUR, series[1]))
        ):
            w = area * max(value, 0) / widest
            by = y + 4 + j * 18
            parts.append(
                f'<rect x="{left}" y="{by}" width="{w:.1f}" height="15" rx="2" fill="{colour}">'
                f"<title>{_e(label)}: {value:,} {_e(name.lower())}</title></rect>"
                f'<text x="{left + w + 6:.1f}" y="{by + 12}" fill="{INK}" font-size="12">'
                f"{value:,}</text>"
            )
    if hidden > 0:
        parts.append(
            f'<text x="{left}" y="{height - 8}" fill="{MUTED}" font-size="12">'
            f"and {hidden:,} more (see the table)</text>"
        )
    words = "; ".join(
        f"{label}: {a:,} {series[0].lower()}, {b:,} {series[1].lower()}"
        for label, a, b in rows[:10]
    )
    more = f"; and {len(rows) - 10:,} more" if len(rows) > 10 else ""
    return _svg("bars", BAR_WIDTH, height, title, words + more + ".", "".join(parts))


def empty_chart(title: str, message: str) -> str:
    """Return a small chart-sized panel that says there is nothing to draw, and why."""
    body = (
        f'<rect x="1" y="1" width="{EMPTY_WIDTH - 2}" height="78" rx="8" fill="none" '
        f'stroke="{GRID}" stroke-dasharray="6 4"/>'
        f'<text x="{EMPTY_WIDTH / 2:.0f}" y="45" text-anchor="middle" fill="{MUTED}">'
        f"{_e(message)}</text>"
    )
    return _svg("empty", EMPTY_WIDTH, 80, title, message, body)


def _svg(kind: str, width: int, height: int, title: str, desc: str, body: str) -> str:
    ident = f"{kind}-" + hashlib.blake2s(f"{title}\0{desc}".encode(), digest_size=4).hexdigest()
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="{ident}-t {ident}-d" '
        f'font-family="{_e(FONT)}" font-size="14">'
        f'<title id="{ident}-t">{_e(title)}</title><desc id="{ident}-d">{_e(desc)}</desc>'
        f"{body}</svg>"
    )


def _ticks(highest: int) -> tuple[int, int]:
    """Return a round tick step and the axis top (a multiple of it) for values up to highest."""
    highest = max(1, highest)
    raw = highest / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return int(step), int(step * math.ceil(highest / step))


def _rate(count: int, previous: int) -> str | None:
    return f"{round(100 * count / previous)}%" if previous > 0 else None


def _day(d: date, *, year: bool = False) -> str:
    return f"{d.day} {d:%b}" + (f" {d.year}" if year else "")


def _clip(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _e(value: str) -> str:
    return escape(value, quote=True)
