"""The one typed input every model fits on: the store's lines as integer codes, each line's
confidence weight, and the per-user and per-item facts the models share.

Both training engines build it (`recsys.training.features.training_data`, and the Spark engine
from its own aggregates); each model reads what it needs."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.arrays import unique_inverse_counts


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
        """(n_users, n_items) confidence: summed line weights, log1p-damped so staples do not swamp ALS."""
        m = sp.csr_matrix((self.weight.astype(np.float32), (self.user, self.item)), shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        if self.log_transform:
            m.data = np.log1p(m.data).astype(np.float32)
        return m

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
