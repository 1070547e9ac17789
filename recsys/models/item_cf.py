"""Item-item collaborative filtering from basket co-purchases, spending-weighted.

sim(i, j) = cosine of the items' spending-weighted basket vectors, shrunk towards 0 when few
baskets hold both; only the top-k neighbours per item are kept. The co-occurrence product is
computed in blocks of items so memory stays bounded on large catalogues.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.arrays import CsrRows, gather_csr, gather_positions, is_sorted, top_k_sparse_rows
from recsys.config import TuningConfig
from recsys.models.base import FitProgress, Scorer, UserBatch
from recsys.models.data import TrainingData

# batches up to this many (users x items) cells get their neighbour scores by dense accumulation
# (no scipy product: a request for one user); bigger ones go through scipy's sparse product
DENSE_CELLS = 4_000_000


def _top_k_positions(indptr: np.ndarray, data: np.ndarray, k: int,
                     cols: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the k largest entries of each CSR row, and the new indptr.

    Ties go to the smaller column. Without `cols` the row's entries must be in column order;
    with `cols` (any order within a row) the positions come back in (row, column) order."""
    counts = np.diff(indptr)
    n_rows = len(counts)
    new_ptr = np.r_[0, np.cumsum(np.minimum(counts, k))].astype(np.int64)
    long_row = counts > k
    packed = (cols is not None and data.dtype == np.float32 and n_rows <= 1 << 11
              and (len(cols) == 0 or int(cols.max()) < 1 << 21) and (len(data) == 0 or data.min() >= 0))
    if cols is not None and not packed:  # the general path: column order first
        order = np.lexsort((cols, np.repeat(np.arange(n_rows), counts)))
        keep, new_ptr = _top_k_positions(indptr, data[order], k)
        return order[keep], new_ptr
    in_long = np.repeat(long_row, counts)
    if long_row.any():
        # rows with at most k entries keep them all: only the long rows are sorted
        pos = np.flatnonzero(in_long)
        sub_counts = counts[long_row]
        sub_rows = np.repeat(np.arange(len(sub_counts), dtype=np.int64), sub_counts)
        if packed:
            # one int64 key (row | descending value | column): a radix sort, ~3x faster than lexsort;
            # the bits of a non-negative float32 order like the float
            desc = np.int64(0x7FFFFFFF) - data[pos].view(np.int32).astype(np.int64)
            key = (sub_rows << 52) | (desc << 21) | cols[pos].astype(np.int64)
            order = pos[np.argsort(key, kind="stable")]
        else:
            order = pos[np.lexsort((-data[pos], sub_rows))]
        rank = np.arange(len(order)) - np.repeat(np.cumsum(sub_counts) - sub_counts, sub_counts)
        in_long[order[rank < k]] = False  # the kept entries of long rows: marked by clearing
    keep = np.flatnonzero(~in_long)
    if packed:  # kept entries in (row, column) order
        rows = np.repeat(np.arange(n_rows, dtype=np.int64), counts)[keep]
        keep = keep[np.argsort((rows << 21) | cols[keep].astype(np.int64), kind="stable")]
    return keep, new_ptr


class ItemCFModel(Scorer):
    name = "item_cf"

    def __init__(self, top_k: int = 100, shrinkage: float = 5.0, block_size: int = 2048,
                 max_block_entries: int = 12_000_000) -> None:
        self.top_k = top_k
        self.shrinkage = shrinkage
        self.block_size = block_size
        # at most this many co-occurrence entries per block (~50 bytes each while a block is live)
        self.max_block_entries = max_block_entries

    def fit(self, data: TrainingData, progress: FitProgress | None = None) -> "ItemCFModel":
        """Neighbours from the baskets' summed line weights (the spending signal)."""
        weighted = data.basket_items().tocsc().astype(np.float32)
        basket_count = np.diff(weighted.indptr)  # baskets holding each item (market-basket support)
        binary = weighted.copy()
        binary.data[:] = 1.0
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=0)).ravel())
        norms[norms == 0] = 1.0
        n_items = weighted.shape[1]
        wt, bt = weighted.T.tocsr(), binary.T.tocsr()
        # CSR right operands, converted once: a CSC one is converted again by every block's product
        weighted, binary = weighted.tocsr(), binary.tocsr()
        # an upper bound of each item's co-occurrence row length (sum of the sizes of its baskets)
        # sizes the blocks: the head of a long-tailed catalogue gets small blocks, the tail big ones
        row_bound = np.cumsum(bt @ np.diff(weighted.indptr).astype(np.float64))
        sims, counts = [], []
        start = 0
        while start < n_items:  # blocks bound memory, not a per-item loop
            done = row_bound[start - 1] if start else 0.0
            fit = int(np.searchsorted(row_bound, done + self.max_block_entries, side="right"))
            stop = min(max(fit, start + 1), start + self.block_size, n_items)
            co_w = wt[start:stop] @ weighted
            co_n = bt[start:stop] @ binary
            # all line weights are > 0, so both products share one sparsity pattern, and the
            # product lists each row's columns in the same (unsorted) order for both: the top-k
            # step sorts what it keeps, so neither matrix needs its indices sorted
            same_order = np.array_equal(co_w.indptr, co_n.indptr) and np.array_equal(co_w.indices, co_n.indices)
            if not same_order:
                co_w.sort_indices()
                co_n.sort_indices()
            rows = np.repeat(np.arange(stop - start), np.diff(co_w.indptr))
            sim = co_w.data / (norms[start + rows] * norms[co_w.indices])
            sim *= co_n.data / (co_n.data + self.shrinkage)
            sim[co_w.indices == start + rows] = 0.0  # an item is not its own neighbour
            nonzero = sim > 0
            indptr = np.r_[0, np.cumsum(np.bincount(rows[nonzero], minlength=stop - start))]
            keep, top_ptr = _top_k_positions(indptr, sim[nonzero], self.top_k, cols=co_w.indices[nonzero])
            cols = co_w.indices[nonzero][keep]
            shape = (stop - start, n_items)
            sims.append(sp.csr_matrix((sim[nonzero][keep].astype(np.float32), cols, top_ptr), shape=shape))
            counts.append(sp.csr_matrix((co_n.data[nonzero][keep].astype(np.float32), cols, top_ptr), shape=shape))
            del co_w, co_n, rows, sim, nonzero, keep, cols
            if progress:
                progress(stop / n_items)
            start = stop
        return self.set_neighbours(sp.vstack(sims), sp.vstack(counts), basket_count)

    def set_neighbours(self, similarity: sp.spmatrix, co_counts: sp.spmatrix,
                       basket_count: np.ndarray) -> "ItemCFModel":
        """The learned attributes from top-k neighbour similarities, their co-purchase counts and
        the baskets holding each item (the one assembly step of every engine that computes them)."""
        self.similarity_ = sp.csr_matrix(similarity, dtype=np.float32)
        self.similarity_t_ = self.similarity_.T.tocsr()  # "who lists this item": for the reasons
        self.co_counts_ = sp.csr_matrix(co_counts, dtype=np.float32)
        self.basket_count_ = np.asarray(basket_count, dtype=np.int64)
        return self

    def neighbour_scores(self, batch: UserBatch) -> CsrRows:
        """(batch, n_items) sparse: each user's history times the neighbour similarities (once per batch)."""
        if batch.cache.item_cf_scores is None:
            h = batch.history
            if len(batch) * self.n_items_ <= DENSE_CELLS:
                batch.cache.item_cf_scores = self._scores_by_accumulation(h)
            else:  # many users: scipy's product (the same sums, in the same order, row by row)
                batch.cache.item_cf_scores = CsrRows.of(h.tocsr() @ self.similarity_)
        return batch.cache.item_cf_scores

    def _scores_by_accumulation(self, h: CsrRows) -> CsrRows:
        """history x similarity for a few users without building a scipy matrix: every (history
        entry, neighbour) product added into a dense row in the order scipy's product adds them
        (history entries in stored order, each item's neighbours in stored order; float32), so
        both give the same bits."""
        s = self.similarity_
        b, n = h.shape
        lo, hi = int(h.indptr[0]), int(h.indptr[-1])
        items = h.indices[lo:hi]
        starts = s.indptr[items].astype(np.int64)
        lens = s.indptr[items + 1] - starts
        pos = gather_positions(starts, starts + lens)
        values = np.repeat(h.data[lo:hi].astype(np.float32, copy=False), lens) * s.data[pos]
        cols = s.indices[pos].astype(np.int64)
        if b > 1:
            cols += np.repeat(h.entry_rows() * n, lens)
        dense = np.zeros(b * n, dtype=np.float32)
        np.add.at(dense, cols, values)
        nz = np.flatnonzero(dense)
        return CsrRows.from_pairs(nz // n, nz % n, dense[nz], b, n)

    def candidates(self, batch: UserBatch, k: int, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return top_k_sparse_rows(self.neighbour_scores(batch), k, banned)

    def score(self, batch: UserBatch, candidates: np.ndarray, config: TuningConfig | None = None) -> np.ndarray:
        return gather_csr(self.neighbour_scores(batch), candidates)

    def neighbours_in_history(self, batch: UserBatch, items: np.ndarray) -> np.ndarray:
        """(batch, len(items)) how many of each user's past items list each item as a neighbour.

        Counted from whichever side is shorter: the listed items' "who lists me" rows (a best-seller
        has thousands at L) or the past items' neighbour rows (top_k each; a heavy customer has
        thousands of past items). Both count the same pairs."""
        items = np.atleast_2d(items)
        b, n = items.shape
        s, t, h, width = self.similarity_, self.similarity_t_, batch.history, self.n_items_
        flat = np.maximum(items.ravel(), 0)
        lo, hi = int(h.indptr[0]), int(h.indptr[-1])
        past = h.indices[lo:hi]
        listed_lo = t.indptr[flat].astype(np.int64)
        listed_len = t.indptr[flat + 1] - listed_lo
        past_lo = s.indptr[past].astype(np.int64)
        past_len = s.indptr[past + 1] - past_lo
        if int(listed_len.sum()) <= int(past_len.sum()):
            # (row, past item) keys of who lists each listed item, looked up among the rows' past items
            slot = np.repeat(np.arange(b * n, dtype=np.int64), listed_len)
            keys = (slot // n) * width + t.indices[gather_positions(listed_lo, listed_lo + listed_len)]
            have = h.entry_rows() * width + past
            have = have if is_sorted(have) else np.sort(have)  # stored rows: columns sorted already
            at = np.minimum(np.searchsorted(have, keys), max(len(have) - 1, 0))
            hit = have[at] == keys if len(have) else np.zeros(len(keys), bool)
            out = np.bincount(slot[hit], minlength=b * n).astype(np.float64)
        else:
            # (row, neighbour) keys of every past item's neighbours, matched against the listed items
            keys = np.repeat(h.entry_rows() * width, past_len) + s.indices[gather_positions(past_lo, past_lo + past_len)]
            want = np.arange(b, dtype=np.int64).repeat(n) * width + flat
            order = np.argsort(want, kind="stable")  # a padded slot (item 0) after a real item 0 of its row
            ranked = want[order]
            at = np.minimum(np.searchsorted(ranked, keys), len(ranked) - 1)
            hit = ranked[at] == keys
            out = np.zeros(b * n)
            out[order] = np.bincount(at[hit], minlength=len(ranked))
        return np.where(items >= 0, out.reshape(b, n), 0.0)

    @property
    def n_items_(self) -> int:
        return self.similarity_.shape[0]

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.similarity_.indptr[item], self.similarity_.indptr[item + 1]
        idx, vals = self.similarity_.indices[lo:hi], self.similarity_.data[lo:hi]
        order = np.argsort(-vals, kind="stable")[:n]
        return idx[order].astype(np.int64), vals[order]

    def co_purchase_counts(self, item: int, others: np.ndarray) -> np.ndarray:
        """Baskets holding `item` and each of `others` (0 beyond its stored neighbours)."""
        return gather_csr(self.co_counts_, np.atleast_2d(np.asarray(others, dtype=np.int64)),
                          rows=np.array([item])).ravel().astype(np.float32)
