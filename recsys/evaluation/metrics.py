"""Ranking metrics of lists against the truth (precision, recall, NDCG, hit rate, MAP at k) and
the calibration of confidences (reliability table, expected calibration error). Pure functions of
arrays: every layer may use them."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

METRICS = ("precision", "recall", "ndcg", "hit_rate", "map")


def sets_to_csr(sets: Sequence[Iterable], item_index: pd.Index) -> sparse.csr_matrix:
    rows, cols = [], []
    for r, s in enumerate(sets):
        codes = item_index.get_indexer(list(s))
        codes = np.unique(codes[codes >= 0])
        rows.append(np.full(len(codes), r, dtype=np.int64))
        cols.append(codes)
    row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    m = sparse.csr_matrix(
        (np.ones(len(row), dtype=np.int8), (row, col)), shape=(len(sets), len(item_index))
    )
    m.sort_indices()
    return m


def lists_to_codes(recs: Sequence[Sequence], item_index: pd.Index, width: int | None = None) -> np.ndarray:
    """Ragged lists of item ids -> (users x width) int array, -1 padded; unknown ids -> -1."""
    width = max((len(r) for r in recs), default=0) if width is None else width
    out = np.full((len(recs), width), -1, dtype=np.int64)
    for u, r in enumerate(recs):
        r = list(r)[:width]
        if r:
            out[u, : len(r)] = item_index.get_indexer(r)
    return out


def relevance(recs: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    """Binary relevance of recommendations and the size of each user's truth.

    Either ``recs`` is a 2-D int array of item indices (-1 = padding) and ``truth`` a (users x items)
    CSR matrix; or ``recs`` is a sequence of item-id lists and ``truth`` a sequence of sets.
    Returns ``(rel, n_truth)``: a bool (users x K) array and an int (users,) array.
    """
    if sparse.issparse(truth):
        t = sparse.csr_matrix(truth)
        t.sort_indices()
        recs = np.asarray(recs, dtype=np.int64)
        if recs.ndim != 2 or recs.shape[0] != t.shape[0]:
            raise ValueError("recs must be a (users x K) array with one row per truth row")
        n_cols = t.shape[1]
        t_rows = np.repeat(np.arange(t.shape[0], dtype=np.int64), np.diff(t.indptr))
        keys = t_rows * n_cols + t.indices.astype(np.int64)  # sorted: rows then sorted indices
        valid = (recs >= 0) & (recs < n_cols)
        q = np.arange(recs.shape[0], dtype=np.int64)[:, None] * n_cols + np.where(valid, recs, 0)
        pos = np.searchsorted(keys, q)
        pos = np.minimum(pos, max(len(keys) - 1, 0))
        rel = valid & (keys[pos] == q) if len(keys) else np.zeros(recs.shape, dtype=bool)
        return rel, np.diff(t.indptr).astype(np.int64)
    truth = list(truth)
    if len(recs) != len(truth):
        raise ValueError("recs and truth must have one entry per user")
    width = max((len(r) for r in recs), default=0)
    rel = np.zeros((len(recs), width), dtype=bool)
    for u, (r, s) in enumerate(zip(recs, truth)):
        s = set(s)
        rel[u, : len(r)] = [x in s for x in r]
    return rel, np.array([len(set(s)) for s in truth], dtype=np.int64)


def _topk(rel: np.ndarray, k: int) -> np.ndarray:
    rel = np.asarray(rel, dtype=bool)
    if rel.shape[1] >= k:
        return rel[:, :k]
    return np.pad(rel, ((0, 0), (0, k - rel.shape[1])))


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    den = np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.zeros_like(np.asarray(num, dtype=float)), where=den > 0)


def precision_at_k(rel: np.ndarray, k: int) -> np.ndarray:
    """Hits in the top k divided by k (a short list is not rewarded)."""
    return _topk(rel, k).sum(axis=1) / k


def recall_at_k(rel: np.ndarray, n_truth: np.ndarray, k: int) -> np.ndarray:
    """Hits in the top k divided by the size of the truth (0 when the truth is empty)."""
    return _safe_div(_topk(rel, k).sum(axis=1), n_truth)


def hit_rate_at_k(rel: np.ndarray, k: int) -> np.ndarray:
    """1 when at least one of the top k is relevant."""
    return _topk(rel, k).any(axis=1).astype(float)


def ndcg_at_k(rel: np.ndarray, n_truth: np.ndarray, k: int) -> np.ndarray:
    """Binary NDCG@k: DCG over the top k, ideal DCG over min(k, |truth|) hits."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = _topk(rel, k) @ discounts
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(np.asarray(n_truth), k)]
    return _safe_div(dcg, ideal)


def average_precision_at_k(rel: np.ndarray, n_truth: np.ndarray, k: int) -> np.ndarray:
    """AP@k: sum of precision@j at each hit j <= k, divided by min(k, |truth|)."""
    r = _topk(rel, k).astype(float)
    prec = np.cumsum(r, axis=1) / np.arange(1, k + 1)
    return _safe_div((prec * r).sum(axis=1), np.minimum(np.asarray(n_truth), k))


def ranking_metrics(rel: np.ndarray, n_truth: np.ndarray, k: Iterable[int] = (5, 10)) -> dict[str, np.ndarray]:
    """Per-user ``precision@k``, ``recall@k``, ``ndcg@k``, ``hit_rate@k`` and ``map@k`` arrays."""
    out: dict[str, np.ndarray] = {}
    for kk in k:
        out[f"precision@{kk}"] = precision_at_k(rel, kk)
        out[f"recall@{kk}"] = recall_at_k(rel, n_truth, kk)
        out[f"ndcg@{kk}"] = ndcg_at_k(rel, n_truth, kk)
        out[f"hit_rate@{kk}"] = hit_rate_at_k(rel, kk)
        out[f"map@{kk}"] = average_precision_at_k(rel, n_truth, kk)
    return out


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------


def reliability_table(confidences: Sequence[float], outcomes: Sequence[float], n_bins: int = 10) -> pd.DataFrame:
    """Equal-width bins over [0, 1]: bin, lower, upper, mean_confidence, observed_rate, count.

    Empty bins are listed with count 0 and NaN means.
    """
    c = np.asarray(confidences, dtype=float).ravel()
    y = np.asarray(outcomes, dtype=float).ravel()
    if c.shape != y.shape:
        raise ValueError("confidences and outcomes must have the same length")
    if len(c) and (np.nanmin(c) < 0 or np.nanmax(c) > 1):
        raise ValueError("confidences must lie in [0, 1]")
    b = np.minimum((c * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    sum_c = np.bincount(b, weights=c, minlength=n_bins)
    sum_y = np.bincount(b, weights=y, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c = np.where(count > 0, sum_c / count, np.nan)
        rate = np.where(count > 0, sum_y / count, np.nan)
    edges = np.linspace(0, 1, n_bins + 1)
    return pd.DataFrame({
        "bin": np.arange(n_bins),
        "lower": edges[:-1],
        "upper": edges[1:],
        "mean_confidence": mean_c,
        "observed_rate": rate,
        "count": count,
    })


def expected_calibration_error(confidences: Sequence[float], outcomes: Sequence[float], n_bins: int = 10) -> float:
    """ECE: count-weighted mean over bins of |mean confidence - observed rate|."""
    t = reliability_table(confidences, outcomes, n_bins)
    total = t["count"].sum()
    if total == 0:
        return float("nan")
    nz = t["count"] > 0
    gap = (t.loc[nz, "mean_confidence"] - t.loc[nz, "observed_rate"]).abs()
    return float((gap * t.loc[nz, "count"]).sum() / total)
