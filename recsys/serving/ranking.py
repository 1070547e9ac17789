"""Level 2 of the request path: filter the candidates (one stage that owns every count), then
re-rank the survivors with the analyst's boosts.

Everything works on (batch, pool) arrays so one user and ten thousand users take the same code.
Re-ranking only sees each candidate's blended score and facts, never a model.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recsys.config import RerankConfig

STEP_NAMES = ("due_boost", "upsell", "price_sensitivity")
LAPSED_RATIO = 2.0  # an item last bought over twice its cycle ago has lapsed: it is not "due"


@dataclass
class CandidateFacts:
    """What re-ranking knows of each candidate, all (batch, pool) unless noted."""

    items: np.ndarray            # item codes (PAD = -1)
    price: np.ndarray            # item price
    user_avg_price: np.ndarray   # (batch, 1)
    segment: np.ndarray          # (batch,) segment code
    count: np.ndarray            # purchases before the as-of time
    days_since: np.ndarray       # days since the last purchase (nan if never)
    cycle_days: np.ndarray       # repurchase cycle of the user-item (or the item); nan if unknown

    @property
    def bought(self) -> np.ndarray:
        return self.count > 0

    def cycle_ratio(self) -> np.ndarray:
        """days since the last purchase / cycle; nan where never bought or no cycle."""
        with np.errstate(invalid="ignore", divide="ignore"):
            r = self.days_since / self.cycle_days
        return np.where(self.bought & np.isfinite(r), r, np.nan)

    def due(self) -> np.ndarray:
        r = self.cycle_ratio()
        return (r >= 1.0) & (r < LAPSED_RATIO)

    def lapsed(self) -> np.ndarray:
        return self.cycle_ratio() >= LAPSED_RATIO

    def rows(self, rows: np.ndarray) -> "CandidateFacts":
        """The same facts for some rows of the batch."""
        return CandidateFacts(items=self.items[rows], price=self.price[rows], user_avg_price=self.user_avg_price[rows],
                              segment=self.segment[rows], count=self.count[rows], days_since=self.days_since[rows],
                              cycle_days=self.cycle_days[rows])

    def take(self, order: np.ndarray) -> "CandidateFacts":
        """The same facts for the columns `order` picks in each row."""
        t = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
        return CandidateFacts(items=t(self.items), price=t(self.price), user_avg_price=self.user_avg_price,
                              segment=self.segment, count=t(self.count), days_since=t(self.days_since),
                              cycle_days=t(self.cycle_days))


@dataclass
class HardFilters:
    """What no list may hold, per request."""

    price_min: float | None = None
    price_max: float | None = None
    exclude_purchased: bool = False


def filter_candidates(facts: CandidateFacts, cfg: RerankConfig, hard: HardFilters,
                      segment_caps: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """(keep mask, candidates each filter removed): price range, purchased, segment, too recent.

    A candidate counts once, for the first filter that removes it."""
    keep = facts.items >= 0
    removed: dict[str, int] = {}

    def drop(name: str, mask: np.ndarray) -> None:
        removed[name] = int((keep & mask).sum())
        keep[mask] = False

    lo = cfg.price_min if hard.price_min is None else hard.price_min
    hi = cfg.price_max if hard.price_max is None else hard.price_max
    if lo is not None or hi is not None:
        drop("price_range", (facts.price < (-np.inf if lo is None else lo)) | (facts.price > (np.inf if hi is None else hi)))
    if hard.exclude_purchased:
        drop("exclude_purchased", facts.bought)
    if cfg.segment_filter:
        # a user's own past purchases are never out of their league
        cap = segment_caps[facts.segment.astype(np.int64)][:, None]
        drop("segment_filter", (facts.price > cap) & ~facts.bought)
    if cfg.repurchase_exclusion:
        drop("repurchase_too_recent", facts.cycle_ratio() < cfg.repurchase_buffer)
    return keep, removed


@dataclass
class Reranked:
    order: np.ndarray                     # (batch, pool) column order, best first
    score: np.ndarray                     # (batch, pool) final score in that order; -inf = filtered out
    relevance: np.ndarray                 # score rescaled into [0, 1] (no clipping: no ties at the top)
    factors: dict[str, np.ndarray] = field(default_factory=dict)  # step -> multiplicative factor
    scale: float = 1.0                    # relevance = score / scale


def rerank(base: np.ndarray, keep: np.ndarray, facts: CandidateFacts, cfg: RerankConfig) -> Reranked:
    """Boosts (due, upsell, price sensitivity) on the blended score of the kept candidates, then sort."""
    factors = {
        "due_boost": np.where(facts.due(), 1.0 + cfg.due_boost, 1.0),
        "upsell": upsell_factor(facts.price, facts.user_avg_price, cfg),
        "price_sensitivity": price_penalty(facts.price, facts.user_avg_price, cfg),
    }
    score = base.astype(np.float64).copy()
    for f in factors.values():
        score *= f
    score[~keep] = -np.inf
    order = np.argsort(-score, axis=1, kind="stable")
    take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
    score = take(score)
    # the largest factor the boosts can give: dividing by it keeps relevance in [0, 1], order intact
    top_factor = (1.0 + max(cfg.due_boost, 0.0)) * (1.0 + max(cfg.upsell_factor, 0.0) * cfg.price_boost_weight)
    relevance = np.where(np.isfinite(score), np.clip(score, 0.0, None) / top_factor, 0.0)
    return Reranked(order=order, score=score, relevance=relevance, factors={k: take(v) for k, v in factors.items()},
                    scale=top_factor)


def upsell_factor(price: np.ndarray, avg: np.ndarray, cfg: RerankConfig) -> np.ndarray:
    """1 + upsell x weight x how far above the user's average price (capped at max_price_ratio)."""
    if cfg.upsell_factor <= 0:
        return np.ones(price.shape)
    ratio = price / np.where(avg > 0, avg, 1.0)
    lift = np.clip((np.minimum(ratio, cfg.max_price_ratio) - 1.0) / (cfg.max_price_ratio - 1.0), 0.0, 1.0)
    return 1.0 + cfg.upsell_factor * cfg.price_boost_weight * lift


def price_penalty(price: np.ndarray, avg: np.ndarray, cfg: RerankConfig) -> np.ndarray:
    """exp(-sensitivity x overshoot) for items priced beyond budget_tolerance x the user's average."""
    if cfg.price_sensitivity <= 0:
        return np.ones(price.shape)
    budget = cfg.budget_tolerance * np.where(avg > 0, avg, 1.0)
    over = np.clip(price / budget - 1.0, 0.0, None)
    return np.exp(-cfg.price_sensitivity * over)
