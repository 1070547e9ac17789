"""Training: one pass from a cleaned frame to a TrainedState, with timings and progress."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys import features as F
from recsys import schema as S
from recsys.config import TuningConfig
from recsys.models import ALSModel, ItemCFModel, PopularityModel, RepeatModel
from recsys.state import TrainedState

# progress(stage, fraction_of_stage_done, message)
Progress = Callable[[str, float, str], None]
STAGES = ("load", "clean", "features", "als", "item_cf", "popularity", "repurchase_cycles", "repeat_learner",
          "validation", "hybrid_fit", "calibration", "segment_summary", "save")
WEEK = 7 * 86_400
TOP_TREND_ITEMS = 50


def _quiet(stage: str, fraction: float, message: str) -> None:
    return None


@dataclass
class StageTimer:
    """Times each training stage and reports progress as it goes."""

    progress: Progress = _quiet
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, message: str = "") -> Iterator[None]:
        self.progress(name, 0.0, message or name)
        t0 = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t0, 4)
        self.progress(name, 1.0, f"{name} done in {self.timings[name]:.2f} s")


def basket_matrix(enc: F.Encoded, weight: np.ndarray) -> sp.csr_matrix:
    """(n_baskets, n_items) summed line weights: the input of item-item CF."""
    baskets, codes, _ = F.unique_inverse_counts(enc.basket)
    m = sp.csr_matrix((weight, (codes, enc.item)), shape=(len(baskets), enc.n_items))
    m.sum_duplicates()
    return m


def weekly_sales(enc: F.Encoded) -> pd.DataFrame:
    """Revenue, lines and baskets per week and customer type (for the overview charts)."""
    week = (enc.time - 4 * 86_400) // WEEK  # weeks start on Monday (1970-01-05 was one)
    loyal = (enc.user_type[enc.user] == "loyal").astype(np.int64)
    key = (week - week.min()) * 2 + loyal
    n = int(key.max()) + 1 if len(key) else 0
    revenue = np.bincount(key, weights=enc.price.astype(np.float64) * enc.quantity, minlength=n)
    lines = np.bincount(key, minlength=n)
    baskets = F.distinct_count(key, enc.basket, n)
    k = np.flatnonzero(lines)
    return pd.DataFrame({
        "week": pd.to_datetime((k // 2 + week.min()) * WEEK + 4 * 86_400, unit="s"),
        "customer_type": np.where(k % 2 == 1, "loyal", "new"),
        "revenue": revenue[k], "lines": lines[k], "baskets": baskets[k],
    })


def weekly_item_sales(enc: F.Encoded, items: np.ndarray) -> pd.DataFrame:
    """Lines per week for the given item codes (the popularity trend chart)."""
    mask = np.isin(enc.item, items)
    week = (enc.time[mask] - 4 * 86_400) // WEEK
    if not len(week):
        return pd.DataFrame(columns=["week", "item_id", "lines"])
    pos = np.searchsorted(np.sort(items), enc.item[mask])
    key = (week - week.min()) * len(items) + pos
    counts = np.bincount(key, minlength=int(week.max() - week.min() + 1) * len(items))
    w, p = np.divmod(np.arange(len(counts)), len(items))
    return pd.DataFrame({
        "week": pd.to_datetime((w + week.min()) * WEEK + 4 * 86_400, unit="s"),
        "item_id": enc.item_ids[np.sort(items)[p]], "lines": counts,
    })


def item_table(enc: F.Encoded, prices: np.ndarray, parts: dict[str, np.ndarray], popularity: np.ndarray,
               cycle_days: np.ndarray, repeat_rate: np.ndarray, basket_count: np.ndarray) -> pd.DataFrame:
    """One row per item code: what a request and the pages read (the same for every engine)."""
    return pd.DataFrame({
        "item_id": enc.item_ids, "item_name": enc.item_info[S.ITEM_NAME], "category": enc.item_info[S.CATEGORY],
        "price": prices, "avg_units": parts["total_quantity"] / np.maximum(parts["purchase_count"], 1),
        **parts, "popularity": popularity, "cycle_days": cycle_days, "repeat_rate": repeat_rate,
        "basket_count": np.asarray(basket_count, dtype=np.int64),
    })


def fit_state(df: pd.DataFrame, config: TuningConfig, timer: StageTimer | None = None) -> TrainedState:
    """Learn every signal and model from a cleaned canonical frame."""
    timer = timer or StageTimer()
    if df.empty:
        raise ValueError("no sales lines left to train on after cleaning")
    with timer.stage("features", "signals, profiles and segments"):
        enc = F.encode(df)
        _, _, weight = F.line_signals(enc, config.signals)
        profiles = F.user_profiles(enc, config.segments)
        seg = profiles["segment_code"].to_numpy()
        _, cuts = F.segment_codes(profiles["avg_item_price"].to_numpy(), config.segments.thresholds)
        prices = F.item_prices(enc)
        caps = F.segment_price_caps(enc, seg, config.segments.price_cap_quantile)
        user_items = F.interaction_matrix(enc, weight, config.signals.log_transform)
    with timer.stage("als", f"ALS: {config.als.factors} factors, {config.als.iterations} iterations"):
        als = ALSModel(**vars(config.als)).fit(user_items)
    with timer.stage("item_cf", f"item-item CF: top {config.item_cf.top_k} neighbours"):
        prog = lambda f: timer.progress("item_cf", f, f"item-item CF {f:.0%}")  # noqa: E731
        baskets = basket_matrix(enc, weight)
        basket_count = np.diff(baskets.tocsc().indptr)  # baskets holding each item (market-basket support)
        item_cf = ItemCFModel(**vars(config.item_cf)).fit(baskets, progress=prog)
        del baskets
    with timer.stage("popularity", "popularity overall and per segment"):
        parts = F.popularity_components(enc)
        p = config.popularity
        pop_score = F.popularity_score(parts, p.purchase_weight, p.buyers_weight, p.quantity_weight)
        seg_buyers = F.segment_buyers(enc, seg)
        model_pop = pop_score if p.model_by == "weighted" else parts["unique_buyers"] / max(parts["unique_buyers"].max(), 1)
        popularity = PopularityModel(segment_share=p.segment_share).fit(model_pop, seg_buyers)
    with timer.stage("repurchase_cycles", "repurchase cycles"):
        cycles = F.repurchase_cycles(enc)
        rc = config.repeat
        repeat = RepeatModel(half_life_days=rc.half_life_days, learned=rc.learned, horizon_days=rc.horizon_days).fit(
            cycles.item_repeat_rate, cycles.item_days, parts["unique_buyers"] / max(parts["unique_buyers"].max(), 1),
            prices)
    items = item_table(enc, prices, parts, pop_score, cycles.item_days, cycles.item_repeat_rate, basket_count)
    top_items = np.argsort(-pop_score, kind="stable")[:TOP_TREND_ITEMS]
    start, end = pd.to_datetime(enc.time.min(), unit="s"), pd.to_datetime(enc.time.max(), unit="s")
    summary = {
        "users": enc.n_users, "items": enc.n_items, "lines": enc.n_lines,
        "baskets": int(len(F.unique_sorted(enc.basket))),
        "revenue": float(np.sum(enc.price.astype(np.float64) * enc.quantity)),
        "loyal_users": int((enc.user_type == "loyal").sum()), "new_users": int((enc.user_type == "new").sum()),
        "date_start": str(start), "date_end": str(end),
    }
    return TrainedState(
        user_ids=enc.user_ids, item_ids=enc.item_ids, profiles=profiles, items=items,
        popularity_parts=parts, segment_buyers=seg_buyers, segment_caps=caps, segment_cuts=cuts,
        line_ptr=enc.user_ptr, line_item=enc.item, line_time=enc.time, line_weight=weight,
        line_price=enc.price, line_quantity=enc.quantity, user_item_cycle=cycles.user_item_days,
        als=als, item_cf=item_cf, popularity=popularity, repeat=repeat, data_start=start, data_end=end,
        weekly_sales=weekly_sales(enc), weekly_item_sales=weekly_item_sales(enc, top_items), summary=summary,
    )


def repeat_training_rows(state: TrainedState, config: TuningConfig, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pair features and "bought again within the horizon" labels from past windows of the data.

    Window w asks its users at T = end - w x horizon and labels with their lines in [T, T + horizon).
    A share of the sampled users is also cut down to their last basket before T (simulated
    newcomers) so the model learns what one basket says."""
    from recsys.batches import ExtraLines, gather_ranges
    from recsys.service import Recommender

    rc = config.repeat
    rec = Recommender(state, config)
    rng = np.random.default_rng(seed)
    horizon = int(rc.horizon_days * 86_400)
    end = int(state.line_time.max())
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
        bought = F.unique_sorted(rows[in_window].astype(np.int64) * state.n_items + state.line_item[idx][in_window])
        avg = rec._avg_price_for(codes)
        batch = rec.line_batch(codes, np.full(len(codes), t - 1, dtype=np.int64))
        r, i, x = state.repeat.features(batch, avg)
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
            nb = rec.line_batch(np.full(n_new, -1), np.full(n_new, t - 1, dtype=np.int64), extra=extra)
            price = np.bincount(newrow, weights=state.line_price[i0[keep]], minlength=n_new)
            lines = np.maximum(np.bincount(newrow, minlength=n_new), 1)
            r2, i2, x2 = state.repeat.features(nb, price / lines)
            xs.append(x2)
            ys.append(np.isin(pick[r2] * state.n_items + i2, bought))
    if not xs:
        return np.empty((0, 0)), np.empty(0, bool)
    return np.concatenate(xs), np.concatenate(ys)


def learn_repeat(state: TrainedState, config: TuningConfig, max_rows: int = 250_000,
                 max_precompute_lines: int = 5_000_000) -> None:
    """Teach the repeat model from past windows (it keeps the simple decay if there is too little)."""
    x, y = repeat_training_rows(state, config)
    if len(y) > max_rows:
        # a uniform sample keeps the label rate, so the probabilities stay calibrated
        keep = np.sort(np.random.default_rng(0).choice(len(y), size=max_rows, replace=False))
        x, y = x[keep], y[keep]
    m = state.repeat
    m.fit(m.item_repeat_rate_, m.item_cycle_, m.item_popularity_, m.item_price_, x, y)
    if m.booster_ is not None and len(state.line_item) <= max_precompute_lines:
        state.repeat_default = default_repeat_probabilities(state, config)


def default_repeat_probabilities(state: TrainedState, config: TuningConfig, chunk: int = 2048) -> sp.csr_matrix:
    """Learned repeat probabilities of every user at the end of the data, so that a request at
    the default time reads them instead of predicting."""
    from recsys.service import Recommender

    rec = Recommender(state, config)
    as_of = rec.as_of_seconds(None)
    blocks = []
    for lo in range(0, state.n_users, chunk):  # chunks of users, each one vectorised predict
        codes = np.arange(lo, min(lo + chunk, state.n_users))
        batch = rec.line_batch(codes, np.full(len(codes), as_of, dtype=np.int64))
        blocks.append(state.repeat.probabilities(batch, rec._avg_price_for(codes)))
    return sp.vstack(blocks).tocsr().astype(np.float32)


def train(data: pd.DataFrame | str, config: TuningConfig | None = None, out_dir: str | None = None,
          progress: Progress | None = None, calibrate: bool = True, fit_hybrid: bool = True,
          **data_options: Any):
    """Load (if a path), clean, learn every model, fit the hybrid to the store, calibrate, and
    save when out_dir is given. `fit_hybrid=False` keeps the config's hybrid weights.

    `data_options`: column_map, dates, catalogue (of `recsys.data.load_transactions`) and
    exclude_items (of `clean_transactions`); each defaults to what is saved beside the file."""
    config = (config or TuningConfig()).validate()
    timer = StageTimer(progress or _quiet)
    meta: dict = {}
    df, report = load_and_clean(data, timer, meta, **data_options)
    state = fit_state(df, config, timer)
    return finish_training(state, df, report, config, timer, meta, out_dir, calibrate, fit_hybrid)


def load_and_clean(data: pd.DataFrame | str, timer: StageTimer, meta: dict, exclude_items: Any = None,
                   **load_options: Any) -> tuple[pd.DataFrame, Any]:
    """The first two stages every engine shares: read (a path) and clean, noting the source in meta."""
    from recsys.data import clean_transactions, data_hash, load_transactions
    from recsys.source_files import source_exclusions

    with timer.stage("load", "reading the sales lines"):
        if isinstance(data, pd.DataFrame):
            if load_options:
                raise ValueError(f"{', '.join(load_options)} apply when reading a file; this is a frame already")
            df = data
            meta["data_source"] = "dataframe"
            meta["data_hash"] = str(pd.util.hash_pandas_object(df, index=False).sum())
        else:
            df = load_transactions(data, **load_options)
            meta["data_source"] = str(data)
            meta["data_hash"] = data_hash(data)
            exclude_items = source_exclusions(data) if exclude_items is None else exclude_items
    with timer.stage("clean", "removing returns and non-product lines"):
        df, report = clean_transactions(df, exclude_items=exclude_items)
    if df.empty:
        raise ValueError("no sales lines left to train on after cleaning")
    return df, report


def finish_training(state: TrainedState, df: pd.DataFrame, report, config: TuningConfig, timer: StageTimer,
                    meta: dict, out_dir: str | None, calibrate: bool, fit_hybrid: bool = True):
    """The stages every engine shares after its models: the buy-again learner, the validation
    window, the hybrid's fit, calibration, save."""
    from recsys.calibration import fit_calibrator
    from recsys.fitting import apply_fit
    from recsys.fitting import fit_hybrid as fit_blend
    from recsys.holdout import make_holdout
    from recsys.segment_summary import PER_SEGMENT, sampled_segment_recommendations
    from recsys.service import Recommender

    if config.repeat.learned and config.repeat.windows > 0:
        with timer.stage("repeat_learner", "learning the buy-again model on past windows"):
            learn_repeat(state, config)
    holdout = None
    if calibrate or fit_hybrid:
        with timer.stage("validation", "refitting the models on a validation window"):
            holdout = make_holdout(df, config)
    if fit_hybrid:
        with timer.stage("hybrid_fit", "fitting the hybrid to this store"):
            fit = fit_blend(holdout, config)
            config = apply_fit(config, fit)
            meta["hybrid_fit"] = fit.to_dict()
    if calibrate:
        with timer.stage("calibration", "calibrating confidence on the validation window"):
            state.calibrator = fit_calibrator(holdout, config)
    meta["calibrated"] = state.calibrator is not None
    rec = Recommender(state, config, meta, report.to_dict())
    with timer.stage("segment_summary", f"recommending for up to {PER_SEGMENT} customers per segment"):
        # after the hybrid's fit: the sample is recommended with the weights the store is served with
        state.segment_sample = sampled_segment_recommendations(rec)
    meta["segment_sample_per_segment"] = PER_SEGMENT
    if out_dir is not None:
        with timer.stage("save", "writing the model bundle"):
            rec.save(out_dir, timer.timings)
    rec.metadata["timings_s"] = dict(timer.timings)
    rec.metadata["timings_s"]["total"] = round(sum(timer.timings.values()), 4)
    return rec
