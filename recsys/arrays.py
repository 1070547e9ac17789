"""Vectorised array helpers every layer shares: sorted uniques and group reductions over integer
codes, top-k selection, rows of sparse matrices and gathers from them (process-wide settings
such as BLAS threads live in recsys.process).

Nothing here knows about stores, models or requests: inputs are numpy arrays and scipy matrices."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

# ---- sorted uniques and group reductions -----------------------------------------------------


def run_starts(sorted_values: np.ndarray) -> np.ndarray:
    """True where a sorted array starts a new run of equal values."""
    starts = np.empty(len(sorted_values), dtype=bool)
    if len(sorted_values):
        starts[0] = True
        np.not_equal(sorted_values[1:], sorted_values[:-1], out=starts[1:])
    return starts


def is_sorted(values: np.ndarray) -> bool:
    return bool(len(values) < 2 or (values[1:] >= values[:-1]).all())


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """np.unique(values) by one sort and a run mask. numpy >= 2.3's np.unique goes through a hash
    table that is ~30x slower on the 2-20M int64 keys of a big store (25 s against 0.7 s at 20M)."""
    s = values if is_sorted(values) else np.sort(values)
    return s[run_starts(s)]


def unique_inverse_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True, return_counts=True), by one stable argsort."""
    if is_sorted(values):
        order, s = None, values
    else:
        order = np.argsort(values, kind="stable")
        s = values[order]
    starts = run_starts(s)
    ids = np.cumsum(starts) - 1
    if order is None:
        inverse = ids
    else:
        inverse = np.empty(len(values), dtype=np.int64)
        inverse[order] = ids
    counts = np.diff(np.r_[np.flatnonzero(starts), len(s)])
    return s[starts], inverse, counts


@dataclass(frozen=True)
class PairGroups:
    """The distinct (row, column) pairs of some entries, by one stable sort: the entries of pair p
    are order[starts[p]:starts[p + 1]], in their original order."""

    keys: np.ndarray     # (pairs,) row * n_cols + column, sorted
    inverse: np.ndarray  # (entries,) the pair of each entry
    order: np.ndarray    # (entries,) entries grouped by pair
    starts: np.ndarray   # (pairs,) where each pair's entries start in `order`
    n_cols: int

    @classmethod
    def of(cls, rows: np.ndarray, cols: np.ndarray, n_cols: int) -> "PairGroups":
        keys = rows.astype(np.int64) * n_cols + cols
        order = np.argsort(keys, kind="stable")
        s = keys[order]
        first = run_starts(s)
        inverse = np.empty(len(keys), dtype=np.int64)
        inverse[order] = np.cumsum(first) - 1
        return cls(s[first], inverse, order, np.flatnonzero(first), n_cols)

    @property
    def rows(self) -> np.ndarray:
        return self.keys // self.n_cols

    @property
    def cols(self) -> np.ndarray:
        return self.keys % self.n_cols

    def counts(self) -> np.ndarray:
        return np.diff(np.r_[self.starts, len(self.order)])

    def sums(self, values: np.ndarray) -> np.ndarray:
        """(pairs,) float64 sum of each pair's values (added in entry order)."""
        return np.bincount(self.inverse, weights=values, minlength=len(self.keys))

    def mins(self, values: np.ndarray) -> np.ndarray:
        """(pairs,) the smallest of each pair's values."""
        return np.minimum.reduceat(values[self.order], self.starts) if len(self.keys) else values[:0]

    def as_rows(self, data: np.ndarray, n_rows: int) -> "CsrRows":
        """One value per pair as CSR rows (columns sorted)."""
        return CsrRows.from_pairs(self.rows, self.cols, data, n_rows, self.n_cols)


def pair_sums(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, n_rows: int, n_cols: int,
              dtype: type = np.float32) -> "CsrRows":
    """The sum of the values of each distinct (row, column) pair, as CSR rows (columns sorted)."""
    pairs = PairGroups.of(rows, cols, n_cols)
    return pairs.as_rows(pairs.sums(values).astype(dtype), n_rows)


def order_by(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """np.lexsort((minor, major)) for non-negative integer codes `major` and integer `minor`: one
    stable radix argsort of a packed int64 key where both fit (3-4x faster on 20M lines)."""
    if len(major) == 0:
        return np.arange(0)
    lo, span = int(minor.min()), int(minor.max()) - int(minor.min())
    bits = max(span.bit_length(), 1)
    if int(major.min()) < 0 or int(major.max()).bit_length() + bits > 62:
        return np.lexsort((minor, major))
    key = (major.astype(np.int64) << bits) | (minor.astype(np.int64) - lo)
    return np.argsort(key, kind="stable")


def distinct_count(group: np.ndarray, other: np.ndarray, n_groups: int) -> np.ndarray:
    """Number of distinct `other` values per group code (a vectorised nunique)."""
    span = int(other.max()) + 1 if len(other) else 1
    pairs = unique_sorted(group.astype(np.int64) * span + other)
    return np.bincount((pairs // span).astype(np.int64), minlength=n_groups)


def group_mean(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Mean of values per code (0 where a code has none)."""
    sums = np.bincount(codes, weights=values, minlength=n)
    counts = np.bincount(codes, minlength=n)
    return sums / np.maximum(counts, 1)


def group_min(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Minimum of values per code (inf where a code has none)."""
    out = np.full(n, np.inf)
    np.minimum.at(out, codes, values)
    return out


def group_max(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Maximum of values per code (-inf where a code has none)."""
    out = np.full(n, -np.inf)
    np.maximum.at(out, codes, values)
    return out


def group_median(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Median of values per code (nan where a code has none), by one sort."""
    out = np.full(n, np.nan)
    if len(values) == 0:
        return out
    order = np.lexsort((values, codes))
    c, v = codes[order], values[order]
    start = np.searchsorted(c, np.arange(n))
    end = np.searchsorted(c, np.arange(n), side="right")
    has = end > start
    lo = v[np.minimum((start + end - 1) // 2, len(v) - 1)]
    hi = v[np.minimum((start + end) // 2, len(v) - 1)]
    out[has] = ((lo + hi) / 2)[has]
    return out


def gather_ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, index) for every index in [starts[r], ends[r]) of every row r, without a loop."""
    lens = np.maximum(ends - starts, 0)
    return np.repeat(np.arange(len(starts)), lens), _positions(starts, lens)


def gather_positions(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Every index in [starts[r], ends[r]) of every row r, in order (gather_ranges without the rows)."""
    return _positions(starts, np.maximum(ends - starts, 0))


def _positions(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    # one repeat and one arange (repeating the starts and the offsets apart costs ~10x more)
    pos = np.repeat(np.asarray(starts, dtype=np.int64) - (np.cumsum(lens) - lens), lens)
    pos += np.arange(len(pos))
    return pos


# ---- top-k -------------------------------------------------------------------------------------


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest scores, best first (argpartition, then a small sort)."""
    n = min(n, scores.shape[-1])
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.argsort(-scores[part], kind="stable")]


def top_k_per_row(scores: np.ndarray, k: int, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the k largest entries of each row of a dense (batch, n) array,
    skipping `banned` columns."""
    if banned is not None:
        scores = np.where(banned, -np.inf, scores)
    k = min(k, scores.shape[1])
    if k <= 0 or scores.shape[0] == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    cols = top_k_columns(scores, k)
    rows = np.repeat(np.arange(scores.shape[0]), k)
    cols = cols.ravel().astype(np.int64)
    ok = (cols < scores.shape[1]) & np.isfinite(scores[rows, np.minimum(cols, scores.shape[1] - 1)])
    return rows[ok], cols[ok]


BLOCK = 64  # columns per block of top_k_columns


def top_k_columns(scores: np.ndarray, k: int) -> np.ndarray:
    """(batch, k) columns of the k largest entries of each row (in no set order), exactly.

    Wide rows go through block maxima: split the columns into BLOCK strided blocks; the k blocks
    with the largest maxima hold the row's top k (each of those blocks has an entry at least the
    k-th largest maximum, so no entry of another block can be among the top k). One fast max
    reduction and two small partitions instead of a partition of the whole row (5x at 200k columns).
    A column >= n (padding) comes back only where a row has fewer than k entries above -inf."""
    b, n = scores.shape
    nb = -(-n // BLOCK)
    if n < 4 * k * BLOCK:  # narrow rows: the plain partition
        return np.argpartition(scores, n - k, axis=1)[:, n - k:]
    if nb * BLOCK != n:
        scores = np.concatenate([scores, np.full((b, nb * BLOCK - n), -np.inf, scores.dtype)], axis=1)
    # block j = columns j, j + nb, j + 2nb, ...: the max over the middle axis is a vectorised elementwise max
    maxima = scores.reshape(b, BLOCK, nb).max(axis=1)
    blocks = np.argpartition(maxima, nb - k, axis=1)[:, nb - k:]
    cols = (np.arange(BLOCK)[None, :, None] * nb + blocks[:, None, :]).reshape(b, -1)
    vals = np.take_along_axis(scores, cols, axis=1)
    pick = np.argpartition(vals, vals.shape[1] - k, axis=1)[:, vals.shape[1] - k:]
    return np.take_along_axis(cols, pick, axis=1)


def top_k_sparse_rows(m: "sp.spmatrix | CsrRows", k: int, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the k largest positive entries of each CSR row, skipping `banned` columns."""
    m = CsrRows.of(m)
    lo, hi = int(m.indptr[0]), int(m.indptr[-1])
    rows, indices, data = m.entry_rows(), m.indices[lo:hi], m.data[lo:hi]
    keep = data > 0
    if banned is not None:
        keep &= ~banned[indices]
    rows, cols, vals = rows[keep], indices[keep].astype(np.int64), data[keep]
    if not len(rows):
        return rows.astype(np.int64), cols
    if m.shape[0] == 1 and len(vals) > k:  # one row: only the entries at least its k-th largest are sorted
        kth = np.partition(vals, len(vals) - k)[len(vals) - k]
        top = np.flatnonzero(vals >= kth)
        rows, cols, vals = rows[top], cols[top], vals[top]
    if vals.dtype == np.float32 and m.shape[0] <= 1 << 11 and m.shape[1] <= 1 << 21:
        # one int64 key (row | descending value | column), ~3x faster than a lexsort; the bits of
        # a positive float32 order like the float
        desc = np.int64(0x7FFFFFFF) - vals.view(np.int32).astype(np.int64)
        order = np.argsort((rows.astype(np.int64) << 52) | (desc << 21) | cols)
    else:
        order = np.lexsort((-vals, rows))
    rows, cols = rows[order], cols[order]
    start = np.searchsorted(rows, rows, side="left")
    rank = np.arange(len(rows)) - start
    sel = rank < k
    return rows[sel].astype(np.int64), cols[sel]


# ---- rows of sparse matrices, without scipy objects ----------------------------------------------


@dataclass(frozen=True)
class CsrRows:
    """Rows of a sparse matrix as its three CSR arrays and its width.

    What a request reads from stored matrices: a slice of stored rows costs a few array views,
    where a scipy matrix costs ~50 us of checks per construction (several per request). The column
    order within a row is whatever the source had (sorted for matrices built by scipy)."""

    indptr: np.ndarray   # (rows + 1,) integer positions into indices and data
    indices: np.ndarray  # (nnz,) column of each entry
    data: np.ndarray     # (nnz,) value of each entry
    n_cols: int

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.indptr) - 1, self.n_cols

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1] - self.indptr[0])

    def entry_rows(self) -> np.ndarray:
        """(nnz,) the row of each entry."""
        return np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int64), np.diff(self.indptr))

    def take(self, rows: np.ndarray) -> "CsrRows":
        """These rows, in this order (a row of -1 is empty)."""
        return csr_rows(self.indptr, self.indices, self.data, rows, self.n_cols)

    def tocsr(self) -> sp.csr_matrix:
        lo = int(self.indptr[0])
        return sp.csr_matrix((self.data[lo:self.indptr[-1]], self.indices[lo:self.indptr[-1]], self.indptr - lo),
                             shape=self.shape)

    @classmethod
    def of(cls, m: "sp.spmatrix | sp.sparray | CsrRows") -> "CsrRows":
        """The rows of a scipy matrix (no copy when it is CSR already)."""
        if isinstance(m, CsrRows):
            return m
        m = m.tocsr()
        return cls(m.indptr, m.indices, m.data, int(m.shape[1]))

    @classmethod
    def from_pairs(cls, rows: np.ndarray, cols: np.ndarray, data: np.ndarray, n_rows: int, n_cols: int) -> "CsrRows":
        """From entries sorted by row (distinct (row, column) pairs)."""
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        return cls(indptr, cols, data, n_cols)


def csr_rows(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, rows: np.ndarray, n_cols: int) -> CsrRows:
    """Rows `rows` of a stored CSR (three arrays, e.g. memory-mapped), -1 = an empty row.

    One row is three views; several are one gather."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 1:
        r = int(rows[0])
        lo, hi = (int(indptr[r]), int(indptr[r + 1])) if r >= 0 else (0, 0)
        return CsrRows(np.array([0, hi - lo], dtype=np.int64), indices[lo:hi], data[lo:hi], n_cols)
    ok = rows >= 0
    starts = np.where(ok, np.asarray(indptr)[np.maximum(rows, 0)], 0).astype(np.int64)
    ends = np.where(ok, np.asarray(indptr)[np.maximum(rows, 0) + 1], 0).astype(np.int64)
    _, pos = gather_ranges(starts, ends)
    out_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(ends - starts, out=out_ptr[1:])
    return CsrRows(out_ptr, indices[pos], data[pos], n_cols)


# ---- gathers -----------------------------------------------------------------------------------


def gather_csr(m: "sp.spmatrix | CsrRows", candidates: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """m[rows[r], candidates[r, j]] as a dense (batch, pool) float array (0 where absent or < 0).

    `rows` picks m's row for each batch row (default: row r of m); rows of -1 give zeros."""
    m = CsrRows.of(m)
    if rows is not None:
        m = m.take(rows)
    return _gather_rows(m, candidates)


def _gather_rows(sub: CsrRows, candidates: np.ndarray) -> np.ndarray:
    candidates = np.asarray(candidates)
    lo, hi = int(sub.indptr[0]), int(sub.indptr[-1])
    if hi == lo or candidates.size == 0:
        return np.zeros(candidates.shape)
    n_cols = sub.n_cols
    keys = sub.entry_rows() * n_cols + sub.indices[lo:hi]
    data = sub.data[lo:hi]
    if not is_sorted(keys):  # columns unsorted within a row: sort the (few) entries
        order = np.argsort(keys, kind="stable")
        keys, data = keys[order], data[order]
    want = np.arange(candidates.shape[0], dtype=np.int64)[:, None] * n_cols + np.maximum(candidates, 0)
    pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    hit = (candidates >= 0) & (keys[pos] == want)
    return np.where(hit, data[pos], 0.0).astype(np.float64)
