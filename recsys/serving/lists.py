"""The ranking core every answer goes through: one check of a list request's arguments, then
the ranked lists of a batch of users with the confidence, source and reason of every item.

`recommend`, `recommend_batch`, the basket page, the API, the Segments summary, calibration and
the evaluation all call `ListMaker.lists`; they differ only in how they format the result. A
user the models never saw and who brings no basket gets best-sellers (popularity, `fallback`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pandas as pd

from recsys.bundles.state import TrainedState
from recsys.config import (
    SEGMENTS,
    TuningConfig,
    check_model,
    check_price_range,
    check_segment,
)
from recsys.models import UserBatch
from recsys.serving import explain
from recsys.serving.batches import BatchBuilder, ExtraLines
from recsys.serving.confidence import confidences
from recsys.serving.pipeline import RankedLists, RequestPipeline
from recsys.serving.ranking import HardFilters

# (batch, n_items) floats one chunk may hold (ALS's exhaustive candidate product): ~16 MiB
BATCH_CELLS = 4_000_000
FALLBACK_MODEL = "popularity"
FRAME_COLUMNS = ("user_id", "rank", "item_id", "item_name", "category", "relevance_score", "confidence_score",
                 "item_price", "model_source", "recommendation_reason")


@dataclass(frozen=True)
class ListRequest:
    """What a caller asks of a list, checked once for every face (library, CLI, API, app)."""

    n: int = 5
    model: str = "hybrid"
    exclude_purchased: bool = False
    price_min: float | None = None
    price_max: float | None = None
    segment: str | None = None  # the spending segment of a user the models never saw

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise ValueError(f"n must be a whole number of at least 1, got {self.n!r}")
        check_model(self.model)
        check_segment(self.segment)
        check_price_range(self.price_min, self.price_max)

    @property
    def hard(self) -> HardFilters:
        return HardFilters(self.price_min, self.price_max, self.exclude_purchased)


@dataclass
class Lists:
    """The answered lists of some users of a request (`rows` says which), all (users, n)."""

    rows: np.ndarray          # positions of these users in the request
    batch: UserBatch
    ranked: RankedLists
    model: str                # the model that served them (FALLBACK_MODEL for users with nothing to go on)
    fallback: bool
    confidence: np.ndarray    # calibrated P(bought within the horizon), or the relevance
    sources: np.ndarray       # object: the model behind each item
    reasons: np.ndarray | None  # object: the reason of each item ('' where no item); None if not asked


class ListMaker:
    """Ranked lists for batches of users over one trained state."""

    def __init__(self, state: TrainedState) -> None:
        self.state = state
        self.builder = BatchBuilder(state)
        self.pipeline = RequestPipeline(state)
        self.item_name = _item_text(state, "item_name")
        self.item_category = _item_text(state, "category")

    def chunk_size(self, chunk: int = 512) -> int:
        """Users per chunk: ALS without an item index forms a (chunk, n_items) product."""
        width = self.state.n_items if getattr(self.state.als, "index_", None) is None else 1
        return max(8, min(chunk, BATCH_CELLS // max(width, 1)))

    def lists(self, codes: np.ndarray, as_of: np.ndarray, request: ListRequest, config: TuningConfig,
              extra: ExtraLines | None = None, avg_price: np.ndarray | None = None,
              segments: np.ndarray | None = None, reasons: bool = True) -> list[Lists]:
        """The lists of users (codes, -1 = unseen at training) asked at per-user times, with their
        call-time lines. Users with neither stored nor call-time lines get best-sellers of their
        segment; the others the asked model. One `Lists` per group, in that order.

        `avg_price` and `segments` (per user) default to the known users' own and, for the others,
        to the store's median price and the default segment; `request.segment` wins for those."""
        codes = np.asarray(codes, dtype=np.int64)
        has_lines = codes >= 0
        if extra is not None and len(extra):
            has_lines[np.unique(extra.rows)] = True
        out = []
        for fallback in (False, True):
            rows = np.flatnonzero(has_lines != fallback)
            if len(rows):
                out.append(self._group(rows, codes, np.asarray(as_of, np.int64), request, config, extra,
                                       avg_price, segments, fallback, reasons))
        return out

    def _group(self, rows: np.ndarray, codes: np.ndarray, as_of: np.ndarray, request: ListRequest,
               config: TuningConfig, extra: ExtraLines | None, avg_price: np.ndarray | None,
               segments: np.ndarray | None, fallback: bool, reasons: bool) -> Lists:
        sub_extra = None
        if extra is not None and len(extra):
            pos = np.full(len(codes), -1, dtype=np.int64)
            pos[rows] = np.arange(len(rows))
            mine = pos[extra.rows] >= 0
            sub_extra = ExtraLines(pos[extra.rows[mine]], extra.items[mine], extra.times[mine], extra.weights[mine])
        c = codes[rows]
        seg = None if segments is None else np.asarray(segments)[rows]
        if request.segment is not None and (c < 0).any():
            # the asked segment for users the models never saw; known users keep their own
            own = self.builder.segment[np.maximum(c, 0)] if seg is None else seg
            seg = np.where(c >= 0, own, SEGMENTS.index(request.segment))
        avg = None if avg_price is None else np.asarray(avg_price, np.float64)[rows]
        batch = self.builder.build(c, as_of[rows], config, sub_extra, seg, avg)
        model = FALLBACK_MODEL if fallback else request.model
        ranked = self.pipeline.run(batch, model, request.n, config, request.hard)
        sources = explain.sources_of(ranked, model)
        text = None
        if reasons:
            neighbours = self.state.item_cf.neighbours_in_history(batch, ranked.items) \
                if "item_cf" in ranked.parts else np.zeros(ranked.items.shape)
            text = explain.reasons(ranked, sources, batch.segments, neighbours)
        conf = confidences(self.state.calibrator, ranked, np.full(len(rows), fallback))
        return Lists(rows, batch, ranked, model, fallback, conf, sources, text)

    def lists_in_chunks(self, codes: np.ndarray, as_of: np.ndarray, request: ListRequest, config: TuningConfig,
                        chunk: int = 512, reasons: bool = True) -> Iterator[tuple[int, list[Lists]]]:
        """(first position, lists) per chunk of users: memory stays bounded whatever their number."""
        step = self.chunk_size(chunk)
        for lo in range(0, len(codes), step):  # chunks bound memory: ALS's (chunk, n_items) product
            yield lo, self.lists(codes[lo:lo + step], as_of[lo:lo + step], request, config, reasons=reasons)

    def frame(self, user_ids: np.ndarray, codes: np.ndarray, as_of: np.ndarray, request: ListRequest,
              config: TuningConfig, chunk: int = 512, with_confidence: bool = True,
              with_reasons: bool = True) -> pd.DataFrame:
        """The lists of many users as one long frame (FRAME_COLUMNS), best first per user, the
        users in the order given."""
        parts = [self._frame_part(user_ids[lo:], part, with_confidence)
                 for lo, lists in self.lists_in_chunks(codes, as_of, request, config, chunk, with_reasons)
                 for part in lists]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in FRAME_COLUMNS})
        out = pd.concat(parts, ignore_index=True)
        # users in the order asked (a chunk's fallback users come after its others)
        order = np.argsort(out.pop("_user").to_numpy() * request.n + out["rank"].to_numpy(), kind="stable")
        return out.iloc[order].reset_index(drop=True)

    def _frame_part(self, user_ids: np.ndarray, lists: Lists, with_confidence: bool) -> pd.DataFrame:
        ranked = lists.ranked
        r, j = np.nonzero(ranked.valid)
        items = ranked.items[r, j]
        conf = lists.confidence if with_confidence else ranked.relevance
        return pd.DataFrame({
            "user_id": user_ids[lists.rows[r]], "rank": j + 1, "item_id": self.state.item_ids[items],
            "item_name": self.item_name[items], "category": self.item_category[items],
            "relevance_score": ranked.relevance[r, j], "confidence_score": conf[r, j],
            "item_price": self.pipeline.item_price[items], "model_source": lists.sources[r, j],
            "recommendation_reason": lists.reasons[r, j] if lists.reasons is not None else "",
            "_user": lists.rows[r],
        })


def _item_text(state: TrainedState, column: str) -> np.ndarray:
    """A text column of the item table ('' for every item when the data has none)."""
    items = state.items
    if column not in items.columns:
        return np.full(len(items), "", dtype=object)
    return items[column].fillna("").astype(str).to_numpy(dtype=object)
