"""Light charts for the knob path: the Recommendations page's "why" as plain HTML and CSS.

Every knob move redraws them. As Plotly figures (ui/charts.py, still used by the Basket page)
they cost ~0.15 s of the browser's main thread per move (plotly.js re-plotting two figures) plus
their validation on the server; these are
a string of positioned `<div>`s built in a millisecond, swapped in by the browser without a
charting library (benchmarks/bench_browser.py measures it). Positions are percentages, so the
charts fit any column width with text at the page's size; hover text is the `title` attribute.
Shown with `st.html` (DOMPurify's HTML profile: no SVG, no script, inline styles kept).
"""
from __future__ import annotations

import math
from html import escape

import pandas as pd

from ui.charts import _parts as breakdown_parts  # the order the Plotly why charts use too (Basket page)
from ui.charts import model_colours, palette, part_label

MUTED = "#6b7280"
GRID = "#d8dce2"
FINAL = "#1f2937"
ROW_PX = 18


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values inside [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _tick_label(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) > 1e-12 else "0"


class Scale:
    """Data values to percentages of the plot's width, zero always inside, a little room beyond."""

    def __init__(self, lo: float, hi: float, pad: float = 0.04) -> None:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi - lo < 1e-12:
            hi = lo + 1.0
        span = hi - lo
        self.lo = lo - pad * span if lo < 0 else lo
        self.hi = hi + pad * span

    def __call__(self, v: float) -> float:
        return (v - self.lo) / (self.hi - self.lo) * 100.0


def _style(**css) -> str:
    return ";".join(f"{k.replace('_', '-')}:{v}" for k, v in css.items())


def _div(style: str, inner: str = "", tip: str | None = None) -> str:
    title = f' title="{escape(tip)}"' if tip else ""
    return f'<div style="{style}"{title}>{inner}</div>'


def _fill(colour: str, hatched: bool) -> str:
    """A solid colour, or a diagonal hatch of it (re-ranking steps are hatched, models solid)."""
    if not hatched:
        return colour
    return f"repeating-linear-gradient(45deg,{colour} 0 3px,{colour}40 3px 6px)"


def _bar(scale: Scale, a: float, b: float, background: str, tip: str) -> str:
    left, right = scale(min(a, b)), scale(max(a, b))
    return _div(_style(position="absolute", top="0", bottom="0", left=f"{left:.2f}%",
                       width=f"max({right - left:.2f}%, 1px)", background=background), tip=tip)


def _diamond(scale: Scale, v: float, tip: str) -> str:
    return _div(_style(position="absolute", top="3px", left=f"calc({scale(v):.2f}% - 6px)", width="11px",
                       height="11px", transform="rotate(45deg)", background=FINAL, border="1px solid white",
                       box_sizing="border-box"), tip=tip)


def _grid(scale: Scale, rows: int, title: str, zero: bool = True) -> tuple[str, str]:
    """(gridlines behind the bars, the axis row under them)."""
    ticks = nice_ticks(scale.lo, scale.hi)
    lines = "".join(_div(_style(position="absolute", top="0", bottom="0", left=f"{scale(t):.2f}%",
                                border_left=f"1px solid {GRID}")) for t in ticks)
    if zero:
        lines += _div(_style(position="absolute", top="0", bottom="0", left=f"{scale(0.0):.2f}%",
                             border_left=f"1px solid {MUTED}"))
    behind = _div(_style(grid_column="2", grid_row=f"1 / {rows + 1}", align_self="stretch", position="relative",
                         margin="-3px 0"), lines)
    labels = "".join(_div(_style(position="absolute", top="0", left=f"{scale(t):.2f}%", transform="translateX(-50%)",
                                 white_space="nowrap"), _tick_label(t)) for t in ticks)
    axis = (_div(_style(grid_column="1", grid_row=str(rows + 1)))
            + _div(_style(grid_column="2", grid_row=str(rows + 1), position="relative", height="2.6em", color=MUTED),
                   labels + _div(_style(position="absolute", top="1.35em", left="0", right="0",
                                        text_align="center"), escape(title))))
    return behind, axis


def _chart(rows_html: str, label: str) -> str:
    return _div(_style(display="grid", grid_template_columns="max-content minmax(0, 1fr)", column_gap="8px",
                       row_gap="6px", align_items="center", font_size="0.8rem", line_height="1.2",
                       margin="0.25rem 0"), rows_html).replace("<div", f'<div role="img" aria-label="{escape(label)}"', 1)


def _legend(entries: list[tuple[str, str]]) -> str:
    swatch = lambda bg, diamond: _div(_style(width="11px", height="11px", border_radius="2px", background=bg,  # noqa: E731
                                             flex="none", transform="rotate(45deg) scale(0.85)" if diamond else "none"))
    items = "".join(_div(_style(display="flex", align_items="center", gap="5px"), swatch(bg, name == "final score")
                         + escape(name)) for name, bg in entries)
    return _div(_style(display="flex", flex_wrap="wrap", gap="2px 14px", font_size="0.8rem", margin_bottom="4px"), items)


def _row(i: int, label: str, track: str, bold: bool = False) -> str:
    head = _div(_style(grid_column="1", grid_row=str(i + 1), text_align="right", white_space="nowrap",
                       font_weight="600" if bold else "400"), escape(label))
    return head + _div(_style(grid_column="2", grid_row=str(i + 1), position="relative", height=f"{ROW_PX}px"), track)


def why_chart(recs: pd.DataFrame) -> str:
    """Each item's score as stacked contributions: models (solid) and re-ranking steps (hatched,
    left of zero when they lowered it); the diamond is the final score."""
    colours = model_colours()
    names = [f"#{r} {item}" for r, item in zip(recs["rank"], recs["item_id"])]
    breakdowns = [dict(b) for b in recs["score_breakdown"]]
    parts = [p for p in breakdown_parts(breakdowns)
             if p.startswith("model:") or any(abs(b.get(p, 0.0)) > 1e-9 for b in breakdowns)]
    fills = {p: _fill(colours.get(p.split(":", 1)[1], MUTED), p.startswith("rerank:")) for p in parts}
    finals = [sum(b.values()) for b in breakdowns]
    scale = Scale(min([sum(v for v in b.values() if v < 0) for b in breakdowns] + finals + [0.0]),
                  max([sum(v for v in b.values() if v > 0) for b in breakdowns] + finals + [0.0]))

    behind, axis = _grid(scale, len(names), "score contribution")
    rows = []
    for i, (name, b, final) in enumerate(zip(names, breakdowns, finals)):
        up = down = 0.0
        bars = []
        for part in parts:
            v = float(b.get(part, 0.0))
            if abs(v) <= 1e-12:
                continue
            start = up if v > 0 else down + v
            up, down = (up + v, down) if v > 0 else (up, down + v)
            bars.append(_bar(scale, start, start + abs(v), fills[part], f"{name} · {part_label(part)}: {v:+.3f}"))
        bars.append(_diamond(scale, final, f"{name} · final score {final:.3f}"))
        rows.append(_row(i, name, "".join(bars)))
    legend = _legend([(part_label(p), fills[p]) for p in parts] + [("final score", FINAL)])
    return legend + _chart(behind + "".join(rows) + axis, "Score contributions of each recommended item")


def waterfall(breakdown: dict[str, float], item: str) -> str:
    """One item's score built up step by step, top to bottom: each model's contribution, each
    re-ranking step's change (a bar starts where the last one ended), then the final score."""
    parts = [p for p in breakdown_parts([breakdown]) if p.startswith("model:") or abs(breakdown[p]) > 1e-9]
    values = [float(breakdown[p]) for p in parts]
    total = sum(values)
    spans, running = [], 0.0
    for v in values:
        spans.append((running, running + v))
        running += v
    spans.append((0.0, total))
    lo = min([0.0] + [min(s) for s in spans])
    hi = max([0.0] + [max(s) for s in spans])
    scale = Scale(lo, hi + 0.22 * (hi - lo or 1.0))  # room right of the bars for their figures
    p = palette()

    labels = [part_label(q) for q in parts] + ["final score"]
    behind, axis = _grid(scale, len(labels), f"score of {item}")
    rows = []
    for i, (label, (a, b)) in enumerate(zip(labels, spans)):
        last = i == len(labels) - 1
        v = b - a
        colour = FINAL if last else (p[0] if v >= 0 else p[3 % len(p)])
        figure = f"{total:.3f}" if last else f"{v:+.3f}"
        text = _div(_style(position="absolute", top="0", left=f"calc({scale(max(a, b)):.2f}% + 4px)",
                           color=MUTED, white_space="nowrap", line_height=f"{ROW_PX}px"), figure)
        rows.append(_row(i, label, _bar(scale, a, b, colour, f"{label}: {figure}") + text, bold=last))
    return _chart(behind + "".join(rows) + axis, f"How the score of {item} was built")
