"""Frames of the Popularity page (no Streamlit)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from recsys import Recommender

COMPONENTS = ("purchase_count", "unique_buyers", "total_quantity")


def components_frame(rec: Recommender, item_ids: list[str]) -> pd.DataFrame:
    """The popularity components of some items, raw and scaled by their maximum over all items
    (the scaling `recsys.models.popularity.popularity_score` uses)."""
    items = rec.items()
    sub = items.set_index("item_id").loc[item_ids, list(COMPONENTS)].reset_index()
    for col in COMPONENTS:
        top = float(np.maximum(items[col].to_numpy(np.float64), 0).max()) if len(items) else 0.0
        sub[f"{col}_scaled"] = np.maximum(sub[col], 0) / top if top > 0 else 0.0
    return sub


def trend_frame(weekly: pd.DataFrame, item_ids: list[str], weeks: int = 1) -> pd.DataFrame:
    """Weekly lines of the chosen items, in the order chosen; with `weeks` > 1 a trailing mean."""
    part = weekly[weekly["item_id"].isin(item_ids)].copy()
    part["item_id"] = pd.Categorical(part["item_id"], categories=item_ids, ordered=True)
    part = part.sort_values(["item_id", "week"])
    if weeks > 1:
        part["lines"] = (part.groupby("item_id", observed=True)["lines"]
                         .transform(lambda s: s.rolling(weeks, min_periods=1).mean()))
    return part
