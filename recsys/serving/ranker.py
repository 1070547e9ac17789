"""The learned ranker: a LightGBM lambdarank model over per-candidate features, between scoring
and re-ranking. It sees each source's score and rank within the pool, repeat facts of the
customer and the item, customer facts, a few window-robust item facts and the list kind; it
learns interactions a weighted sum cannot ("repeat an item when it is due", "trust popularity
for short histories").

Training (recsys.training.ranker) decides per list kind whether it serves; the knobs still
re-rank after it, and each listed item's score breaks down into feature groups (LightGBM's
`pred_contrib`), mapped onto its [0, 1] score so the parts add up."""
from __future__ import annotations

import numpy as np

from recsys.arrays import group_max, group_min, unique_inverse_counts
from recsys.models import DAY_KEY, UserBatch
from recsys.serving.ranking import CandidateFacts

LOYAL, DISCOVERY, NEWCOMER = 0, 1, 2
KINDS = ("loyal", "discovery", "newcomer")
SOURCES = ("repeat", "als", "item_cf", "popularity", "neighbours")
NOMINATED = 25  # a source "nominates" the candidates it ranks this high in the pool
UNRANKED = 1000.0  # the rank of a candidate a source gives nothing (ranks are capped below it): the
                   # same for a request of one customer and a batch of thousands, whatever their pools
FEATURES = (
    "kind",
    *(f"s_{s}" for s in SOURCES), *(f"r_{s}" for s in SOURCES), "n_sources",
    "p_count", "p_days", "p_decay30", "p_days_since", "p_cycle_ratio", "p_trip_share",
    "i_repeat_rate", "i_cycle", "i_price_ratio",
    "u_trips", "u_days_since", "u_history_days", "u_items", "u_repeat_share",
)
# the groups a score breaks down into: each source's own, then the facts
GROUPS = {
    "repeat": ("s_repeat", "r_repeat", "p_count", "p_days", "p_decay30", "p_days_since", "p_cycle_ratio",
               "p_trip_share"),
    "als": ("s_als", "r_als"), "item_cf": ("s_item_cf", "r_item_cf"),
    "popularity": ("s_popularity", "r_popularity"), "neighbours": ("s_neighbours", "r_neighbours"),
    "agreement": ("n_sources",), "item": ("i_repeat_rate", "i_cycle", "i_price_ratio"),
    "customer": ("kind", "u_trips", "u_days_since", "u_history_days", "u_items", "u_repeat_share"),
}
SOURCE_GROUPS = SOURCES  # the groups that can be an item's source (a reason)
# the feature sets a ranker may learn from: everything, or the sources' scores and ranks alone
FEATURE_SETS = {"all": FEATURES,
                "scores": ("kind", *(f"s_{s}" for s in SOURCES), *(f"r_{s}" for s in SOURCES), "n_sources")}


def row_kinds(batch: UserBatch, discovery: bool) -> np.ndarray:
    """(batch,) the list kind of each row: discovery lists, else newcomers, else loyal."""
    if discovery:
        return np.full(len(batch), DISCOVERY, np.int8)
    return np.where(batch.newcomer, NEWCOMER, LOYAL).astype(np.int8)


def _ranks(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(batch, pool) rank of each candidate by this score (0 = best, capped below UNRANKED);
    UNRANKED where the source gives it nothing."""
    s = np.where(valid & (scores > 0), scores, -np.inf)
    order = np.argsort(-s, axis=1, kind="stable")
    ranks = np.empty(s.shape, np.float32)
    np.put_along_axis(ranks, order, np.arange(s.shape[1], dtype=np.float32)[None, :].repeat(len(s), 0), axis=1)
    return np.where(np.isfinite(s), np.minimum(ranks, UNRANKED - 1), UNRANKED)


def _pair_facts(batch: UserBatch, items: np.ndarray, n_items: int) -> dict[str, np.ndarray]:
    """Per (row, candidate): distinct days bought and the 30-day decayed count; per row: trips,
    distinct items, share of them bought on two days or more, days since the last trip and since
    the first."""
    b = len(batch)
    row, item = batch.line_row.astype(np.int64), batch.line_item.astype(np.int64)
    age = batch.line_age_days
    day = np.floor(age).astype(np.int64)
    pairs, inverse, _ = unique_inverse_counts(row * n_items + item)
    pair_days = np.bincount(unique_inverse_counts(inverse.astype(np.int64) * DAY_KEY + day)[0] // DAY_KEY,
                            minlength=len(pairs)).astype(np.float32)
    decay = np.bincount(inverse, weights=np.power(0.5, age / 30.0), minlength=len(pairs)).astype(np.float32)
    trips = np.bincount(unique_inverse_counts(row * DAY_KEY + day)[0] // DAY_KEY, minlength=b).astype(np.float32)
    distinct = np.bincount(pairs // n_items, minlength=b).astype(np.float32)
    repeated = np.bincount(pairs // n_items, weights=pair_days >= 2, minlength=b).astype(np.float32)
    last, first = group_min(row, age, b), group_max(row, age, b)
    shopped = np.isfinite(last)  # rows with no line: -1 (as for a pair never bought)
    out = {"u_trips": trips, "u_items": distinct, "u_repeat_share": repeated / np.maximum(distinct, 1),
           "u_days_since": np.where(shopped, last, -1.0), "u_history_days": np.where(shopped, first, -1.0),
           "p_days": np.zeros(items.shape), "p_decay30": np.zeros(items.shape)}
    if len(pairs):
        want = np.arange(b, dtype=np.int64)[:, None] * n_items + np.maximum(items, 0)
        pos = np.minimum(np.searchsorted(pairs, want), len(pairs) - 1)
        hit = (items >= 0) & (pairs[pos] == want)
        out["p_days"], out["p_decay30"] = np.where(hit, pair_days[pos], 0.0), np.where(hit, decay[pos], 0.0)
    return out


def candidate_features(batch: UserBatch, items: np.ndarray, raw: dict[str, np.ndarray], facts: CandidateFacts,
                       kinds: np.ndarray, item_repeat_rate: np.ndarray, item_cycle: np.ndarray,
                       n_items: int) -> np.ndarray:
    """(batch, pool, len(FEATURES)) float32 features of every candidate (PAD cells hold zeros).

    Everything comes from the batch's lines (as of the request time) and the trained state, so
    the same function serves a request and a validation window's training rows."""
    b, width = items.shape
    valid = items >= 0
    out = np.zeros((b, width, len(FEATURES)), np.float32)
    col = {f: i for i, f in enumerate(FEATURES)}
    out[..., col["kind"]] = kinds[:, None]
    nominated = np.zeros((b, width), np.float32)
    for s in SOURCES:
        scores = raw.get(s)
        if scores is None:
            out[..., col[f"r_{s}"]] = UNRANKED
            continue
        top = np.max(np.where(valid, scores, 0.0), axis=1, keepdims=True)
        out[..., col[f"s_{s}"]] = np.divide(scores, top, out=np.zeros(scores.shape), where=top > 0)
        ranks = _ranks(scores, valid)
        out[..., col[f"r_{s}"]] = ranks
        nominated += ranks < NOMINATED
    out[..., col["n_sources"]] = nominated
    pf = _pair_facts(batch, items, n_items)
    out[..., col["p_count"]] = facts.count
    out[..., col["p_days"]] = pf["p_days"]
    out[..., col["p_decay30"]] = pf["p_decay30"]
    out[..., col["p_days_since"]] = np.nan_to_num(facts.days_since, nan=-1.0)
    out[..., col["p_cycle_ratio"]] = np.nan_to_num(facts.cycle_ratio(), nan=-1.0)
    out[..., col["p_trip_share"]] = pf["p_days"] / np.maximum(pf["u_trips"], 1)[:, None]
    code = np.maximum(items, 0)
    out[..., col["i_repeat_rate"]] = item_repeat_rate[code]
    out[..., col["i_cycle"]] = np.nan_to_num(item_cycle[code], nan=-1.0)
    out[..., col["i_price_ratio"]] = facts.price / np.where(facts.user_avg_price > 0, facts.user_avg_price, 1.0)
    for f in ("u_trips", "u_days_since", "u_history_days", "u_items", "u_repeat_share"):
        out[..., col[f]] = pf[f][:, None]
    out[~valid] = 0.0
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))


class LearnedRanker:
    """A fitted lambdarank booster and the list kinds it serves (the others keep the fitted blend)."""

    def __init__(self, booster, serves: np.ndarray, features: tuple[str, ...] = FEATURES) -> None:
        self.booster_ = booster
        self.serves_ = np.asarray(serves, dtype=bool)  # (3,) per list kind
        self.features_ = list(features)               # the columns of FEATURES it learned from

    def serves(self, kinds: np.ndarray) -> np.ndarray:
        return self.serves_[kinds.astype(np.int64)]

    def margins(self, x: np.ndarray) -> np.ndarray:
        """(rows,) the booster's raw scores of feature rows (one thread: a request predicts a few hundred)."""
        if not len(x):
            return np.empty(0)
        return self.booster_.predict(self.columns(x), num_threads=1 if len(x) < 50_000 else 0)

    def columns(self, x: np.ndarray) -> np.ndarray:
        """The feature rows' columns this ranker reads."""
        if len(self.features_) == len(FEATURES):
            return x
        return x[..., [FEATURES.index(f) for f in self.features_]]

    def scores(self, x: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """(batch, pool) scores in (0, 1) from (batch, pool, features); 0 where no candidate."""
        out = np.zeros(valid.shape)
        out[valid] = _sigmoid(self.margins(x[valid]))
        return out

    def parts(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Each feature group's part of the (0, 1) scores of feature rows, plus the 'baseline':
        LightGBM's contributions on the raw score, carried onto the score along the way from the
        baseline to it (they add up to the score exactly)."""
        if not len(x):
            return {g: np.empty(0) for g in (*GROUPS, "baseline")}
        contrib = self.booster_.predict(self.columns(x), pred_contrib=True, num_threads=1)
        bias, contrib = contrib[:, -1], contrib[:, :-1]
        margin = bias + contrib.sum(axis=1)
        start, end = _sigmoid(bias), _sigmoid(margin)
        spread = margin - bias
        scale = np.divide(end - start, spread, out=np.zeros_like(spread), where=np.abs(spread) > 1e-9)
        col = {f: i for i, f in enumerate(self.features_)}
        out = {g: contrib[:, [col[f] for f in fs if f in col]].sum(axis=1) * scale for g, fs in GROUPS.items()}
        out["baseline"] = np.where(np.abs(spread) > 1e-9, start, end)
        return out
