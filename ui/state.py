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
from recsys.bundles.store import current_bundle, read_metadata
from recsys.config import MODELS, SEGMENTS, TuningConfig
from recsys.errors import BundleError
from recsys.serving.default_lists import load as load_default_lists
from recsys.serving.explain import SEGMENT_LABELS
from ui.search import MAX_MATCHES, IdSearch


class ModelKey(NamedTuple):
    bundle_dir: str
    stamp: str


MODEL_LABELS = {
    "hybrid": "Hybrid (ranker or blend of all)",
    "als": "ALS (shoppers like you)",
    "item_cf": "Item-CF (bought together)",
    "popularity": "Popularity",
    "repeat": "Buy again (repeat)",
    "neighbours": "Neighbours (baskets like yours)",
}
SOURCE_LABELS = {"als": "ALS", "item_cf": "Item-CF", "popularity": "Popularity", "repeat": "Buy again",
                 "neighbours": "Neighbours", "hybrid": "Hybrid", "agreement": "Sources agree",
                 "item": "Item facts", "customer": "Customer facts", "baseline": "Ranker baseline"}
MODEL_ORDER = ("hybrid",) + tuple(m for m in MODELS if m != "hybrid")
SEGMENT_ORDER = tuple(SEGMENT_LABELS[s] for s in SEGMENTS)


def model_key(bundle_dir) -> ModelKey:
    """The key of the live bundle in a folder; BundleError when there is none or it is unreadable."""
    meta = read_metadata(bundle_dir)
    return ModelKey(str(bundle_dir), f"{current_bundle(bundle_dir).name}@{meta.get('trained_at', '')}")


@st.cache_resource(max_entries=4, show_spinner="Loading the trained models…")
def recommender(key: ModelKey) -> Recommender:
    """The Recommender of a bundle, loaded and warmed once per process (`Recommender.open`: a
    bundle that loads yet cannot answer is a BundleError that says so)."""
    return Recommender.open(key.bundle_dir)


def with_default_lists(rec: Recommender, bundle_dir) -> Recommender:
    """The cached Recommender with its bundle's default lists once they are there (a big store's
    lists are computed after its bundle is published): a stat per run until then, no reload."""
    if rec.default_lists is None and rec.bundle_name:
        folder = Path(bundle_dir) / rec.bundle_name
        if (folder / "lists" / "manifest.json").is_file():
            rec.default_lists = load_default_lists(folder)  # one reference: requests read it once
    return rec


def try_recommender(bundle_dir) -> tuple[Recommender | None, ModelKey | None, str | None]:
    """(rec, key, problem): the problem is a message to show, never an exception."""
    try:
        key = model_key(bundle_dir)
        return with_default_lists(recommender(key), bundle_dir), key, None
    except (BundleError, OSError, ValueError, EOFError) as exc:
        return None, None, str(exc)
    except Exception as exc:  # unpickling a bundle of another library version can fail in any way
        return None, None, f"the models in '{Path(bundle_dir).name}' could not be loaded ({type(exc).__name__}: {exc}); retrain them"


# ---- derived frames ------------------------------------------------------------------------
# Frames as big as the store (a row per customer or item) live in st.cache_resource: one shared,
# read-only object per bundle, never copied per rerun (st.cache_data pickles a copy on every
# call: ~1 s for a million customers). Callers must not modify them. Small summaries of them are
# st.cache_data.

@st.cache_resource(max_entries=4, show_spinner=False)
def users(key: ModelKey) -> pd.DataFrame:
    """User profiles, busiest first (ties in training order), with a readable segment (shared: read only)."""
    df = recommender(key).users()
    # one stable numeric argsort: a sort by (count, id string) takes ~2 s at a million customers
    df = df.iloc[np.argsort(-df["total_purchases"].to_numpy(), kind="stable")]
    df["segment"] = df["spending_segment"].map(SEGMENT_LABELS).fillna(df["spending_segment"])
    return df.reset_index(drop=True)


@st.cache_resource(max_entries=4, show_spinner=False)
def items(key: ModelKey) -> pd.DataFrame:
    """Items, most popular first (shared: read only)."""
    df = recommender(key).items()
    df = df.iloc[np.argsort(-df["popularity"].to_numpy(), kind="stable")]
    return df.reset_index(drop=True)


@st.cache_resource(max_entries=4, show_spinner=False)
def item_search(key: ModelKey) -> IdSearch:
    """Every item id, most popular first, searchable by part of the id."""
    return IdSearch(items(key)["item_id"].to_numpy())


@st.cache_data(max_entries=64, show_spinner=False)
def item_matches(key: ModelKey, query: str) -> list[str]:
    """Up to MAX_MATCHES item ids matching a search (computed once per search)."""
    return item_search(key).find(query)


def item_label(rec: Recommender, item_id: str) -> str:
    """'id · name · price · popularity' of one item, from its row (no catalogue-wide work)."""
    code = int(rec.item_codes([item_id])[0])
    if code < 0:
        return str(item_id)
    it = rec.state.items
    name = str(it["item_name"].iat[code]) if "item_name" in it.columns else ""
    return (f"{item_id}{' · ' + name if name else ''} · price {it['price'].iat[code]:.2f}"
            f" · popularity {it['popularity'].iat[code]:.2f}")


@st.cache_resource(max_entries=4, show_spinner=False)
def user_search(key: ModelKey) -> IdSearch:
    """Every customer id, busiest first, searchable by part of the id and by segment."""
    df = users(key)
    return IdSearch(df["user_id"].to_numpy(), df["spending_segment"].map({s: i for i, s in enumerate(SEGMENTS)}).to_numpy())


@st.cache_data(max_entries=8, show_spinner=False)
def busiest_users(key: ModelKey, n: int = MAX_MATCHES) -> list[str]:
    """The n customers with the most purchase lines, busiest first: the picker's list before any
    search (a partition, not a sort of every customer, nor the search index)."""
    st_ = recommender(key).state
    total = st_.profiles["total_purchases"].to_numpy()
    top = np.argpartition(-total, min(n, len(total)) - 1)[:n] if len(total) > n else np.arange(len(total))
    top = top[np.lexsort((top, -total[top]))]  # busiest first, ties in training order (as users())
    return [str(u) for u in st_.user_ids[top]]


@st.cache_data(max_entries=64, show_spinner=False)
def user_matches(key: ModelKey, query: str, segment: int | None) -> list[str]:
    """Up to MAX_MATCHES customer ids matching a search (computed once per search)."""
    if not (query or "").strip() and segment is None:
        return busiest_users(key)
    return user_search(key).find(query, segment)


def user_label(rec: Recommender, user_id: str) -> str:
    """'id · segment · type' of one customer, from its profile row (no store-wide work)."""
    code = rec.user_code(user_id)
    if code < 0:
        return str(user_id)
    prof = rec.state.profiles
    seg = str(prof["spending_segment"].iat[code])
    return f"{user_id} · {SEGMENT_LABELS.get(seg, seg)} · {prof['user_type'].iat[code]}"


SCATTER_ITEMS = 2000  # items drawn in a scatter: the most popular, then a random sample of the rest


@st.cache_data(max_entries=8, show_spinner=False)
def scatter_items(key: ModelKey, n: int = SCATTER_ITEMS) -> pd.DataFrame:
    """(item_id, price, popularity, unique_buyers) of at most n items: the n/2 most popular and
    a random sample of the others (a scatter of 200k points would not draw)."""
    df = items(key)[["item_id", "price", "popularity", "unique_buyers"]]
    if len(df) <= n:
        return df
    rest = df.iloc[n // 2:].sample(n - n // 2, random_state=0)
    return pd.concat([df.iloc[:n // 2], rest], ignore_index=True)


@st.cache_data(max_entries=8, show_spinner=False)
def customer_types(key: ModelKey) -> pd.DataFrame:
    """Customers, lines and revenue per customer type (loyal, new)."""
    return recommender(key).state.profiles.groupby("user_type").agg(
        customers=("user_id", "size"), lines=("total_purchases", "sum"), revenue=("total_spend", "sum"))


@st.cache_data(max_entries=8, show_spinner=False)
def segment_counts(key: ModelKey) -> pd.Series:
    """Customers per segment, in segment order."""
    codes = recommender(key).state.profiles["segment_code"].to_numpy().astype(np.int64)
    return pd.Series(np.bincount(codes, minlength=len(SEGMENTS))[:len(SEGMENTS)], index=list(SEGMENT_ORDER))


@st.cache_data(max_entries=8, show_spinner=False)
def price_bounds(key: ModelKey) -> tuple[float, float]:
    prices = recommender(key).items()["price"].to_numpy(np.float64)
    return float(np.floor(prices.min())) if len(prices) else 0.0, float(np.ceil(prices.max())) if len(prices) else 1.0


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
