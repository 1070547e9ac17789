"""What the dashboard shows of a store besides recommendations, computed once at training: the
item table, the weekly sales charts and the store's counts."""
from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.arrays import distinct_count, unique_sorted
from recsys.io import schema as S
from recsys.training.features import Encoded

WEEK = 7 * 86_400
TOP_TREND_ITEMS = 50


TYPES = np.array(["new", "loyal", "guest"], dtype=object)  # the weekly chart's customer types, by code


def weekly_sales(enc: Encoded) -> pd.DataFrame:
    """Revenue, lines and baskets per week and customer type, guest sales as a type of their own
    (for the overview charts)."""
    g = enc.guests
    time = np.r_[enc.time, g.time]
    ctype = np.r_[(enc.user_type[enc.user] == "loyal").astype(np.int64), np.full(g.n_lines, 2, dtype=np.int64)]
    after = int(enc.basket.max()) + 1 if len(enc.basket) else 0
    basket = np.r_[enc.basket, g.basket + after]
    value = np.r_[enc.price.astype(np.float64) * enc.quantity, g.price.astype(np.float64) * g.quantity]
    week = (time - 4 * 86_400) // WEEK  # weeks start on Monday (1970-01-05 was one)
    first = week.min() if len(week) else 0
    key = (week - first) * len(TYPES) + ctype
    n = int(key.max()) + 1 if len(key) else 0
    revenue = np.bincount(key, weights=value, minlength=n)
    lines = np.bincount(key, minlength=n)
    baskets = distinct_count(key, basket, n)
    k = np.flatnonzero(lines)
    return pd.DataFrame({
        "week": pd.to_datetime((k // len(TYPES) + first) * WEEK + 4 * 86_400, unit="s"),
        "customer_type": TYPES[k % len(TYPES)].astype(str),
        "revenue": revenue[k], "lines": lines[k], "baskets": baskets[k],
    })


def weekly_item_sales(enc: Encoded, items: np.ndarray) -> pd.DataFrame:
    """Lines per week for the given item codes, guests' lines included (the popularity trend chart)."""
    all_item, all_time = np.r_[enc.item, enc.guests.item], np.r_[enc.time, enc.guests.time]
    mask = np.isin(all_item, items)
    week = (all_time[mask] - 4 * 86_400) // WEEK
    if not len(week):
        return pd.DataFrame(columns=["week", "item_id", "lines"])
    pos = np.searchsorted(np.sort(items), all_item[mask])
    key = (week - week.min()) * len(items) + pos
    counts = np.bincount(key, minlength=int(week.max() - week.min() + 1) * len(items))
    w, p = np.divmod(np.arange(len(counts)), len(items))
    return pd.DataFrame({
        "week": pd.to_datetime((w + week.min()) * WEEK + 4 * 86_400, unit="s"),
        "item_id": enc.item_ids[np.sort(items)[p]], "lines": counts,
    })


def item_table(enc: Encoded, prices: np.ndarray, parts: dict[str, np.ndarray], popularity: np.ndarray,
               cycle_days: np.ndarray, repeat_rate: np.ndarray, basket_count: np.ndarray) -> pd.DataFrame:
    """One row per item code: what a request and the pages read (the same for every engine)."""
    return pd.DataFrame({
        "item_id": enc.item_ids, "item_name": enc.item_info[S.ITEM_NAME], "category": enc.item_info[S.CATEGORY],
        "price": prices, "avg_units": parts["total_quantity"] / np.maximum(parts["purchase_count"], 1),
        **parts, "popularity": popularity, "cycle_days": cycle_days, "repeat_rate": repeat_rate,
        "basket_count": np.asarray(basket_count, dtype=np.int64),
    })


def store_summary(enc: Encoded, user_type: np.ndarray) -> dict:
    """The store's counts: users, items, lines (the customers'), baskets (guest baskets included:
    the N of "bought together"), revenue (guests' included), loyal and new users, guest lines and
    baskets, dates."""
    g = enc.guests
    start, end = pd.to_datetime(enc.time.min(), unit="s"), pd.to_datetime(enc.time.max(), unit="s")
    summary = {
        "users": enc.n_users, "items": enc.n_items, "lines": enc.n_lines,
        "baskets": int(len(unique_sorted(enc.basket))) + g.n_baskets,
        "revenue": float(np.sum(enc.price.astype(np.float64) * enc.quantity)
                         + np.sum(g.price.astype(np.float64) * g.quantity)),
        "loyal_users": int((user_type == "loyal").sum()), "new_users": int((user_type == "new").sum()),
        "date_start": str(start), "date_end": str(end),
    }
    if g.n_lines:  # only where there are guests: a bundle without them reads as before
        summary.update(guest_lines=g.n_lines, guest_baskets=g.n_baskets)
    return summary
