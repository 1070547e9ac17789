"""The request path, in the shape LensKit uses: candidates -> scores -> blend -> filter ->
re-rank. One user, a batch, the Segments summary and the evaluation all run through here.

Nothing here touches the whole catalogue per user except ALS's one matrix product (the
candidate top-k); every other array is (batch, pool)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.arrays import gather_csr
from recsys.bundles.state import TrainedState
from recsys.config import TuningConfig
from recsys.models import UserBatch
from recsys.serving import ranking
from recsys.serving.candidates import (
    CandidatePool,
    models_of,
    select_candidates,
    sources_for,
)
from recsys.serving.ranker import candidate_features, row_kinds
from recsys.serving.ranking import CandidateFacts, HardFilters


@dataclass
class RankedLists:
    """The top-n of every user of a batch with what explains each item, all (batch, n)."""

    items: np.ndarray                   # item codes, PAD where the list is shorter
    score: np.ndarray                   # final score; -inf where no item
    relevance: np.ndarray               # score rescaled into [0, 1]
    parts: dict[str, np.ndarray]        # model -> its weighted, normalised share of the blended score
    factors: dict[str, np.ndarray]      # re-ranking step -> multiplicative factor
    facts: CandidateFacts               # price, count, days since, cycle of each listed item
    filtered: dict[str, int]            # filter -> candidates it removed (whole batch)
    pool_sizes: np.ndarray              # (batch,) candidates considered per user
    scale: float = 1.0                  # relevance = score / scale (the largest boost possible)

    @property
    def valid(self) -> np.ndarray:
        return (self.items >= 0) & np.isfinite(self.score)


def normalise_scores(scores: np.ndarray) -> np.ndarray:
    """Scale each row into [0, 1] by its maximum; negative scores count as no evidence."""
    s = np.clip(scores, 0.0, None)
    top = s.max(axis=1, keepdims=True)
    return np.divide(s, top, out=np.zeros_like(s, dtype=np.float32), where=top > 0).astype(np.float32)


def blend(scores: dict[str, np.ndarray], weights: dict[str, float | np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weighted sum of per-model normalised scores; weights (one per model, or one per model
    and row) are rescaled to sum to 1 in each row."""
    batch = next(iter(scores.values())).shape[0]
    w = {m: np.broadcast_to(np.asarray(v, dtype=np.float64), (batch,)) for m, v in weights.items() if m in scores}
    total = sum(np.clip(v, 0, None) for v in w.values()) if w else np.zeros(batch)
    if not w or (np.asarray(total) <= 0).any():
        raise ValueError(f"no positive weight among the models {sorted(scores)}")
    parts = {m: normalise_scores(scores[m]) * (np.clip(v, 0, None) / total).astype(np.float32)[:, None]
             for m, v in w.items() if (v > 0).any()}
    return sum(parts.values()), parts


def hybrid_weights(batch: UserBatch, config: TuningConfig, discovery: bool = False) -> dict[str, np.ndarray]:
    """Per row: the newcomer blend for users with few trips so far, else the loyal one (the
    discovery blend when the user's own items are excluded)."""
    newcomer = batch.newcomer
    loyal = (config.discovery if discovery else config.weights).as_dict()
    new = config.newcomers.weights.as_dict()
    w = {m: np.where(newcomer, new[m], loyal[m]) for m in loyal}
    if discovery:
        w["repeat"] = np.zeros(len(batch))  # no past item can be listed: its score says nothing
        if not (sum(w.values()) > 0).all():
            w["popularity"] = np.where(sum(w.values()) > 0, w["popularity"], 1.0)
    return w


def history_facts(batch: UserBatch, items: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, days since the last purchase) of each (row, candidate) from the batch's lines."""
    pairs = batch.pairs()  # grouped once per batch
    if not len(pairs.keys):
        return np.zeros(items.shape), np.full(items.shape, np.nan)
    want = np.arange(items.shape[0], dtype=np.int64)[:, None] * n_items + np.maximum(items, 0)
    pos = np.minimum(np.searchsorted(pairs.keys, want), len(pairs.keys) - 1)
    hit = (items >= 0) & (pairs.keys[pos] == want)
    return (np.where(hit, pairs.counts()[pos], 0).astype(np.float64),
            np.where(hit, pairs.mins(batch.line_age_days)[pos], np.nan))


class RequestPipeline:
    """The stages of a request over one trained state; holds only per-item arrays."""

    def __init__(self, state: TrainedState) -> None:
        self.state = state
        self.item_price = state.items["price"].to_numpy(np.float64)
        self.item_cycle = state.items["cycle_days"].to_numpy(np.float64)
        self.item_repeat_rate = state.items["repeat_rate"].to_numpy(np.float32)

    def banned_items(self, config: TuningConfig, hard: HardFilters) -> np.ndarray | None:
        """(n_items,) items outside the asked price range; None when there is no range."""
        lo = config.rerank.price_min if hard.price_min is None else hard.price_min
        hi = config.rerank.price_max if hard.price_max is None else hard.price_max
        if lo is None and hi is None:
            return None
        return (self.item_price < (-np.inf if lo is None else lo)) | (self.item_price > (np.inf if hi is None else hi))

    def ranked_rows(self, batch: UserBatch, model: str, config: TuningConfig, hard: HardFilters) -> np.ndarray:
        """(batch,) rows the learned ranker serves: hybrid lists of the kinds it was chosen for."""
        ranker = self.state.ranker
        if model != "hybrid" or ranker is None or not config.ranker.use:
            return np.zeros(len(batch), bool)
        return ranker.serves(row_kinds(batch, hard.exclude_purchased))

    def candidates(self, batch: UserBatch, model: str, config: TuningConfig, hard: HardFilters,
                   ranked: bool = False) -> CandidatePool:
        return select_candidates(self.state, batch, sources_for(model, config, ranked), config,
                                 self.banned_items(config, hard), hard.exclude_purchased)

    def scores(self, batch: UserBatch, pool: CandidatePool, model: str, config: TuningConfig,
               ranked: bool = False) -> dict[str, np.ndarray]:
        """Raw (batch, pool) scores of every model the list needs."""
        models = models_of(self.state)
        needed = [m for m in sources_for(model, config, ranked) if (model == "hybrid" or m == model) and m in models]
        return {m: models[m].score(batch, pool.items, config) for m in needed}

    def facts(self, batch: UserBatch, items: np.ndarray) -> CandidateFacts:
        st = self.state
        count, days_since = history_facts(batch, items, st.n_items)
        cycle = gather_csr(st.user_item_cycle, items, rows=batch.codes)
        cycle = np.where(cycle > 0, cycle, self.item_cycle[np.maximum(items, 0)])
        return CandidateFacts(items=items, price=self.item_price[np.maximum(items, 0)],
                              user_avg_price=batch.avg_price[:, None],
                              segment=batch.segments, count=count, days_since=days_since, cycle_days=cycle)

    def run(self, batch: UserBatch, model: str, n: int, config: TuningConfig, hard: HardFilters) -> RankedLists:
        """Every stage for a batch: the top-n of each user."""
        learned = self.ranked_rows(batch, model, config, hard)
        pool = self.candidates(batch, model, config, hard, learned.any())
        raw = self.scores(batch, pool, model, config, learned.any())
        weights = hybrid_weights(batch, config, hard.exclude_purchased) if model == "hybrid" else {model: 1.0}
        blended, parts = blend({m: s for m, s in raw.items() if m in weights}, weights)
        facts = self.facts(batch, pool.items)
        features = None
        if learned.any():  # the ranker's score replaces the blend's on the rows it serves
            rows = np.flatnonzero(learned)
            features = candidate_features(
                _rows_of(batch, rows), pool.items[rows], {m: s[rows] for m, s in raw.items()}, facts.rows(rows),
                row_kinds(batch, hard.exclude_purchased)[rows], self.item_repeat_rate, self.item_cycle,
                self.state.n_items)
            blended[rows] = self.state.ranker.scores(features, pool.items[rows] >= 0)
            parts = {m: np.where(learned[:, None], 0.0, p) for m, p in parts.items()}
        keep, removed = ranking.filter_candidates(facts, config.rerank, hard, self.state.segment_caps)
        # level 2 sees the best `candidate_pool` survivors of the blend
        width = min(max(config.rerank.candidate_pool, n), pool.items.shape[1])
        by_blend = np.argsort(-np.where(keep, blended, -np.inf), axis=1, kind="stable")[:, :width]
        take = lambda a: np.take_along_axis(a, by_blend, axis=1)  # noqa: E731
        top_facts, top_keep = facts.take(by_blend), take(keep)
        rr = ranking.rerank(take(blended), top_keep, top_facts, config.rerank)
        order = rr.order[:, :n]
        final = top_facts.take(order)
        ok = np.isfinite(rr.score[:, :n])
        final_parts = {m: np.take_along_axis(take(p), order, axis=1) for m, p in parts.items()}
        if features is not None:  # the listed items' scores broken down by feature group
            cols = np.take_along_axis(by_blend, order, axis=1)[learned]
            listed = np.take_along_axis(features, np.where(ok[learned], cols, 0)[..., None], axis=1)
            for g, v in self.state.ranker.parts(listed.reshape(-1, listed.shape[-1])).items():
                final_parts.setdefault(g, np.zeros(order.shape))[learned] = np.where(ok[learned], v.reshape(cols.shape), 0.0)
        return RankedLists(
            items=np.where(ok, final.items, -1), score=rr.score[:, :n], relevance=rr.relevance[:, :n],
            parts=final_parts, factors={k: v[:, :n] for k, v in rr.factors.items()}, facts=final,
            filtered=removed, pool_sizes=pool.sizes, scale=rr.scale)


def _rows_of(batch: UserBatch, rows: np.ndarray) -> UserBatch:
    """The batch of some of its rows (their lines renumbered)."""
    pos = np.full(len(batch), -1, dtype=np.int64)
    pos[rows] = np.arange(len(rows))
    mine = pos[batch.line_row] >= 0
    return UserBatch(codes=batch.codes[rows], history=batch.history.take(rows), segments=batch.segments[rows],
                     line_row=pos[batch.line_row[mine]], line_item=batch.line_item[mine],
                     line_age_days=batch.line_age_days[mine], avg_price=batch.avg_price[rows],
                     newcomer=batch.newcomer[rows], default_as_of=batch.default_as_of)
