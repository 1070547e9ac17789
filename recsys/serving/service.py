"""The Recommender: a thin facade over the request pipeline (recsys.pipeline) and the
precomputed arrays of a TrainedState. It turns ids into codes, runs the stages, and shapes
the answers (reasons, confidence, breakdown)."""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from recsys import explain
from recsys.batches import BatchBuilder, ExtraLines
from recsys.config import MODELS, SEGMENTS, TuningConfig
from recsys.features import to_seconds
from recsys.models.base import top_n
from recsys.pipeline import RankedLists, RequestPipeline
from recsys.ranking import HardFilters
from recsys.state import TrainedState

SEGMENT_LABELS = explain.SEGMENT_LABELS
# (batch, n_items) floats one batch chunk may hold (ALS's candidate product): ~16 MiB
BATCH_CELLS = 4_000_000


class UnknownItemError(KeyError):
    def __str__(self) -> str:
        return f"unknown item id {self.args[0]!r}"


class UnknownUserError(KeyError):
    def __str__(self) -> str:
        return f"unknown user id {self.args[0]!r}"


@dataclass
class Recommendation:
    item_id: str
    relevance_score: float
    confidence_score: float
    item_price: float
    recommendation_reason: str
    model_source: str
    score_breakdown: dict[str, float] = field(default_factory=dict)
    item_name: str = ""
    category: str = ""


@dataclass
class RecommendationResponse:
    user_id: str
    user_info: dict[str, Any]
    recommendations: list[Recommendation]
    primary_model: str
    fallback_used: bool
    processing_time_ms: float
    generated_at: str
    as_of: str = ""
    filtered: dict[str, int] = field(default_factory=dict)
    candidates_considered: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(r) for r in self.recommendations],
                            columns=[f for f in Recommendation.__dataclass_fields__])


@dataclass
class SimilarItemsResponse:
    item_id: str
    similar_items: list[dict[str, Any]]
    processing_time_ms: float
    model: str = "item_cf"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _item_text(items: pd.DataFrame, column: str) -> np.ndarray:
    """A text column of the item table ('' for every item when the data has none)."""
    if column not in items.columns:
        return np.full(len(items), "", dtype=object)
    return items[column].fillna("").astype(str).to_numpy(dtype=object)


class Recommender:
    """Answers recommendation questions from a trained state and a tuning config."""

    def __init__(self, state: TrainedState, config: TuningConfig | None = None,
                 metadata: dict[str, Any] | None = None, cleaning_report: dict[str, Any] | None = None) -> None:
        self.state = state
        self.config = (config or TuningConfig()).validate()
        self.metadata = metadata or {}
        self.cleaning_report = cleaning_report or {}
        self._user_index = pd.Index(state.user_ids)
        self._item_index = pd.Index(state.item_ids)
        self.batches = BatchBuilder(state)
        self.pipeline = RequestPipeline(state)
        self._item_price = self.pipeline.item_price
        self._item_cycle = self.pipeline.item_cycle
        self._item_name = _item_text(state.items, "item_name")
        self._item_category = _item_text(state.items, "category")
        self._profile_columns = {c: state.profiles[c].to_numpy() for c in state.profiles.columns}

    # ---- persistence -------------------------------------------------------------------
    def save(self, out_dir: str | Path, timings: dict[str, float] | None = None) -> Path:
        from recsys.artifacts import save_bundle

        meta = dict(self.metadata)
        meta.update(trained_at=meta.get("trained_at") or _now_iso(), config=self.config.to_dict(),
                    counts=self.state.summary,
                    date_range=[str(self.state.data_start), str(self.state.data_end)])
        if timings:
            meta["timings_s"] = dict(timings)
        payload = {"state": self.state, "cleaning_report": self.cleaning_report}
        path = save_bundle(out_dir, payload, meta)
        self.metadata = meta
        return path

    @classmethod
    def load(cls, out_dir: str | Path, config: TuningConfig | None = None) -> "Recommender":
        from recsys.artifacts import BundleError, load_bundle

        payload, meta = load_bundle(out_dir)
        state = payload.get("state")
        if not isinstance(state, TrainedState):
            raise BundleError(f"bundle in '{out_dir}' holds no trained state; retrain")
        return cls(state, config or TuningConfig.from_dict(meta.get("config", {})), meta,
                   payload.get("cleaning_report"))

    def with_config(self, config: TuningConfig) -> "Recommender":
        """The same trained state under other request-time knobs (no retraining)."""
        return Recommender(self.state, config, self.metadata, self.cleaning_report)

    # ---- lookups -----------------------------------------------------------------------
    def user_code(self, user_id: Any) -> int:
        """Training code of a user id; -1 when the models never saw it."""
        try:
            return int(self._user_index.get_loc(str(user_id)))
        except KeyError:
            return -1

    def user_codes(self, user_ids: Iterable[Any]) -> np.ndarray:
        """Training codes of many user ids (-1 for unknown ones), in one vectorised look-up."""
        return self._user_index.get_indexer([str(u) for u in user_ids]).astype(np.int64)

    def item_code(self, item_id: Any) -> int:
        try:
            return int(self._item_index.get_loc(str(item_id)))
        except KeyError:
            raise UnknownItemError(str(item_id)) from None

    def item_codes(self, item_ids: Iterable[Any]) -> np.ndarray:
        """Codes of many item ids (-1 for unknown ones)."""
        return self._item_index.get_indexer([str(i) for i in item_ids]).astype(np.int64)

    def as_of_seconds(self, timestamp: Any | None) -> int:
        """The as-of time in seconds; default: just after the last sale in the data."""
        if timestamp is None:
            return self.batches.default_as_of
        try:
            return int(to_seconds(pd.DatetimeIndex([pd.Timestamp(timestamp)]))[0])
        except (ValueError, TypeError) as exc:
            raise ValueError(f"timestamp {timestamp!r} is not a date or datetime") from exc

    def _avg_price_for(self, codes: np.ndarray) -> np.ndarray:
        return self.batches.avg_price_for(codes)

    def line_batch(self, codes: np.ndarray, as_of: np.ndarray, extra: ExtraLines | None = None,
                   segments: np.ndarray | None = None, config: TuningConfig | None = None):
        """The UserBatch of known codes (-1 = unknown) at per-user as-of times, plus extra lines."""
        return self.batches.build(codes, as_of, config or self.config, extra, segments)

    # ---- recommendations -----------------------------------------------------------------
    def _confidence(self, lists: RankedLists, fallback: np.ndarray) -> np.ndarray:
        cal = self.state.calibrator
        if cal is None:
            return lists.relevance
        from recsys.calibration import candidate_features

        return cal.predict(candidate_features(lists, fallback)).reshape(lists.relevance.shape)

    def recommend(self, user_id: Any, n: int = 5, model: str = "hybrid", timestamp: Any | None = None,
                  exclude_purchased: bool = False, price_min: float | None = None, price_max: float | None = None,
                  history: Iterable[Any] | pd.DataFrame | None = None, config: TuningConfig | None = None,
                  segment: str | None = None) -> RecommendationResponse:
        """Top-n recommendations for one user (known, folded in from `history`, or unknown).

        `segment` sets the spending segment of a user the models never saw (default: from the
        history's average price, or `rerank.default_segment`)."""
        t0 = time.perf_counter()
        cfg = (config or self.config).validate()
        if n < 1:
            raise ValueError("n must be at least 1")
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
        if segment is not None and segment not in SEGMENTS:
            raise ValueError(f"unknown segment {segment!r}; choose one of {', '.join(SEGMENTS)}")
        if price_min is not None and price_max is not None and price_min > price_max:
            raise ValueError(f"price_min {price_min} is above price_max {price_max}")
        as_of = self.as_of_seconds(timestamp)
        code = self.user_code(user_id)
        extra, seg, avg = None, None, None
        if history is not None:
            lines, avg_hist = self.batches.history_lines(history, as_of, cfg)
            if len(lines):
                extra = lines
                if code < 0:
                    avg = np.array([avg_hist])
                    seg = np.array([np.searchsorted(self.state.segment_cuts, avg_hist, side="right")], dtype=np.int8)
        fallback = code < 0 and extra is None
        if fallback:
            # cold start: popularity within the default segment (or the asked price range)
            model_used = "popularity"
            seg = np.array([SEGMENTS.index(cfg.rerank.default_segment)], dtype=np.int8)
            avg = np.array([self.batches.median_price])
        else:
            model_used = model
        if segment is not None and code < 0:
            seg = np.array([SEGMENTS.index(segment)], dtype=np.int8)
        codes = np.array([code])
        batch = self.batches.build(codes, np.array([as_of]), cfg, extra, seg)
        avg = avg if avg is not None else self._avg_price_for(codes)
        hard = HardFilters(price_min, price_max, exclude_purchased)
        lists = self.pipeline.run(batch, model_used, n, cfg, hard, avg)
        conf = self._confidence(lists, np.array([fallback]))
        neighbours = self.state.item_cf.neighbours_in_history(batch, lists.items) \
            if "item_cf" in lists.parts else np.zeros(lists.items.shape)
        sources = explain.sources_of(lists, model_used)
        recs = []
        for j in np.flatnonzero(lists.valid[0]):  # the n items of one user
            item = int(lists.items[0, j])
            recs.append(Recommendation(
                item_id=str(self.state.item_ids[item]), relevance_score=round(float(lists.relevance[0, j]), 6),
                confidence_score=round(float(conf[0, j]), 6), item_price=round(float(self._item_price[item]), 4),
                recommendation_reason=explain.reason(lists, 0, j, sources[0, j], int(batch.segments[0]),
                                                     neighbours[0, j]),
                model_source=str(sources[0, j]), score_breakdown=explain.breakdown(lists, 0, j),
                item_name=str(self._item_name[item]), category=str(self._item_category[item])))
        return RecommendationResponse(
            user_id=str(user_id), user_info=self._user_info(user_id, code, batch, avg),
            recommendations=recs, primary_model=model_used, fallback_used=bool(fallback),
            processing_time_ms=round((time.perf_counter() - t0) * 1000, 3), generated_at=_now_iso(),
            as_of=str(np.datetime64(as_of, "s")).replace("T", " "), filtered=lists.filtered,
            candidates_considered=int(lists.pool_sizes[0]))

    def _as_of_array(self, n_users: int, timestamps: Any | None) -> np.ndarray:
        if timestamps is None or np.ndim(timestamps) == 0:
            return np.full(n_users, self.as_of_seconds(timestamps), dtype=np.int64)
        return to_seconds(pd.DatetimeIndex(pd.to_datetime(list(timestamps))))

    def recommend_batch(self, user_ids: Iterable[Any] | None = None, n: int = 10, model: str = "hybrid",
                        timestamps: Any | None = None, exclude_purchased: bool = False,
                        config: TuningConfig | None = None, chunk: int = 512, with_confidence: bool = True) -> pd.DataFrame:
        """Top-n for many known users at once: a long frame (user_id, rank, item_id, scores, source)."""
        cfg = (config or self.config).validate()
        ids = np.asarray(self.state.user_ids if user_ids is None else [str(u) for u in user_ids], dtype=object)
        codes = self._user_index.get_indexer(ids).astype(np.int64)
        if (codes < 0).any():
            missing = ids[codes < 0][:5].tolist()
            raise ValueError(f"{int((codes < 0).sum())} unknown user id(s), e.g. {missing}; use recommend() with a history")
        as_of = self._as_of_array(len(codes), timestamps)
        frames = []
        for c, lists in self.batch_results(codes, as_of, model, n, cfg, exclude_purchased, chunk):
            conf = self._confidence(lists, np.zeros(len(c), bool)) if with_confidence else lists.relevance
            source = explain.sources_of(lists, model)
            r, j = np.nonzero(lists.valid)
            items = lists.items[r, j]
            frames.append(pd.DataFrame({
                "user_id": self.state.user_ids[c][r], "rank": j + 1, "item_id": self.state.item_ids[items],
                "relevance_score": lists.relevance[r, j], "confidence_score": conf[r, j],
                "item_price": self._item_price[items], "model_source": source[r, j],
            }))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def batch_results(self, codes: np.ndarray, as_of: np.ndarray, model: str, n: int, cfg: TuningConfig,
                      exclude_purchased: bool = False, chunk: int = 512) -> Iterable[tuple[np.ndarray, RankedLists]]:
        """(codes, ranked lists) per chunk of known users: the batch hot path."""
        # ALS without an item index forms a (chunk, n_items) product; with one, only (chunk, pool) arrays
        width = self.state.n_items if getattr(self.state.als, "index_items_", None) is None else 1
        chunk = max(8, min(chunk, BATCH_CELLS // max(width, 1)))
        hard = HardFilters(exclude_purchased=exclude_purchased)
        for lo in range(0, len(codes), chunk):  # chunks bound memory: ALS's (chunk, n_items) product
            c, a = codes[lo:lo + chunk], as_of[lo:lo + chunk]
            batch = self.batches.build(c, a, cfg)
            yield c, self.pipeline.run(batch, model, n, cfg, hard, self._avg_price_for(c))

    def _user_info(self, user_id: Any, code: int, batch, avg: np.ndarray) -> dict[str, Any]:
        if code >= 0:
            p = {k: v[code] for k, v in self._profile_columns.items()}
            return {"user_id": str(user_id), "user_type": p["user_type"], "spending_segment": p["spending_segment"],
                    "total_purchases": int(p["total_purchases"]), "unique_items": int(p["unique_items"]),
                    "avg_item_price": round(float(p["avg_item_price"]), 4),
                    "last_purchase_date": str(pd.Timestamp(p["last_purchase"]).date())}
        seg = SEGMENTS[int(batch.segments[0])]
        hist = batch.history
        return {"user_id": str(user_id), "user_type": "unknown" if hist.nnz == 0 else "new", "spending_segment": seg,
                "total_purchases": int(len(batch.line_item)), "unique_items": int(hist.nnz),
                "avg_item_price": round(float(avg[0]), 4), "last_purchase_date": None}

    def similar_items(self, item_id: Any, n: int = 5, model: str = "item_cf") -> SimilarItemsResponse:
        """Items most often bought with this one (item-CF), or nearest in ALS space (model='als')."""
        t0 = time.perf_counter()
        code = self.item_code(item_id)
        scorer = self.state.item_cf if model == "item_cf" else self.state.als
        idx, sims = scorer.similar_items(code, n)
        if model == "item_cf" and len(idx) < n:
            # items with few co-purchases: fill from ALS neighbours so the list is never short
            more, more_s = self.state.als.similar_items(code, n + len(idx))
            fill = ~np.isin(more, idx)
            idx = np.r_[idx, more[fill]][:n]
            sims = np.r_[sims, np.clip(more_s[fill], 0, None) * (sims.min() if len(sims) else 1.0)][:n]
        counts = self.state.item_cf.co_purchase_counts(code, idx)
        baskets = self.state.items["purchase_count"].to_numpy()
        top = float(sims.max()) if len(sims) and sims.max() > 0 else 1.0
        out = []
        for i, s, c in zip(idx, sims, counts):  # n items
            # confidence: P(bought in the same basket | the query item was bought)
            support = float(c) / max(float(baskets[code]), 1.0)
            out.append({"item_id": str(self.state.item_ids[i]), "relevance_score": round(float(max(s, 0) / top), 6),
                        "confidence_score": round(min(1.0, support), 6),
                        "item_price": round(float(self._item_price[i]), 4), "co_purchase_count": int(c)})
        return SimilarItemsResponse(item_id=str(item_id), similar_items=out, model=model,
                                    processing_time_ms=round((time.perf_counter() - t0) * 1000, 3))

    def bought_together(self, item_id: Any, n: int = 10, **thresholds: Any) -> pd.DataFrame:
        """Items in the same baskets more often than chance: support, confidence, lift (recsys.basket)."""
        from recsys.basket import bought_together

        return bought_together(self, item_id, n=n, **thresholds)

    def complete_basket(self, item_ids: Iterable[Any], n: int = 10, **thresholds: Any) -> pd.DataFrame:
        """What a basket of these items is most often completed with (recsys.basket)."""
        from recsys.basket import complete_basket

        return complete_basket(self, item_ids, n=n, **thresholds)

    def popular_items(self, n: int = 10, segment: str | None = None, config: TuningConfig | None = None) -> pd.DataFrame:
        """Top items by weighted popularity overall, or by distinct buyers within a segment (then
        the counts are the segment's own: its buyers and their share of the segment)."""
        from recsys.features import popularity_score

        cfg = config or self.config
        items = self.state.items
        names = [c for c, v in (("item_name", self._item_name), ("category", self._item_category)) if (v != "").any()]
        if segment is None:
            p = cfg.popularity
            score = popularity_score(self.state.popularity_parts, p.purchase_weight, p.buyers_weight, p.quantity_weight)
            idx = top_n(score, n)
            out = items.iloc[idx][["item_id", *names, "price", "purchase_count", "unique_buyers", "total_quantity"]].copy()
        else:
            if segment not in SEGMENTS:
                raise ValueError(f"unknown segment {segment!r}; choose one of {', '.join(SEGMENTS)}")
            code = SEGMENTS.index(segment)
            score = self.state.popularity.per_segment_[code].astype(np.float64)
            idx = top_n(score, n)
            buyers = self.state.segment_buyers[code, idx]
            size = max(self._segment_sizes()[code], 1)
            out = items.iloc[idx][["item_id", *names, "price"]].copy()
            out["segment_buyers"] = buyers.astype(np.int64)
            out["share_of_segment"] = np.round(buyers / size, 4)
            out["store_buyers"] = items["unique_buyers"].to_numpy()[idx]
        out.insert(1 + len(names), "popularity_score", score[idx])
        out.insert(0, "rank", np.arange(1, len(idx) + 1))
        return out.reset_index(drop=True)

    def _segment_sizes(self) -> np.ndarray:
        """Customers per segment code (computed once)."""
        if not hasattr(self, "_sizes"):
            self._sizes = np.bincount(self.state.profiles["segment_code"].to_numpy(np.int64), minlength=len(SEGMENTS))
        return self._sizes

    def user_profile(self, user_id: Any) -> dict[str, Any]:
        code = self.user_code(user_id)
        if code < 0:
            raise KeyError(f"unknown user id {user_id!r}")
        p = self.state.profiles.iloc[code].to_dict()
        p.pop("segment_code", None)
        for k in ("first_purchase", "last_purchase"):
            p[k] = str(p[k])
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in p.items()}

    def user_history(self, user_id: Any, n: int | None = 20) -> pd.DataFrame:
        """The user's purchase lines, newest first."""
        code = self.user_code(user_id)
        if code < 0:
            raise KeyError(f"unknown user id {user_id!r}")
        st = self.state
        lo, hi = st.line_ptr[code], st.line_ptr[code + 1]
        sl = slice(lo, hi)
        frame = pd.DataFrame({"timestamp": pd.to_datetime(st.line_time[sl], unit="s"),
                              "item_id": st.item_ids[st.line_item[sl]], "quantity": st.line_quantity[sl],
                              "price": st.line_price[sl]}).iloc[::-1].reset_index(drop=True)
        return frame if n is None else frame.head(n)

    def users(self) -> pd.DataFrame:
        return self.state.profiles.drop(columns=["segment_code"])

    def items(self) -> pd.DataFrame:
        return self.state.items

    def stats(self) -> dict[str, Any]:
        """Store-wide counts and the segments (computed once per Recommender: it walks every customer)."""
        if not hasattr(self, "_stats"):
            self._stats = self._compute_stats()
        return copy.deepcopy(self._stats)

    def _compute_stats(self) -> dict[str, Any]:
        prof = self.state.profiles
        seg = prof.groupby("spending_segment", observed=True).agg(
            users=("user_id", "size"), total_spend=("total_spend", "sum"), avg_item_price=("avg_item_price", "mean"))
        return {**self.state.summary,
                "segments": {s: {k: (float(v) if k != "users" else int(v)) for k, v in seg.loc[s].items()}
                             for s in SEGMENTS if s in seg.index},
                "segment_thresholds": list(self.config.segments.thresholds),
                "segment_price_cuts": [float(c) for c in self.state.segment_cuts],
                "items_with_cycle": int(np.isfinite(self._item_cycle).sum())}

    def models(self) -> dict[str, Any]:
        st = self.state
        return {"available": list(MODELS), "default": "hybrid", "hybrid_weights": self.config.weights.as_dict(),
                "als": {"factors": int(st.als.item_factors_.shape[1])},
                "item_cf": {"neighbours": int(st.item_cf.similarity_.nnz)},
                "calibrated": st.calibrator is not None,
                "trained_at": self.metadata.get("trained_at"), "timings_s": self.metadata.get("timings_s", {})}

    def hybrid_fit(self) -> dict[str, Any] | None:
        """How training fitted the hybrid to this store (method, weights, validation figures)."""
        return self.metadata.get("hybrid_fit")

    def hybrid_fit_tables(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """(fitted weights per list kind, validation NDCG@10 per model with CIs), or None."""
        from recsys.fitting import validation_frame, weights_frame

        fit = self.hybrid_fit()
        return (weights_frame(fit), validation_frame(fit)) if fit else None

    def config_dict(self) -> dict[str, Any]:
        return self.config.to_dict()

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "users": self.state.n_users, "items": self.state.n_items,
                "trained_at": self.metadata.get("trained_at"), "library_version": self.metadata.get("library_version")}
