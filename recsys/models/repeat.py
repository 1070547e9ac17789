"""'Buy again': the user's own past items, each purchase decayed by its age."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Scorer, UserBatch


class RepeatModel(Scorer):
    name = "repeat"

    def __init__(self, half_life_days: float = 60.0) -> None:
        self.half_life_days = half_life_days

    def fit(self, popularity: np.ndarray) -> "RepeatModel":
        """Popularity only breaks ties among equally-recent items."""
        self.tiebreak_ = 1e-6 * np.asarray(popularity, dtype=np.float32)
        return self

    def decayed_counts(self, users: UserBatch) -> sp.csr_matrix:
        """(batch, n_items): sum over past purchases of 0.5 ** (age / half-life)."""
        w = np.power(0.5, users.line_age_days / max(self.half_life_days, 1e-9))
        m = sp.csr_matrix((w.astype(np.float32), (users.line_row, users.line_item)),
                          shape=(len(users), len(self.tiebreak_)))
        m.sum_duplicates()
        return m

    def score(self, users: UserBatch) -> np.ndarray:
        counts = self.decayed_counts(users)
        out = counts.toarray()
        bought = counts.getnnz(axis=1) > 0
        out[bought] += self.tiebreak_ * (out[bought] > 0)
        return out
