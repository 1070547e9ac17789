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

from recsys.features import unique_inverse_counts, unique_sorted
from recsys.models.base import Scorer, UserBatch, gather_csr

HALF_LIVES = (7.0, 30.0, 90.0, 365.0)
FEATURES = ("lines", "days", *(f"decay_{int(h)}" for h in HALF_LIVES), "days_since_last", "days_since_first",
            "mean_gap", "due_ratio", "trip_share", "user_trips", "user_trips_28", "user_items",
            "user_days_since_last", "item_repeat_rate", "item_cycle", "item_due_ratio", "item_popularity",
            "price_ratio", "expected_in_horizon")


def _group_min(inv: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.inf)
    np.minimum.at(out, inv, values)
    return out


def _group_max(inv: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, -np.inf)
    np.maximum.at(out, inv, values)
    return out


def pair_features(users: UserBatch, n_items: int, item_repeat_rate: np.ndarray, item_cycle: np.ndarray,
                  item_popularity: np.ndarray, item_price: np.ndarray, user_avg_price: np.ndarray,
                  horizon_days: float = 28.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, items, X): one feature row per distinct (batch row, past item) pair."""
    row, item, age = users.line_row.astype(np.int64), users.line_item.astype(np.int64), users.line_age_days
    if len(row) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, len(FEATURES)))
    pairs, inv, _ = unique_inverse_counts(row * n_items + item)
    n = len(pairs)
    prow, pitem = pairs // n_items, pairs % n_items
    day = np.floor(age).astype(np.int64)
    lines = np.bincount(inv, minlength=n).astype(np.float64)
    pair_days = unique_sorted(inv.astype(np.int64) * 100_000 + day)
    days = np.bincount((pair_days // 100_000).astype(np.int64), minlength=n).astype(np.float64)
    decays = [np.bincount(inv, weights=np.power(0.5, age / h), minlength=n) for h in HALF_LIVES]
    last = _group_min(inv, age, n)
    first = _group_max(inv, age, n)
    mean_gap = np.where(days > 1, (first - last) / np.maximum(days - 1, 1), np.nan)
    due = last / mean_gap

    b = len(users)
    trips_key = unique_sorted(row * 100_000 + day)
    trips = np.bincount(trips_key // 100_000, minlength=b).astype(np.float64)
    recent_key = trips_key[(trips_key % 100_000) < horizon_days]
    trips28 = np.bincount(recent_key // 100_000, minlength=b).astype(np.float64)
    user_items = np.bincount(prow, minlength=b).astype(np.float64)
    user_last = _group_min(row, age, b)

    cyc = item_cycle[pitem]
    x = np.column_stack([
        lines, days, *decays, last, first, mean_gap, due, days / np.maximum(trips[prow], 1),
        trips[prow], trips28[prow], user_items[prow], user_last[prow],
        item_repeat_rate[pitem], cyc, last / cyc, item_popularity[pitem],
        item_price[pitem] / np.where(user_avg_price[prow] > 0, user_avg_price[prow], 1.0),
        np.where(np.isfinite(mean_gap) & (mean_gap > 0), horizon_days / mean_gap, 0.0),
    ])
    return prow, pitem, x


class RepeatModel(Scorer):
    name = "repeat"

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

    def fit(self, item_repeat_rate: np.ndarray, item_cycle: np.ndarray, item_popularity: np.ndarray,
            item_price: np.ndarray, x: np.ndarray | None = None, y: np.ndarray | None = None) -> "RepeatModel":
        """Item facts always; (x, y) pair features and labels to learn from, when there are enough."""
        self.item_repeat_rate_ = np.asarray(item_repeat_rate, dtype=np.float64)
        self.item_cycle_ = np.asarray(item_cycle, dtype=np.float64)
        self.item_popularity_ = np.asarray(item_popularity, dtype=np.float64)
        self.item_price_ = np.asarray(item_price, dtype=np.float64)
        self.booster_ = None
        if x is not None and y is not None and len(y) >= 200 and 20 <= y.sum() <= len(y) - 20:
            import lightgbm as lgb

            params = dict(objective="binary", learning_rate=self.learning_rate, num_leaves=self.num_leaves,
                          min_child_samples=self.min_child_samples, subsample=0.8, subsample_freq=1,
                          colsample_bytree=0.8, seed=self.random_state, verbose=-1, max_bin=63,
                          # one thread: OpenMP's spinning threads lose 3-4x when the cores are shared
                          num_threads=1, deterministic=True, force_col_wise=True)
            self.booster_ = lgb.train(params, lgb.Dataset(x, label=y.astype(np.float32),
                                                          feature_name=list(FEATURES)), self.n_estimators)
        return self

    @property
    def n_items(self) -> int:
        return len(self.item_price_)

    def features(self, users: UserBatch, user_avg_price: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return pair_features(users, self.n_items, self.item_repeat_rate_, self.item_cycle_,
                             self.item_popularity_, self.item_price_, user_avg_price, self.horizon_days)

    def decayed_counts(self, users: UserBatch) -> sp.csr_matrix:
        """(batch, n_items): sum over past purchases of 0.5 ** (age / half-life)."""
        w = np.power(0.5, users.line_age_days / max(self.half_life_days, 1e-9))
        m = sp.csr_matrix((w.astype(np.float32), (users.line_row, users.line_item)), shape=(len(users), self.n_items))
        m.sum_duplicates()
        return m

    def probabilities(self, users: UserBatch, user_avg_price: np.ndarray) -> sp.csr_matrix:
        """(batch, n_items) P(bought again within the horizon) for each past item."""
        rows, items, x = self.features(users, user_avg_price)
        # one thread: a request predicts a few hundred rows, where thread start-up dominates
        p = self.booster_.predict(x, num_threads=1 if len(rows) < 50_000 else 0) if len(rows) else np.empty(0)
        return sp.csr_matrix((p, (rows, items)), shape=(len(users), self.n_items))

    def candidates(self, users: UserBatch, k: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Every distinct past item of each user (k is ignored: a user's own items all count)."""
        pairs = unique_sorted(users.line_row.astype(np.int64) * self.n_items + users.line_item)
        return pairs // self.n_items, pairs % self.n_items

    def score(self, users: UserBatch, candidates: np.ndarray, user_avg_price: np.ndarray | None = None,
              simple_rows: np.ndarray | None = None, precomputed: sp.csr_matrix | None = None) -> np.ndarray:
        """(batch, pool); `simple_rows` marks rows scored by the plain decay whatever `learned`
        says; `precomputed` holds learned probabilities by user code for requests at the default time."""
        out = gather_csr(self.decayed_counts(users), candidates)
        if self.learned and self.booster_ is not None:
            learn = np.ones(len(users), bool) if simple_rows is None else ~np.asarray(simple_rows, bool)
            if learn.any():
                rows = np.flatnonzero(learn)
                known = users.codes >= 0
                if precomputed is not None and known[learn].all():
                    out[rows] = gather_csr(precomputed, candidates[rows], rows=users.codes[rows])
                else:
                    avg = user_avg_price if user_avg_price is not None else np.ones(len(users))
                    out[rows] = gather_csr(self.probabilities(users, avg), candidates)[rows]
        # popularity only breaks ties among past items
        out += (out > 0) * (1e-6 * self.item_popularity_[np.maximum(candidates, 0)])
        return out
