"""Beyond accuracy: how much of the catalogue the lists show, how evenly, how little-known and how
varied their items are. Definitions as in microsoft/recommenders (`python_evaluation.py`):

- catalogue coverage: distinct items shown / items of the training data (Shani & Gunawardana 2010);
- distributional coverage: entropy, in bits, of how often each item is shown,
  -sum_i p(i) log2 p(i) with p(i) = shows of i / all shows (formula 21 there);
- novelty of an item: -log2 of its share of the store's buyers, p(i) = customers who bought i /
  sum over items of their customers (each (customer, item) pair once: the "choice" model of
  Castells et al. 2011); a list's novelty is the mean over its items;
- diversity of a list: 1 - the mean over its item pairs of their co-purchase cosine,
  customers who bought both / sqrt(customers of one x customers of the other) (Zhang et al. 2012;
  a pair never bought together counts 0).

Lists are (users x k) arrays of item codes, -1 padded; purchases a (customers x items) sparse
matrix of the training data (any positive entry = bought). Everything is vectorised: no loop over
users or items.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse


def shown_items(lists: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(items, times shown): the distinct item codes of the lists and how often each appears."""
    codes = np.asarray(lists, dtype=np.int64)
    return np.unique(codes[codes >= 0], return_counts=True)


def catalogue_coverage(lists: np.ndarray, n_items: int) -> float:
    """Distinct items shown / items of the catalogue."""
    return float(len(shown_items(lists)[0]) / max(int(n_items), 1))


def distributional_coverage(lists: np.ndarray) -> float:
    """Entropy (bits) of how often each item is shown: 0 when every list shows the same one item."""
    return float(entropy_of_counts(shown_items(lists)[1][None, :].astype(np.float64))[0])


def coverage_of_counts(counts: np.ndarray, n_items: int) -> np.ndarray:
    """Row-wise catalogue coverage of (rows x items) show counts (a bootstrap's resamples)."""
    return (np.asarray(counts) > 0).sum(axis=1) / max(int(n_items), 1)


def entropy_of_counts(counts: np.ndarray) -> np.ndarray:
    """Row-wise entropy (bits) of (rows x items) show counts."""
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum(axis=1, keepdims=True)
    p = np.divide(c, total, out=np.zeros_like(c), where=total > 0)
    logs = np.log2(p, out=np.zeros_like(p), where=p > 0)
    return -(p * logs).sum(axis=1)


def item_buyers(purchases: sparse.spmatrix) -> np.ndarray:
    """Distinct customers per item."""
    m = sparse.csc_matrix(purchases, copy=True)
    m.sum_duplicates()
    m.data = (m.data > 0).astype(np.int8)
    m.eliminate_zeros()
    return np.diff(m.indptr).astype(np.int64)


def item_novelty(buyers: np.ndarray) -> np.ndarray:
    """-log2 of each item's share of the store's buyers (NaN for an item nobody bought)."""
    b = np.asarray(buyers, dtype=np.float64)
    out = np.full(len(b), np.nan)
    ok = b > 0
    if ok.any():
        out[ok] = -np.log2(b[ok] / b.sum())
    return out


def novelty(lists: np.ndarray, buyers: np.ndarray) -> np.ndarray:
    """Per list: the mean novelty of its items (NaN for a list with no item anybody bought)."""
    codes = np.asarray(lists, dtype=np.int64)
    nov = item_novelty(buyers)
    values = np.where(codes >= 0, nov[np.maximum(codes, 0)], np.nan) if codes.size else np.zeros(codes.shape)
    ok = np.isfinite(values)
    count = ok.sum(axis=1)
    total = np.where(ok, values, 0.0).sum(axis=1)
    return np.divide(total, count, out=np.full(len(codes), np.nan), where=count > 0)


def diversity(lists: np.ndarray, purchases: sparse.spmatrix) -> np.ndarray:
    """Per list: 1 - the mean co-purchase cosine over its item pairs (NaN for fewer than 2 items)."""
    codes = np.asarray(lists, dtype=np.int64)
    n, k = codes.shape if codes.ndim == 2 else (len(codes), 0)
    out = np.full(n, np.nan)
    if n == 0 or k < 2:
        return out
    items = shown_items(codes)[0]
    local = np.where(codes >= 0, np.searchsorted(items, np.maximum(codes, 0)), -1)
    bought = sparse.csc_matrix(purchases)[:, items]
    bought.sum_duplicates()
    bought.data = (bought.data > 0).astype(np.float64)
    bought.eliminate_zeros()
    together = (bought.T @ bought).tocoo()           # customers who bought both, for the shown items only
    buyers = np.asarray(bought.sum(axis=0)).ravel()
    keys = together.row.astype(np.int64) * len(items) + together.col
    order = np.argsort(keys)
    keys, counts = keys[order], together.data[order]
    i, j = np.triu_indices(k, 1)
    a, b = local[:, i], local[:, j]
    valid = (a >= 0) & (b >= 0)
    q = np.where(valid, a * len(items) + b, 0)
    pos = np.minimum(np.searchsorted(keys, q), max(len(keys) - 1, 0))
    both = np.where(valid & (keys[pos] == q), counts[pos], 0.0) if len(keys) else np.zeros(q.shape)
    denom = np.sqrt(buyers[np.maximum(a, 0)] * buyers[np.maximum(b, 0)])
    cosine = np.divide(both, denom, out=np.zeros_like(both), where=valid & (denom > 0))
    pairs = valid.sum(axis=1)
    mean = np.divide(cosine.sum(axis=1), pairs, out=np.zeros(n), where=pairs > 0)
    return np.where(pairs > 0, 1.0 - mean, np.nan)


def beyond_accuracy(lists: np.ndarray, purchases: sparse.spmatrix) -> dict[str, float]:
    """The four measures of a set of lists: coverage, distributional coverage (bits), mean
    novelty (bits) and mean diversity over the lists."""
    nov, div = novelty(lists, item_buyers(purchases)), diversity(lists, purchases)
    return {"coverage": catalogue_coverage(lists, purchases.shape[1]),
            "distributional_coverage": distributional_coverage(lists),
            "novelty": float(np.nanmean(nov)) if np.isfinite(nov).any() else float("nan"),
            "diversity": float(np.nanmean(div)) if np.isfinite(div).any() else float("nan")}
