"""The Recommendations page's why charts (ui/html_charts.py): bars where the numbers say."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ui import html_charts  # noqa: E402


def _bars(html: str) -> list[tuple[float, float, str, str]]:
    """(left %, width %, background, tooltip) of every bar."""
    out = []
    for m in re.finditer(r'<div style="([^"]*)" title="([^"]*)">', html):
        style, tip = m.groups()
        left = re.search(r"left:([-\d.]+)%", style)
        width = re.search(r"width:max\(([-\d.]+)%", style)
        if left and width:
            out.append((float(left.group(1)), float(width.group(1)), re.search(r"background:([^;]*)", style).group(1), tip))
    return out


def _diamonds(html: str) -> list[tuple[float, str]]:
    return [(float(p), tip) for p, tip in re.findall(r'left:calc\(([-\d.]+)% - 6px\)[^"]*" title="([^"]*)"', html)]


def test_nice_ticks_are_round_and_inside_the_range():
    assert html_charts.nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert html_charts.nice_ticks(-0.3, 1.2) == [0.0, 0.5, 1.0]
    assert html_charts.nice_ticks(-0.45, 0.1) == [-0.4, -0.2, 0.0]
    assert html_charts.nice_ticks(0.0, 0.0) == [0.0]


def test_why_chart_stacks_models_right_of_zero_and_a_penalty_left_of_it():
    frame = pd.DataFrame({
        "rank": [1, 2], "item_id": ["A", "B"],
        "score_breakdown": [{"model:als": 0.6, "model:repeat": 0.2},
                            {"model:als": 0.5, "rerank:price_sensitivity": -0.25}],
    })
    html = html_charts.why_chart(frame)
    bars = _bars(html)
    assert [b[3] for b in bars] == ["#1 A · ALS: +0.600", "#1 A · Buy again: +0.200",
                                    "#2 B · ALS: +0.500", "#2 B · price penalty: -0.250"]
    scale = html_charts.Scale(-0.25, 0.8)
    zero = scale(0.0)
    a_als, a_rep, b_als, b_pen = bars
    assert a_als[0] == pytest.approx(zero, abs=0.01)                      # starts at zero
    assert a_rep[0] == pytest.approx(a_als[0] + a_als[1], abs=0.02)       # stacked on the first
    assert a_rep[1] / a_als[1] == pytest.approx(0.2 / 0.6, rel=0.01)      # widths follow the values
    assert b_pen[0] + b_pen[1] == pytest.approx(zero, abs=0.02)           # a penalty ends at zero: left of it
    assert "repeating-linear-gradient" in b_pen[2] and "repeating" not in b_als[2]  # steps hatched, models solid
    finals = _diamonds(html)
    assert [t for _, t in finals] == ["#1 A · final score 0.800", "#2 B · final score 0.250"]
    assert finals[0][0] == pytest.approx(scale(0.8), abs=0.01)
    assert "price penalty" in html and "final score" in html  # the legend


def test_a_step_that_changed_nothing_is_left_out():
    frame = pd.DataFrame({"rank": [1], "item_id": ["A"],
                          "score_breakdown": [{"model:als": 0.4, "rerank:upsell": 0.0}]})
    html = html_charts.why_chart(frame)
    assert "upsell" not in html


def test_waterfall_builds_the_score_step_by_step_and_ends_on_the_total():
    html = html_charts.waterfall({"model:als": 0.5, "model:popularity": 0.25, "rerank:due_boost": -0.125}, "X1")
    bars = _bars(html)
    assert [b[3] for b in bars] == ["ALS: +0.500", "Popularity: +0.250", "due for repurchase: -0.125",
                                    "final score: 0.625"]
    als, pop, due, total = bars
    assert pop[0] == pytest.approx(als[0] + als[1], abs=0.02)          # starts where ALS ended
    assert due[0] + due[1] == pytest.approx(pop[0] + pop[1], abs=0.02)  # a decrease ends where the last ended
    assert total[0] == pytest.approx(als[0], abs=0.01)                  # the total from zero ...
    assert total[1] == pytest.approx((0.625 / 0.5) * als[1], rel=0.01)  # ... as long as the sum
    assert "How the score of X1 was built" in html


def test_text_is_escaped():
    frame = pd.DataFrame({"rank": [1], "item_id": ['<b>"x"</b>'], "score_breakdown": [{"model:als": 0.4}]})
    html = html_charts.why_chart(frame)
    assert "<b>" not in html and "&lt;b&gt;" in html
