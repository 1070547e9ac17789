"""The one contract every model follows, the batch of users it scores, and its typed cache.

A model is configured in its constructor, learns in `fit(data)` (one `TrainingData`, the encoded
store) and returns itself; learned attributes end in `_`. At request time every model answers the
same two calls:
    candidates(batch, k, banned) -> (rows, items)   up to k items per user it would put forward
    score(batch, candidates, config) -> (batch, pool) raw scores of given candidates
Per-request knobs come in `config` (a TuningConfig; each model reads its own request-time
section), never by changing a model."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp

from recsys.arrays import CsrRows, PairGroups
from recsys.config import TuningConfig
from recsys.models.data import TrainingData

PAD = -1  # an empty slot of a candidate row
# (row, day) packed as row * DAY_KEY + day: whole days before any as-of time (up to year 9999) fit
DAY_KEY = 1 << 24
FitProgress = Callable[[float], None]  # fraction of the fit done


@dataclass
class BatchCache:
    """What a model derives from a batch once and both its candidates() and score() read."""

    als_vectors: np.ndarray | None = None        # (batch, factors) the users' ALS factors
    als_catalogue: np.ndarray | None = None      # (batch, n_items) ALS scores of every item (exhaustive candidates)
    item_cf_scores: CsrRows | None = None        # (batch, n_items) history x neighbour similarities
    neighbour_scores: sp.csr_matrix | None = None  # (batch, n_items) own and nearest customers' vectors
    pairs: PairGroups | None = None              # the distinct (row, item) pairs of the lines


@dataclass
class UserBatch:
    """What a model may know about the users it scores, as of the request time.

    `codes` are training user codes (-1 for a user the models never saw); `history` holds the
    users' damped purchase confidences, and the `line_*` arrays their purchase lines with the
    age of each at the as-of time; both come from lines before the as-of time (or from a
    history given at call time)."""

    codes: np.ndarray          # (batch,) int64
    history: CsrRows           # (batch, n_items) float32 (a scipy matrix given here is read as its rows)
    segments: np.ndarray       # (batch,) int8 spending segment code
    line_row: np.ndarray       # (lines,) int64 row of the batch the line belongs to
    line_item: np.ndarray      # (lines,) int64 item code
    line_age_days: np.ndarray  # (lines,) float64 age of the line at the as-of time
    avg_price: np.ndarray      # (batch,) the user's average item price (the store's median if unknown)
    newcomer: np.ndarray       # (batch,) bool: few shopping days so far (the newcomer blend serves them)
    default_as_of: bool = False  # asked at the end of the data with stored history only
    cache: BatchCache = field(default_factory=BatchCache, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.history, CsrRows):
            self.history = CsrRows.of(self.history)

    def __len__(self) -> int:
        return len(self.codes)

    @property
    def n_items(self) -> int:
        return self.history.n_cols

    def pairs(self) -> PairGroups:
        """The distinct (row, item) pairs of the lines, grouped once per batch: how often and how
        recently each was bought, what the buy-again model and re-ranking read."""
        if self.cache.pairs is None:
            self.cache.pairs = PairGroups.of(self.line_row, self.line_item, self.n_items)
        return self.cache.pairs


class Scorer(ABC):
    """A model: fit on the encoded store, then put forward and score candidates of a batch.

    `candidates` arrays are (batch, pool) item codes padded with PAD; a score array has the same
    shape, higher is better (the scale is the model's own) and 0 in padded slots."""

    name: str = "model"

    @abstractmethod
    def fit(self, data: TrainingData, progress: FitProgress | None = None) -> "Scorer":
        """Learn from the encoded store; returns self."""

    @abstractmethod
    def candidates(self, batch: UserBatch, k: int, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, items) of up to k items per user this model would put forward, none of them
        `banned` (an (n_items,) bool mask)."""

    @abstractmethod
    def score(self, batch: UserBatch, candidates: np.ndarray, config: TuningConfig | None = None) -> np.ndarray:
        """(batch, pool) raw scores of the candidates (0 where PAD)."""

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError(f"{self.name} has no item similarity")
