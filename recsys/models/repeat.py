"""'Buy again / due for repurchase': the user's own past items, scored by how likely each is
bought again within the horizon.

Two ways to score, one knob (`learned`):
- learned: a gradient-boosted classifier of "bought again within `horizon_days`" over repeat
  facts of each (user, past item) pair: recency-decayed counts at several half-lives, days
  since the last purchase, the pair's own cycle and whether it is due, how often the item's
  buyers rebuy it, the user's trip rate. It is trained on several windows inside the training
  data, plus simulated newcomers (loyal users cut down to one basket) so it also serves new
  customers.
- simple: sum over past purchases of 0.5 ** (age / half_life_days).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.arrays import (
    CsrRows,
    gather_csr,
    group_min,
    unique_sorted,
)
from recsys.config import TuningConfig
from recsys.models.base import DAY_KEY, FitProgress, Scorer, UserBatch
from recsys.models.data import TrainingData

HALF_LIVES = (7.0, 30.0, 90.0, 365.0)
FEATURES = ("lines", "days", *(f"decay_{int(h)}" for h in HALF_LIVES), "days_since_last", "days_since_first",
            "mean_gap", "due_ratio", "trip_share", "user_trips", "user_trips_28", "user_items",
            "user_days_since_last", "item_repeat_rate", "item_cycle", "item_due_ratio", "item_popularity",
            "price_ratio", "expected_in_horizon")
MIN_EXAMPLES = 200   # fewer labelled pairs than this (or fewer than 20 of either label): no classifier


def pair_features(batch: UserBatch, n_items: int, item_repeat_rate: np.ndarray, item_cycle: np.ndarray,
                  item_popularity: np.ndarray, item_price: np.ndarray,
                  horizon_days: float = 28.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, items, X): one feature row per distinct (batch row, past item) pair."""
    row, age = batch.line_row.astype(np.int64), batch.line_age_days
    if len(row) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, len(FEATURES)))
    grouped = batch.pairs()
    inv, n = grouped.inverse, len(grouped.keys)
    prow, pitem = grouped.rows, grouped.cols
    day = np.floor(age).astype(np.int64)
    lines = np.bincount(inv, minlength=n).astype(np.float64)
    pair_days = unique_sorted(inv.astype(np.int64) * DAY_KEY + day)
    days = np.bincount((pair_days // DAY_KEY).astype(np.int64), minlength=n).astype(np.float64)
    decays = [np.bincount(inv, weights=np.power(0.5, age / h), minlength=n) for h in HALF_LIVES]
    last = grouped.mins(age)
    first = -grouped.mins(-age)
    mean_gap = np.where(days > 1, (first - last) / np.maximum(days - 1, 1), np.nan)
    due = last / mean_gap

    b = len(batch)
    trips_key = unique_sorted(row * DAY_KEY + day)
    trips = np.bincount(trips_key // DAY_KEY, minlength=b).astype(np.float64)
    recent_key = trips_key[(trips_key % DAY_KEY) < horizon_days]
    trips28 = np.bincount(recent_key // DAY_KEY, minlength=b).astype(np.float64)
    user_items = np.bincount(prow, minlength=b).astype(np.float64)
    user_last = group_min(row, age, b)

    cyc = item_cycle[pitem]
    avg = batch.avg_price
    x = np.column_stack([
        lines, days, *decays, last, first, mean_gap, due, days / np.maximum(trips[prow], 1),
        trips[prow], trips28[prow], user_items[prow], user_last[prow],
        item_repeat_rate[pitem], cyc, last / cyc, item_popularity[pitem],
        item_price[pitem] / np.where(avg[prow] > 0, avg[prow], 1.0),
        np.where(np.isfinite(mean_gap) & (mean_gap > 0), horizon_days / mean_gap, 0.0),
    ])
    return prow, pitem, x


class RepeatModel(Scorer):
    name = "repeat"
    booster_ = None                    # the classifier; None: the plain decay scores
    default_probabilities_: sp.csr_matrix | None = None  # (n_users, n_items) at the end of the data

    def __init__(self, half_life_days: float = 60.0, learned: bool = True, horizon_days: float = 28.0,
                 n_estimators: int = 100, learning_rate: float = 0.08, num_leaves: int = 15,
                 min_child_samples: int = 50, random_state: int = 0) -> None:
        self.half_life_days = half_life_days
        self.learned = learned
        self.horizon_days = horizon_days
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state

    def fit(self, data: TrainingData, progress: FitProgress | None = None) -> "RepeatModel":
        """Item facts always; a classifier from `data.repeat_examples` when there are enough."""
        self.item_repeat_rate_ = np.asarray(data.item_repeat_rate, dtype=np.float64)
        self.item_cycle_ = np.asarray(data.item_cycle, dtype=np.float64)
        self.item_popularity_ = np.asarray(data.item_buyers_share, dtype=np.float64)
        self.item_price_ = np.asarray(data.item_price, dtype=np.float64)
        self.booster_ = None
        self.default_probabilities_ = None
        x, y = data.repeat_examples if data.repeat_examples is not None else (None, None)
        if y is not None and len(y) >= MIN_EXAMPLES and 20 <= y.sum() <= len(y) - 20:
            import lightgbm as lgb

            params = dict(objective="binary", learning_rate=self.learning_rate, num_leaves=self.num_leaves,
                          min_child_samples=self.min_child_samples, subsample=0.8, subsample_freq=1,
                          colsample_bytree=0.8, seed=self.random_state, verbose=-1, max_bin=63,
                          # one thread: OpenMP's spinning threads lose 3-4x when the cores are shared
                          num_threads=1, deterministic=True, force_col_wise=True,
                          # 63 bins per feature need no 200k-row sample to place their edges
                          bin_construct_sample_cnt=50_000)
            self.booster_ = lgb.train(params, lgb.Dataset(x, label=y.astype(np.float32), feature_name=list(FEATURES),
                                                          params=params), self.n_estimators)
        return self

    def remember_defaults(self, batches) -> "RepeatModel":
        """Learned probabilities of every user at the end of the data, from batches of user codes
        0, 1, 2, ... in order: a request at the default time then reads them instead of predicting."""
        if self.booster_ is not None:
            self.default_probabilities_ = sp.vstack([self.probabilities(b).tocsr() for b in batches]).tocsr().astype(np.float32)
        return self

    @property
    def n_items(self) -> int:
        return len(self.item_price_)

    def features(self, batch: UserBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return pair_features(batch, self.n_items, self.item_repeat_rate_, self.item_cycle_,
                             self.item_popularity_, self.item_price_, self.horizon_days)

    def decayed_counts(self, batch: UserBatch, half_life_days: float) -> CsrRows:
        """(batch, n_items): sum over past purchases of 0.5 ** (age / half-life)."""
        w = np.power(0.5, batch.line_age_days / max(half_life_days, 1e-9))
        pairs = batch.pairs()
        return pairs.as_rows(pairs.sums(w).astype(np.float32), len(batch))

    def probabilities(self, batch: UserBatch) -> CsrRows:
        """(batch, n_items) P(bought again within the horizon) for each past item."""
        rows, items, x = self.features(batch)
        # one thread: a request predicts a few hundred rows, where thread start-up dominates
        p = self.booster_.predict(x, num_threads=1 if len(rows) < 50_000 else 0) if len(rows) else np.empty(0)
        return CsrRows.from_pairs(rows, items, p, len(batch), self.n_items)  # pairs come sorted

    def candidates(self, batch: UserBatch, k: int = 0, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The user's own past items that are not banned: all of them (k = 0, what a request asks),
        else the k bought most recently."""
        grouped = batch.pairs()
        pairs, rows = grouped.keys, grouped.rows
        if k <= 0:
            items = pairs % self.n_items
            ok = np.ones(len(pairs), bool) if banned is None else ~banned[items]
            return rows[ok], items[ok]
        last = grouped.mins(batch.line_age_days)
        if banned is not None:
            ok = ~banned[pairs % self.n_items]
            pairs, rows, last = pairs[ok], rows[ok], last[ok]
        order = np.lexsort((last, rows))  # each row's most recent first
        rank = np.arange(len(order)) - np.searchsorted(rows[order], rows[order])
        top = np.sort(order[rank < k])
        return rows[top], pairs[top] % self.n_items

    def score(self, batch: UserBatch, candidates: np.ndarray, config: TuningConfig | None = None) -> np.ndarray:
        """(batch, pool): the learned probability of being bought again within the horizon, or the
        plain decay (knob `repeat.learned` off, no classifier, or a newcomer: one basket says too
        little for the classifier)."""
        learned = self.learned if config is None else config.repeat.learned
        half_life = self.half_life_days if config is None else config.repeat.half_life_days
        out = np.zeros(candidates.shape)
        plain = np.ones(len(batch), dtype=bool)  # rows scored by the plain decay
        if learned and self.booster_ is not None:
            rows = np.flatnonzero(~np.asarray(batch.newcomer, bool))
            if len(rows):
                known = batch.codes[rows] >= 0
                if self.default_probabilities_ is not None and batch.default_as_of and known.all():
                    out[rows] = gather_csr(self.default_probabilities_, candidates[rows], rows=batch.codes[rows])
                else:
                    out[rows] = gather_csr(self.probabilities(batch), candidates)[rows]
                plain[rows] = False
        if plain.any():
            out[plain] = gather_csr(self.decayed_counts(batch, half_life), candidates)[plain]
        # popularity only breaks ties among past items
        out += (out > 0) * (1e-6 * self.item_popularity_[np.maximum(candidates, 0)])
        return out
