"""Caching: the Recommender once per process and bundle, derived frames once per bundle.

A bundle is named by a `ModelKey` (its folder plus a stamp of the live bundle and its
`trained_at`), so a retrain (here or by the CLI in another process) is picked up on the next
rerun and never served stale. Knobs never retrain: they build a `TuningConfig` per request.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from recsys import Recommender
from recsys.artifacts import BundleError, current_bundle, read_metadata
from recsys.config import MODELS, SEGMENTS, TuningConfig
from recsys.service import SEGMENT_LABELS


class ModelKey(NamedTuple):
    bundle_dir: str
    stamp: str


MODEL_LABELS = {
    "hybrid": "Hybrid (blend of all)",
    "als": "ALS (shoppers like you)",
    "item_cf": "Item-CF (bought together)",
    "popularity": "Popularity",
    "repeat": "Buy again (repeat)",
}
SOURCE_LABELS = {"als": "ALS", "item_cf": "Item-CF", "popularity": "Popularity", "repeat": "Buy again",
                 "hybrid": "Hybrid"}
MODEL_ORDER = ("hybrid",) + tuple(m for m in MODELS if m != "hybrid")
SEGMENT_ORDER = tuple(SEGMENT_LABELS[s] for s in SEGMENTS)


def model_key(bundle_dir) -> ModelKey:
    """The key of the live bundle in a folder; BundleError when there is none or it is unreadable."""
    meta = read_metadata(bundle_dir)
    return ModelKey(str(bundle_dir), f"{current_bundle(bundle_dir).name}@{meta.get('trained_at', '')}")


@st.cache_resource(max_entries=4, show_spinner="Loading the trained models…")
def recommender(key: ModelKey) -> Recommender:
    """The Recommender of a bundle, loaded once per process and probed with one request: a bundle
    pickled by an older recsys can load yet fail on the first request (BundleError then)."""
    rec = Recommender.load(key.bundle_dir)
    try:
        if rec.state.n_users:
            rec.recommend(rec.state.user_ids[0], n=1)
    except Exception as exc:
        raise BundleError(f"the models in '{Path(key.bundle_dir).name}' do not work with this version of recsys "
                          f"({type(exc).__name__}: {exc}); retrain them") from exc
    return rec


def try_recommender(bundle_dir) -> tuple[Recommender | None, ModelKey | None, str | None]:
    """(rec, key, problem): the problem is a message to show, never an exception."""
    try:
        key = model_key(bundle_dir)
        return recommender(key), key, None
    except (BundleError, OSError, ValueError, EOFError) as exc:
        return None, None, str(exc)
    except Exception as exc:  # unpickling a bundle of another library version can fail in any way
        return None, None, f"the models in '{Path(bundle_dir).name}' could not be loaded ({type(exc).__name__}: {exc}); retrain them"


# ---- derived frames (st.cache_data: computed once per bundle, copied per use) -------------

@st.cache_data(max_entries=8, show_spinner=False)
def users(key: ModelKey) -> pd.DataFrame:
    """User profiles, busiest first, with a picker label and a readable segment."""
    df = recommender(key).users().sort_values(["total_purchases", "user_id"], ascending=[False, True])
    df["segment"] = df["spending_segment"].map(SEGMENT_LABELS).fillna(df["spending_segment"])
    df["label"] = df["user_id"] + " · " + df["segment"] + " · " + df["user_type"]
    return df.reset_index(drop=True)


@st.cache_data(max_entries=8, show_spinner=False)
def items(key: ModelKey) -> pd.DataFrame:
    """Items, most popular first, with a picker label."""
    df = recommender(key).items().sort_values(["popularity", "item_id"], ascending=[False, True])
    names = df["item_name"].astype(str) if "item_name" in df else pd.Series("", index=df.index)
    df["label"] = (df["item_id"] + names.where(names == "", " · " + names) + " · price " + df["price"].map("{:.2f}".format)
                   + " · popularity " + df["popularity"].map("{:.2f}".format))
    return df.reset_index(drop=True)


@st.cache_data(max_entries=8, show_spinner=False)
def price_bounds(key: ModelKey) -> tuple[float, float]:
    prices = recommender(key).items()["price"].to_numpy(np.float64)
    return float(np.floor(prices.min())) if len(prices) else 0.0, float(np.ceil(prices.max())) if len(prices) else 1.0


@st.cache_data(max_entries=16, show_spinner="Recommending for every user…")
def batch_recommendations(key: ModelKey, n: int, model: str, config_toml: str) -> pd.DataFrame:
    """Top-n for every user under a config, joined with the users' segment and type."""
    rec = recommender(key)
    frame = rec.recommend_batch(n=n, model=model, config=TuningConfig.from_toml(config_toml))
    prof = rec.users()[["user_id", "spending_segment", "user_type", "avg_item_price"]]
    return frame.merge(prof, on="user_id", how="left")


@st.cache_data(max_entries=8, show_spinner=False)
def segment_top_items(key: ModelKey, n: int) -> pd.DataFrame:
    """What each segment buys most: distinct buyers per item within the segment."""
    rec = recommender(key)
    frames = []
    for seg in SEGMENTS:
        top = rec.popular_items(n, segment=seg)
        top["segment"] = SEGMENT_LABELS[seg]
        frames.append(top)
    return pd.concat(frames, ignore_index=True)


def csv_of_recommendations(key: ModelKey, n: int, model: str, config_toml: str) -> bytes:
    """All users' recommendations as CSV bytes (built when the download is clicked)."""
    rec = recommender(key)
    frame = rec.recommend_batch(n=n, model=model, config=TuningConfig.from_toml(config_toml))
    return frame.to_csv(index=False).encode("utf-8")
