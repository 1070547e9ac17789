"""Stage 1 of the request path: the candidate pool. Each source puts forward a few items per
user (the user's own past items, ALS's top-k, item-CF neighbours of the history, best-sellers
overall and in the user's segment); the pool is their union, packed into a padded array."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.arrays import unique_sorted
from recsys.bundles.state import TrainedState
from recsys.config import TuningConfig
from recsys.models import PAD, Scorer, UserBatch

SOURCES = ("repeat", "als", "item_cf", "popularity")


@dataclass
class CandidatePool:
    """(batch, pool) item codes, PAD-padded; each row holds distinct items in no set order."""

    items: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        return self.items >= 0

    @property
    def sizes(self) -> np.ndarray:
        return self.valid.sum(axis=1)


def pack_pairs(rows: np.ndarray, items: np.ndarray, n_rows: int, n_items: int) -> CandidatePool:
    """The distinct (row, item) pairs as a padded (n_rows, widest row) array."""
    keys = unique_sorted(rows.astype(np.int64) * n_items + items.astype(np.int64))
    r, i = keys // n_items, keys % n_items
    counts = np.bincount(r, minlength=n_rows)
    width = max(int(counts.max()) if len(counts) else 0, 1)
    out = np.full((n_rows, width), PAD, dtype=np.int64)
    col = np.arange(len(keys)) - np.repeat(np.cumsum(counts) - counts, counts)
    out[r, col] = i
    return CandidatePool(out)


def models_of(state: TrainedState) -> dict[str, Scorer]:
    """Each source's model (customer neighbours where the state has them)."""
    models = {"repeat": state.repeat, "als": state.als, "item_cf": state.item_cf, "popularity": state.popularity}
    if state.neighbours is not None:
        models["neighbours"] = state.neighbours
    return models


def sources_for(model: str, config: TuningConfig, ranked: bool = False) -> tuple[str, ...]:
    """The sources a model's list draws on: its own, plus best-sellers so a list is never short;
    the learned ranker (`ranked`) reads every source, customer neighbours included."""
    if model != "hybrid":
        return tuple(dict.fromkeys((model, "popularity")))
    if ranked:
        return (*SOURCES, "neighbours")
    w, nw, dw = config.weights.as_dict(), config.newcomers.weights.as_dict(), config.discovery.as_dict()
    used = tuple(m for m in SOURCES if w[m] > 0 or nw[m] > 0 or dw[m] > 0)
    return used if "popularity" in used else used + ("popularity",)


def candidate_sizes(config: TuningConfig) -> dict[str, int]:
    """How many candidates each source puts forward (0: all of a user's past items)."""
    c = config.candidates
    # popularity: `c.popularity` best-sellers overall and as many of the user's segment
    return {"repeat": 0, "als": c.als, "item_cf": c.item_cf, "popularity": 2 * c.popularity,
            "neighbours": c.neighbours}


def select_candidates(state: TrainedState, batch: UserBatch, sources: tuple[str, ...], config: TuningConfig,
                      banned: np.ndarray | None = None, exclude_history: bool = False) -> CandidatePool:
    """The pool of each user: the union of what every source puts forward.

    The pool is not filtered here (the filter stage removes and counts); when a request bans
    items (`banned`, an (n_items,) mask) or the user's past items (`exclude_history`), each
    source also puts forward its best allowed items, so the pool stays full after filtering."""
    models, sizes = models_of(state), candidate_sizes(config)
    sources = tuple(s for s in sources if s in models)
    found = {name: models[name].candidates(batch, sizes[name]) for name in sources}
    rows, items = [r for r, _ in found.values()], [i for _, i in found.values()]
    if banned is not None or exclude_history:
        past_rows = found["repeat"][0] if "repeat" in found else models["repeat"].candidates(batch, 0)[0]
        extra = int(np.bincount(past_rows).max()) if exclude_history and len(past_rows) else 0
        for name in sources:
            if name != "repeat":
                r, i = models[name].candidates(batch, sizes[name] + extra, banned)
                rows.append(r)
                items.append(i)
    return pack_pairs(np.concatenate(rows), np.concatenate(items), len(batch), state.n_items)
