"""The one typed input every model fits on: the store's lines as integer codes, each line's
confidence weight, and the per-user and per-item facts the models share.

Both training engines build it (`recsys.training.features.training_data`, and the Spark engine
from its own aggregates); each model reads what it needs."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.arrays import CsrRows, PairGroups, unique_inverse_counts


def user_item_sums(pairs: PairGroups, weights: np.ndarray, n_rows: int, log_transform: bool) -> CsrRows:
    """The history matrix of some users from their lines grouped by (user, item): each pair's
    summed line weights, log1p-damped when `log_transform`; float32. Training and a request
    compute it with this one function."""
    sums = pairs.sums(weights).astype(np.float32)
    return pairs.as_rows(np.log1p(sums) if log_transform else sums, n_rows)


LINES_PER_STEP = 2_000_000  # lines grouped at once when every user's history is computed


def all_user_item_sums(user: np.ndarray, item: np.ndarray, weight: np.ndarray, n_users: int, n_items: int,
                       log_transform: bool) -> sp.csr_matrix:
    """Every user's history matrix (user_item_sums), from lines sorted by user, in steps of whole
    users: each step sorts ~2M lines (one sort of all 20M lines held ~0.8 GiB more at its peak),
    and a user's row depends on its own lines only, so the rows are those of one go."""
    user = np.asarray(user)
    if len(user) > 1 and not (user[1:] >= user[:-1]).all():  # not grouped by user: one sort of everything
        return user_item_sums(PairGroups.of(user, item, n_items), weight, n_users, log_transform).tocsr()
    ptr = np.r_[0, np.cumsum(np.bincount(user, minlength=n_users))] if len(user) else np.zeros(n_users + 1, np.int64)
    cuts = np.unique(np.r_[0, np.searchsorted(ptr, np.arange(LINES_PER_STEP, len(user), LINES_PER_STEP)), n_users])
    counts, indices, data = [], [], []
    for u0, u1 in zip(cuts[:-1], cuts[1:]):  # ~10 steps at 20M lines, not a loop over users
        lo, hi = ptr[u0], ptr[u1]
        part = user_item_sums(PairGroups.of(user[lo:hi] - u0, item[lo:hi], n_items), weight[lo:hi], int(u1 - u0),
                              log_transform)
        counts.append(np.diff(part.indptr))
        indices.append(part.indices.astype(np.int32))
        data.append(part.data)
    indptr = np.r_[0, np.cumsum(np.concatenate(counts))] if counts else np.zeros(n_users + 1, np.int64)
    return sp.csr_matrix((np.concatenate(data) if data else np.zeros(0, np.float32),
                          np.concatenate(indices) if indices else np.zeros(0, np.int32), indptr),
                         shape=(n_users, n_items))


@dataclass
class TrainingData:
    """The encoded store: lines sorted by (user, time), and facts per user and per item."""

    n_users: int
    n_items: int
    user: np.ndarray            # (lines,) int32 user code
    item: np.ndarray            # (lines,) int32 item code
    time: np.ndarray            # (lines,) int64 seconds
    basket: np.ndarray          # (lines,) int64 basket code
    weight: np.ndarray          # (lines,) float32 confidence weight of the line
    log_transform: bool         # the user x item confidence is log1p(summed weights)
    user_segment: np.ndarray    # (n_users,) int8 spending segment code
    item_price: np.ndarray      # (n_items,) current unit price
    item_popularity: np.ndarray  # (n_items,) what the popularity model ranks by, in [0, 1]
    item_buyers_share: np.ndarray  # (n_items,) distinct buyers / the most any item has
    segment_buyers: np.ndarray  # (n_segments, n_items) distinct buyers within each segment
    item_repeat_rate: np.ndarray | None = None  # (n_items,) share of buyers who bought it on 2+ days
    item_cycle: np.ndarray | None = None        # (n_items,) median days between repeat purchases (nan)
    # pair features and "bought again" labels from past windows (recsys.training.repeat_learner)
    repeat_examples: tuple[np.ndarray, np.ndarray] | None = None
    # guest lines (sales without a customer id): anonymous baskets that only the basket models read
    guest_item: np.ndarray | None = None    # (guest lines,) int32 item code
    guest_basket: np.ndarray | None = None  # (guest lines,) int64 basket code, apart from the customers'
    guest_weight: np.ndarray | None = None  # (guest lines,) float32 confidence weight

    def user_items(self) -> sp.csr_matrix:
        """(n_users, n_items) confidence: summed line weights, log1p-damped so staples do not swamp ALS.

        Computed once (ALS fits on it and the bundle keeps it as every user's history)."""
        cached = self.__dict__.get("_user_items")
        if cached is None:
            cached = self.__dict__["_user_items"] = all_user_item_sums(
                self.user, self.item, self.weight, self.n_users, self.n_items, self.log_transform)
        return cached

    def basket_items(self) -> sp.csr_matrix:
        """(n_baskets, n_items) summed line weights per basket, the guests' baskets after the
        customers': the input of item-item CF."""
        basket, item, weight = self.basket, self.item, self.weight
        if self.guest_item is not None and len(self.guest_item):
            after = int(basket.max()) + 1 if len(basket) else 0
            basket = np.r_[basket, self.guest_basket.astype(np.int64) + after]
            item, weight = np.r_[item, self.guest_item], np.r_[weight, self.guest_weight]
        baskets, codes, _ = unique_inverse_counts(basket)
        m = sp.csr_matrix((weight, (codes, item)), shape=(len(baskets), self.n_items))
        m.sum_duplicates()
        return m

    def with_repeat_examples(self, x: np.ndarray, y: np.ndarray) -> "TrainingData":
        return dataclasses.replace(self, repeat_examples=(x, y))

    def without_lines(self) -> "TrainingData":
        """The per-user and per-item facts only (what a later refit of the repeat model reads),
        so the line arrays need not stay alive for the rest of training."""
        none = np.empty(0, dtype=np.int64)
        return dataclasses.replace(self, user=none, item=none, time=none, basket=none,
                                   weight=np.empty(0, dtype=np.float32), guest_item=None, guest_basket=None,
                                   guest_weight=None)
