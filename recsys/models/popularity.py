"""Popularity, overall and within the user's spending segment: the cold-start answer."""
from __future__ import annotations

import numpy as np

from recsys.models.base import Scorer, UserBatch


class PopularityModel(Scorer):
    name = "popularity"

    def __init__(self, segment_share: float = 0.0) -> None:
        self.segment_share = segment_share  # 0 = overall popularity only, 1 = the segment's own

    def fit(self, overall: np.ndarray, per_segment: np.ndarray) -> "PopularityModel":
        """overall: (n_items,) popularity score; per_segment: (n_segments, n_items) buyer counts."""
        self.overall_ = np.asarray(overall, dtype=np.float32)
        tops = per_segment.max(axis=1, keepdims=True)
        self.per_segment_ = (per_segment / np.where(tops > 0, tops, 1.0)).astype(np.float32)
        return self

    def score(self, users: UserBatch) -> np.ndarray:
        overall = np.broadcast_to(self.overall_, (len(users), len(self.overall_)))
        if self.segment_share <= 0:
            return overall.copy()
        seg = self.per_segment_[users.segments.astype(np.int64)]
        return self.segment_share * seg + (1.0 - self.segment_share) * overall
