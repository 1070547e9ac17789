"""The Recommender: a thin facade over the ranking core (recsys.serving.lists) and the
precomputed arrays of a TrainedState. It turns ids into codes, asks the core, and shapes the
answers (one user with reasons and the score breakdown; many users as a long frame)."""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from recsys.arrays import top_n
from recsys.bundles.state import Trained, TrainedState, now_iso
from recsys.bundles.store import load_bundle
from recsys.config import MODELS, SEGMENTS, TuningConfig
from recsys.errors import BundleError, UnknownItemError, UnknownUserError
from recsys.models.popularity import popularity_score
from recsys.serving import default_lists as precomputed
from recsys.serving import explain, together
from recsys.serving.answers import (
    Recommendation,
    RecommendationResponse,
    SimilarItemsResponse,
)
from recsys.serving.batches import as_of_array
from recsys.serving.default_lists import DefaultLists
from recsys.serving.evidence import ranker_frame, ranker_importance_frame, validation_frame, weights_frame
from recsys.serving.lists import ListMaker, ListRequest, Lists
from recsys.serving.segment_summary import LIST_SIZE, segment_recommendations

SEGMENT_LABELS = explain.SEGMENT_LABELS
# the requests precomputed default lists answer: the hybrid, no filter, no segment (per list size)
DEFAULT_REQUEST_OF = {n: ListRequest(n, precomputed.MODEL) for n in range(1, precomputed.LIST_SIZE + 1)}


class Recommender:
    """Answers recommendation questions from a trained state and a tuning config."""

    def __init__(self, state: TrainedState, config: TuningConfig | None = None,
                 metadata: dict[str, Any] | None = None, cleaning_report: dict[str, Any] | None = None,
                 bundle_name: str = "", default_lists: DefaultLists | None = None) -> None:
        self.state = state
        self.config = (config or TuningConfig()).validate()
        self.metadata = metadata or {}
        self.cleaning_report = cleaning_report or {}
        self.bundle_name = bundle_name  # the bundle this was loaded from ('' when trained in this process)
        self._user_index = pd.Index(state.user_ids)
        self._item_index = pd.Index(state.item_ids)
        self.core = ListMaker(state)
        self.builder = self.core.builder
        self._item_price = self.core.pipeline.item_price
        self._item_cycle = self.core.pipeline.item_cycle
        self._item_name = self.core.item_name
        self._item_category = self.core.item_category
        self._profile_columns = {c: state.profiles[c].to_numpy() for c in state.profiles.columns}
        # every known customer's list under the default knobs (None: every request takes the live path)
        self.default_lists = default_lists
        self._default_as_of = str(np.datetime64(self.builder.default_as_of, "s")).replace("T", " ")

    # ---- persistence -------------------------------------------------------------------
    @classmethod
    def from_trained(cls, trained: Trained, bundle_name: str = "") -> "Recommender":
        """The Recommender of what a training run produced (recsys.training.runner.train)."""
        return cls(trained.state, trained.config, trained.metadata, trained.cleaning_report, bundle_name,
                   trained.default_lists)

    def save(self, out_dir: str | Path, timings: dict[str, float] | None = None) -> Path:
        trained = Trained(self.state, self.config, self.metadata, self.cleaning_report)
        path = trained.save(out_dir, timings)
        self.metadata, self.bundle_name = trained.metadata, path.name
        return path

    @classmethod
    def load(cls, out_dir: str | Path, config: TuningConfig | None = None) -> "Recommender":
        loaded = load_bundle(out_dir)
        state = loaded.payload.get("state")
        if not isinstance(state, TrainedState):
            raise BundleError(f"bundle '{loaded.name}' holds no trained state; retrain")
        return cls(state, config or TuningConfig.from_dict(loaded.metadata.get("config", {})), loaded.metadata,
                   loaded.payload.get("cleaning_report"), loaded.name, precomputed.load(Path(out_dir) / loaded.name))

    @classmethod
    def open(cls, out_dir: str | Path) -> "Recommender":
        """Load the live bundle and warm it for serving: one request through every stage (the
        first client does not pay for it) and the bought-together counts. A bundle that loads yet
        cannot answer is a BundleError that says so, with the reason in one line."""
        rec = cls.load(out_dir)
        try:
            if rec.state.n_users:
                rec.recommend(rec.state.user_ids[0], n=1)  # the precomputed path, when there are lists
                rec.recommend(rec.state.user_ids[0], n=precomputed.LIST_SIZE + 1)  # and the live one
            together.basket_stats(rec.state)
        except Exception as exc:
            raise BundleError(f"the models in bundle '{rec.bundle_name}' do not work with this version of recsys "
                              f"({type(exc).__name__}: {exc}); retrain them") from None
        return rec

    def with_config(self, config: TuningConfig) -> "Recommender":
        """The same trained state under other request-time knobs (no retraining)."""
        return Recommender(self.state, config, self.metadata, self.cleaning_report, self.bundle_name,
                           self.default_lists)

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
        return self.builder.as_of(timestamp)

    # ---- recommendations -----------------------------------------------------------------
    def recommend(self, user_id: Any, n: int = 5, model: str = "hybrid", timestamp: Any | None = None,
                  exclude_purchased: bool = False, price_min: float | None = None, price_max: float | None = None,
                  history: Iterable[Any] | pd.DataFrame | None = None, config: TuningConfig | None = None,
                  segment: str | None = None) -> RecommendationResponse:
        """Top-n recommendations for one user (known, folded in from `history`, or unknown).

        Items of `history` the models never saw are left out and named in `ignored_items`.
        `segment` sets the spending segment of a user the models never saw (default: from the
        history's average price, or `rerank.default_segment`)."""
        t0 = time.perf_counter()
        cfg = (config or self.config).validate()
        request = ListRequest(n, model, exclude_purchased, price_min, price_max, segment)
        code = self.user_code(user_id)
        if (self.default_lists is not None and code >= 0 and history is None and timestamp is None
                and request == DEFAULT_REQUEST_OF.get(n) and self.default_lists.serves(cfg, n)):
            return self._precomputed(user_id, code, n, t0)
        as_of = self.as_of_seconds(timestamp)
        extra, seg, avg, ignored = None, None, None, []
        if history is not None:
            given = self.builder.history_lines(history, as_of, cfg)
            ignored = given.ignored
            if len(given.lines):
                extra = given.lines
                if code < 0:
                    avg = np.array([given.avg_price])
                    seg = np.array([self.builder.segment_of_price(given.avg_price)])
        (lists,) = self.core.lists(np.array([code]), np.array([as_of]), request, cfg, extra, avg, seg)
        ranked = lists.ranked
        recs = []
        for j in np.flatnonzero(ranked.valid[0]):  # the n items of one user
            item = int(ranked.items[0, j])
            recs.append(Recommendation(
                item_id=str(self.state.item_ids[item]), relevance_score=round(float(ranked.relevance[0, j]), 6),
                confidence_score=round(float(lists.confidence[0, j]), 6),
                item_price=round(float(self._item_price[item]), 4),
                recommendation_reason=str(lists.reasons[0, j]), model_source=str(lists.sources[0, j]),
                score_breakdown=explain.breakdown(ranked, 0, j),
                item_name=str(self._item_name[item]), category=str(self._item_category[item])))
        return RecommendationResponse(
            user_id=str(user_id), user_info=self._user_info(user_id, code, lists), recommendations=recs,
            primary_model=lists.model, fallback_used=lists.fallback,
            processing_time_ms=round((time.perf_counter() - t0) * 1000, 3), generated_at=now_iso(),
            as_of=str(np.datetime64(as_of, "s")).replace("T", " "), filtered=ranked.filtered,
            candidates_considered=int(ranked.pool_sizes[0]), ignored_items=ignored)

    def _precomputed(self, user_id: Any, code: int, n: int, t0: float) -> RecommendationResponse:
        """A default request answered from the precomputed default lists (no model work)."""
        row = self.default_lists.row(code, n)
        price, names, cats, ids = self._item_price, self._item_name, self._item_category, self.state.item_ids
        recs = [Recommendation(
            item_id=str(ids[i]), relevance_score=round(rel, 6), confidence_score=round(conf, 6),
            item_price=round(float(price[i]), 4), recommendation_reason=reason, model_source=source,
            score_breakdown=parts, item_name=str(names[i]), category=str(cats[i]))
            for i, rel, conf, reason, source, parts in zip(row["items"], row["relevance"], row["confidence"],
                                                           row["reasons"], row["sources"], row["breakdowns"])]
        return RecommendationResponse(
            user_id=str(user_id), user_info=self._known_user_info(user_id, code), recommendations=recs,
            primary_model="hybrid", fallback_used=False,
            processing_time_ms=round((time.perf_counter() - t0) * 1000, 3), generated_at=now_iso(),
            as_of=self._default_as_of, filtered={}, candidates_considered=row["pool"], served_by="precomputed")

    def recommend_batch(self, user_ids: Iterable[Any] | None = None, n: int = 10, model: str = "hybrid",
                        timestamps: Any | None = None, exclude_purchased: bool = False,
                        config: TuningConfig | None = None, chunk: int = 512, with_confidence: bool = True,
                        with_reasons: bool = True) -> pd.DataFrame:
        """Top-n for many users at once: a long frame (user_id, rank, item_id, item_name, category,
        relevance, confidence, price, source, reason), best first per user, the users in the order
        given. Users the models never saw get best-sellers, as in `recommend`."""
        cfg = (config or self.config).validate()
        request = ListRequest(n, model, exclude_purchased)
        ids = np.asarray(self.state.user_ids if user_ids is None else [str(u) for u in user_ids], dtype=object)
        codes = self._user_index.get_indexer(ids).astype(np.int64)
        lists = self.default_lists
        if (lists is not None and timestamps is None and request == DEFAULT_REQUEST_OF.get(n)
                and lists.serves(cfg, n) and (codes >= 0).all()):
            # every customer known, the default knobs: their precomputed lists, no model work
            return precomputed.frame(lists, self.core, ids, codes, n, with_confidence, with_reasons)
        return self.core.frame(ids, codes, as_of_array(len(codes), timestamps, self.builder), request, cfg, chunk,
                               with_confidence, with_reasons)

    def segment_recommendations(self, user_ids: Iterable[Any], model: str = "hybrid", n: int = LIST_SIZE,
                                config: TuningConfig | None = None) -> pd.DataFrame:
        """The top-n of known customers with their segment and own average price (the Segments page)."""
        codes = self.user_codes(user_ids)
        return segment_recommendations(self.core, (config or self.config).validate(), codes[codes >= 0], model, n)

    def _known_user_info(self, user_id: Any, code: int) -> dict[str, Any]:
        p = {k: v[code] for k, v in self._profile_columns.items()}
        return {"user_id": str(user_id), "user_type": p["user_type"], "spending_segment": p["spending_segment"],
                "total_purchases": int(p["total_purchases"]), "unique_items": int(p["unique_items"]),
                "avg_item_price": round(float(p["avg_item_price"]), 4),
                "last_purchase_date": _day(p["last_purchase"])}

    def _user_info(self, user_id: Any, code: int, lists: Lists) -> dict[str, Any]:
        if code >= 0:
            return self._known_user_info(user_id, code)
        batch = lists.batch
        seg = SEGMENTS[int(batch.segments[0])]
        hist = batch.history
        return {"user_id": str(user_id), "user_type": "unknown" if hist.nnz == 0 else "new", "spending_segment": seg,
                "total_purchases": int(len(batch.line_item)), "unique_items": int(hist.nnz),
                "avg_item_price": round(float(batch.avg_price[0]), 4), "last_purchase_date": None}

    def similar_items(self, item_id: Any, n: int = 5, model: str = "item_cf") -> SimilarItemsResponse:
        """Items most often bought with this one (item-CF), or nearest in ALS space (model='als').

        confidence = P(the item is in a basket | the query item is): the bought-together measure."""
        t0 = time.perf_counter()
        if model not in ("item_cf", "als"):
            raise ValueError(f"similar items come from 'item_cf' or 'als', not {model!r}")
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
        conf = together.confidence(together.basket_stats(self.state), code, counts)
        top = float(sims.max()) if len(sims) and sims.max() > 0 else 1.0
        out = [{"item_id": str(self.state.item_ids[i]), "relevance_score": round(float(max(s, 0) / top), 6),
                "confidence_score": round(float(c), 6), "item_price": round(float(self._item_price[i]), 4),
                "co_purchase_count": int(k), "item_name": str(self._item_name[i]),
                "category": str(self._item_category[i])}
               for i, s, c, k in zip(idx, sims, conf, counts)]  # n items
        return SimilarItemsResponse(item_id=str(item_id), similar_items=out, model=model,
                                    processing_time_ms=round((time.perf_counter() - t0) * 1000, 3))

    def bought_together(self, item_id: Any, n: int = 10, **thresholds: Any) -> pd.DataFrame:
        """Items in the same baskets more often than chance: support, confidence, lift (recsys.serving.together)."""
        return together.bought_together(self.state, item_id, n=n, **thresholds)

    def complete_basket(self, item_ids: Iterable[Any], n: int = 10, **thresholds: Any) -> pd.DataFrame:
        """What a basket of these items is most often completed with (recsys.serving.together)."""
        return together.complete_basket(self.state, item_ids, n=n, **thresholds)

    def popular_items(self, n: int = 10, segment: str | None = None, config: TuningConfig | None = None) -> pd.DataFrame:
        """Top items by weighted popularity overall, or by distinct buyers within a segment (then
        the counts are the segment's own: its buyers and their share of the segment)."""
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
            raise UnknownUserError(str(user_id))
        p = self.state.profiles.iloc[code].to_dict()
        p.pop("segment_code", None)
        for k in ("first_purchase", "last_purchase"):
            p[k] = str(p[k])
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in p.items()}

    def user_history(self, user_id: Any, n: int | None = 20) -> pd.DataFrame:
        """The user's purchase lines, newest first."""
        code = self.user_code(user_id)
        if code < 0:
            raise UnknownUserError(str(user_id))
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
                "ranker": (self.ranker_fit() or {}).get("method", "fitted blend"),
                "trained_at": self.metadata.get("trained_at"), "timings_s": self.metadata.get("timings_s", {})}

    def hybrid_fit(self) -> dict[str, Any] | None:
        """How training fitted the hybrid to this store (method, weights, validation figures)."""
        return self.metadata.get("hybrid_fit")

    def hybrid_fit_tables(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """(fitted weights per list kind, validation NDCG@10 per model with CIs), or None."""
        fit = self.hybrid_fit()
        return (weights_frame(fit), validation_frame(fit)) if fit else None

    def ranker_fit(self) -> dict[str, Any] | None:
        """How training learned the ranker and which list kinds it serves (else the fitted blend)."""
        return self.metadata.get("ranker")

    def ranker_tables(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """(per list kind: ranker, blend and every source on the later validation window with the
        CI of ranker - blend; the features that matter most), or None when no ranker was tried."""
        fit = self.ranker_fit()
        return (ranker_frame(fit), ranker_importance_frame(fit)) if fit else None

    def config_dict(self) -> dict[str, Any]:
        return self.config.to_dict()

    def health(self) -> dict[str, Any]:
        lists = self.default_lists
        return {"status": "ok", "users": self.state.n_users, "items": self.state.n_items,
                "trained_at": self.metadata.get("trained_at"), "library_version": self.metadata.get("library_version"),
                # default requests of known customers are read from precomputed lists (None: all live)
                "default_lists": None if lists is None else {"items_per_customer": lists.n, **lists.info}}


def _day(value: Any) -> str:
    """'YYYY-MM-DD' of a timestamp (a numpy datetime64 from the profiles: no pandas per request)."""
    if isinstance(value, np.datetime64):
        return str(value.astype("datetime64[D]"))
    return str(pd.Timestamp(value).date())
