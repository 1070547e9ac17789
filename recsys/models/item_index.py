"""An inverted-file index for maximum inner product over item factors: items clustered by
k-means, so a user's candidates come from the clusters whose centroids score highest for them
instead of from the whole catalogue."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.arrays import gather_ranges, top_k_columns

PROBE_SHARE = 0.08     # share of the clusters a user's candidates are drawn from
FEW_USERS = 4          # batches up to this size gather the probed items instead of looping over clusters
ROWS_PER_STEP = 512    # users per step (bounds the (users, probed items) buffers)


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


@dataclass
class ItemIndex:
    """Items grouped by cluster: the items of cluster c are items[ptr[c]:ptr[c + 1]]."""

    centroids: np.ndarray  # (clusters, k) mean factors of each cluster
    ptr: np.ndarray        # (clusters + 1,)
    items: np.ndarray      # (n_items,) item codes, cluster by cluster
    factors: np.ndarray    # (n_items, k) item factors in `items` order

    @classmethod
    def build(cls, item_factors: np.ndarray, n_clusters: int | None = None) -> "ItemIndex":
        v = item_factors
        c = n_clusters or int(np.clip(2 * np.sqrt(len(v)), 16, 1024))
        labels = nearest(v, kmeans(v, c))
        order = np.argsort(labels, kind="stable")
        sizes = np.bincount(labels, minlength=c)
        centroids = sp.csr_matrix((np.ones(len(v), np.float32), (labels, np.arange(len(v)))), shape=(c, len(v))) @ v
        return cls(centroids=np.ascontiguousarray(centroids / np.maximum(sizes, 1)[:, None], dtype=np.float32),
                   ptr=np.r_[0, np.cumsum(sizes)].astype(np.int64), items=order.astype(np.int64),
                   factors=np.ascontiguousarray(v[order]))

    def probes(self, k: int) -> int:
        """Clusters a user's candidates are drawn from: PROBE_SHARE of them, and enough for k items."""
        c = len(self.centroids)
        per_cluster = len(self.items) / c
        return int(min(c, max(np.ceil(PROBE_SHARE * c), np.ceil(4 * k / per_cluster))))

    def worth_it(self, k: int) -> bool:
        """False when k needs half the clusters or more: then scoring every item is as cheap."""
        return self.probes(k) < len(self.centroids) // 2

    def candidates(self, vecs: np.ndarray, k: int, banned: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, items): the top k of each user among the items of its best-scoring clusters."""
        if len(vecs) > ROWS_PER_STEP:  # a validation window asks for thousands at once: bounded buffers
            parts = [self.candidates(vecs[lo:lo + ROWS_PER_STEP], k, banned)
                     for lo in range(0, len(vecs), ROWS_PER_STEP)]
            return (np.concatenate([r + lo for (r, _), lo in zip(parts, range(0, len(vecs), ROWS_PER_STEP))]),
                    np.concatenate([i for _, i in parts]))
        b, p = len(vecs), self.probes(k)
        probe = top_k_columns(vecs @ self.centroids.T, p)          # (b, p) cluster per slot
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
            i0, i1 = self.ptr[c], self.ptr[c + 1]
            if i1 == i0:
                continue
            scores = vecs[rr] @ self.factors[i0:i1].T
            codes = self.items[i0:i1]
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
        """candidates() for a request or two: the probed clusters' items gathered, one product per
        user (no loop over clusters)."""
        rows, pos = gather_ranges(self.ptr[probe.ravel()], self.ptr[probe.ravel() + 1])
        rows = rows // probe.shape[1]  # slot -> user
        scores = np.einsum("ij,ij->i", self.factors[pos], vecs[rows])
        codes = self.items[pos]
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
