"""Every signal and model learned from a cleaned frame: the local engine's `fit_state`, and the
one assembly of a TrainedState that both engines share."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.bundles.state import TrainedState
from recsys.config import TuningConfig
from recsys.models import (
    ALSModel,
    ItemCFModel,
    NeighbourModel,
    PopularityModel,
    RepeatModel,
    TrainingData,
)
from recsys.models.data import all_user_item_sums
from recsys.models.popularity import popularity_score
from recsys.training import features as F
from recsys.training.progress import StageTimer
from recsys.training.summaries import (
    TOP_TREND_ITEMS,
    item_table,
    store_summary,
    weekly_item_sales,
    weekly_sales,
)


def repeat_model(config: TuningConfig) -> RepeatModel:
    rc = config.repeat
    return RepeatModel(half_life_days=rc.half_life_days, learned=rc.learned, horizon_days=rc.horizon_days)


@dataclass
class EncodedStore:
    """A cleaned frame as the local engine learns from it: the encoded lines, their weights, the
    store-wide facts, and the models' one input (without repurchase cycles, computed later)."""

    enc: F.Encoded
    weight: np.ndarray
    profiles: pd.DataFrame
    cuts: np.ndarray
    caps: np.ndarray
    prices: np.ndarray
    parts: dict[str, np.ndarray]
    seg_buyers: np.ndarray
    data: TrainingData


def encode_store(df: pd.DataFrame, config: TuningConfig, guests: pd.DataFrame | None = None) -> EncodedStore:
    """Signals, profiles, segments, prices and popularity of a cleaned frame and its guest lines
    (vectorised)."""
    enc = F.encode(df, guests)
    _, _, weight = F.line_signals(enc, config.signals)
    profiles = F.user_profiles(enc, config.segments)
    seg = profiles["segment_code"].to_numpy()
    _, cuts = F.segment_codes(profiles["avg_item_price"].to_numpy(), config.segments.thresholds)
    prices = F.item_prices(enc)
    caps = F.segment_price_caps(enc, seg, config.segments.price_cap_quantile)
    parts = F.popularity_components(enc)
    seg_buyers = F.segment_buyers(enc, seg)
    data = F.training_data(enc, weight, seg, prices, parts, seg_buyers, config)
    return EncodedStore(enc, weight, profiles, cuts, caps, prices, parts, seg_buyers, data)


def with_cycles(data: TrainingData, cycles: F.Cycles) -> TrainingData:
    return dataclasses.replace(data, item_repeat_rate=cycles.item_repeat_rate, item_cycle=cycles.item_days)


def fit_state(df: pd.DataFrame, config: TuningConfig, timer: StageTimer | None = None,
              guests: pd.DataFrame | None = None) -> tuple[TrainedState, TrainingData]:
    """Learn every signal and model from a cleaned canonical frame (the customers' lines) and its
    guest lines: (the state, the facts of the training data that a later refit of the repeat
    model reads)."""
    timer = timer or StageTimer()
    if df.empty:
        raise ValueError("no sales lines left to train on after cleaning")
    with timer.stage("features", "signals, profiles and segments"):
        store = encode_store(df, config, guests)
        data = store.data
    with timer.stage("als", f"ALS: {config.als.factors} factors, {config.als.iterations} iterations"):
        als = ALSModel(**vars(config.als)).fit(data)
        user_items = data.user_items()  # ALS's input (cached on `data`): every user's history for the bundle
    with timer.stage("item_cf", f"item-item CF: top {config.item_cf.top_k} neighbours"):
        prog = lambda f: timer.progress("item_cf", f, f"item-item CF {f:.0%}")  # noqa: E731
        item_cf = ItemCFModel(**vars(config.item_cf)).fit(data, progress=prog)
    with timer.stage("popularity", "popularity overall and per segment"):
        popularity = PopularityModel(segment_share=config.popularity.segment_share).fit(data)
    with timer.stage("repurchase_cycles", "repurchase cycles"):
        cycles = F.repurchase_cycles(store.enc)
        data = with_cycles(data, cycles)
        repeat = repeat_model(config).fit(data)
    neighbours = fit_neighbours(data, config, timer)
    s = store
    state = assemble_state(s.enc, s.weight, s.profiles, s.profiles["user_type"].to_numpy(), s.parts, s.seg_buyers,
                           s.caps, s.cuts, s.prices, cycles, als, item_cf, popularity, repeat, config, neighbours,
                           user_items=user_items)
    return state, data.without_lines()


def fit_neighbours(data: TrainingData, config: TuningConfig, timer: StageTimer) -> NeighbourModel | None:
    """Customer neighbours, the learned ranker's fifth source (not needed when it is off)."""
    if not config.ranker.enabled or config.ranker.policy == "never":
        return None
    n = config.neighbours
    with timer.stage("neighbours", f"customer neighbours: {n.k} of up to {n.reference_users:,} customers"):
        return NeighbourModel(**vars(n)).fit(data)


def assemble_state(enc: F.Encoded, weight: np.ndarray, profiles: pd.DataFrame, user_type: np.ndarray,
                   parts: dict[str, np.ndarray], seg_buyers: np.ndarray, caps: np.ndarray, cuts: np.ndarray,
                   prices: np.ndarray, cycles: F.Cycles, als: ALSModel, item_cf: ItemCFModel,
                   popularity: PopularityModel, repeat: RepeatModel, config: TuningConfig,
                   neighbours: NeighbourModel | None = None, user_items: sp.csr_matrix | None = None) -> TrainedState:
    """The TrainedState from what an engine learned (the same for the local and the Spark engine);
    `user_items` (every user's history, see TrainingData.user_items) is computed here when not given."""
    p = config.popularity
    pop_score = popularity_score(parts, p.purchase_weight, p.buyers_weight, p.quantity_weight)
    items = item_table(enc, prices, parts, pop_score, cycles.item_days, cycles.item_repeat_rate,
                       item_cf.basket_count_)
    top_items = np.argsort(-pop_score, kind="stable")[:TOP_TREND_ITEMS]
    summary = store_summary(enc, user_type)
    if user_items is None:
        user_items = all_user_item_sums(enc.user, enc.item, weight, enc.n_users, enc.n_items,
                                        config.signals.log_transform)
    return TrainedState(
        user_ids=enc.user_ids, item_ids=enc.item_ids, profiles=profiles, items=items,
        popularity_parts=parts, segment_buyers=seg_buyers, segment_caps=caps, segment_cuts=cuts,
        line_ptr=enc.user_ptr, line_item=enc.item, line_time=enc.time, line_weight=weight,
        line_price=enc.price, line_quantity=enc.quantity, user_item_cycle=cycles.user_item_days,
        als=als, item_cf=item_cf, popularity=popularity, repeat=repeat, neighbours=neighbours,
        data_start=pd.Timestamp(summary["date_start"]), data_end=pd.Timestamp(summary["date_end"]),
        weekly_sales=weekly_sales(enc), weekly_item_sales=weekly_item_sales(enc, top_items), summary=summary,
        user_items=user_items,
    )
