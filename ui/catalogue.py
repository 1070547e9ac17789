"""Product names and categories next to item ids, and category views (frames; no layout).

Names and categories live in `rec.items()` (columns item_name, category; '' where unknown). Each
lookup here is computed once per bundle and reused by every rerun.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from recsys.config import SEGMENTS
from recsys.serving.explain import SEGMENT_LABELS
from ui import state

NAME, CATEGORY = "item_name", "category"
NO_CATEGORY = "(no category)"


@st.cache_data(max_entries=8, show_spinner=False)
def facts(key: state.ModelKey) -> pd.DataFrame:
    """item_id -> item_name, category (only the columns the store has any value in)."""
    items = state.recommender(key).items()
    cols = [c for c in (NAME, CATEGORY) if c in items and (items[c].astype(str) != "").any()]
    return items.set_index("item_id")[cols].astype(str)


def has_categories(key: state.ModelKey) -> bool:
    return CATEGORY in facts(key).columns


def with_names(frame: pd.DataFrame, key: state.ModelKey, id_col: str = "item_id") -> pd.DataFrame:
    """The frame with the item's name and category right after its id (when the store has them)."""
    known = facts(key)
    if id_col not in frame.columns or known.columns.empty:
        return frame
    out = frame.copy()
    at = list(out.columns).index(id_col) + 1
    for col in reversed(known.columns):
        if col not in out.columns:
            out.insert(at, col, known[col].reindex(out[id_col].astype(str)).fillna("").to_numpy())
    return out


def categories_of(frame: pd.DataFrame, key: state.ModelKey, id_col: str = "item_id") -> list[str]:
    """The categories of the items in a frame, sorted ('(no category)' for items without one)."""
    if not has_categories(key):
        return []
    cats = facts(key)[CATEGORY].reindex(frame[id_col].astype(str)).fillna("").replace("", NO_CATEGORY)
    return sorted(set(cats))


def filter_by_category(frame: pd.DataFrame, key: state.ModelKey, chosen: list[str], id_col: str = "item_id") -> pd.DataFrame:
    """The rows whose item is in one of the chosen categories (all rows when none is chosen)."""
    if not chosen or not has_categories(key):
        return frame
    cats = facts(key)[CATEGORY].reindex(frame[id_col].astype(str)).fillna("").replace("", NO_CATEGORY)
    return frame[cats.isin(chosen).to_numpy()].reset_index(drop=True)


@st.cache_data(max_entries=8, show_spinner=False)
def category_table(key: state.ModelKey) -> pd.DataFrame:
    """One row per category: items, sales lines, units and distinct-buyer counts summed over its
    items, and its share of all lines; most lines first."""
    items = state.recommender(key).items()
    cats = items[CATEGORY].astype(str).replace("", NO_CATEGORY)
    out = (items.assign(category=cats).groupby("category")
           .agg(items=("item_id", "size"), lines=("purchase_count", "sum"), units=("total_quantity", "sum"),
                avg_price=("price", "median"))
           .sort_values(["lines", "items"], ascending=False).reset_index())
    out["share"] = out["lines"] / max(float(out["lines"].sum()), 1.0)
    return out


@st.cache_data(max_entries=8, show_spinner=False)
def segment_categories(key: state.ModelKey, n: int = 8) -> pd.DataFrame:
    """Per spending segment: its top categories by share of the segment's sales lines (one pass
    over the lines, once per bundle), as '<category> · <share>' columns side by side."""
    rec = state.recommender(key)
    st_ = rec.state
    items = rec.items()
    cat_codes, cats = pd.factorize(items[CATEGORY].astype(str).replace("", NO_CATEGORY))
    user_of_line = np.repeat(np.arange(st_.n_users), np.diff(st_.line_ptr))
    seg = st_.profiles["segment_code"].to_numpy()[user_of_line].astype(np.int64)
    key_ = seg * len(cats) + cat_codes[st_.line_item]
    counts = np.bincount(key_, minlength=len(SEGMENTS) * len(cats)).reshape(len(SEGMENTS), len(cats))
    columns = {}
    for i, name in enumerate(SEGMENTS):
        total = int(counts[i].sum())
        if total == 0:  # a segment without customers
            continue
        top = np.argsort(-counts[i], kind="stable")[:n]
        columns[SEGMENT_LABELS[name]] = [f"{cats[j]} · {counts[i, j] / total:.0%}" for j in top if counts[i, j] > 0]
    width = max((len(v) for v in columns.values()), default=0)
    frame = pd.DataFrame({k: v + [""] * (width - len(v)) for k, v in columns.items()})
    frame.insert(0, "#", range(1, width + 1))
    return frame
