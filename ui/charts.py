"""Plotly figure builders in the app's theme (colours come from .streamlit/config.toml).

Each builder takes plain frames and returns a figure; `show()` renders it with Streamlit's
theme. Nothing here talks to the Recommender.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui.state import SEGMENT_ORDER, SOURCE_LABELS

FALLBACK_PALETTE = ["#0f766e", "#f59e0b", "#6366f1", "#e11d48", "#0ea5e9",
                    "#84cc16", "#a855f7", "#f97316", "#14b8a6", "#64748b"]
LOG_TICKS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
STEP_LABELS = {"due_boost": "due for repurchase", "upsell": "upsell", "price_sensitivity": "price penalty"}


def palette() -> list[str]:
    colours = st.get_option("theme.chartCategoricalColors")
    return list(colours) if colours else FALLBACK_PALETTE


def primary() -> str:
    return st.get_option("theme.primaryColor") or FALLBACK_PALETTE[0]


def model_colours() -> dict[str, str]:
    p = palette()
    return {"als": p[0], "item_cf": p[1], "popularity": p[2], "repeat": p[3], "neighbours": p[4 % len(p)],
            "due_boost": p[5 % len(p)], "upsell": p[6 % len(p)], "price_sensitivity": p[7 % len(p)],
            "agreement": "#a3a3a3", "item": "#cbd5e1", "customer": "#94a3b8", "baseline": "#e2e8f0"}


def segment_colours() -> dict[str, str]:
    """Ordered segments in ordered shades: small (light) to high (dark)."""
    seq = st.get_option("theme.chartSequentialColors") or []
    shades = [seq[i] for i in (3, 5, 7, 9)] if len(seq) >= 10 else palette()[:4]
    return dict(zip(SEGMENT_ORDER, shades))


def style(fig: go.Figure, height: int = 340, legend: bool = True) -> go.Figure:
    fig.update_layout(
        height=height, margin=dict(l=8, r=8, t=36 if legend else 12, b=8), showlegend=legend,
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0, title=None),
        hoverlabel=dict(namelength=-1), bargap=0.25)
    return fig


def show(fig: go.Figure, key: str | None = None) -> None:
    st.plotly_chart(fig, theme="streamlit", key=key, config={"displayModeBar": False, "displaylogo": False})


# ---- overview ------------------------------------------------------------------------------

def weekly_sales(weekly: pd.DataFrame, metric: str) -> go.Figure:
    p = palette()
    fig = go.Figure()
    for i, (ctype, part) in enumerate(sorted(weekly.groupby("customer_type"), key=lambda kv: kv[0])):
        label = "guests (no customer id)" if ctype == "guest" else f"{ctype} customers"
        fig.add_trace(go.Scatter(x=part["week"], y=part[metric], name=label, mode="lines",
                                 stackgroup="one", line=dict(width=1.5, color=p[i])))
    fig.update_yaxes(title=metric.capitalize(), rangemode="tozero")
    fig.update_xaxes(title=None)
    return style(fig, 320)


def bars(x: Iterable, y: Iterable, colour: str | list[str] | None = None, text_fmt: str = "{:,.0f}",
         x_title: str | None = None, y_title: str | None = None, height: int = 300,
         horizontal: bool = False) -> go.Figure:
    x, y = [str(v) for v in x], list(y)
    if not horizontal:  # narrow bars: "low-average" over two lines
        x = [v.replace("-", "-<br>") for v in x]
    text = [text_fmt.format(v) for v in y]
    kw = dict(y=x, x=y, orientation="h") if horizontal else dict(x=x, y=y)
    fig = go.Figure(go.Bar(**kw, text=text, textposition="outside", cliponaxis=False,
                           marker_color=colour or primary()))
    top = max([float(v) for v in y] + [0.0]) * (1.32 if horizontal else 1.15) or 1.0  # room for the labels
    fig.update_xaxes(title=y_title if horizontal else x_title)
    fig.update_yaxes(title=x_title if horizontal else y_title)
    if horizontal:
        fig.update_yaxes(autorange="reversed", type="category")
        fig.update_xaxes(range=[0, top])
    else:
        fig.update_xaxes(type="category", tickangle=0)
        fig.update_yaxes(range=[0, top])
    return style(fig, height, legend=False)


def donut(labels: list[str], values: list[float], title: str) -> go.Figure:
    p = palette()
    fig = go.Figure(go.Pie(labels=labels, values=values, hole=0.62, sort=False,
                           marker=dict(colors=p[:len(labels)]), textinfo="percent"))
    fig.update_layout(annotations=[dict(text=title, showarrow=False, font=dict(size=14))])
    return style(fig, 260)


def share_split(shares: pd.DataFrame) -> go.Figure:
    """100 % horizontal bars: one row per measure (index), one segment per column."""
    p = palette()
    totals = shares.sum(axis=1).replace(0, 1)
    fig = go.Figure()
    for i, col in enumerate(shares.columns):
        frac = shares[col] / totals
        fig.add_trace(go.Bar(y=shares.index, x=frac, name=str(col), orientation="h", marker_color=p[i % len(p)],
                             text=[f"{f:.0%}" if f >= 0.12 else "" for f in frac], textposition="inside",
                             insidetextanchor="middle", textangle=0,
                             customdata=shares[col], hovertemplate="%{y}: %{customdata:,.0f} (%{x:.0%})<extra>"
                             + str(col) + "</extra>"))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(tickformat=".0%", range=[0, 1], title=None)
    fig.update_yaxes(autorange="reversed", title=None, type="category")
    return style(fig, 200)


def timings(stages: dict[str, float], labels: dict[str, str]) -> go.Figure:
    names = [labels.get(k, k.replace("_", " ").capitalize()) for k in stages]
    return bars(names, list(stages.values()), text_fmt="{:.2f} s", y_title="seconds",
                horizontal=True, height=40 + 30 * len(stages))


# ---- recommendations -----------------------------------------------------------------------

def _parts(breakdowns: list[dict[str, float]]) -> list[str]:
    keys: list[str] = []
    for b in breakdowns:
        keys += [k for k in b if k not in keys]
    models = [k for k in keys if k.startswith("model:")]
    steps = [k for k in keys if k.startswith("rerank:")]
    return models + steps


def part_label(part: str) -> str:
    kind, name = part.split(":", 1)
    return (SOURCE_LABELS.get(name, name) if kind == "model" else STEP_LABELS.get(name, name))


def _layout(height: int, legend: bool = True, **extra) -> dict:
    """The layout `style()` gives, as a plain dict (for figures on the knob path: building a
    figure from dicts validates once instead of on every add_trace / update_* call)."""
    layout = dict(height=height, margin=dict(l=8, r=8, t=36 if legend else 12, b=8), showlegend=legend,
                  legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0, title=None),
                  hoverlabel=dict(namelength=-1), bargap=0.25)
    layout.update(extra)
    return layout


def why_chart(recs: pd.DataFrame) -> go.Figure:
    """Each item's score as stacked contributions: models (right) and re-ranking steps (±)."""
    colours = model_colours()
    rows = [f"#{i + 1} {item}" for i, item in enumerate(recs["item_id"])]
    breakdowns = list(recs["score_breakdown"])
    traces = []
    for part in _parts(breakdowns):
        values = [float(b.get(part, 0.0)) for b in breakdowns]
        if part.startswith("rerank:") and not any(abs(v) > 1e-9 for v in values):
            continue  # a step that changed nothing would only clutter the legend
        name, label = part.split(":", 1)[1], part_label(part)
        traces.append(dict(
            type="bar", y=rows, x=values, orientation="h", name=label,
            marker=dict(color=colours.get(name), pattern=dict(shape="/" if part.startswith("rerank:") else "")),
            hovertemplate="%{y}<br>" + label + ": %{x:+.3f}<extra></extra>"))
    traces.append(dict(type="scatter", y=rows, x=[sum(b.values()) for b in breakdowns], mode="markers",
                       name="final score",
                       marker=dict(symbol="diamond", size=11, color="#1f2937", line=dict(width=1, color="white")),
                       hovertemplate="%{y}<br>final score %{x:.3f}<extra></extra>"))
    return go.Figure(data=traces, layout=_layout(
        90 + 34 * len(rows), barmode="relative",
        yaxis=dict(autorange="reversed", title=None, type="category"),
        xaxis=dict(title=dict(text="score contribution"), zeroline=True, zerolinewidth=1)))


def waterfall(breakdown: dict[str, float], item: str) -> go.Figure:
    parts = [p for p in _parts([breakdown]) if p.startswith("model:") or abs(breakdown[p]) > 1e-9]
    values = [float(breakdown[p]) for p in parts]
    total = sum(values)
    p = palette()
    trace = dict(
        type="waterfall", x=[part_label(q) for q in parts] + ["final score"], y=values + [total],
        measure=["relative"] * len(values) + ["total"], text=[f"{v:+.3f}" for v in values] + [f"{total:.3f}"],
        textposition="outside", cliponaxis=False,
        increasing=dict(marker=dict(color=p[0])), decreasing=dict(marker=dict(color=p[3])),
        totals=dict(marker=dict(color="#1f2937")), connector=dict(line=dict(color="#9ca3af", width=1)))
    return go.Figure(data=[trace], layout=_layout(
        320, legend=False, yaxis=dict(title=dict(text=f"score of {item}"), rangemode="tozero")))


def overlap_heatmap(matrix: pd.DataFrame) -> go.Figure:
    seq = st.get_option("theme.chartSequentialColors")
    scale = [[i / (len(seq) - 1), c] for i, c in enumerate(seq)] if seq else "Teal"
    fig = go.Figure(go.Heatmap(z=matrix.to_numpy(), x=list(matrix.columns), y=list(matrix.index),
                               text=matrix.to_numpy(), texttemplate="%{text}", colorscale=scale, showscale=False,
                               hovertemplate="%{y} ∩ %{x}: %{z} items<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return style(fig, 300, legend=False)


# ---- items ---------------------------------------------------------------------------------

def similar_bars(frame: pd.DataFrame) -> go.Figure:
    seq = st.get_option("theme.chartSequentialColors")
    fig = go.Figure(go.Bar(
        y=frame["item_id"], x=frame["relevance_score"], orientation="h",
        marker=dict(color=frame["confidence_score"], colorscale=[[i / (len(seq) - 1), c] for i, c in enumerate(seq)]
                    if seq else "Teal", cmin=0, cmax=max(float(frame["confidence_score"].max()), 1e-6),
                    colorbar=dict(title="confidence", thickness=10)),
        text=[f"{c}" for c in frame["co_purchase_count"]], textposition="inside", insidetextanchor="end",
        customdata=np.c_[frame["item_price"], frame["confidence_score"], frame["co_purchase_count"]],
        hovertemplate="%{y}<br>relevance %{x:.2f}<br>price %{customdata[0]:.2f}"
                      "<br>confidence %{customdata[1]:.1%}<br>%{customdata[2]} baskets together<extra></extra>"))
    fig.update_yaxes(autorange="reversed", title=None, type="category")
    fig.update_xaxes(title="relevance", range=[0, 1.05])
    return style(fig, 60 + 32 * len(frame), legend=False)


def popularity_components(top: pd.DataFrame, weights: dict[str, float]) -> go.Figure:
    """Weighted popularity split into its components (each scaled by its maximum over all items)."""
    p = palette()
    total = sum(weights.values()) or 1.0
    fig = go.Figure()
    names = {"purchase_count": "purchases", "unique_buyers": "unique buyers", "total_quantity": "units sold"}
    for i, (col, w) in enumerate(weights.items()):
        share = top[f"{col}_scaled"] * w / total
        fig.add_trace(go.Bar(y=top["item_id"], x=share, orientation="h", name=f"{names[col]} (weight {w:g})",
                             marker_color=p[i], customdata=top[col],
                             hovertemplate="%{y}<br>" + names[col] + ": %{customdata:,.0f}<br>adds %{x:.3f}<extra></extra>"))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(autorange="reversed", title=None, type="category")
    fig.update_xaxes(title="weighted popularity")
    return style(fig, 80 + 24 * len(top))


def trend_lines(weekly: pd.DataFrame) -> go.Figure:
    p = palette()
    fig = go.Figure()
    for i, (item, part) in enumerate(weekly.groupby("item_id", sort=False, observed=True)):
        fig.add_trace(go.Scatter(x=part["week"], y=part["lines"], name=str(item), mode="lines",
                                 line=dict(width=1.8, color=p[i % len(p)], shape="spline", smoothing=0.6)))
    fig.update_yaxes(title="lines per week", rangemode="tozero")
    return style(fig, 340)


def price_vs_popularity(items: pd.DataFrame, top_ids: set[str]) -> go.Figure:
    fig = go.Figure()
    rest = items[~items["item_id"].isin(top_ids)]
    top = items[items["item_id"].isin(top_ids)]
    for frame, name, colour, size in ((rest, "other items", "#9ca3af", 5), (top, "top items", primary(), 9)):
        fig.add_trace(go.Scattergl(
            x=frame["price"].clip(lower=0.01), y=frame["popularity"], mode="markers", name=name,
            marker=dict(color=colour, size=size, opacity=0.55 if name == "other items" else 0.9),
            text=frame["item_id"], customdata=frame["unique_buyers"],
            hovertemplate="%{text}<br>price %{x:.2f}<br>popularity %{y:.3f}<br>%{customdata:,.0f} buyers<extra></extra>"))
    fig.update_xaxes(type="log", title="price (log scale)", tickvals=LOG_TICKS, ticktext=[f"{t:g}" for t in LOG_TICKS])
    fig.update_yaxes(title="weighted popularity")
    return style(fig, 380)


# ---- segments ------------------------------------------------------------------------------

def price_distribution(users: pd.DataFrame, cuts: list[float]) -> go.Figure:
    colours = segment_colours()
    fig = go.Figure()
    for seg in SEGMENT_ORDER:
        part = users[users["segment"] == seg]
        fig.add_trace(go.Box(x=part["avg_item_price"], name=seg, marker_color=colours[seg], boxpoints="all",
                             jitter=0.4, pointpos=0, marker=dict(size=4, opacity=0.5), line=dict(width=1.5),
                             hovertemplate="%{x:.2f}<extra>" + seg + "</extra>"))
    for c in cuts:
        fig.add_vline(x=c, line=dict(color="#6b7280", dash="dot", width=1))
    fig.update_xaxes(title="average item price of the customer (log scale)", type="log",
                     tickvals=LOG_TICKS, ticktext=[f"{t:g}" for t in LOG_TICKS])
    fig.update_yaxes(autorange="reversed")
    return style(fig, 300, legend=False)


def grouped_bars(frame: pd.DataFrame, x: str, series: dict[str, str], y_title: str, fmt: str = "{:.2f}") -> go.Figure:
    p = palette()
    fig = go.Figure()
    for i, (col, name) in enumerate(series.items()):
        fig.add_trace(go.Bar(x=frame[x], y=frame[col], name=name, marker_color=p[i],
                             text=[fmt.format(v) for v in frame[col]], textposition="outside", cliponaxis=False))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=y_title)
    return style(fig, 320)


def share_bars(frame: pd.DataFrame, x: str, colour: str, y_title: str = "share of recommendations") -> go.Figure:
    """100 % stacked bars: the share of each `colour` value within each `x`."""
    colours = model_colours()
    counts = frame.groupby([x, colour], observed=True).size().unstack(fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0)
    fig = go.Figure()
    for name in shares.columns:
        fig.add_trace(go.Bar(x=shares.index, y=shares[name], name=SOURCE_LABELS.get(name, name),
                             marker_color=colours.get(name), hovertemplate="%{x}: %{y:.0%}<extra>" + SOURCE_LABELS.get(name, name) + "</extra>"))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title=y_title, tickformat=".0%", range=[0, 1])
    return style(fig, 320)


def blend_weights(weights: pd.DataFrame) -> go.Figure:
    """Horizontal 100 % bars: each list kind's fitted share of every source."""
    colours = model_colours()
    shares = weights.fillna(0.0)
    shares = shares.div(shares.sum(axis=1).where(lambda t: t > 0, 1.0), axis=0)
    fig = go.Figure()
    for name in shares.columns:
        label = SOURCE_LABELS.get(name, name)
        fig.add_trace(go.Bar(y=shares.index, x=shares[name], name=label, orientation="h",
                             marker_color=colours.get(name), text=[f"{v:.0%}" if v >= 0.06 else "" for v in shares[name]],
                             textposition="inside", hovertemplate="%{y}: %{x:.0%}<extra>" + label + "</extra>"))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    fig.update_yaxes(autorange="reversed")
    return style(fig, 210)
