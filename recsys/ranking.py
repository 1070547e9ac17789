"""Two-level ranking: blend model scores into a candidate pool, then re-rank with the knobs.

Everything works on (batch, pool) arrays so one user and ten thousand users take the same code.
Re-ranking only sees each candidate's blended score and the per-model parts, never a model.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recsys.config import RerankConfig

STEP_NAMES = ("due_boost", "upsell", "price_sensitivity")


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


def candidate_pool(blended: np.ndarray, pool: int, banned: np.ndarray | None = None) -> np.ndarray:
    """(batch, pool) item codes with the highest blended scores, best first."""
    s = blended if banned is None else np.where(banned, -np.inf, blended)
    pool = min(pool, s.shape[1])
    part = np.argpartition(-s, pool - 1, axis=1)[:, :pool]
    order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


@dataclass
class RerankInput:
    """What re-ranking knows of each candidate, all (batch, pool) unless noted."""

    items: np.ndarray            # item codes
    base: np.ndarray             # blended score in [0, 1]
    price: np.ndarray            # item price
    user_avg_price: np.ndarray   # (batch, 1)
    segment: np.ndarray          # (batch,) segment code
    bought: np.ndarray           # bool: bought before the as-of time
    days_since: np.ndarray       # days since the last purchase (nan if never)
    cycle_days: np.ndarray       # repurchase cycle of the user-item (or the item); nan if unknown


@dataclass
class Reranked:
    items: np.ndarray                     # (batch, pool) item codes, best first
    score: np.ndarray                     # (batch, pool) final score; -inf = filtered out
    factors: dict[str, np.ndarray] = field(default_factory=dict)  # step -> multiplicative factor
    due: np.ndarray | None = None          # bool: boosted because due
    bought: np.ndarray | None = None       # the input's facts, in the new order
    days_since: np.ndarray | None = None
    cycle_days: np.ndarray | None = None
    filtered: dict[str, int] = field(default_factory=dict)        # step -> candidates removed


def rerank(inp: RerankInput, cfg: RerankConfig, segment_caps: np.ndarray, exclude_purchased: bool = False,
           price_min: float | None = None, price_max: float | None = None) -> Reranked:
    """Level 2: filters (price range, segment, repurchase, purchased) and boosts, then sort."""
    keep = np.ones(inp.items.shape, dtype=bool)
    filtered: dict[str, int] = {}

    def drop(name: str, mask: np.ndarray) -> None:
        filtered[name] = int((keep & mask).sum())
        keep[mask] = False

    lo = cfg.price_min if price_min is None else price_min
    hi = cfg.price_max if price_max is None else price_max
    if lo is not None:
        drop("price_range", inp.price < lo)
    if hi is not None:
        drop("price_range_max", inp.price > hi)
    if cfg.segment_filter:
        # a user's own past purchases are never out of their league
        cap = segment_caps[inp.segment.astype(np.int64)][:, None]
        drop("segment_filter", (inp.price > cap) & ~inp.bought)
    if exclude_purchased:
        drop("exclude_purchased", inp.bought)

    with np.errstate(invalid="ignore", divide="ignore"):
        ratio_cycle = inp.days_since / inp.cycle_days
    known_cycle = inp.bought & np.isfinite(ratio_cycle)
    if cfg.repurchase_exclusion:
        drop("repurchase_too_recent", known_cycle & (ratio_cycle < cfg.repurchase_buffer))
    due = known_cycle & (ratio_cycle >= 1.0)

    factors = {
        "due_boost": np.where(due, 1.0 + cfg.due_boost, 1.0),
        "upsell": upsell_factor(inp.price, inp.user_avg_price, cfg),
        "price_sensitivity": price_penalty(inp.price, inp.user_avg_price, cfg),
    }
    score = inp.base.astype(np.float64).copy()
    for f in factors.values():
        score *= f
    score[~keep] = -np.inf
    order = np.argsort(-score, axis=1, kind="stable")
    take = lambda a: np.take_along_axis(a, order, axis=1)  # noqa: E731
    return Reranked(items=take(inp.items), score=take(score), factors={k: take(v) for k, v in factors.items()},
                    due=take(due), bought=take(inp.bought), days_since=take(inp.days_since),
                    cycle_days=take(inp.cycle_days), filtered=filtered)


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
