"""Precomputed default lists: every known customer's top-N under the bundle's own knobs at the
end of the data, computed once through the ranking core (`ListMaker.lists`, in chunks), so that
a default request reads one row instead of running the pipeline. Any other request (a moved
knob, a filter, a basket, another model, an as-of time, a longer list) takes the live path; the
answer says which path served it (`served_by`).

They are stored beside the bundle in a sidecar folder (recsys.bundles.sidecar: .npy files and a
JSON manifest, memory-mapped, shared by every serving process). Small stores compute them at the
end of training; bigger ones after the bundle is published (`precompute_default_lists`), while
the live path serves."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from recsys.bundles.sidecar import SidecarRefused, SidecarWriter, read_sidecar
from recsys.bundles.state import TrainedState
from recsys.bundles.store import current_bundle, load_bundle
from recsys.config import TuningConfig
from recsys.process import one_blas_thread
from recsys.serving import explain
from recsys.serving.lists import FRAME_COLUMNS, ListMaker, ListRequest
from recsys.serving.pipeline import hybrid_weights

SIDECAR = "lists"
LIST_SIZE = 10          # items kept per customer: a default request for up to this many reads them
INLINE_USERS = 5_000    # stores with up to this many customers compute them before training returns
MODEL = "hybrid"
PART_ORDER = ("als", "item_cf", "popularity", "repeat")  # the blend's order of its parts (HybridWeights)

Progress = Callable[[float, str], None]


def unsupported(config: TuningConfig) -> str | None:
    """Why default lists cannot be precomputed under a config (None: they can). Filters count
    what they remove over a whole batch, not per customer, so a default that filters is served live."""
    r = config.rerank
    if r.price_min is not None or r.price_max is not None or r.segment_filter or r.repurchase_exclusion:
        return "the default knobs filter candidates (price range, segment or repurchase filter)"
    return None


@dataclass
class DefaultLists:
    """Row u holds customer u's default list (items -1 where it is shorter)."""

    n: int
    config: TuningConfig
    items: np.ndarray                 # (users, n) int32
    relevance: np.ndarray             # (users, n) float64
    confidence: np.ndarray            # (users, n) float64
    parts: dict[str, np.ndarray]      # model -> (users, n) float32 share of the blended score
    present: np.ndarray               # (users,) uint16 bit i: the customer's score has parts[i] (the
                                      # blend weighs it, or the learned ranker made the score)
    factors: dict[str, np.ndarray | None]  # re-ranking step -> (users, n) float64; None: 1 everywhere
    scale: float
    sources: np.ndarray               # (users, n) int8 into source_names
    source_names: list[str]
    reasons: np.ndarray               # (users, n) int32 into reason_texts
    reason_texts: list[str]
    pool_sizes: np.ndarray            # (users,) int32
    info: dict[str, Any]              # when and how fast they were computed

    def serves(self, config: TuningConfig, n: int) -> bool:
        """Whether a default request for n items under `config` can be answered from here."""
        return n <= self.n and (config is self.config or config == self.config)

    def row(self, code: int, n: int) -> dict[str, Any]:
        """The first n items of a customer's list: per item its code, relevance, confidence,
        source, reason and score breakdown."""
        items = self.items[code, :n]
        keep = np.flatnonzero(items >= 0)
        bits = int(self.present[code])
        parts = sorted(((m, p[code]) for i, (m, p) in enumerate(self.parts.items()) if bits >> i & 1),
                       key=lambda mp: PART_ORDER.index(mp[0]) if mp[0] in PART_ORDER else len(PART_ORDER))
        factors = [(s, None if f is None else f[code]) for s, f in self.factors.items()]
        return {
            "items": items[keep].tolist(), "relevance": self.relevance[code, keep].tolist(),
            "confidence": self.confidence[code, keep].tolist(),
            "sources": [self.source_names[s] for s in self.sources[code, keep]],
            "reasons": [self.reason_texts[r] for r in self.reasons[code, keep]],
            "breakdowns": [explain.score_breakdown({m: float(p[j]) for m, p in parts},
                                                   {s: (1.0 if f is None else float(f[j])) for s, f in factors},
                                                   self.scale) for j in keep],  # the n items of one answer
            "pool": int(self.pool_sizes[code]),
        }


def frame(lists: DefaultLists, core: ListMaker, user_ids: np.ndarray, codes: np.ndarray, n: int,
          with_confidence: bool = True, with_reasons: bool = True) -> pd.DataFrame:
    """The long frame of ListMaker.frame (FRAME_COLUMNS, best first per user, users in the order
    given) for known customers, read from their default lists."""
    items = np.asarray(lists.items[codes, :n], dtype=np.int64)
    r, j = np.nonzero(items >= 0)
    it, c = items[r, j], codes[r]
    score = lists.confidence if with_confidence else lists.relevance
    out = pd.DataFrame({
        "user_id": np.asarray(user_ids, dtype=object)[r], "rank": j + 1, "item_id": core.state.item_ids[it],
        "item_name": core.item_name[it], "category": core.item_category[it],
        "relevance_score": lists.relevance[c, j], "confidence_score": score[c, j],
        "item_price": core.pipeline.item_price[it],
        "model_source": np.asarray(lists.source_names, dtype=object)[lists.sources[c, j]],
        "recommendation_reason": np.asarray(lists.reason_texts, dtype=object)[lists.reasons[c, j]] if with_reasons
        else np.full(len(r), "", dtype=object)})
    return out[list(FRAME_COLUMNS)]


class _Memory:
    """Arrays in memory (a Recommender trained in this process without a bundle folder)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def empty(self, key: str, shape: tuple[int, ...], dtype: Any, fill: Any = 0) -> np.ndarray:
        self.arrays[key] = np.full(shape, fill, dtype=dtype)
        return self.arrays[key]

    def put(self, key: str, values: np.ndarray) -> None:
        self.arrays[key] = values


def compute(state: TrainedState, config: TuningConfig, sink: Any | None = None, n: int = LIST_SIZE,
            chunk: int = 512, progress: Progress | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of every known customer's default list, through the ranking core in chunks;
    the arrays are written into `sink` (in memory when None) as each chunk is done."""
    t0, c0 = time.perf_counter(), time.process_time()
    sink = sink or _Memory()
    core = ListMaker(state)
    users = state.n_users
    codes = np.arange(users, dtype=np.int64)
    as_of = np.full(users, core.builder.default_as_of, dtype=np.int64)
    out = {"items": sink.empty("items", (users, n), np.int32, -1),
           "relevance": sink.empty("relevance", (users, n), np.float64),
           "confidence": sink.empty("confidence", (users, n), np.float64),
           "sources": sink.empty("sources", (users, n), np.int8),
           "reasons": sink.empty("reasons", (users, n), np.int32),
           "present": sink.empty("present", (users,), np.uint16),
           "pool": sink.empty("pool", (users,), np.int32)}
    parts: dict[str, np.ndarray] = {}
    factors: dict[str, np.ndarray] = {}
    trivial: dict[str, bool] = {}  # step -> every factor so far is 1
    source_code: dict[str, int] = {}
    reason_code: dict[str, int] = {}
    scale = 1.0
    request = ListRequest(n, MODEL)
    for lo, groups in core.lists_in_chunks(codes, as_of, request, config, chunk):
        for lists in groups:  # known customers only: one group per chunk
            rows = lo + lists.rows
            ranked = lists.ranked
            width = ranked.items.shape[1]
            out["items"][rows, :width] = np.where(ranked.valid, ranked.items, -1)
            out["relevance"][rows, :width] = ranked.relevance
            out["confidence"][rows, :width] = lists.confidence
            out["pool"][rows] = ranked.pool_sizes
            out["sources"][rows, :width] = _codes(lists.sources, source_code)
            out["reasons"][rows, :width] = _codes(lists.reasons, reason_code)
            weights = hybrid_weights(lists.batch, config)
            # rows the learned ranker scored: every feature group is a part of theirs (its baseline > 0)
            ranked_rows = ranked.parts["baseline"].any(axis=1) if "baseline" in ranked.parts \
                else np.zeros(len(rows), bool)
            for m, p in ranked.parts.items():
                if m not in parts:
                    parts[m] = sink.empty(f"part_{m}", (users, n), np.float32)
                parts[m][rows, :width] = p
                bit = np.uint16(1 << list(parts).index(m))
                weighed = np.asarray(weights[m]) > 0 if m in weights else np.zeros(len(rows), bool)
                out["present"][rows] |= np.where(ranked_rows | weighed, bit, np.uint16(0))
            for step, f in ranked.factors.items():
                if step not in factors:
                    factors[step] = sink.empty(f"factor_{step}", (users, n), np.float64, 1.0)
                    trivial[step] = True
                factors[step][rows, :width] = f
                trivial[step] &= bool((f == 1.0).all())
            scale = ranked.scale
        if progress:
            progress(min(lo + chunk, users) / max(users, 1), f"default lists: {min(lo + chunk, users):,} of {users:,}")
    meta = {"n": n, "model": MODEL, "config": config.to_dict(), "scale": scale, "parts": list(parts),
            "factors": list(factors), "trivial_factors": [s for s, t in trivial.items() if t],
            "source_names": _names(source_code), "reason_texts": _names(reason_code), "users": users,
            "seconds": round(time.perf_counter() - t0, 3), "cpu_seconds": round(time.process_time() - c0, 3),
            "computed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    arrays = dict(out, **{f"part_{m}": a for m, a in parts.items()}, **{f"factor_{s}": a for s, a in factors.items()})
    return meta, arrays


def _codes(values: np.ndarray, table: dict[str, int]) -> np.ndarray:
    """Codes of strings in a growing table (the distinct strings of a chunk, not each item)."""
    if values is None:
        return np.zeros(0, np.int32)
    uniq, inverse = np.unique(values.astype(str), return_inverse=True)
    for text in uniq.tolist():  # the chunk's distinct texts
        table.setdefault(text, len(table))
    return np.array([table[t] for t in uniq.tolist()], dtype=np.int32)[inverse].reshape(values.shape)


def _names(table: dict[str, int]) -> list[str]:
    return sorted(table, key=table.__getitem__)


def from_arrays(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> DefaultLists:
    trivial = set(meta.get("trivial_factors", []))
    return DefaultLists(
        n=int(meta["n"]), config=TuningConfig.from_dict(meta["config"]), items=arrays["items"],
        relevance=arrays["relevance"], confidence=arrays["confidence"],
        parts={m: arrays[f"part_{m}"] for m in meta["parts"]}, present=arrays["present"],
        factors={s: None if s in trivial else arrays[f"factor_{s}"] for s in meta["factors"]},
        scale=float(meta["scale"]), sources=arrays["sources"], source_names=list(meta["source_names"]),
        reasons=arrays["reasons"], reason_texts=list(meta["reason_texts"]), pool_sizes=arrays["pool"],
        info={k: meta.get(k) for k in ("users", "seconds", "cpu_seconds", "computed_at")})


def store(bundle_dir: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> DefaultLists | None:
    """Store lists computed in memory beside a saved bundle; the stored ones, memory-mapped."""
    writer = SidecarWriter(bundle_dir, SIDECAR)
    try:
        trivial = set(meta["trivial_factors"])
        for key, values in arrays.items():
            if not (key.startswith("factor_") and key[len("factor_"):] in trivial):  # all 1: not stored
                writer.put(key, values)
        writer.commit(meta)
    except BaseException:
        writer.abort()
        raise
    return load(bundle_dir)


def write(bundle_dir: str | Path, state: TrainedState, config: TuningConfig,
          progress: Progress | None = None) -> DefaultLists | None:
    """Compute the default lists of a saved bundle's state and store them beside it (atomically);
    None when its config filters (the live path serves every request then)."""
    if unsupported(config):
        return None
    writer = SidecarWriter(bundle_dir, SIDECAR)
    try:
        meta, arrays = compute(state, config, writer, progress=progress)
        trivial = set(meta["trivial_factors"])
        for s in meta["factors"]:
            if s in trivial:  # every factor is 1: not stored
                (writer.staging / f"factor_{s}.npy").unlink()
        writer.commit(meta)
    except BaseException:
        writer.abort()
        raise
    return load(bundle_dir)


def load(bundle_dir: str | Path) -> DefaultLists | None:
    """The default lists stored beside a bundle; None when there are none or they cannot be used
    (then every request takes the live path, which gives the same answers)."""
    try:
        side = read_sidecar(bundle_dir, SIDECAR)
    except SidecarRefused:
        return None
    if side is None:
        return None
    try:
        return from_arrays(side.meta, side.arrays)
    except (KeyError, TypeError, ValueError):
        return None


def precompute_default_lists(artifacts: str | Path, progress: Progress | None = None) -> DefaultLists | None:
    """Compute and store the default lists of the live bundle of an artifacts folder (what
    `python -m recsys train` does after it has published a big store's bundle)."""
    path = current_bundle(artifacts)
    loaded = load_bundle(artifacts)
    if loaded.name != path.name:  # CURRENT moved meanwhile: a newer training computes its own
        return None
    state = loaded.payload["state"]
    config = TuningConfig.from_dict(loaded.metadata.get("config", {}))
    with one_blas_thread():  # chunks of a few hundred customers: small products, as in training
        return write(path, state, config, progress)
