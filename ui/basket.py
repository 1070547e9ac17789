"""The basket what-if page's logic: the basket in the URL, a customer's last basket, the list a
new customer with that basket gets, and what completes the basket (no widgets here)."""
from __future__ import annotations

import inspect
from typing import Iterable

import pandas as pd
import streamlit as st

from recsys import Recommender
from recsys.serving.together import complete_basket
from ui import state
from ui.knobs import Request
from ui.recommend import recommendation_frame

BASKET = "basket_items"         # the multiselect's key
URL_KEY = "basket"              # ?basket=id1,id2
URL_READ = "_basket_url_read"
WHAT_IF_USER = "what-if"        # the id the library sees: never a trained customer
AUTO_SEGMENT = "auto"


def parse_basket(param: str | None, known: Iterable[str]) -> tuple[list[str], list[str]]:
    """(items in the catalogue, in order, without repeats; ids that are not) from `id1,id2`."""
    known = set(known)
    ids = list(dict.fromkeys(p.strip() for p in (param or "").split(",") if p.strip()))
    return [i for i in ids if i in known], [i for i in ids if i not in known]


def basket_param(items: Iterable[str]) -> str | None:
    """The URL value of a basket (None: no parameter)."""
    items = list(items)
    return ",".join(items) if items else None


def last_basket(rec: Recommender, user_id: str) -> list[str]:
    """The items of a customer's most recent basket (the lines of their last shopping instant)."""
    history = rec.user_history(user_id, n=None)
    if history.empty:
        return []
    last = history[history["timestamp"] == history["timestamp"].iloc[0]]  # newest first
    return list(dict.fromkeys(last["item_id"].astype(str)))


@st.cache_data(max_entries=8, show_spinner=False)
def item_labels(key: state.ModelKey) -> tuple[list[str], dict[str, str]]:
    """(ids, most popular first; picker label per id: id · name · price where names exist)."""
    items = state.items(key)
    ids = items["item_id"].astype(str).tolist()
    name = items["item_name"].fillna("").astype(str) if "item_name" in items.columns else None
    label = items["item_id"].astype(str)
    if name is not None:
        label = label + name.map(lambda s: f" · {s}" if s else "")
    label = label + " · price " + items["price"].map("{:.2f}".format)
    return ids, dict(zip(ids, label))


def segment_supported(rec: Recommender) -> bool:
    """Whether recommend() can be told a segment for a history-only customer (it derives it
    from the basket's average price otherwise)."""
    return "segment" in inspect.signature(rec.recommend).parameters


def what_if(rec: Recommender, items: list[str], model: str, req: Request, segment: str = AUTO_SEGMENT):
    """The response a new customer with this basket gets under the panel's request."""
    kwargs = {"segment": segment} if segment != AUTO_SEGMENT and segment_supported(rec) else {}
    resp = rec.recommend(WHAT_IF_USER, n=req.n, model=model, timestamp=req.timestamp,
                         exclude_purchased=req.exclude_purchased, history=[{"item_id": i} for i in items],
                         config=req.config, **kwargs)
    return resp, recommendation_frame(resp)


def completing_items(rec: Recommender, items: list[str], n: int = 10, min_lift: float = 1.0,
                     min_count: int = 2) -> pd.DataFrame:
    """Items bought with the basket's items more often than chance (recsys.serving.together)."""
    return complete_basket(rec, items, n=n, min_lift=min_lift, min_count=min_count)
