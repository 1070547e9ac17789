"""Matrix factorisation with implicit's ALS, plus fold-in for users unseen at training."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.arrays import CsrRows, top_k_per_row, top_n
from recsys.config import TuningConfig
from recsys.models.base import FitProgress, Scorer, UserBatch
from recsys.models.data import TrainingData
from recsys.models.item_index import ItemIndex
from recsys.process import one_blas_thread

# Catalogues this big get an item index for the candidate step: a request then scores the items
# of the clusters nearest the user instead of the whole catalogue.
INDEX_MIN_ITEMS = 20_000
SCORE_CELLS = 1 << 20  # floats of the pool's factors gathered per step when scoring a pool


class ALSModel(Scorer):
    name = "als"
    index_: ItemIndex | None = None  # None: every item is scored

    def __init__(self, factors: int = 128, iterations: int = 5, regularization: float = 1.0,
                 alpha: float = 1.0, random_state: int = 42, num_threads: int = 0) -> None:
        self.factors = factors
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.random_state = random_state
        self.num_threads = num_threads

    def fit(self, data: TrainingData, progress: FitProgress | None = None) -> "ALSModel":
        from implicit.cpu.als import AlternatingLeastSquares

        # implicit's own threads do the work; a multi-threaded BLAS under them is 4-7x slower (a
        # request never changes BLAS threads: a serving process sets one thread once, at its start)
        with one_blas_thread():
            model = AlternatingLeastSquares(
                factors=self.factors, iterations=self.iterations, regularization=self.regularization,
                alpha=self.alpha, random_state=self.random_state, num_threads=self.num_threads,
                calculate_training_loss=False,
            )
            model.fit(data.user_items(), show_progress=False)
        return self.set_factors(model.user_factors, model.item_factors)

    def set_factors(self, user_factors: np.ndarray, item_factors: np.ndarray) -> "ALSModel":
        """The learned attributes from user and item factors (the one assembly step of every
        engine that computes them): the item Gram matrix for fold-in, the norms for similarity,
        and the item index of a big catalogue."""
        self.user_factors_ = np.ascontiguousarray(user_factors, dtype=np.float32)
        self.item_factors_ = v = np.ascontiguousarray(item_factors, dtype=np.float32)
        self.gram_ = (v.T @ v).astype(np.float64)
        norms = np.linalg.norm(v, axis=1)
        self.item_norms_ = np.where(norms > 0, norms, 1.0).astype(np.float32)
        self.index_ = ItemIndex.build(v) if len(v) >= INDEX_MIN_ITEMS else None
        return self

    def fold_in(self, history: "sp.spmatrix | CsrRows") -> np.ndarray:
        """Factors for users from their history alone: the ALS half-step implicit's solver takes
        for a user, (VᵀV + Vᵀ(C - I)V + λI) x = Vᵀ C p with C = alpha x confidence, solved as one
        stacked system."""
        history = CsrRows.of(history)
        v = self.item_factors_
        k = v.shape[1]
        out = np.zeros((history.shape[0], k), dtype=np.float32)
        rows = np.flatnonzero(np.diff(history.indptr) > 0)
        if not len(rows):
            return out
        a = np.empty((len(rows), k, k))
        b = np.empty((len(rows), k))
        for j, row in enumerate(rows):  # only the users folded in (a request's, a validation sample)
            lo, hi = history.indptr[row], history.indptr[row + 1]
            vi = v[history.indices[lo:hi]].astype(np.float64)  # the user's items only
            conf = self.alpha * history.data[lo:hi].astype(np.float64)
            a[j] = self.gram_ + (vi.T * (conf - 1.0)) @ vi
            b[j] = vi.T @ conf
        a += self.regularization * np.eye(k)
        out[rows] = np.linalg.solve(a, b[..., None])[..., 0]
        return out

    def vectors(self, batch: UserBatch) -> np.ndarray:
        """The users' factors, computed once per batch (fold-in for users unseen at training)."""
        if batch.cache.als_vectors is None:
            known = batch.codes >= 0
            vecs = np.zeros((len(batch), self.item_factors_.shape[1]), dtype=np.float32)
            if known.any():
                vecs[known] = self.user_factors_[batch.codes[known]]
            if (~known).any():
                vecs[~known] = self.fold_in(batch.history.take(np.flatnonzero(~known)))
            batch.cache.als_vectors = vecs
        return batch.cache.als_vectors

    def catalogue_scores(self, batch: UserBatch) -> np.ndarray:
        """(batch, n_items) scores of every item of the catalogue (the exhaustive candidate step),
        computed once per batch: the plain and the "allowed only" candidate calls share it."""
        if batch.cache.als_catalogue is None:
            batch.cache.als_catalogue = self.vectors(batch) @ self.item_factors_.T
        return batch.cache.als_catalogue

    def candidates(self, batch: UserBatch, k: int, banned: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self.index_ is None or not self.index_.worth_it(k):
            return top_k_per_row(self.catalogue_scores(batch), k, banned)
        return self.index_.candidates(self.vectors(batch), k, banned)

    def score(self, batch: UserBatch, candidates: np.ndarray, config: TuningConfig | None = None) -> np.ndarray:
        """The pool's dot products, in steps of rows (bounded memory), whatever ran before."""
        c = np.maximum(candidates, 0)
        vecs = self.vectors(batch)
        s = np.empty(c.shape, dtype=np.float32)
        # one (rows, pool, factors) gather per step, kept to ~4 MB: a cache-sized step is ~10x faster than
        # one big gather (hundreds of MB when pools are long), and each row's products do not depend
        # on the step (a default list computed in a batch equals the same customer's request)
        step = max(1, SCORE_CELLS // max(c.shape[1] * self.item_factors_.shape[1], 1))
        for lo in range(0, len(c), step):
            s[lo:lo + step] = np.matmul(np.take(self.item_factors_, c[lo:lo + step], axis=0),
                                        vecs[lo:lo + step, :, None])[..., 0]
        return np.where(candidates >= 0, s, 0.0)

    def similar_items(self, item: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        v = self.item_factors_
        sims = (v @ v[item]) / (self.item_norms_ * self.item_norms_[item])
        sims[item] = -np.inf
        idx = top_n(sims, n)
        return idx, sims[idx]
