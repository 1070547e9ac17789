"""Matrix factorisation with implicit's ALS, plus fold-in for users unseen at training."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController, threadpool_limits

from recsys.models.base import Scorer, UserBatch, top_k_columns, top_k_per_row, top_n

# A request's (1, k) x (k, n_items) product takes 0.3 ms on one OpenBLAS thread and ~12 ms on two
# when the cores are busy (thread wake-ups dominate such small products): small batches use one.
SMALL_BATCH = 64
_controller: ThreadpoolController | None = None
# Catalogues this big get an item index for the candidate step (see `ItemIndex` below): a request
# then scores the items of the clusters nearest the user instead of the whole catalogue.
INDEX_MIN_ITEMS = 20_000
PROBE_SHARE = 0.08     # share of the clusters a user's candidates are drawn from
FEW_USERS = 4          # batches up to this size gather the probed items instead of looping over clusters
ROWS_PER_STEP = 512    # users per step of the indexed candidates and the pool's scores (bounds their buffers)


def one_blas_thread():
    """A context in which BLAS runs on one thread (the controller is built once: cheap to enter)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def kmeans(x: np.ndarray, n_clusters: int, iterations: int = 8, sample: int = 50_000, seed: int = 0) -> np.ndarray:
    """(n_clusters, dims) centroids of Lloyd's k-means, fitted on a random sample of the rows."""
    rng = np.random.default_rng(seed)
    fit = x[np.sort(rng.choice(len(x), size=min(sample, len(x)), replace=False))]
    centroids = fit[rng.choice(len(fit), size=n_clusters, replace=False)].copy()
    for _ in range(iterations):  # a few iterations: the clusters only have to group neighbours
        labels = nearest(fit, centroids)
        counts = np.bincount(labels, minlength=n_clusters)
        sums = sp.csr_matrix((np.ones(len(fit), np.float32), (labels, np.arange(len(fit)))),
                             shape=(n_clusters, len(fit))) @ fit
        empty = counts == 0
        centroids = np.where(empty[:, None], fit[rng.choice(len(fit), size=n_clusters)],
                             sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
    return centroids


def nearest(x: np.ndarray, centroids: np.ndarray, block: int = 16_384) -> np.ndarray:
    """The nearest centroid of each row (blocks of rows bound the (rows, clusters) distances)."""
    half_norm = 0.5 * (centroids * centroids).sum(axis=1)
    out = np.empty(len(x), dtype=np.int64)
    for lo in range(0, len(x), block):  # blocks of rows, not a loop over rows
        out[lo:lo + block] = np.argmax(x[lo:lo + block] @ centroids.T - half_norm, axis=1)
    return out


class ALSModel(Scorer):
    name = "als"
    # the item index (None: every item is scored); absent from bundles written before it existed
    index_centroids_: np.ndarray | None = None
    index_ptr_: np.ndarray | None = None      # (clusters + 1,) items of cluster c: index_items_[ptr[c]:ptr[c+1]]
    index_items_: np.ndarray | None = None    # (n_items,) item codes, cluster by cluster
    index_factors_: np.ndarray | None = None  # (n_items, k) item factors in index_items_ order

    def __init__(self, factors: int = 128, iterations: int = 15, regularization: float = 1.0,
                 alpha: float = 1.0, random_state: int = 42, num_threads: int = 0) -> None:
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.random_state = random_state
        self.num_threads = num_threads

    def fit(self, user_items: sp.csr_matrix, progress=None) -> "ALSModel":
        from implicit.cpu.als import AlternatingLeastSquares

        # implicit's own threads do the work; a multi-threaded BLAS under them is 4-7x slower
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors, iterations=self.iterations, regularization=self.regularization,
                alpha=self.alpha, random_state=self.random_state, num_threads=self.num_threads,
                calculate_training_loss=False,
            )
            model.fit(user_items.astype(np.float32).tocsr(), show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self._precompute()
        return self

    def _precompute(self) -> None:
        v = self.item_factors_
        self.gram_ = (v.T @ v).astype(np.float64)
        norms = np.linalg.norm(v, axis=1)
        self.item_norms_ = np.where(norms > 0, norms, 1.0).astype(np.float32)
        if len(v) >= INDEX_MIN_ITEMS:
            self.build_index()

    def build_index(self, n_clusters: int | None = None) -> None:
        """Cluster the items by their factors (k-means), so candidates come from the clusters whose
        centroids score highest for the user: an inverted-file index for maximum inner product."""
        v = self.item_factors_
        c = n_clusters or int(np.clip(2 * np.sqrt(len(v)), 16, 1024))
        labels = nearest(v, kmeans(v, c))
        order = np.argsort(labels, kind="stable")
        self.index_centroids_ = np.ascontiguousarray(
            sp.csr_matrix((np.ones(len(v), np.float32), (labels, np.arange(len(v)))), shape=(c, len(v))) @ v
            / np.maximum(np.bincount(labels, minlength=c), 1)[:, None], dtype=np.float32)
        self.index_ptr_ = np.r_[0, np.cumsum(np.bincount(labels, minlength=c))].astype(np.int64)
        self.index_items_ = order.astype(np.int64)
        self.index_factors_ = np.ascontiguousarray(v[order])

    def fold_in(self, history: sp.csr_matrix) -> np.ndarray:
        """Factors for users from their history alone: one ALS half-step per user, solved as
        one stacked system on one BLAS thread (threads only wait on each other at k = 128)."""
        v = self.item_factors_
        k = v.shape[1]
        out = np.zeros((history.shape[0], k), dtype=np.float32)
        rows = np.flatnonzero(np.diff(history.indptr) > 0)
        if not len(rows):
            return out
        a = np.empty((len(rows), k, k))
        b = np.empty((len(rows), k))
        with one_blas_thread():
            for j, row in enumerate(rows):  # only the users folded in (a request's, a validation sample)
                lo, hi = history.indptr[row], history.indptr[row + 1]
                vi = v[history.indices[lo:hi]].astype(np.float64)  # the user's items only
                conf = self.alpha * history.data[lo:hi].astype(np.float64)
                a[j] = self.gram_ + (vi.T * (conf - 1.0)) @ vi
                b[j] = vi.T @ (1.0 + conf)
            a += self.regularization * np.eye(k)
            out[rows] = np.linalg.solve(a, b[..., None])[..., 0]
        return out

    def user_vectors(self, users: UserBatch) -> np.ndarray:
        known = users.codes >= 0
        vecs = np.zeros((len(users), self.item_factors_.shape[1]), dtype=np.float32)
        if known.any():
            vecs[known] = self.user_factors_[users.codes[known]]
        if (~known).any():
            vecs[~known] = self.fold_in(users.history[np.flatnonzero(~known)])
        return vecs

    def catalogue_scores(self, users: UserBatch) -> np.ndarray:
        """(batch, n_items) user-item products: every item of the catalogue (the exhaustive
        candidate step of catalogues without an index)."""
        vecs = self.vectors(users)
        if len(users) > SMALL_BATCH:
            return vecs @ self.item_factors_.T
        with one_blas_thread():
            return vecs @ self.item_factors_.T

    def vectors(self, users: UserBatch) -> np.ndarray:
        """The users' factors, computed once per batch (fold-in for unseen users)."""
        if "als_vectors" not in users.derived:
            users.derived["als_vectors"] = self.user_vectors(users)
        return users.derived["als_vectors"]

    def probes(self, k: int) -> int:
        """Clusters a user's candidates are drawn from: PROBE_SHARE of them, and enough for k items."""
        c = len(self.index_centroids_)
        per_cluster = len(self.index_items_) / c
        return int(min(c, max(np.ceil(PROBE_SHARE * c), np.ceil(4 * k / per_cluster))))

    def candidates(self, users: UserBatch, k: int, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self.index_items_ is None or self.probes(k) >= len(self.index_centroids_) // 2:
            if "als" not in users.derived:  # shared by the plain and the "allowed only" calls
                users.derived["als"] = self.catalogue_scores(users)
            return top_k_per_row(users.derived["als"], k, banned)
        return self.indexed_candidates(self.vectors(users), k, banned)

    def indexed_candidates(self, vecs: np.ndarray, k: int, banned: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, items): the top k of each user among the items of its best-scoring clusters."""
        if len(vecs) > ROWS_PER_STEP:  # a validation window asks for thousands at once: bounded buffers
            parts = [self.indexed_candidates(vecs[lo:lo + ROWS_PER_STEP], k, banned)
                     for lo in range(0, len(vecs), ROWS_PER_STEP)]
            return (np.concatenate([r + lo for (r, _), lo in zip(parts, range(0, len(vecs), ROWS_PER_STEP))]),
                    np.concatenate([i for _, i in parts]))
        b, p = len(vecs), self.probes(k)
        with one_blas_thread():  # many small products: threads only wait on each other
            probe = top_k_columns(vecs @ self.index_centroids_.T, p)          # (b, p) cluster per slot
            if b <= FEW_USERS:
                return self._few_users_candidates(vecs, probe, k, banned)
            best = np.full((b, p, k), -np.inf, dtype=np.float32)
            items = np.full((b, p, k), -1, dtype=np.int64)
            rows, slots = np.divmod(np.arange(b * p), p)
            flat = probe.ravel()
            order = np.argsort(flat, kind="stable")
            clusters, starts = np.unique(flat[order], return_index=True)
            ends = np.r_[starts[1:], len(order)]
            for c, lo, hi in zip(clusters, starts, ends):  # the probed clusters (at most C), not items
                rr, ss = rows[order[lo:hi]], slots[order[lo:hi]]
                i0, i1 = self.index_ptr_[c], self.index_ptr_[c + 1]
                if i1 == i0:
                    continue
                scores = vecs[rr] @ self.index_factors_[i0:i1].T
                codes = self.index_items_[i0:i1]
                if banned is not None:
                    scores[:, banned[codes]] = -np.inf
                m = min(k, i1 - i0)
                top = top_k_columns(scores, m) if m < i1 - i0 else np.broadcast_to(np.arange(m), (len(rr), m))
                best[rr[:, None], ss[:, None], np.arange(m)] = np.take_along_axis(scores, top, axis=1)
                items[rr[:, None], ss[:, None], np.arange(m)] = codes[top]
        best, items = best.reshape(b, -1), items.reshape(b, -1)
        pick = top_k_columns(best, min(k, best.shape[1]))
        r = np.repeat(np.arange(b), pick.shape[1])
        i = np.take_along_axis(items, pick, axis=1).ravel()
        ok = np.isfinite(np.take_along_axis(best, pick, axis=1).ravel()) & (i >= 0)
        return r[ok], i[ok]

    def _few_users_candidates(self, vecs: np.ndarray, probe: np.ndarray, k: int,
                              banned: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """indexed_candidates for a request or two: the probed clusters' items gathered, one
        product per user (no loop over clusters)."""
        from recsys.batches import gather_ranges

        rows, pos = gather_ranges(self.index_ptr_[probe.ravel()], self.index_ptr_[probe.ravel() + 1])
        rows = rows // probe.shape[1]  # slot -> user
        scores = np.einsum("ij,ij->i", self.index_factors_[pos], vecs[rows])
        codes = self.index_items_[pos]
        if banned is not None:
            scores = np.where(banned[codes], -np.inf, scores)
        out_r, out_i = [], []
        for r in range(len(vecs)):  # at most FEW_USERS rows
            mine = np.flatnonzero(rows == r)
            top = mine[top_k_columns(scores[mine][None, :], min(k, len(mine)))[0]] if len(mine) else mine
            top = top[np.isfinite(scores[top])]
            out_r.append(np.full(len(top), r, dtype=np.int64))
            out_i.append(codes[top])
        return np.concatenate(out_r), np.concatenate(out_i)

    def score(self, users: UserBatch, candidates: np.ndarray) -> np.ndarray:
        c = np.maximum(candidates, 0)
        if "als" in users.derived:  # the catalogue's scores are there already
            s = np.take_along_axis(users.derived["als"], c, axis=1)
        else:  # the pool's items only: (batch, pool) dot products, in steps of rows (bounded memory)
            vecs = self.vectors(users)
            s = np.empty(c.shape, dtype=np.float32)
            for lo in range(0, len(c), ROWS_PER_STEP):
                s[lo:lo + ROWS_PER_STEP] = np.matmul(np.take(self.item_factors_, c[lo:lo + ROWS_PER_STEP], axis=0),
                                                     vecs[lo:lo + ROWS_PER_STEP, :, None])[..., 0]
        return np.where(candidates >= 0, s, 0.0)

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        v = self.item_factors_
        with one_blas_thread():
            dots = v @ v[item]
        sims = dots / (self.item_norms_ * self.item_norms_[item])
        sims[item] = -np.inf
        idx = top_n(sims, n)
        return idx, sims[idx]
