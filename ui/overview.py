"""Figures of the Overview page, from a Recommender."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from recsys import Recommender

STAGE_ORDER_TOTAL = "total"
CLEANING_COLUMNS = {
    "action": st.column_config.TextColumn("Action", width=95,
                                          help="Removed: not trained on. Flagged: counted here, kept and trained on"),
    "reason": st.column_config.TextColumn("Rule", width=300),
    "lines": st.column_config.NumberColumn("Lines", format="localized", width=70),
    "items": st.column_config.NumberColumn("Items", format="localized", width=60),
    "users": st.column_config.NumberColumn("Users", format="localized", width=60),
    "examples": st.column_config.TextColumn("Examples", width=420),
}
ACTION_WORDS = {"removed": "removed", "flagged": "flagged, kept"}  # what happened to the lines


def _date(value) -> str:
    return str(value)[:10]


def compact(x: float) -> str:
    """12,345,678 -> '12.3M'; 123,456 -> '123.5k'."""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.1f}{unit}"
    return f"{x:,.0f}"


def kpis(rec: Recommender) -> list[tuple[str, str, str | None]]:
    """(label, value, help) of the headline numbers."""
    s = rec.state.summary
    return [
        ("Customers", f"{s.get('users', 0):,}", f"{s.get('loyal_users', 0):,} loyal, {s.get('new_users', 0):,} new"),
        ("Items", f"{s.get('items', 0):,}", "Distinct products after cleaning"),
        ("Sales lines", compact(s.get("lines", 0)) if s.get("lines", 0) >= 100_000 else f"{s.get('lines', 0):,}",
         f"{s.get('lines', 0):,} point-of-sale lines of customers after cleaning"
         + (f", and {s['guest_lines']:,} guest lines" if s.get("guest_lines") else "")),
        ("Baskets", compact(s.get("baskets", 0)) if s.get("baskets", 0) >= 100_000 else f"{s.get('baskets', 0):,}",
         f"{s.get('baskets', 0):,} distinct baskets"),
        ("Revenue", compact(s.get("revenue", 0.0)), f"{s.get('revenue', 0.0):,.2f}: the sum of price × units"),
        ("Date range", f"{_date(s.get('date_start'))[:7]} → {_date(s.get('date_end'))[:7]}",
         f"{_date(s.get('date_start'))} to {_date(s.get('date_end'))}"),
    ]


def thresholds_text(rec: Recommender) -> str:
    t = rec.stats()["segment_thresholds"]
    return ", ".join(f"{x:.0%}" for x in t)


def training_facts(rec: Recommender) -> tuple[list[tuple[str, str]], dict[str, float]]:
    """(facts, stage timings): when, on what and how the models were trained."""
    meta = rec.metadata
    info = rec.models()
    source = str(meta.get("data_source", "?"))
    facts = [
        ("Trained at", str(meta.get("trained_at", "?")).replace("T", " ")[:16] + " UTC"),
        ("Data source", "synthetic demo store (in memory)" if source == "dataframe" else Path(source).name),
        ("Hybrid weights", " · ".join(f"{k} {v:.2f}" for k, v in info["hybrid_weights"].items())),
        ("ALS factors", str(info["als"]["factors"])),
        ("Item-CF neighbour pairs", f"{info['item_cf']['neighbours']:,}"),
        ("Confidence calibrated", "yes" if info["calibrated"] else "no: relevance stands in"),
        ("Library version", str(meta.get("library_version", "?"))),
    ]
    if meta.get("bundle_bytes"):
        facts.append(("Bundle size", f"{int(meta['bundle_bytes']) / 2**20:.1f} MiB"))
    timings = {k: float(v) for k, v in (meta.get("timings_s") or {}).items() if k != STAGE_ORDER_TOTAL}
    if timings:
        facts.append(("Training time", f"{sum(timings.values()):.1f} s"))
    return facts, timings


def cleaning_frame(report: dict) -> pd.DataFrame:
    """One row per cleaning step of a CleaningReport dict."""
    rows = [{"action": ACTION_WORDS.get(s.get("action"), s.get("action")), "reason": s.get("reason"), "lines": s.get("lines", 0),
             "items": s.get("items", 0), "users": s.get("users", 0),
             "examples": "; ".join(map(str, s.get("examples", [])[:3]))} for s in report.get("steps", [])]
    return pd.DataFrame(rows, columns=["action", "reason", "lines", "items", "users", "examples"])
