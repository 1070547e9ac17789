"""The one small interface every model follows."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class UserBatch:
    """What a model may know about the users it scores, as of the request time.

    `codes` are training user codes (-1 for a user the models never saw); `history` holds the
    users' damped purchase confidences, and the `line_*` arrays their purchase lines with the
    age of each at the as-of time; both come from lines before the as-of time (or from a
    history given at call time).
    """

    codes: np.ndarray          # (batch,) int64
    history: sp.csr_matrix     # (batch, n_items) float32
    segments: np.ndarray       # (batch,) int8 spending segment code
    line_row: np.ndarray       # (lines,) int64 row of the batch the line belongs to
    line_item: np.ndarray      # (lines,) int64 item code
    line_age_days: np.ndarray  # (lines,) float64 age of the line at the as-of time
    default_as_of: bool = False  # asked at the end of the data with stored history only

    def __len__(self) -> int:
        return len(self.codes)


class Scorer(ABC):
    """A fitted model turns a UserBatch into one non-negative-ish score per item."""

    name: str = "model"

    @abstractmethod
    def score(self, users: UserBatch) -> np.ndarray:
        """(batch, n_items) raw scores; higher is better, scale is model-specific."""

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError(f"{self.name} has no item similarity")


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest scores, best first (argpartition, then a small sort)."""
    n = min(n, scores.shape[-1])
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.argsort(-scores[part], kind="stable")]
