"""The hybrid's fit to the store: the chosen blend and its validation evidence (Overview, Evaluation)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from recsys import Recommender
from ui import charts
from ui.state import SOURCE_LABELS

VIEW_WORDS = {"loyal": "loyal, all items", "new-to-user": "loyal, items new to them",
              "newcomers": "newcomers (last basket only)"}


def show_fit(rec: Recommender, key: str) -> None:
    """The fitted blend as bars, and every model's NDCG@10 on the validation window."""
    tables = rec.hybrid_fit_tables()
    if tables is None:
        st.caption("These models were trained with fixed hybrid weights (no fit to the store).")
        return
    fit = rec.hybrid_fit()
    weights, validation = tables
    share = fit.get("repeat_share")
    share_text = f"; {share:.0%} of what customers bought in the validation window they had bought before" \
        if share == share else ""
    st.caption(f"**{fit['method'].capitalize()}**{share_text}. The sliders on Recommendations start from these weights.")
    charts.show(charts.blend_weights(weights), key=f"{key}_weights")
    if len(validation):
        shown = validation.rename(columns={**SOURCE_LABELS, "hybrid (fitted, cross-validated)": "Hybrid (fitted)",
                                           "hybrid (fitted, in sample)": "Hybrid (in sample)"})
        shown["customers"] = shown["customers"].map(VIEW_WORDS).fillna(shown["customers"])
        shown["best single"] = shown["best single"].map(SOURCE_LABELS).fillna(shown["best single"])
        for c in shown.columns:  # a model that cannot make a list (buy again without past items) shows a dash
            if c not in ("customers", "users", "best single"):
                shown[c] = [("—" if v != v else f"{v:+.3f}" if c.startswith(("hybrid -", "CI")) else f"{v:.3f}")
                            for v in pd.to_numeric(shown[c], errors="coerce")]
        st.dataframe(shown, hide_index=True, key=f"{key}_validation")
        st.caption("NDCG@10 on the last 28 days of the training data, with the models refitted on what came "
                   "before. *Hybrid (fitted)* is cross-validated over customers (weights chosen on the other "
                   "half); the CI is a paired bootstrap of it against the best single model.")


RANKER_VIEW_WORDS = {"loyal": "loyal, all items", "discovery": "loyal, items new to them",
                     "newcomer": "newcomers (last basket only)"}


def show_ranker(rec: Recommender, key: str) -> None:
    """Which list kinds the learned ranker serves and why, its evidence and its main features."""
    tables = rec.ranker_tables()
    if tables is None:
        st.caption("These models were trained without the learned ranker: the fitted blend serves every list.")
        return
    fit = rec.ranker_fit()
    kinds, importance = tables
    windows = fit.get("windows") or []
    when = f" (windows from {windows[0]} and {windows[1]})" if len(windows) == 2 else ""
    st.caption(f"**{fit['method'].capitalize()}.** The ranker learns on the earlier validation window{when} and is "
               "judged on the later one against the fitted blend; it serves a kind of list only where it beats "
               "the blend there (paired bootstrap, 95 % CI of the difference clear of zero).")
    if not len(kinds):
        return
    shown = kinds.rename(columns={**SOURCE_LABELS, "ranker": "Ranker", "fitted blend": "Fitted blend",
                                  "diff": "ranker − blend", "ci_low": "CI low", "ci_high": "CI high",
                                  "serves": "serves", "why": "why"})
    shown["list"] = shown["list"].map(RANKER_VIEW_WORDS).fillna(shown["list"])
    left, right = st.columns([2.2, 1], gap="medium")
    left.dataframe(shown, hide_index=True, key=f"{key}_ranker",
                   column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in shown.columns
                                  if c not in ("list", "users", "serves", "why")})
    if len(importance):
        with right:
            charts.show(charts.bars(importance["feature"].tolist(), importance["gain share"].to_numpy(),
                                    text_fmt="{:.0%}", y_title="share of the ranker's gain", height=300,
                                    horizontal=True), key=f"{key}_features")
