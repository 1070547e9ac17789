"""The one small interface every model follows, and the candidate arrays it scores."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

PAD = -1  # an empty slot of a candidate row


@dataclass
class UserBatch:
    """What a model may know about the users it scores, as of the request time.

    `codes` are training user codes (-1 for a user the models never saw); `history` holds the
    users' damped purchase confidences, and the `line_*` arrays their purchase lines with the
    age of each at the as-of time; both come from lines before the as-of time (or from a
    history given at call time).
    """

    codes: np.ndarray          # (batch,) int64
    history: sp.csr_matrix     # (batch, n_items) float32
    segments: np.ndarray       # (batch,) int8 spending segment code
    line_row: np.ndarray       # (lines,) int64 row of the batch the line belongs to
    line_item: np.ndarray      # (lines,) int64 item code
    line_age_days: np.ndarray  # (lines,) float64 age of the line at the as-of time
    default_as_of: bool = False  # asked at the end of the data with stored history only
    # what one model derives from the batch once and both its candidates() and score() read
    derived: dict[str, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.codes)


class Scorer(ABC):
    """A fitted model scores given candidates of each user: `score(users, candidates)`.

    `candidates` is a (batch, pool) array of item codes padded with PAD; the answer has the same
    shape, higher is better (scale is model-specific) and 0 in padded slots."""

    name: str = "model"

    @abstractmethod
    def score(self, users: UserBatch, candidates: np.ndarray) -> np.ndarray:
        """(batch, pool) raw scores of the candidates."""

    def candidates(self, users: UserBatch, k: int, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, items) of up to k items per user this model would put forward, none of them
        `banned` (an (n_items,) mask); none by default."""
        return np.empty(0, np.int64), np.empty(0, np.int64)

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError(f"{self.name} has no item similarity")


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


def top_k_sparse_rows(m: sp.csr_matrix, k: int, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the k largest positive entries of each CSR row, skipping `banned` columns."""
    m = m.tocsr()
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(m.shape[0]), counts)
    keep = m.data > 0
    if banned is not None:
        keep &= ~banned[m.indices]
    rows, cols, vals = rows[keep], m.indices[keep].astype(np.int64), m.data[keep]
    if not len(rows):
        return rows.astype(np.int64), cols
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


def gather_csr(m: sp.csr_matrix, candidates: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """m[rows[r], candidates[r, j]] as a dense (batch, pool) float array (0 where absent or PAD).

    `rows` picks m's row for each batch row (default: row r of m); rows of -1 give zeros."""
    if rows is None:
        return _gather_rows(m.tocsr(), candidates)
    rows = np.asarray(rows, dtype=np.int64)
    out = _gather_rows(m[np.maximum(rows, 0)].tocsr(), candidates)
    out[rows < 0] = 0.0
    return out


def _gather_rows(sub: sp.csr_matrix, candidates: np.ndarray) -> np.ndarray:
    if sub.nnz == 0:
        return np.zeros(candidates.shape)
    if not sub.has_sorted_indices:
        sub = sub.copy()
        sub.sort_indices()
    n_cols = sub.shape[1]
    # row-major keys of a CSR with sorted indices are sorted: one searchsorted finds every candidate
    keys = np.repeat(np.arange(sub.shape[0], dtype=np.int64), np.diff(sub.indptr)) * n_cols + sub.indices
    want = np.arange(candidates.shape[0], dtype=np.int64)[:, None] * n_cols + np.maximum(candidates, 0)
    pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
    hit = (candidates >= 0) & (keys[pos] == want)
    return np.where(hit, sub.data[pos], 0.0).astype(np.float64)
