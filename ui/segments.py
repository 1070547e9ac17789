"""Frames of the Segments page."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from recsys import Recommender, TuningConfig
from recsys.config import SEGMENTS
from recsys.serving.explain import SEGMENT_LABELS
from recsys.serving.segment_summary import LIST_SIZE
from ui import state
from ui.knobs import tuned_config_toml

PRICE_POINTS = 300  # customers per segment drawn as points in the price chart (SVG points cost the browser)


@st.cache_data(max_entries=8, show_spinner=False)
def segment_overview(key: state.ModelKey) -> tuple[pd.DataFrame, list[float], list[float]]:
    """segment_table of a bundle, once per bundle (it reads every customer)."""
    rec = state.recommender(key)
    return segment_table(rec, rec.state.profiles)


@st.cache_data(max_entries=8, show_spinner=False)
def price_points(key: state.ModelKey, per_segment: int = PRICE_POINTS) -> pd.DataFrame:
    """(segment, avg_item_price) of a random sample of up to `per_segment` customers per segment:
    a chart of a million points would not draw."""
    prof = state.recommender(key).state.profiles
    codes, price = prof["segment_code"].to_numpy(), prof["avg_item_price"].to_numpy(np.float64)
    rng = np.random.default_rng(0)
    picks = [rng.choice(np.flatnonzero(codes == i), size=min(per_segment, int((codes == i).sum())), replace=False)
             for i in range(len(SEGMENTS))]  # four segments
    pick = np.concatenate(picks)
    return pd.DataFrame({"segment": [SEGMENT_LABELS[SEGMENTS[c]] for c in codes[pick]], "avg_item_price": price[pick]})


def segment_table(rec: Recommender, users: pd.DataFrame) -> tuple[pd.DataFrame, list[float], list[float]]:
    """(one row per segment, price cut points, percentile thresholds)."""
    stats = rec.stats()
    cuts = [float(c) for c in stats["segment_price_cuts"]]
    edges = [None] + cuts + [None]
    caps = np.asarray(rec.state.segment_caps, dtype=float)
    rows = []
    for i, seg in enumerate(SEGMENTS):
        label = SEGMENT_LABELS[seg]
        part = users[users["spending_segment"] == seg]
        lo, hi = edges[i], edges[i + 1]
        price_range = (f"below {hi:.2f}" if lo is None else f"{lo:.2f} and above" if hi is None
                       else f"{lo:.2f} – {hi:.2f}")
        rows.append({"segment": label, "price_range": price_range, "customers": len(part),
                     "total_spend": float(part["total_spend"].sum()),
                     "avg_item_price": float(part["avg_item_price"].mean()) if len(part) else 0.0,
                     "price_cap": float(caps[i]) if i < len(caps) else np.nan})
    return pd.DataFrame(rows), cuts, list(stats["segment_thresholds"])


@st.cache_data(max_entries=8, show_spinner=False)
def top_items_by_segment(key: state.ModelKey, n: int) -> dict[str, pd.DataFrame]:
    """Per segment: the items most customers of the segment bought (distinct buyers)."""
    rec = state.recommender(key)
    buyers = np.asarray(rec.state.segment_buyers)
    out = {}
    for i, seg in enumerate(SEGMENTS):
        top = rec.popular_items(n, segment=seg)
        codes = [rec.item_code(x) for x in top["item_id"]]
        out[SEGMENT_LABELS[seg]] = pd.DataFrame({"item_id": top["item_id"], "buyers": buyers[i, codes].astype(int),
                                                 "price": top["price"]})
    return out


def segment_filter_on(ctx) -> bool:
    """Whether the Recommendations page's lists keep to the segment (the knobs, else as trained)."""
    toml = tuned_config_toml(ctx.key)
    return (TuningConfig.from_toml(toml) if toml else ctx.rec.config).rerank.segment_filter


@st.cache_data(max_entries=16, show_spinner="Recommending for the sampled customers…")
def sample_recommendations(key: state.ModelKey, model: str, config_toml: str) -> pd.DataFrame:
    """The stored sample's customers, recommended under another model or other knobs."""
    rec = state.recommender(key)
    users = rec.state.segment_sample["user_id"].unique()
    return rec.segment_recommendations(users, model, LIST_SIZE, TuningConfig.from_toml(config_toml))


def sampled_frame(ctx, tuned: bool) -> pd.DataFrame | None:
    """The top-10 of the sampled customers: as stored at training (hybrid, trained knobs), else
    recomputed for the same customers; None for a bundle trained before the sample existed."""
    rec = ctx.rec
    stored = rec.state.segment_sample
    if stored is None:
        return None
    toml = (tuned_config_toml(ctx.key) if tuned else None) or rec.config.to_toml()
    if ctx.model == "hybrid" and toml == rec.config.to_toml():
        return stored
    return sample_recommendations(ctx.key, ctx.model, toml)


def sample_sizes(frame: pd.DataFrame) -> pd.Series:
    """Sampled customers per segment (label), in segment order."""
    seg = frame.drop_duplicates("user_id")["spending_segment"].map(SEGMENT_LABELS)
    return seg.value_counts().reindex(list(state.SEGMENT_ORDER), fill_value=0)


def recommendations_by_segment(frame: pd.DataFrame):
    """(price summary, model sources, favourite items per segment) of the sampled customers' top-n."""
    frame = frame.assign(segment=frame["spending_segment"].map(SEGMENT_LABELS))
    order = list(state.SEGMENT_ORDER)
    per_user = frame.groupby(["segment", "user_id"], observed=True).agg(
        recommended=("item_price", "mean"), own=("avg_item_price", "first")).reset_index()
    summary = (per_user.groupby("segment").agg(customer_price=("own", "mean"), recommended_price=("recommended", "mean"))
               .reindex(order).dropna(how="all").reset_index())
    sources = frame[["segment", "model_source"]].copy()
    sources["segment"] = pd.Categorical(sources["segment"], categories=order, ordered=True)
    favourites = {}
    users_per_segment = frame.groupby("segment")["user_id"].nunique()
    for seg in order:
        part = frame[frame["segment"] == seg]
        if part.empty:
            continue
        fav = part.groupby("item_id").agg(customers=("user_id", "nunique"), item_price=("item_price", "first"))
        fav = fav.sort_values(["customers", "item_price"], ascending=[False, True]).head(6)
        favourites[seg] = [f"{item} · {100 * c / users_per_segment[seg]:.0f}% · price {p:.2f}"
                           for item, c, p in zip(fav.index, fav["customers"], fav["item_price"])]
    width = max((len(v) for v in favourites.values()), default=0)
    favourites = pd.DataFrame({seg: v + [""] * (width - len(v)) for seg, v in favourites.items()})
    favourites.insert(0, "#", range(1, width + 1))
    return summary, sources, favourites
