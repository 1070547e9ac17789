"""What training learns, in one object the bundle stores (recsys.bundles.format encodes it, no pickle)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.bundles.store import save_bundle
from recsys.config import TuningConfig
from recsys.models import ALSModel, ItemCFModel, NeighbourModel, PopularityModel, RepeatModel


@dataclass
class TrainedState:
    """Precomputed arrays a request reads; nothing here is recomputed per request."""

    user_ids: np.ndarray             # (n_users,) str
    item_ids: np.ndarray             # (n_items,) str
    profiles: pd.DataFrame           # one row per user code (see features.user_profiles)
    items: pd.DataFrame              # one row per item code: price, popularity parts, cycles
    popularity_parts: dict[str, np.ndarray]
    segment_buyers: np.ndarray       # (4, n_items)
    segment_caps: np.ndarray         # (4,) price cap per segment
    segment_cuts: np.ndarray         # (3,) average-item-price cut points between segments
    line_ptr: np.ndarray             # (n_users + 1,) lines of user u: [ptr[u], ptr[u+1])
    line_item: np.ndarray            # (n_lines,) int32, sorted by user then time
    line_time: np.ndarray            # (n_lines,) int64 seconds
    line_weight: np.ndarray          # (n_lines,) float32 confidence weight
    line_price: np.ndarray           # (n_lines,) float32
    line_quantity: np.ndarray        # (n_lines,) float32
    user_item_cycle: sp.csr_matrix   # (n_users, n_items) median repurchase gap in days
    als: ALSModel
    item_cf: ItemCFModel
    popularity: PopularityModel
    repeat: RepeatModel
    data_start: pd.Timestamp
    data_end: pd.Timestamp
    weekly_sales: pd.DataFrame       # week, customer_type, revenue, lines, baskets
    weekly_item_sales: pd.DataFrame  # week, item_id, lines (top items only)
    calibrator: Any = None           # recsys.serving.confidence.Calibrator or None
    neighbours: NeighbourModel | None = None  # customer neighbours (the ranker's fifth source)
    ranker: Any = None               # recsys.serving.ranker.LearnedRanker, or None: the fitted blend serves
    # the hybrid's top-10 of a random sample of each segment's customers (recsys.serving.segment_summary)
    segment_sample: pd.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    # (n_users, n_items) each user's history at the end of the data, as the models see it (log1p of
    # summed line weights): a request at the default time reads its rows (None: an older bundle)
    user_items: sp.csr_matrix | None = None

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Trained:
    """What a training run produces and a bundle holds: the state, the config it is served with
    (the fitted hybrid's weights included), what training noted, and the cleaning report."""

    state: TrainedState
    config: TuningConfig
    metadata: dict[str, Any] = field(default_factory=dict)
    cleaning_report: dict[str, Any] = field(default_factory=dict)
    bundle_name: str = ""  # the bundle it was last saved as
    # the precomputed default lists (recsys.serving.default_lists.DefaultLists), when computed
    default_lists: Any = None

    def save(self, out_dir: str | Path, timings: dict[str, float] | None = None) -> Path:
        """Write the bundle (atomically; CURRENT moves to it last) and note it in the metadata."""
        meta = dict(self.metadata)
        meta.update(trained_at=meta.get("trained_at") or now_iso(), config=self.config.to_dict(),
                    counts=self.state.summary, date_range=[str(self.state.data_start), str(self.state.data_end)])
        if timings:
            meta["timings_s"] = dict(timings)
        path = save_bundle(out_dir, {"state": self.state, "cleaning_report": self.cleaning_report}, meta)
        self.metadata, self.bundle_name = meta, path.name
        return path
