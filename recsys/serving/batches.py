"""Stage 0 of the request path: who is asking, as of when. Builds the UserBatch models read
from the stored purchase lines of known users and the lines given at call time."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.arrays import CsrRows, PairGroups, gather_ranges, unique_sorted
from recsys.bundles.state import TrainedState
from recsys.config import SEGMENTS, TuningConfig
from recsys.io.dates import SECONDS_PER_DAY, timestamp_seconds, to_seconds
from recsys.models import UserBatch
from recsys.models.base import DAY_KEY
from recsys.models.data import user_item_sums


@dataclass
class ExtraLines:
    """Purchase lines given at call time (a basket of a customer unseen at training)."""

    rows: np.ndarray     # batch row of each line
    items: np.ndarray    # item code
    times: np.ndarray    # seconds
    weights: np.ndarray  # confidence weight

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class CallTimeHistory:
    """A purchase history given with a request: its lines (row 0), their average item price, and
    the item ids that were left out because the models never saw them."""

    lines: ExtraLines
    avg_price: float
    ignored: list[str] = field(default_factory=list)


def shopping_days(rows: np.ndarray, age_days: np.ndarray, n_rows: int) -> np.ndarray:
    """Distinct shopping days of each row (a day = a whole day before the as-of time)."""
    keys = unique_sorted(rows.astype(np.int64) * DAY_KEY + np.floor(age_days).astype(np.int64))
    return np.bincount(keys // DAY_KEY, minlength=n_rows)


class BatchBuilder:
    """Turns user codes, as-of times and call-time lines into a UserBatch."""

    def __init__(self, state: TrainedState) -> None:
        self.state = state
        self.item_index = pd.Index(state.item_ids)
        self.item_price = state.items["price"].to_numpy(np.float64)
        self.avg_units = state.items["avg_units"].to_numpy(np.float64)
        self.avg_price = state.profiles["avg_item_price"].to_numpy(np.float64)
        self.segment = state.profiles["segment_code"].to_numpy(np.int8)
        # per-request constants, computed once (a max over every line costs ~15 ms at 20M lines)
        self.default_as_of = int(state.line_time.max()) + 1 if len(state.line_time) else 0
        self.median_price = float(np.median(self.item_price)) if len(self.item_price) else 1.0
        # every user's history at the default time, as training computed it (None: older bundles)
        self.stored_history = CsrRows.of(state.user_items) if getattr(state, "user_items", None) is not None else None

    def avg_price_for(self, codes: np.ndarray) -> np.ndarray:
        """Each user's average item price; the store's median for users unseen at training."""
        return np.where(codes >= 0, self.avg_price[np.maximum(codes, 0)], self.median_price)

    def as_of(self, timestamp: Any | None) -> int:
        """The as-of time in seconds; default: just after the last sale in the data."""
        return self.default_as_of if timestamp is None else timestamp_seconds(timestamp)

    def segment_of_price(self, avg_price: float) -> int:
        """The spending segment whose average item price range holds `avg_price`."""
        return int(np.searchsorted(self.state.segment_cuts, avg_price, side="right"))

    def build(self, codes: np.ndarray, as_of: np.ndarray, config: TuningConfig, extra: ExtraLines | None = None,
              segments: np.ndarray | None = None, avg_price: np.ndarray | None = None) -> UserBatch:
        """The batch for known codes (-1 = unknown) at per-user as-of times, plus extra lines.

        `segments` and `avg_price` default to the known users' own (the default segment and the
        store's median price for unknown ones)."""
        st = self.state
        codes = np.asarray(codes, dtype=np.int64)
        as_of = np.asarray(as_of, dtype=np.int64)
        known = codes >= 0
        if len(codes) == 1:  # one request: a slice of the stored lines
            lo, hi = (int(st.line_ptr[codes[0]]), int(st.line_ptr[codes[0] + 1])) if known[0] else (0, 0)
            rows, idx = np.zeros(hi - lo, dtype=np.int64), slice(lo, hi)
        else:
            starts = np.where(known, st.line_ptr[np.maximum(codes, 0)], 0)
            ends = np.where(known, st.line_ptr[np.maximum(codes, 0) + 1], 0)
            rows, idx = gather_ranges(starts, ends)
        items, times, weights = st.line_item[idx].astype(np.int64), st.line_time[idx], st.line_weight[idx]
        if extra is not None:
            rows, items = np.r_[rows, extra.rows], np.r_[items, extra.items]
            times, weights = np.r_[times, extra.times], np.r_[weights, extra.weights]
        default_time = extra is None and bool((as_of == self.default_as_of).all())
        if not default_time:  # at the default time every stored line is history
            before = times <= as_of[rows]  # a line at the as-of instant is history (a new customer's first basket)
            rows, items, times, weights = rows[before], items[before], times[before], weights[before]
        pairs = None
        if default_time and self.stored_history is not None:
            hist = self.stored_history.take(codes)  # precomputed: the same sums of the same lines
        else:
            pairs = PairGroups.of(rows, items, st.n_items)
            hist = user_item_sums(pairs, weights, len(codes), config.signals.log_transform)
        if segments is None:
            default = SEGMENTS.index(config.rerank.default_segment)
            segments = np.where(known, self.segment[np.maximum(codes, 0)], default)
        age = (as_of[rows] - times) / SECONDS_PER_DAY
        batch = UserBatch(
            codes=codes, history=hist, segments=np.asarray(segments, dtype=np.int8),
            line_row=rows.astype(np.int64), line_item=items, line_age_days=age,
            avg_price=np.asarray(self.avg_price_for(codes) if avg_price is None else avg_price, dtype=np.float64),
            newcomer=shopping_days(rows, age, len(codes)) <= config.newcomers.max_trips,
            default_as_of=default_time)
        batch.cache.pairs = pairs  # grouped already: the stages that ask how often and how recently reuse it
        return batch

    def history_lines(self, history: Any, as_of: int, config: TuningConfig) -> CallTimeHistory:
        """A purchase history given at call time as lines of row 0, and its average item price.

        Items the models never saw cannot be scored: they are left out and named in `ignored`."""
        frame = history if isinstance(history, pd.DataFrame) else pd.DataFrame(
            [{"item_id": h} if not isinstance(h, dict) else h for h in history])
        if len(frame) and "item_id" not in frame.columns:
            raise ValueError("history needs an 'item_id' for each purchase")
        if not len(frame):
            frame = pd.DataFrame({"item_id": pd.Series([], dtype=str)})
        ids = frame["item_id"].astype(str)
        codes = self.item_index.get_indexer(ids)
        ignored = list(dict.fromkeys(ids[codes < 0]))
        frame = frame.assign(_code=codes)[codes >= 0]
        items = frame["_code"].to_numpy(np.int64)
        # a missing price is the item's current one, a missing quantity one unit
        price = pd.to_numeric(frame["price"], errors="coerce").to_numpy(np.float64) if "price" in frame \
            else np.full(len(items), np.nan)
        price = np.where(np.isnan(price), self.item_price[items], price)
        qty = pd.to_numeric(frame["quantity"], errors="coerce").to_numpy(np.float64) if "quantity" in frame \
            else np.ones(len(items))
        qty = np.where(np.isnan(qty), 1.0, qty)
        if not (np.isfinite(price).all() and np.isfinite(qty).all()) or (price < 0).any() or (qty <= 0).any():
            raise ValueError("history prices must be finite and not negative, quantities finite and positive")
        times = np.full(len(items), as_of - 1, dtype=np.int64)
        if "timestamp" in frame and frame["timestamp"].notna().any():
            stamps = frame["timestamp"]
            given = stamps.notna().to_numpy()
            times[given] = [timestamp_seconds(s) for s in stamps[given]]  # the handful of lines of one basket
        avg = float(price.mean()) if len(price) and price.mean() > 0 else self.median_price
        sig = config.signals
        units = np.where(self.avg_units[items] > 0, self.avg_units[items], 1)
        w = np.clip(sig.spending_weight * price / avg + sig.quantity_weight * qty / units, sig.clip_min, sig.clip_max)
        lines = ExtraLines(np.zeros(len(items), np.int64), items, times.astype(np.int64), w.astype(np.float32))
        return CallTimeHistory(lines, avg, ignored)


def as_of_array(n_users: int, timestamps: Any | None, builder: BatchBuilder) -> np.ndarray:
    """Per-user as-of seconds from one timestamp (or None: the default) or one per user."""
    if timestamps is None or np.ndim(timestamps) == 0:
        return np.full(n_users, builder.as_of(timestamps), dtype=np.int64)
    return to_seconds(pd.DatetimeIndex(pd.to_datetime(list(timestamps))))
