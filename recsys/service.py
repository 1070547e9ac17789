"""The Recommender: every answer the product gives, read from a TrainedState.

A request builds a small UserBatch from precomputed line arrays, asks the models for scores,
blends them into a candidate pool (level 1) and re-ranks the pool with the knobs (level 2).
"""
from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys import ranking
from recsys.config import MODELS, SEGMENTS, TuningConfig
from recsys.features import SECONDS_PER_DAY, to_seconds
from recsys.models import UserBatch
from recsys.models.base import top_n
from recsys.state import TrainedState

SEGMENT_LABELS = {"small": "small", "low_average": "low-average", "average": "average", "high": "high"}


class UnknownItemError(KeyError):
    def __str__(self) -> str:
        return f"unknown item id {self.args[0]!r}"


@dataclass
class Recommendation:
    item_id: str
    relevance_score: float
    confidence_score: float
    item_price: float
    recommendation_reason: str
    model_source: str
    score_breakdown: dict[str, float] = field(default_factory=dict)


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


def _gather_ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, index) for every index in [starts[r], ends[r]) of every row r, without a loop."""
    lens = np.maximum(ends - starts, 0)
    rows = np.repeat(np.arange(len(starts)), lens)
    offsets = np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)
    return rows, np.repeat(starts, lens) + offsets


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
        self._item_price = state.items["price"].to_numpy(np.float64)
        self._avg_units = state.items["avg_units"].to_numpy(np.float64)
        self._item_cycle = state.items["cycle_days"].to_numpy(np.float64)
        self._avg_price = state.profiles["avg_item_price"].to_numpy(np.float64)
        self._segment = state.profiles["segment_code"].to_numpy(np.int8)
        self._profile_columns = {c: state.profiles[c].to_numpy() for c in state.profiles.columns}
        # per-request constants, computed once (a max over every line costs ~15 ms at 20M lines)
        self._default_as_of = int(state.line_time.max()) + 1 if len(state.line_time) else 0
        self._median_price = float(np.median(self._item_price)) if len(self._item_price) else 1.0

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

    def item_code(self, item_id: Any) -> int:
        try:
            return int(self._item_index.get_loc(str(item_id)))
        except KeyError:
            raise UnknownItemError(str(item_id)) from None

    def as_of_seconds(self, timestamp: Any | None) -> int:
        """The as-of time in seconds; default: just after the last sale in the data."""
        if timestamp is None:
            return self._default_as_of
        try:
            return int(to_seconds(pd.DatetimeIndex([pd.Timestamp(timestamp)]))[0])
        except (ValueError, TypeError) as exc:
            raise ValueError(f"timestamp {timestamp!r} is not a date or datetime") from exc

    # ---- building user batches ---------------------------------------------------------
    def line_batch(self, codes: np.ndarray, as_of: np.ndarray,
                   extra: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
                   segments: np.ndarray | None = None) -> UserBatch:
        """The batch for known codes (-1 = unknown) at per-user as-of times, plus extra lines
        (row, item, time, weight) given at call time: lines and damped history only."""
        st = self.state
        codes = np.asarray(codes, dtype=np.int64)
        known = codes >= 0
        starts = np.where(known, st.line_ptr[np.maximum(codes, 0)], 0)
        ends = np.where(known, st.line_ptr[np.maximum(codes, 0) + 1], 0)
        rows, idx = _gather_ranges(starts, ends)
        items, times, weights = st.line_item[idx].astype(np.int64), st.line_time[idx], st.line_weight[idx]
        if extra is not None:
            rows = np.r_[rows, extra[0]]
            items = np.r_[items, extra[1]]
            times = np.r_[times, extra[2]]
            weights = np.r_[weights, extra[3]]
        before = times <= as_of[rows]  # a line at the as-of instant is history (the new customers first basket)
        rows, items, times, weights = rows[before], items[before], times[before], weights[before]
        hist = sp.csr_matrix((weights.astype(np.float32), (rows, items)), shape=(len(codes), st.n_items))
        hist.sum_duplicates()
        if self.config.signals.log_transform:
            hist.data = np.log1p(hist.data)
        if segments is None:
            segments = np.where(known, self._segment[np.maximum(codes, 0)], SEGMENTS.index(self.config.rerank.default_segment))
        batch = UserBatch(codes=codes, history=hist, segments=np.asarray(segments, dtype=np.int8),
                          line_row=rows, line_item=items, line_age_days=(as_of[rows] - times) / SECONDS_PER_DAY)
        batch.default_as_of = extra is None and bool((as_of == self._default_as_of).all())
        return batch

    def user_batch(self, codes: np.ndarray, as_of: np.ndarray,
                   extra: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
                   segments: np.ndarray | None = None) -> tuple[UserBatch, dict[str, np.ndarray]]:
        """The line batch plus dense (batch, n_items) per-item facts of each user's history
        (purchase count, days since the last purchase) that re-ranking reads."""
        batch = self.line_batch(codes, as_of, extra, segments)
        shape = (len(batch), self.state.n_items)
        flat = batch.line_row * shape[1] + batch.line_item
        count = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape).astype(np.float32)
        days_since = np.full(shape[0] * shape[1], np.inf)
        np.minimum.at(days_since, flat, batch.line_age_days)
        days_since = days_since.reshape(shape)
        days_since[np.isinf(days_since)] = np.nan
        return batch, {"count": count, "days_since": days_since}

    def _history_lines(self, history: Any, as_of: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """A purchase history given at call time as (row, item, time, weight) lines + avg price."""
        frame = history if isinstance(history, pd.DataFrame) else pd.DataFrame(
            [{"item_id": h} if not isinstance(h, dict) else h for h in history])
        if "item_id" not in frame.columns:
            raise ValueError("history needs an 'item_id' for each purchase")
        codes = self._item_index.get_indexer(frame["item_id"].astype(str))
        frame = frame.assign(_code=codes)[codes >= 0]
        items = frame["_code"].to_numpy(np.int64)
        price = frame["price"].to_numpy(np.float64) if "price" in frame else self._item_price[items]
        qty = frame["quantity"].to_numpy(np.float64) if "quantity" in frame else np.ones(len(items))
        if "timestamp" in frame:
            times = to_seconds(frame["timestamp"])
        else:
            times = np.full(len(items), as_of - 1, dtype=np.int64)
        avg = float(price.mean()) if len(price) and price.mean() > 0 else self._median_price
        sig = self.config.signals
        w = sig.spending_weight * price / avg + sig.quantity_weight * qty / np.where(self._avg_units[items] > 0, self._avg_units[items], 1)
        w = np.clip(w, sig.clip_min, sig.clip_max)
        return np.zeros(len(items), np.int64), items, times.astype(np.int64), w.astype(np.float32), avg

    # ---- scoring -----------------------------------------------------------------------
    def model_scores(self, batch: UserBatch, model: str, config: TuningConfig, avg_price: np.ndarray) -> dict[str, np.ndarray]:
        """Raw (batch, n_items) scores of the models a request needs."""
        st = self.state
        if model == "hybrid":
            both = (config.weights.as_dict(), config.newcomers.weights.as_dict())
            needed = [m for m in both[0] if both[0][m] > 0 or both[1][m] > 0]
        else:
            needed = [model]
        out = {}
        for m in needed:
            if m == "repeat":
                repeat = copy.copy(st.repeat)  # request-time knobs on a shallow copy
                repeat.learned, repeat.half_life_days = config.repeat.learned, config.repeat.half_life_days
                # one basket says too little for the learned model: newcomers get the plain decay
                simple = self.newcomers(batch, config)
                precomputed = st.repeat_default if getattr(batch, "default_as_of", False) else None
                out[m] = repeat.score(batch, avg_price, simple_rows=simple, precomputed=precomputed)
            else:
                out[m] = {"als": st.als, "item_cf": st.item_cf, "popularity": st.popularity}[m].score(batch)
        return out

    def newcomers(self, batch: UserBatch, config: TuningConfig) -> np.ndarray:
        """Per row: at most `newcomers.max_trips` shopping days in the history."""
        days = np.unique(batch.line_row * 100_000 + np.floor(batch.line_age_days).astype(np.int64))
        return np.bincount(days // 100_000, minlength=len(batch)) <= config.newcomers.max_trips

    def hybrid_weights(self, batch: UserBatch, config: TuningConfig) -> dict[str, np.ndarray]:
        """Per row: the newcomer blend for users with a single trip so far, else the usual one."""
        newcomer = self.newcomers(batch, config)
        loyal, new = config.weights.as_dict(), config.newcomers.weights.as_dict()
        return {m: np.where(newcomer, new[m], loyal[m]) for m in loyal}

    def rank_batch(self, batch: UserBatch, stats: dict[str, np.ndarray], model: str, n: int,
                   config: TuningConfig, exclude_purchased: bool, price_min: float | None, price_max: float | None,
                   avg_price: np.ndarray) -> dict[str, Any]:
        """Level 1 + level 2 for a batch: the top-n item codes with scores and explanations."""
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
        raw = self.model_scores(batch, model, config, avg_price)
        weights = self.hybrid_weights(batch, config) if model == "hybrid" else {model: 1.0}
        blended, parts = ranking.blend(raw, weights)
        banned = self._hard_filters(stats, config, exclude_purchased, price_min, price_max)
        pool = ranking.candidate_pool(blended, max(config.rerank.candidate_pool, n), banned)
        bought = np.take_along_axis(stats["count"], pool, axis=1) > 0
        days_since = np.take_along_axis(stats["days_since"], pool, axis=1)
        cycle = np.full(pool.shape, np.nan)
        known = batch.codes >= 0
        if known.any():
            uc = self.state.user_item_cycle[batch.codes[known]].toarray()
            cycle[known] = np.take_along_axis(uc, pool[known], axis=1)
        cycle[cycle == 0] = np.nan
        cycle = np.where(np.isnan(cycle), self._item_cycle[pool], cycle)
        inp = ranking.RerankInput(items=pool, base=np.take_along_axis(blended, pool, axis=1),
                                  price=self._item_price[pool], user_avg_price=avg_price[:, None],
                                  segment=batch.segments, bought=bought, days_since=days_since, cycle_days=cycle)
        rr = ranking.rerank(inp, config.rerank, self.state.segment_caps, exclude_purchased, price_min, price_max)
        top = rr.items[:, :n]
        return {
            "items": top, "valid": np.isfinite(rr.score[:, :n]), "score": rr.score[:, :n],
            "parts": {m: np.take_along_axis(p, top, axis=1) for m, p in parts.items()},
            "factors": {k: v[:, :n] for k, v in rr.factors.items()}, "due": rr.due[:, :n],
            "bought": rr.bought[:, :n], "days_since": rr.days_since[:, :n], "cycle": rr.cycle_days[:, :n],
            "count": np.take_along_axis(stats["count"], top, axis=1), "filtered": rr.filtered,
        }

    def _hard_filters(self, stats: dict[str, np.ndarray], config: TuningConfig, exclude_purchased: bool,
                      price_min: float | None, price_max: float | None) -> np.ndarray | None:
        """(batch, n_items) items no list may hold: applied before the pool so it stays full."""
        lo = config.rerank.price_min if price_min is None else price_min
        hi = config.rerank.price_max if price_max is None else price_max
        out_of_range = np.zeros(self.state.n_items, dtype=bool)
        if lo is not None:
            out_of_range |= self._item_price < lo
        if hi is not None:
            out_of_range |= self._item_price > hi
        if not exclude_purchased:
            return np.broadcast_to(out_of_range, stats["count"].shape) if out_of_range.any() else None
        return (stats["count"] > 0) | out_of_range

    # ---- answers -----------------------------------------------------------------------
    def _explain(self, res: dict[str, Any], r: int, j: int, model: str, segment: int, neighbours: np.ndarray) -> tuple[str, str]:
        """(model_source, reason) for the j-th item of row r."""
        parts = {m: float(p[r, j]) for m, p in res["parts"].items()}
        source = max(parts, key=parts.get) if model == "hybrid" else model
        days, cycle, count = res["days_since"][r, j], res["cycle"][r, j], int(res["count"][r, j])
        if res["due"][r, j]:
            reason = f"due again: you buy it about every {cycle:.0f} days, last {days:.0f} days ago"
        elif source == "repeat" or (res["bought"][r, j] and source != "popularity"):
            times = "once" if count == 1 else f"{count} times"
            reason = f"you bought it {times}, last {days:.0f} days ago"
        elif source == "item_cf":
            k = int(neighbours[r, j])
            reason = f"bought together with {k} item{'s' if k != 1 else ''} in your basket history"
        elif source == "als":
            reason = "customers who shop like you buy it"
        else:
            reason = f"popular with {SEGMENT_LABELS[SEGMENTS[segment]]} spenders"
        if res["factors"]["upsell"][r, j] > 1.01:
            reason += "; a step up from your usual price"
        return source, reason

    def _confidence(self, res: dict[str, Any], relevance: np.ndarray, fallback: np.ndarray) -> np.ndarray:
        cal = self.state.calibrator
        if cal is None:
            return relevance
        from recsys.calibration import candidate_features

        return cal.predict(candidate_features(res, relevance, fallback)).reshape(relevance.shape)

    def _avg_price_for(self, codes: np.ndarray) -> np.ndarray:
        return np.where(codes >= 0, self._avg_price[np.maximum(codes, 0)], self._median_price)

    def recommend(self, user_id: Any, n: int = 5, model: str = "hybrid", timestamp: Any | None = None,
                  exclude_purchased: bool = False, price_min: float | None = None, price_max: float | None = None,
                  history: Iterable[Any] | pd.DataFrame | None = None, config: TuningConfig | None = None) -> RecommendationResponse:
        """Top-n recommendations for one user (known, folded in from `history`, or unknown)."""
        t0 = time.perf_counter()
        cfg = (config or self.config).validate()
        if n < 1:
            raise ValueError("n must be at least 1")
        as_of = self.as_of_seconds(timestamp)
        code = self.user_code(user_id)
        extra, seg, avg = None, None, None
        if history is not None:
            rows, items, times, w, avg_hist = self._history_lines(history, as_of)
            if len(items):
                extra = (rows, items, times, w)
                if code < 0:
                    avg = np.array([avg_hist])
                    seg = np.array([np.searchsorted(self.state.segment_cuts, avg_hist, side="right")], dtype=np.int8)
        codes = np.array([code])
        fallback = code < 0 and extra is None
        if fallback:
            # cold start: popularity within the default segment (or the asked price range)
            model_used = "popularity"
            seg = np.array([SEGMENTS.index(cfg.rerank.default_segment)], dtype=np.int8)
            avg = np.array([self._median_price])
        else:
            model_used = model
        batch, stats = self.user_batch(codes, np.array([as_of]), extra=extra, segments=seg)
        avg = avg if avg is not None else self._avg_price_for(codes)
        res = self.rank_batch(batch, stats, model_used, n, cfg, exclude_purchased, price_min, price_max, avg)
        relevance = np.clip(np.where(res["valid"], res["score"], 0.0), 0.0, 1.0)
        conf = self._confidence(res, relevance, np.array([fallback]))
        neighbours = self._neighbours(batch, res["items"]) if "item_cf" in res["parts"] else np.zeros(res["items"].shape)
        recs = []
        for j in np.flatnonzero(res["valid"][0]):  # n items of one user
            source, reason = self._explain(res, 0, j, model_used, int(batch.segments[0]), neighbours)
            item = int(res["items"][0, j])
            breakdown = {f"model:{m}": round(float(p[0, j]), 6) for m, p in res["parts"].items()}
            running = sum(float(p[0, j]) for p in res["parts"].values())
            for step, f in res["factors"].items():
                after = running * float(f[0, j])
                breakdown[f"rerank:{step}"] = round(after - running, 6)
                running = after
            recs.append(Recommendation(
                item_id=str(self.state.item_ids[item]), relevance_score=round(float(relevance[0, j]), 6),
                confidence_score=round(float(conf[0, j]), 6), item_price=round(float(self._item_price[item]), 4),
                recommendation_reason=reason, model_source=source, score_breakdown=breakdown))
        return RecommendationResponse(
            user_id=str(user_id), user_info=self._user_info(user_id, code, batch, avg),
            recommendations=recs, primary_model=model_used, fallback_used=bool(fallback),
            processing_time_ms=round((time.perf_counter() - t0) * 1000, 3), generated_at=_now_iso(),
            as_of=str(np.datetime64(as_of, "s")).replace("T", " "), filtered=res["filtered"])

    def _neighbours(self, batch: UserBatch, items: np.ndarray) -> np.ndarray:
        return self.state.item_cf.neighbours_in_history(batch, items)

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
        if timestamps is None:
            as_of = np.full(len(codes), self.as_of_seconds(None), dtype=np.int64)
        elif np.ndim(timestamps) == 0:
            as_of = np.full(len(codes), self.as_of_seconds(timestamps), dtype=np.int64)
        else:
            as_of = to_seconds(pd.DatetimeIndex(pd.to_datetime(list(timestamps))))
        frames = []
        for ids_c, res, relevance in self.batch_results(codes, as_of, model, n, cfg, exclude_purchased, chunk):
            conf = self._confidence(res, relevance, np.zeros(len(ids_c), bool)) if with_confidence else relevance
            names = np.array(list(res["parts"]))
            stacked = np.stack([res["parts"][m] for m in names], axis=0)
            source = names[stacked.argmax(axis=0)] if model == "hybrid" else np.full(res["items"].shape, model)
            r, j = np.nonzero(res["valid"])
            items = res["items"][r, j]
            frames.append(pd.DataFrame({
                "user_id": self.state.user_ids[ids_c][r], "rank": j + 1, "item_id": self.state.item_ids[items],
                "relevance_score": relevance[r, j], "confidence_score": conf.reshape(relevance.shape)[r, j],
                "item_price": self._item_price[items], "model_source": source[r, j],
            }))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def batch_results(self, codes: np.ndarray, as_of: np.ndarray, model: str, n: int, cfg: TuningConfig,
                      exclude_purchased: bool = False, chunk: int = 512) -> Iterable[tuple[np.ndarray, dict[str, Any], np.ndarray]]:
        """(codes, ranking result, relevance) per chunk of known users: the batch hot path."""
        chunk = max(8, min(chunk, 2_000_000 // max(self.state.n_items, 1)))
        for lo in range(0, len(codes), chunk):  # chunks bound memory: (chunk, n_items) dense scores
            c, a = codes[lo:lo + chunk], as_of[lo:lo + chunk]
            batch, stats = self.user_batch(c, a)
            res = self.rank_batch(batch, stats, model, n, cfg, exclude_purchased, None, None, self._avg_price_for(c))
            yield c, res, np.clip(np.where(res["valid"], res["score"], 0.0), 0.0, 1.0)

    def _user_info(self, user_id: Any, code: int, batch: UserBatch, avg: np.ndarray) -> dict[str, Any]:
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

    def popular_items(self, n: int = 10, segment: str | None = None, config: TuningConfig | None = None) -> pd.DataFrame:
        """Top items by weighted popularity (overall, or by distinct buyers within a segment)."""
        from recsys.features import popularity_score

        cfg = config or self.config
        items = self.state.items
        if segment is None:
            p = cfg.popularity
            score = popularity_score(self.state.popularity_parts, p.purchase_weight, p.buyers_weight, p.quantity_weight)
        else:
            if segment not in SEGMENTS:
                raise ValueError(f"unknown segment {segment!r}; choose one of {', '.join(SEGMENTS)}")
            score = self.state.popularity.per_segment_[SEGMENTS.index(segment)].astype(np.float64)
        idx = top_n(score, n)
        out = items.iloc[idx][["item_id", "price", "purchase_count", "unique_buyers", "total_quantity"]].copy()
        out.insert(1, "popularity_score", score[idx])
        out.insert(0, "rank", np.arange(1, len(idx) + 1))
        return out.reset_index(drop=True)

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

    def config_dict(self) -> dict[str, Any]:
        return self.config.to_dict()

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "users": self.state.n_users, "items": self.state.n_items,
                "trained_at": self.metadata.get("trained_at"), "library_version": self.metadata.get("library_version")}
