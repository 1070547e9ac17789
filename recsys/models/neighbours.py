"""Customer neighbours (the TIFU-KNN idea, Hu et al., SIGIR 2020): what customers whose baskets
look like yours buy, time-decayed.

A customer is a vector over items built from their baskets, newest first: the baskets are cut into
groups of `group_size` counted from the most recent one (the oldest group holds the remainder); a
basket's weight is `within_decay ** (its age inside the group) / |group|`, a group's is
`group_decay ** (its age) / groups`. A customer's score of an item is
`alpha x own vector + (1 - alpha) x mean vector of the k most similar reference customers` (cosine).

`fit` keeps the unit vectors of a fixed random sample of reference customers (`reference_users`),
so a request compares its customers with at most that many, whatever the store's size; the batch's
own vectors come from its lines as of the request time."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.arrays import gather_csr, top_k_sparse_rows, unique_inverse_counts, unique_sorted
from recsys.config import TuningConfig
from recsys.models.base import FitProgress, Scorer, UserBatch
from recsys.models.data import TrainingData

BLOCK_ROWS = 1024  # query customers per block: bounds the (block, reference) similarities


def basket_vectors(rows: np.ndarray, items: np.ndarray, basket: np.ndarray, n_rows: int, n_items: int,
                   group_size: int, within_decay: float, group_decay: float) -> sp.csr_matrix:
    """(n_rows, n_items) TIFU vectors from lines: `basket` orders a row's baskets (larger = newer;
    lines with the same (row, basket) are one basket)."""
    if len(rows) == 0:
        return sp.csr_matrix((n_rows, n_items), dtype=np.float32)
    span = int(basket.max()) - int(basket.min()) + 1
    keys, line_basket, _ = unique_inverse_counts(rows.astype(np.int64) * span + (basket - basket.min()))
    b_row = keys // span                                   # sorted by row, then age (oldest first)
    per_row = np.bincount(b_row, minlength=n_rows)
    first = np.r_[0, np.cumsum(per_row)[:-1]]
    newest = per_row[b_row] - 1 - (np.arange(len(keys)) - first[b_row])  # 0 = the row's latest basket
    groups = -(-per_row[b_row] // group_size)
    group, inside = newest // group_size, newest % group_size
    size = np.where(group < groups - 1, group_size, per_row[b_row] - group_size * (groups - 1))
    weight = group_decay ** group / groups * within_decay ** inside / size
    pairs = np.unique(line_basket.astype(np.int64) * n_items + items)  # distinct (basket, item)
    pb, pi = np.divmod(pairs, n_items)
    m = sp.csr_matrix((weight[pb].astype(np.float32), (b_row[pb], pi)), shape=(n_rows, n_items))
    m.sum_duplicates()
    return m


def unit_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return (sp.diags((1.0 / np.maximum(norms, 1e-12)).astype(np.float32)) @ m).tocsr()


class NeighbourModel(Scorer):
    name = "neighbours"

    def __init__(self, k: int = 300, alpha: float = 0.1, group_size: int = 11, within_decay: float = 0.9,
                 group_decay: float = 0.9, reference_users: int = 20_000, random_state: int = 0) -> None:
        self.k = k
        self.alpha = alpha
        self.group_size = group_size
        self.within_decay = within_decay
        self.group_decay = group_decay
        self.reference_users = reference_users
        self.random_state = random_state

    def vectors(self, rows: np.ndarray, items: np.ndarray, basket: np.ndarray, n_rows: int,
                n_items: int) -> sp.csr_matrix:
        return basket_vectors(rows, items, basket, n_rows, n_items, self.group_size, self.within_decay,
                              self.group_decay)

    def fit(self, data: TrainingData, progress: FitProgress | None = None) -> "NeighbourModel":
        """The reference customers' vectors: a fixed random sample of those with two baskets or more."""
        # a basket: a customer's lines of one day (as the batches' own vectors are made)
        day = data.time // 86_400
        all_vectors = self.vectors(data.user, data.item.astype(np.int64), day, data.n_users, data.n_items)
        span = int(day.max() - day.min()) + 1 if len(day) else 1
        days = unique_sorted(data.user.astype(np.int64) * span + (day - (day.min() if len(day) else 0)))
        eligible = np.flatnonzero(np.bincount(days // span, minlength=data.n_users) >= 2)
        if len(eligible) > self.reference_users:
            rng = np.random.default_rng(self.random_state)
            eligible = np.sort(rng.choice(eligible, size=self.reference_users, replace=False))
        self.reference_ = eligible.astype(np.int64)
        self.reference_vectors_ = all_vectors[self.reference_].tocsr()
        self.reference_unit_t_ = unit_rows(self.reference_vectors_).T.tocsr()
        return self

    @property
    def n_items_(self) -> int:
        return self.reference_vectors_.shape[1]

    def neighbour_scores(self, batch: UserBatch, exclude: np.ndarray | None = None) -> sp.csr_matrix:
        """(batch, n_items): alpha x own vector + (1 - alpha) x the k nearest references' mean,
        computed once per batch. Never is a customer their own neighbour: a known row's code is
        left out of its references, or `exclude`'s (a simulated newcomer's real code)."""
        if batch.cache.neighbour_scores is None:
            codes = batch.codes if exclude is None else np.where(batch.codes >= 0, batch.codes, exclude)
            # a basket: a row's lines of one day before the as-of time (older = smaller)
            day = -np.floor(batch.line_age_days).astype(np.int64)
            own = self.vectors(batch.line_row, batch.line_item, day, len(batch), self.n_items_)
            blocks = [self._block(own[lo:lo + BLOCK_ROWS], codes[lo:lo + BLOCK_ROWS])
                      for lo in range(0, len(batch), BLOCK_ROWS)]  # blocks of rows bound the similarities
            mean = sp.vstack(blocks).tocsr() if blocks else sp.csr_matrix((0, self.n_items_), dtype=np.float32)
            batch.cache.neighbour_scores = (self.alpha * own + (1.0 - self.alpha) * mean).tocsr()
        return batch.cache.neighbour_scores

    def _block(self, own: sp.csr_matrix, codes: np.ndarray) -> sp.csr_matrix:
        """The mean vector of each row's k nearest reference customers (never the customer itself)."""
        n_ref = len(self.reference_)
        sim = (unit_rows(own) @ self.reference_unit_t_).toarray()
        pos = np.searchsorted(self.reference_, codes)
        me = (codes >= 0) & (pos < n_ref) & (self.reference_[np.minimum(pos, n_ref - 1)] == codes)
        sim[np.flatnonzero(me), pos[me]] = -np.inf
        k = min(self.k, n_ref - 1)
        if k < 1 or own.nnz == 0:
            return sp.csr_matrix(own.shape, dtype=np.float32)
        nearest = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        empty = np.diff(own.indptr) == 0  # no history: no neighbours
        weights = np.broadcast_to(np.where(empty[:, None], 0.0, 1.0 / k), nearest.shape).astype(np.float32)
        avg = sp.csr_matrix((weights.ravel(), nearest.ravel(), np.arange(0, nearest.size + 1, k)),
                            shape=(own.shape[0], n_ref))
        return (avg @ self.reference_vectors_).tocsr()

    def candidates(self, batch: UserBatch, k: int, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return top_k_sparse_rows(self.neighbour_scores(batch), k, banned)

    def score(self, batch: UserBatch, candidates: np.ndarray, config: TuningConfig | None = None) -> np.ndarray:
        return gather_csr(self.neighbour_scores(batch), candidates)
