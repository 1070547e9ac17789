"""Item-item collaborative filtering from basket co-purchases, spending-weighted.

sim(i, j) = cosine of the items' spending-weighted basket vectors, shrunk towards 0 when few
baskets hold both; only the top-k neighbours per item are kept. The co-occurrence product is
computed in blocks of items so memory stays bounded on large catalogues.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Scorer, UserBatch


def _top_k_positions(indptr: np.ndarray, data: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the k largest entries of each CSR row (one sort), and the new indptr."""
    counts = np.diff(indptr)
    rows = np.repeat(np.arange(len(counts)), counts)
    order = np.lexsort((-data, rows))
    rank = np.arange(len(order)) - np.repeat(indptr[:-1], counts)
    keep = np.sort(order[rank < k])
    return keep, np.r_[0, np.cumsum(np.minimum(counts, k))].astype(np.int64)


class ItemCFModel(Scorer):
    name = "item_cf"

    def __init__(self, top_k: int = 100, shrinkage: float = 5.0, block_size: int = 2048) -> None:
        self.top_k = top_k
        self.shrinkage = shrinkage
        self.block_size = block_size

    def fit(self, basket_items: sp.csr_matrix, progress=None) -> "ItemCFModel":
        """basket_items: (n_baskets, n_items) line weights (the spending signal) per basket."""
        weighted = basket_items.tocsc().astype(np.float32)
        binary = weighted.copy()
        binary.data[:] = 1.0
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        n_items = weighted.shape[1]
        wt, bt = weighted.T.tocsr(), binary.T.tocsr()
        sims, counts = [], []
        for start in range(0, n_items, self.block_size):  # blocks bound memory, not a per-item loop
            stop = min(start + self.block_size, n_items)
            co_w = (wt[start:stop] @ weighted).tocsr()
            co_n = (bt[start:stop] @ binary).tocsr()
            co_w.sort_indices()
            co_n.sort_indices()
            # all line weights are > 0, so both products share one sparsity pattern
            rows = np.repeat(np.arange(stop - start), np.diff(co_w.indptr))
            sim = co_w.data / (norms[start + rows] * norms[co_w.indices])
            sim *= co_n.data / (co_n.data + self.shrinkage)
            sim[co_w.indices == start + rows] = 0.0  # an item is not its own neighbour
            nonzero = sim > 0
            indptr = np.r_[0, np.cumsum(np.bincount(rows[nonzero], minlength=stop - start))]
            keep, top_ptr = _top_k_positions(indptr, sim[nonzero], self.top_k)
            cols = co_w.indices[nonzero][keep]
            shape = (stop - start, n_items)
            sims.append(sp.csr_matrix((sim[nonzero][keep].astype(np.float32), cols, top_ptr), shape=shape))
            counts.append(sp.csr_matrix((co_n.data[nonzero][keep].astype(np.float32), cols, top_ptr), shape=shape))
            if progress:
                progress(stop / n_items)
        self.similarity_ = sp.vstack(sims).tocsr().astype(np.float32)
        self.co_counts_ = sp.vstack(counts).tocsr().astype(np.float32)
        return self

    def score(self, users: UserBatch) -> np.ndarray:
        return np.asarray((users.history @ self.similarity_).todense())

    def neighbours_in_history(self, users: UserBatch, items: np.ndarray) -> np.ndarray:
        """(batch, len(items)) how many of each user's past items list each item as a neighbour."""
        col = self.similarity_[:, items]
        col.data[:] = 1.0
        hist = users.history.copy()
        hist.data[:] = 1.0
        return np.asarray((hist @ col).todense())

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.similarity_.indptr[item], self.similarity_.indptr[item + 1]
        idx, vals = self.similarity_.indices[lo:hi], self.similarity_.data[lo:hi]
        order = np.argsort(-vals, kind="stable")[:n]
        return idx[order].astype(np.int64), vals[order]

    def co_purchase_counts(self, item: int, others: np.ndarray) -> np.ndarray:
        row = self.co_counts_[item]
        return np.asarray(row[:, others].todense()).ravel()
