"""The buy-again learner: the repeat model's classifier of "bought again within the horizon",
taught on past windows of the training data, and its probabilities at the end of the data."""
from __future__ import annotations

import numpy as np

from recsys.arrays import gather_ranges, unique_sorted
from recsys.bundles.state import TrainedState
from recsys.config import TuningConfig
from recsys.models import TrainingData
from recsys.serving.batches import BatchBuilder, ExtraLines

# labelled pairs the classifier learns from (a uniform sample beyond): 100k, not 250k, keeps the
# validation NDCG@10 of the fitted hybrid (workbook, lowrepeat: benchmarks.quality) at 40% of the fit's CPU
MAX_ROWS = 100_000
MAX_PRECOMPUTE_LINES = 5_000_000  # stores up to this many lines keep every user's default probabilities
DEFAULTS_CHUNK = 2048            # users per predict when precomputing them


def repeat_training_rows(state: TrainedState, config: TuningConfig, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pair features and "bought again within the horizon" labels from past windows of the data.

    Window w asks its users just before T = end - w x horizon and labels with their lines in
    [T, T + horizon), where `end` is just after the last sale: the last window holds the last day.
    A share of the sampled users is also cut down to their last basket before T (simulated
    newcomers) so the model learns what one basket says."""
    rc = config.repeat
    builder = BatchBuilder(state)
    rng = np.random.default_rng(seed)
    horizon = int(rc.horizon_days * 86_400)
    end = builder.default_as_of  # the last sale + 1 s: windows are half-open, the last one ends here
    ptr, times = state.line_ptr, state.line_time
    first = np.where(np.diff(ptr) > 0, times[np.minimum(ptr[:-1], len(times) - 1)], np.iinfo(np.int64).max)
    xs, ys = [], []
    for w in range(1, rc.windows + 1):  # a handful of windows, each vectorised over its users
        t = end - w * horizon
        eligible = np.flatnonzero(first < t)
        if len(eligible) < 5:
            break
        codes = np.sort(rng.choice(eligible, size=min(len(eligible), rc.max_users_per_window), replace=False))
        rows, idx = gather_ranges(ptr[codes], ptr[codes + 1])
        in_window = (times[idx] >= t) & (times[idx] < t + horizon)
        bought = unique_sorted(rows[in_window].astype(np.int64) * state.n_items + state.line_item[idx][in_window])
        batch = builder.build(codes, np.full(len(codes), t - 1, dtype=np.int64), config)
        r, i, x = state.repeat.features(batch)
        xs.append(x)
        ys.append(np.isin(r * state.n_items + i, bought))
        # simulated newcomers: the same users with only their last basket before T
        n_new = int(len(codes) * rc.newcomer_share)
        if n_new:
            pick = np.sort(rng.choice(len(codes), size=n_new, replace=False))
            before = (times[idx] < t) & np.isin(rows, pick)
            r0, i0, t0 = rows[before], idx[before], times[idx][before]
            last = np.full(len(codes), -1, dtype=np.int64)
            np.maximum.at(last, r0, t0)
            keep = t0 == last[r0]
            newrow = np.searchsorted(pick, r0[keep])
            extra = ExtraLines(newrow, state.line_item[i0[keep]].astype(np.int64), t0[keep], state.line_weight[i0[keep]])
            price = np.bincount(newrow, weights=state.line_price[i0[keep]], minlength=n_new)
            lines = np.maximum(np.bincount(newrow, minlength=n_new), 1)
            nb = builder.build(np.full(n_new, -1), np.full(n_new, t - 1, dtype=np.int64), config, extra=extra,
                               avg_price=price / lines)
            r2, i2, x2 = state.repeat.features(nb)
            xs.append(x2)
            ys.append(np.isin(pick[r2] * state.n_items + i2, bought))
    if not xs:
        return np.empty((0, 0)), np.empty(0, bool)
    return np.concatenate(xs), np.concatenate(ys)


def learn_repeat(state: TrainedState, data: TrainingData, config: TuningConfig, max_rows: int = MAX_ROWS,
                 max_precompute_lines: int = MAX_PRECOMPUTE_LINES) -> None:
    """Refit the repeat model with a classifier taught on past windows (it keeps the plain decay
    if there is too little to learn from), and keep its default probabilities on small stores."""
    x, y = repeat_training_rows(state, config)
    if len(y) > max_rows:
        # a uniform sample keeps the label rate, so the probabilities stay calibrated
        keep = np.sort(np.random.default_rng(0).choice(len(y), size=max_rows, replace=False))
        x, y = x[keep], y[keep]
    state.repeat.fit(data.with_repeat_examples(x, y))
    if state.repeat.booster_ is not None and len(state.line_item) <= max_precompute_lines:
        builder = BatchBuilder(state)
        as_of = builder.default_as_of
        batches = (builder.build(codes, np.full(len(codes), as_of, dtype=np.int64), config)
                   for codes in (np.arange(lo, min(lo + DEFAULTS_CHUNK, state.n_users))
                                 for lo in range(0, state.n_users, DEFAULTS_CHUNK)))
        state.repeat.remember_defaults(batches)
