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
