"""Popularity, overall and within the user's spending segment: the cold-start answer."""
from __future__ import annotations

import numpy as np

from recsys.arrays import top_n, unique_sorted
from recsys.config import TuningConfig
from recsys.models.base import FitProgress, Scorer, UserBatch
from recsys.models.data import TrainingData


class PopularityModel(Scorer):
    name = "popularity"

    def __init__(self, segment_share: float = 0.0, max_candidates: int = 500) -> None:
        self.segment_share = segment_share  # 0 = overall popularity only, 1 = the segment's own
        self.max_candidates = max_candidates  # longest best-seller lists kept for candidate selection

    def fit(self, data: TrainingData, progress: FitProgress | None = None) -> "PopularityModel":
        """Overall: what the store ranks by (`data.item_popularity`); per segment: distinct buyers."""
        self.overall_ = np.asarray(data.item_popularity, dtype=np.float32)
        per_segment = data.segment_buyers
        tops = per_segment.max(axis=1, keepdims=True)
        self.per_segment_ = (per_segment / np.where(tops > 0, tops, 1.0)).astype(np.float32)
        self.top_overall_ = top_n(self.overall_, self.max_candidates)
        self.top_segment_ = np.stack([top_n(s, self.max_candidates) for s in self.per_segment_]) \
            if len(self.per_segment_) else np.empty((0, 0), np.int64)
        return self

    def candidates(self, batch: UserBatch, k: int, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Half from the best-sellers overall, half from those of each user's segment (among the
        stored lists): at most k distinct items per user."""
        b, half = len(batch), -(-k // 2)
        overall, seg = self.top_overall_, self.top_segment_
        if banned is not None:
            overall = overall[~banned[overall]]
            kept = [s[~banned[s]] for s in seg]  # four segments
            width = min(len(x) for x in kept) if kept else 0
            seg = np.stack([x[:width] for x in kept]) if kept else seg
        overall, seg = overall[:half], seg[batch.segments.astype(np.int64), :half]
        rows = np.r_[np.repeat(np.arange(b), len(overall)), np.repeat(np.arange(b), seg.shape[1])]
        keys = unique_sorted(rows.astype(np.int64) * self.n_items_ + np.r_[np.tile(overall, b), seg.ravel()])
        return keys // self.n_items_, keys % self.n_items_

    @property
    def n_items_(self) -> int:
        return len(self.overall_)

    def score(self, batch: UserBatch, candidates: np.ndarray, config: TuningConfig | None = None) -> np.ndarray:
        c = np.maximum(candidates, 0)
        s = self.overall_[c].astype(np.float64)
        if self.segment_share > 0:
            seg = self.per_segment_[batch.segments.astype(np.int64)[:, None], c]
            s = self.segment_share * seg + (1.0 - self.segment_share) * s
        return np.where(candidates >= 0, s, 0.0)


def popularity_score(components: dict[str, np.ndarray], purchase_w: float, buyers_w: float, quantity_w: float) -> np.ndarray:
    """Weighted popularity in [0, 1]: each component scaled by its maximum."""
    def scaled(x: np.ndarray) -> np.ndarray:
        top = x.max() if len(x) else 0.0
        return x / top if top > 0 else np.zeros_like(x)

    total = purchase_w + buyers_w + quantity_w
    if total <= 0:
        raise ValueError("popularity weights must not all be zero")
    return (purchase_w * scaled(components["purchase_count"]) + buyers_w * scaled(components["unique_buyers"])
            + quantity_w * scaled(np.maximum(components["total_quantity"], 0))) / total
