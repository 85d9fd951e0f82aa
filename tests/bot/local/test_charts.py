"""SVG charts: valid, accessible, escaped, self-contained, and sensible with no data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from bot.local.charts import MAX_BARS, bar_chart, empty_chart, funnel_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert('x')</script> & \" onload=\"evil() ]]> ☃"
DAY = date(2026, 11, 25)


def parse(svg: str) -> ET.Element:
    """Parse a chart and check what every chart must have: role, title, desc and viewBox."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    width, height = (float(v) for v in root.get("viewBox", "").split()[2:])
    assert width > 0 and height > 0
    title, desc = root[0], root[1]
    assert (title.tag, desc.tag) == (f"{SVG}title", f"{SVG}desc")
    assert (title.text or "").strip() and (desc.text or "").strip()
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    return root


def texts(root: ET.Element) -> list[str]:
    """Return the visible text of every <text> element, in order."""
    # A clipped label carries its full text in a <title> child: keep what is drawn.
    return [
        (t[0].tail or "") if t.find(f"{SVG}title") is not None else "".join(t.itertext())
        for t in root.iter(f"{SVG}text")
    ]


def self_contained(svg: str) -> None:
    """Check that a chart runs no script and loads nothing."""
    root = ET.fromstring(svg)
    assert not list(root.iter(f"{SVG}script"))
    for element in root.iter():
        assert not any(k.endswith("href") or k.startswith("on") for k in element.attrib)
    assert "url(" not in svg and svg.count("http") == 1  # only the xmlns


# Funnel -------------------------------------------------------------------------------------


def test_funnel_shows_counts_conversion_rates_and_proportional_bars() -> None:
    svg = funnel_chart([("Captured", 200), ("Validated", 50), ("Applied", 10)], title="Funnel")

    root = parse(svg)
    self_contained(svg)
    shown = texts(root)
    assert shown[0:3] == ["Captured", "200", "100%"]
    assert shown[3:6] == ["Validated", "50", "25% of captured"]
    assert shown[6:9] == ["Applied", "10", "20% of validated"]
    widths = [float(r.get("width", "")) for r in root.iter(f"{SVG}rect")]
    assert widths[0] / widths[1] == pytest.approx(4)
    assert widths[1] / widths[2] == pytest.approx(5, rel=1e-3)
    assert root[0].text == "Funnel"
    assert "Validated 50 (25% of captured)" in (root[1].text or "")


def test_funnel_keeps_a_tiny_stage_visible_and_a_zero_stage_empty() -> None:
    root = parse(funnel_chart([("Captured", 10_000), ("Validated", 1), ("Applied", 0)]))

    widths = [float(r.get("width", "")) for r in root.iter(f"{SVG}rect")]
    assert widths[1] >= 2 and widths[2] == 0
    assert "0% of validated" in texts(root)


@pytest.mark.parametrize("stages", [[], [("Captured", 0), ("Validated", 0)]])
def test_funnel_without_lessons_says_so(stages: list[tuple[str, int]]) -> None:
    root = parse(funnel_chart(stages))

    assert texts(root) == ["No lessons yet: nothing to show in the funnel."]
    assert "chart-empty" in root.get("class", "")


def test_funnel_escapes_hostile_labels() -> None:
    svg = funnel_chart([(HOSTILE, 3), ("ok", 1)], title=HOSTILE)

    root = parse(svg)
    self_contained(svg)
    assert "<script>" not in svg
    assert root[0].text == HOSTILE
    assert any(HOSTILE in (t.text or "") for t in root.iter(f"{SVG}title"))


# Line chart ---------------------------------------------------------------------------------


def weeks(values: list[int]) -> list[tuple[date, int]]:
    """Return weekly points ending on DAY."""
    n = len(values)
    return [(DAY - timedelta(weeks=n - 1 - i), v) for i, v in enumerate(values)]


def test_line_chart_has_a_dot_per_point_axis_labels_and_a_summary() -> None:
    points = weeks([0, 3, 7, 2, 12, 5])

    svg = line_chart(points, "Overdue actions")

    root = parse(svg)
    self_contained(svg)
    dots = list(root.iter(f"{SVG}circle"))
    assert len(dots) == len(points)
    assert [d[0].text for d in dots] == [f"{d.day} {d:%b %Y}: {v}" for d, v in points]
    heights = [float(d.get("cy", "")) for d in dots]
    assert heights.index(min(heights)) == 4  # the highest value is drawn highest
    assert heights[0] == max(heights)  # zero sits on the axis
    shown = texts(root)
    assert "25 Nov" in shown and "Week ending" in shown and "Overdue actions" in shown
    assert {"0", "5", "10", "15"} <= set(shown)  # round y ticks up to the peak
    assert "lowest 0, highest 12, latest 5" in (root[1].text or "")


def test_line_chart_of_zeros_is_still_a_chart() -> None:
    root = parse(line_chart(weeks([0, 0, 0]), "Overdue"))

    assert len(list(root.iter(f"{SVG}circle"))) == 3
    assert "1" in texts(root)  # the axis still has a scale


def test_line_chart_with_one_point_centres_it() -> None:
    root = parse(line_chart(weeks([4]), "Overdue"))

    (dot,) = root.iter(f"{SVG}circle")
    left, width = 44, 560 - 44 - 30
    assert float(dot.get("cx", "")) == pytest.approx(left + width / 2, abs=0.1)


def test_line_chart_without_points_says_so() -> None:
    root = parse(line_chart([], "Overdue"))

    assert texts(root) == ["No data yet."]


def test_line_chart_escapes_hostile_titles() -> None:
    svg = line_chart(weeks([1, 2]), HOSTILE, y_label=HOSTILE, x_label=HOSTILE)

    root = parse(svg)
    assert root[0].text == HOSTILE and texts(root).count(HOSTILE) == 2


# Bars ---------------------------------------------------------------------------------------


def test_bar_chart_draws_open_and_overdue_per_group_with_a_legend() -> None:
    rows = [("MINUSCA", 12, 8), ("UNMISS", 6, 0)]

    svg = bar_chart(rows, title="By mission")

    root = parse(svg)
    self_contained(svg)
    rects = list(root.iter(f"{SVG}rect"))
    legend, bars = rects[:2], rects[2:]
    assert len(bars) == 4
    assert legend[0].get("fill") == bars[0].get("fill") == bars[2].get("fill")
    assert legend[1].get("fill") == bars[1].get("fill") != legend[0].get("fill")
    widths = [float(b.get("width", "")) for b in bars]
    assert widths[0] / widths[2] == pytest.approx(2)
    assert widths[0] / widths[1] == pytest.approx(1.5, rel=1e-3)
    assert widths[3] == 0
    assert [b[0].text for b in bars[:2]] == ["MINUSCA: 12 open", "MINUSCA: 8 overdue"]
    assert texts(root)[:2] == ["Open", "Overdue"]
    assert root[1].text == "MINUSCA: 12 open, 8 overdue; UNMISS: 6 open, 0 overdue."


def test_bar_chart_clips_long_labels_but_keeps_them_in_full_for_tooltips() -> None:
    label = "A very long owner name that would not fit in the label column"

    root = parse(bar_chart([(label, 1, 1)]))

    (shown,) = (t for t in texts(root) if t.startswith("A very"))
    assert shown.endswith("…") and len(shown) <= 26
    assert any(t.text == label for t in root.iter(f"{SVG}title"))


def test_bar_chart_of_many_groups_shows_the_first_and_counts_the_rest() -> None:
    rows = [(f"group {i}", 50 - i, 1) for i in range(MAX_BARS + 7)]

    root = parse(bar_chart(rows))

    assert len(list(root.iter(f"{SVG}rect"))) == 2 + 2 * MAX_BARS
    assert "and 7 more (see the table)" in texts(root)
    assert (root[1].text or "").endswith(f"and {MAX_BARS - 3} more.")


def test_bar_chart_without_rows_says_so() -> None:
    root = parse(bar_chart([]))

    assert texts(root) == ["No open actions: nothing is waiting."]


def test_bar_chart_escapes_hostile_labels() -> None:
    svg = bar_chart([(HOSTILE, 2, 1)], title=HOSTILE, series=(HOSTILE, "late"))

    root = parse(svg)
    self_contained(svg)
    assert "<script>" not in svg
    assert HOSTILE in texts(root)  # the legend
    assert any((t.text or "").startswith(HOSTILE + ":") for t in root.iter(f"{SVG}title"))


def test_empty_chart_escapes_its_message() -> None:
    root = parse(empty_chart(HOSTILE, HOSTILE))

    assert texts(root) == [HOSTILE] and root[0].text == root[1].text == HOSTILE


def test_two_charts_on_one_page_have_distinct_ids() -> None:
    first = parse(line_chart(weeks([1]), "Overdue"))
    second = parse(line_chart(weeks([2]), "Overdue"))

    assert first[0].get("id") != second[0].get("id")
