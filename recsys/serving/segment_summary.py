"""What each spending segment is recommended, on a stated random sample of its customers.

Training computes it once (through the same ranking core the app and the API use) and stores the long frame in the state, so the Segments page never recommends for the
whole store on a page load or a rerun."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys.config import SEGMENTS, TuningConfig
from recsys.serving.lists import ListMaker, ListRequest

PER_SEGMENT = 500   # customers sampled per segment
LIST_SIZE = 10      # the top-n the summary describes
COLUMNS = ("user_id", "rank", "item_id", "item_price", "model_source", "spending_segment", "avg_item_price")


def sample_by_segment(segment_codes: np.ndarray, per_segment: int = PER_SEGMENT, seed: int = 0) -> np.ndarray:
    """Sorted user codes: up to `per_segment` drawn at random, without replacement, from each segment."""
    rng = np.random.default_rng(seed)
    codes = np.asarray(segment_codes)
    picks = []
    for s in range(len(SEGMENTS)):  # four segments
        members = np.flatnonzero(codes == s)
        picks.append(rng.choice(members, size=min(per_segment, len(members)), replace=False))
    return np.sort(np.concatenate(picks)).astype(np.int64) if picks else np.empty(0, np.int64)


def segment_recommendations(core: ListMaker, config: TuningConfig, codes: np.ndarray, model: str = "hybrid",
                            n: int = LIST_SIZE) -> pd.DataFrame:
    """The top-n of the given customers (codes; a long frame, COLUMNS) with their segment and own
    average price, as they are served at the end of the data."""
    st = core.state
    codes = np.asarray(codes, dtype=np.int64)
    as_of = np.full(len(codes), core.builder.default_as_of, dtype=np.int64)
    frame = core.frame(st.user_ids[codes], codes, as_of, ListRequest(n, model), config, with_confidence=False,
                       with_reasons=False)
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("user_id", "item_id") else float) for c in COLUMNS})
    prof = st.profiles
    rows = codes[pd.Index(st.user_ids[codes]).get_indexer(frame["user_id"])]  # the sample's own index only
    frame["spending_segment"] = prof["spending_segment"].to_numpy()[rows]
    frame["avg_item_price"] = prof["avg_item_price"].to_numpy(np.float64)[rows]
    return frame[list(COLUMNS)].reset_index(drop=True)


def sampled_segment_recommendations(core: ListMaker, config: TuningConfig, per_segment: int = PER_SEGMENT,
                                    seed: int = 0, n: int = LIST_SIZE, lists: Any = None) -> pd.DataFrame:
    """The hybrid's top-n of a random sample of up to `per_segment` customers of each segment;
    read from `lists` (precomputed default lists under `config`, recsys.serving.default_lists) when given."""
    codes = sample_by_segment(core.state.profiles["segment_code"].to_numpy(), per_segment, seed)
    if lists is not None and lists.n >= n:
        return _from_lists(core, lists, codes, n)
    return segment_recommendations(core, config, codes, "hybrid", n)


def _from_lists(core: ListMaker, lists: Any, codes: np.ndarray, n: int) -> pd.DataFrame:
    """segment_recommendations' frame from precomputed default lists (the same ranking core's)."""
    st = core.state
    items = np.asarray(lists.items[codes, :n], dtype=np.int64)
    r, j = np.nonzero(items >= 0)
    it = items[r, j]
    prof = st.profiles
    frame = pd.DataFrame({
        "user_id": st.user_ids[codes[r]], "rank": j + 1, "item_id": st.item_ids[it],
        "item_price": core.pipeline.item_price[it],
        "model_source": np.asarray(lists.source_names, dtype=object)[lists.sources[codes, :n][r, j]],
        "spending_segment": prof["spending_segment"].to_numpy()[codes[r]],
        "avg_item_price": prof["avg_item_price"].to_numpy(np.float64)[codes[r]]})
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("user_id", "item_id") else float) for c in COLUMNS})
    return frame[list(COLUMNS)].reset_index(drop=True)
