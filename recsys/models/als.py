"""Matrix factorisation with implicit's ALS, plus fold-in for users unseen at training."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController, threadpool_limits

from recsys.models.base import Scorer, UserBatch, top_k_per_row, top_n

# A request's (1, k) x (k, n_items) product takes 0.3 ms on one OpenBLAS thread and ~12 ms on two
# when the cores are busy (thread wake-ups dominate such small products): small batches use one.
SMALL_BATCH = 64
_controller: ThreadpoolController | None = None


def one_blas_thread():
    """A context in which BLAS runs on one thread (the controller is built once: cheap to enter)."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


class ALSModel(Scorer):
    name = "als"

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
        """(batch, n_items) user-item products: one matrix product a batch, shared by
        candidates() and score() (the pipeline sizes batches so this stays bounded)."""
        if "als" not in users.derived:
            vecs = self.user_vectors(users)
            if len(users) > SMALL_BATCH:
                users.derived["als"] = vecs @ self.item_factors_.T
            else:
                with one_blas_thread():
                    users.derived["als"] = vecs @ self.item_factors_.T
        return users.derived["als"]

    def candidates(self, users: UserBatch, k: int, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        return top_k_per_row(self.catalogue_scores(users), k, banned)

    def score(self, users: UserBatch, candidates: np.ndarray) -> np.ndarray:
        s = np.take_along_axis(self.catalogue_scores(users), np.maximum(candidates, 0), axis=1)
        return np.where(candidates >= 0, s, 0.0)

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        v = self.item_factors_
        with one_blas_thread():
            dots = v @ v[item]
        sims = dots / (self.item_norms_ * self.item_norms_[item])
        sims[item] = -np.inf
        idx = top_n(sims, n)
        return idx, sims[idx]
