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


def palette() -> list[str]:
    colours = st.get_option("theme.chartCategoricalColors")
    return list(colours) if colours else FALLBACK_PALETTE


def primary() -> str:
    return st.get_option("theme.primaryColor") or FALLBACK_PALETTE[0]


def model_colours() -> dict[str, str]:
    p = palette()
    return {"als": p[0], "item_cf": p[1], "popularity": p[2], "repeat": p[3],
            "due_boost": p[5 % len(p)], "upsell": p[6 % len(p)], "price_sensitivity": p[7 % len(p)]}


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
        fig.add_trace(go.Scatter(x=part["week"], y=part[metric], name=f"{ctype} customers", mode="lines",
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


# ---- recommendations (the why charts are ui/html_charts.py: they redraw on every knob move) ----

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
