"""Frequently bought together: association rules read from the co-purchase counts training built.

For items a and b over N baskets:
    support(a, b)    = baskets holding both / N
    confidence(a→b)  = baskets holding both / baskets holding a      = P(b | a)
    lift(a→b)        = confidence(a→b) / (baskets holding b / N)     (> 1: more often than chance)

The pair counts come from `state.item_cf.co_counts_` (baskets holding both, for each item's top-k
item-CF neighbours), so a rule is known only for pairs among those neighbours. The baskets
holding each item are counted once per state from the purchase lines (a basket is a customer's
lines at one instant) and cached: a request then touches one row of the counts per query item.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from recsys.arrays import unique_sorted
from recsys.bundles.state import TrainedState
from recsys.errors import UnknownItemsError

SORTS = ("lift", "confidence", "together")
COLUMNS = ["item_id", "item_price", "together", "support", "confidence", "lift"]
BASKET_COLUMNS = COLUMNS + ["with_item", "with_items"]


@dataclass
class BasketStats:
    """Per-state facts the rules read: item index, baskets per item, which items may appear."""

    index: pd.Index
    baskets: int                # N: baskets in the training data
    item_baskets: np.ndarray    # (n_items,) baskets holding each item
    product: np.ndarray         # (n_items,) bool: a real product (priced, not excluded)
    price: np.ndarray           # (n_items,) typical price
    names: np.ndarray | None    # (n_items,) item names, where the catalogue has them
    categories: np.ndarray | None = None  # (n_items,) categories, where the data has them


_CACHE: dict[int, BasketStats] = {}


def _state(source: Any) -> TrainedState:
    state = getattr(source, "state", source)
    if not isinstance(state, TrainedState):
        raise TypeError("expected a Recommender or a TrainedState")
    return state


def item_basket_counts(state: TrainedState) -> tuple[np.ndarray, int]:
    """(baskets holding each item, baskets in all), counted from the lines: a basket is a
    customer's lines at one instant, and two lines of one item in a basket count once."""
    if len(state.line_item) == 0:
        return np.zeros(state.n_items), 0
    # lines are sorted by user then time: a new basket starts where either changes
    user = np.repeat(np.arange(state.n_users, dtype=np.int64), np.diff(state.line_ptr))
    new = np.r_[True, (user[1:] != user[:-1]) | (state.line_time[1:] != state.line_time[:-1])]
    basket = np.cumsum(new) - 1
    pairs = unique_sorted(basket * state.n_items + state.line_item.astype(np.int64))
    counts = np.bincount(pairs % state.n_items, minlength=state.n_items).astype(np.float64)
    return counts, int(basket[-1]) + 1


def basket_stats(source: Any) -> BasketStats:
    """The cached BasketStats of a state (built on first use: one pass over the lines)."""
    state = _state(source)
    hit = _CACHE.get(id(state))
    if hit is not None:
        return hit
    items = state.items
    if "basket_count" in items.columns:  # a bundle whose training counted them by ticket already
        counts, n_from_lines = items["basket_count"].to_numpy(np.float64), 0
    else:
        counts, n_from_lines = item_basket_counts(state)
    product = (items["price"].to_numpy(np.float64) > 0) & (counts > 0)
    if "excluded" in items.columns:  # non-product lines a cleaning step flagged but kept
        product &= ~items["excluded"].to_numpy(bool)
    # N as training counted it (by ticket where the data has tickets)
    n = int(state.summary.get("baskets") or n_from_lines)
    names, categories = (items[c].to_numpy(dtype=object) if c in items.columns and (items[c].astype(str) != "").any()
                         else None for c in ("item_name", "category"))
    stats = BasketStats(index=pd.Index(state.item_ids), baskets=max(n, 1), item_baskets=counts, product=product,
                        price=items["price"].to_numpy(np.float64), names=names, categories=categories)
    _CACHE[id(state)] = stats
    weakref.finalize(state, _CACHE.pop, id(state), None)
    return stats


def _codes(stats: BasketStats, item_ids: Iterable[Any]) -> np.ndarray:
    ids = [str(i) for i in item_ids]
    codes = stats.index.get_indexer(ids)
    if (codes < 0).any():
        raise UnknownItemsError([i for i, c in zip(ids, codes) if c < 0][:5])
    return codes.astype(np.int64)


def confidence(stats: BasketStats, code: int, together: np.ndarray) -> np.ndarray:
    """confidence(code -> other) = baskets holding both / baskets holding `code`, for each count."""
    return np.minimum(np.asarray(together, np.float64) / max(float(stats.item_baskets[code]), 1.0), 1.0)


def _rules(state: TrainedState, stats: BasketStats, code: int) -> dict[str, np.ndarray]:
    """Every known rule code → other (one row of the co-purchase counts), as arrays."""
    co = state.item_cf.co_counts_
    lo, hi = co.indptr[code], co.indptr[code + 1]
    others, together = co.indices[lo:hi].astype(np.int64), co.data[lo:hi].astype(np.float64)
    n = float(stats.baskets)
    conf = confidence(stats, code, together)
    prior = np.maximum(stats.item_baskets[others], 1.0) / n
    return {"code": others, "together": together, "support": together / n, "confidence": conf,
            "lift": conf / prior, "antecedent": np.full(len(others), code, dtype=np.int64)}


def _select(rules: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in rules.items()}


def _keep(rules: dict[str, np.ndarray], stats: BasketStats, min_support: float, min_lift: float,
          min_count: int) -> dict[str, np.ndarray]:
    ok = (stats.product[rules["code"]] & (rules["support"] >= min_support) & (rules["lift"] > min_lift)
          & (rules["together"] >= min_count))
    return _select(rules, ok)


def _sorted(rules: dict[str, np.ndarray], keys: list[str]) -> dict[str, np.ndarray]:
    """Rows by the keys, each descending, ties to the smaller item code (a stable order)."""
    order = np.lexsort([rules["code"]] + [-rules[k] for k in reversed(keys)])
    return _select(rules, order)


def _check(n: int, min_support: float, min_lift: float, min_count: int, sort_by: str = "lift") -> None:
    if sort_by not in SORTS:
        raise ValueError(f"sort_by must be one of {', '.join(SORTS)}, got {sort_by!r}")
    if n < 1:
        raise ValueError("n must be at least 1")
    if not 0 <= min_support <= 1:
        raise ValueError(f"min_support must be between 0 and 1, got {min_support}")
    if min_lift < 0:
        raise ValueError(f"min_lift must not be negative, got {min_lift}")
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")


def _finish(state: TrainedState, stats: BasketStats, rules: dict[str, np.ndarray], n: int,
            columns: list[str]) -> pd.DataFrame:
    top = {k: v[:n] for k, v in rules.items()}
    codes = top["code"]
    data = {"item_id": state.item_ids[codes].astype(str), "item_price": stats.price[codes],
            "together": top["together"].astype(np.int64), "support": top["support"],
            "confidence": top["confidence"], "lift": top["lift"]}
    if "with_items" in columns:
        data.update(with_item=state.item_ids[top["antecedent"]].astype(str), with_items=top["with_items"])
    out = pd.DataFrame(data, columns=columns)
    if stats.categories is not None:  # stores with names and categories (optional columns)
        out.insert(1, "category", stats.categories[codes])
    if stats.names is not None:
        out.insert(1, "item_name", stats.names[codes])
    return out


def _order(sort_by: str) -> list[str]:
    """Sort keys, best first: the chosen measure, then the others (the code last, for ties)."""
    return [sort_by, *[k for k in SORTS if k != sort_by]]


def bought_together(source: Any, item_id: Any, n: int = 10, min_support: float = 0.0, min_lift: float = 1.0,
                    min_count: int = 2, sort_by: str = "lift") -> pd.DataFrame:
    """Items bought in the same baskets as `item_id` more often than chance, best `sort_by` first
    (lift: most above chance; confidence or together: most often, among those above chance).

    Kept: support >= min_support, lift > min_lift and at least `min_count` baskets holding both
    (a single shared basket makes a rare pair's lift huge and meaningless)."""
    _check(n, min_support, min_lift, min_count, sort_by)
    state = _state(source)
    stats = basket_stats(state)
    code = int(_codes(stats, [item_id])[0])
    if not stats.product[code]:
        return pd.DataFrame(columns=COLUMNS)
    rules = _keep(_rules(state, stats, code), stats, min_support, min_lift, min_count)
    return _finish(state, stats, _sorted(rules, _order(sort_by)), n, COLUMNS)


def complete_basket(source: Any, item_ids: Iterable[Any], n: int = 10, min_support: float = 0.0,
                    min_lift: float = 1.0, min_count: int = 2, sort_by: str = "lift") -> pd.DataFrame:
    """Items that go with a basket: for each candidate outside the basket, the basket items it
    goes with (`with_items`) and its best rule among them by `sort_by` (`with_item`, its support,
    confidence and lift). The candidates that go with most of the basket come first."""
    _check(n, min_support, min_lift, min_count, sort_by)
    state = _state(source)
    stats = basket_stats(state)
    codes = np.unique(_codes(stats, item_ids))
    parts = [_keep(_rules(state, stats, int(c)), stats, min_support, min_lift, min_count)
             for c in codes[stats.product[codes]]]  # the handful of items in one basket
    if not parts:
        return pd.DataFrame(columns=BASKET_COLUMNS)
    rules = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    rules = _select(rules, ~np.isin(rules["code"], codes))
    # per candidate: how many basket items it goes with, and its best rule among them
    best = _sorted(rules, _order(sort_by))
    _, first, count = np.unique(best["code"], return_index=True, return_counts=True)
    best = _select(best, first)
    best["with_items"] = count
    best = _sorted(best, ["with_items", *_order(sort_by)])
    return _finish(state, stats, best, n, BASKET_COLUMNS)
