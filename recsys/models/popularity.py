"""Popularity, overall and within the user's spending segment: the cold-start answer."""
from __future__ import annotations

import numpy as np

from recsys.models.base import Scorer, UserBatch, top_n


class PopularityModel(Scorer):
    name = "popularity"

    def __init__(self, segment_share: float = 0.0, max_candidates: int = 500) -> None:
        self.segment_share = segment_share  # 0 = overall popularity only, 1 = the segment's own
        self.max_candidates = max_candidates  # longest best-seller lists kept for candidate selection

    def fit(self, overall: np.ndarray, per_segment: np.ndarray) -> "PopularityModel":
        """overall: (n_items,) popularity score; per_segment: (n_segments, n_items) buyer counts."""
        self.overall_ = np.asarray(overall, dtype=np.float32)
        tops = per_segment.max(axis=1, keepdims=True)
        self.per_segment_ = (per_segment / np.where(tops > 0, tops, 1.0)).astype(np.float32)
        self.top_overall_ = top_n(self.overall_, self.max_candidates)
        self.top_segment_ = np.stack([top_n(s, self.max_candidates) for s in self.per_segment_]) \
            if len(self.per_segment_) else np.empty((0, 0), np.int64)
        return self

    def candidates(self, users: UserBatch, k: int, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k best-sellers overall and the k of each user's segment (among the stored lists)."""
        b = len(users)
        overall, seg = self.top_overall_, self.top_segment_
        if banned is not None:
            overall = overall[~banned[overall]]
            kept = [s[~banned[s]] for s in seg]  # four segments
            width = min(len(x) for x in kept) if kept else 0
            seg = np.stack([x[:width] for x in kept]) if kept else seg
        overall, seg = overall[:k], seg[users.segments.astype(np.int64), :k]
        rows = np.r_[np.repeat(np.arange(b), len(overall)), np.repeat(np.arange(b), seg.shape[1])]
        return rows.astype(np.int64), np.r_[np.tile(overall, b), seg.ravel()].astype(np.int64)

    def score(self, users: UserBatch, candidates: np.ndarray) -> np.ndarray:
        c = np.maximum(candidates, 0)
        s = self.overall_[c].astype(np.float64)
        if self.segment_share > 0:
            seg = self.per_segment_[users.segments.astype(np.int64)[:, None], c]
            s = self.segment_share * seg + (1.0 - self.segment_share) * s
        return np.where(candidates >= 0, s, 0.0)
