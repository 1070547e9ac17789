"""Evaluation baselines, implemented independently of the product's models, each with
`fit(train_df)` and `recommend(user_ids, as_of, n, exclude=None)`:

- `Popularity`: the most-bought items (by distinct buyers or baskets);
- `BuyAgain`: the user's own items by recency-decayed purchase count, filled with popularity;
- `TIFUKNN` (Hu et al., "Modeling Personalized Item Frequency Information for Next-basket
  Recommendation", SIGIR 2020): a strong baseline for items new to the customer on stores whose
  customers rarely rebuy. Each user is a vector over items built from their baskets:

  * the baskets, oldest first, are cut into ``g = ceil(n / m)`` groups of ``m`` consecutive baskets
    counted from the most recent one (the oldest group holds the remainder);
  * a group's vector is ``1/|group| * sum_j r_b ** (age of basket j in the group) * basket_j``
    (a basket is the 0/1 vector of its distinct items; the group's latest basket has age 0);
  * the user's vector is ``1/g * sum_i r_g ** (age of group i) * group_i`` (latest group: age 0).

  A user's scores are ``alpha * own vector + (1 - alpha) * mean of the vectors of the k nearest
  users`` (cosine similarity of the user vectors, or Euclidean distance as in the authors' code;
  ``grouping="count"`` follows that code's grouping too: see `basket_weights`), so the neighbours
  bring items the user never bought. Everything is sparse matrix algebra; neighbours are found for
  the asked users only, a chunk of users at a time (memory ``chunk x users``). Lists are filled
  with popular items.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.evaluation.splits import baskets_of, check_columns
from recsys.io.schema import ITEM_ID, TICKET_ID, TIMESTAMP, USER_ID

__all__ = ["BuyAgain", "Popularity", "TIFUKNN", "basket_weights"]


def _popularity_counts(train: pd.DataFrame, by: str) -> pd.Series:
    g = train.groupby(ITEM_ID, sort=False)
    if by == "buyers":
        return g[USER_ID].nunique()
    if by == "lines":
        return g.size()
    if by == "baskets":
        return g[TICKET_ID].nunique() if TICKET_ID in train.columns else g[TIMESTAMP].nunique()
    if by == "quantity":
        return g["quantity"].sum()
    raise ValueError(f"unknown popularity measure {by!r} (buyers, lines, baskets, quantity)")


class _PopularityRanking:
    """Items ranked by a popularity count (ties: more lines first, then item id)."""

    def __init__(self, train: pd.DataFrame, by: str = "buyers"):
        counts = _popularity_counts(train, by)
        lines = train.groupby(ITEM_ID, sort=False).size().reindex(counts.index)
        frame = pd.DataFrame({"c": counts.to_numpy(dtype=float), "l": lines.to_numpy(dtype=float),
                              "id": counts.index.astype(str)})
        frame = frame.sort_values(["c", "l", "id"], ascending=[False, False, True], kind="mergesort")
        self.items = frame["id"].to_numpy(dtype=object)
        self.rank = pd.Series(np.arange(len(self.items)), index=pd.Index(self.items))

    def top(self, n: int, exclude: Iterable | None = None, already: Iterable | None = None) -> list:
        skip = set(exclude or ()) | set(already or ())
        if not skip:
            return list(self.items[:n])
        out = []
        for x in self.items:
            if x not in skip:
                out.append(x)
                if len(out) == n:
                    break
        return out


class Popularity:
    """Most popular items of the training frame, the same list for everyone (minus ``exclude``).

    ``by``: "buyers" (distinct users, the default), "lines", "baskets" or "quantity".
    """

    def __init__(self, by: str = "buyers"):
        self.by = by
        self.name = f"popularity({by})"

    def fit(self, train: pd.DataFrame) -> "Popularity":
        check_columns(train, (USER_ID, ITEM_ID))
        self.ranking_ = _PopularityRanking(train, self.by)
        return self

    def recommend(self, user_ids: Sequence[str], as_of: Any = None, n: int = 10,
                  exclude: Sequence[Iterable] | None = None) -> list[list[str]]:
        return [self.ranking_.top(n, exclude[i] if exclude is not None else None) for i in range(len(user_ids))]


class BuyAgain:
    """The user's own past items, by purchase count with exponential recency decay.

    Each past line of the user (timestamp <= as-of) weighs ``0.5 ** (age_days / half_life_days)``
    relative to the as-of time; items are ranked by total weight, ties broken by popularity
    (distinct buyers in the training frame).  The list is filled with popular items.  Users
    unknown to the training frame get popularity only.
    """

    def __init__(self, half_life_days: float = 60, popularity_by: str = "buyers", fill: bool = True):
        self.half_life_days = half_life_days
        self.popularity_by = popularity_by
        self.fill = fill
        self.name = f"buy_again(hl={half_life_days:g})"

    def fit(self, train: pd.DataFrame) -> "BuyAgain":
        check_columns(train, (USER_ID, ITEM_ID, TIMESTAMP))
        self.popularity_ = _PopularityRanking(train, self.popularity_by)
        items = pd.Index(self.popularity_.items)  # code = popularity rank
        codes = items.get_indexer(train[ITEM_ID].astype(str))
        order = np.argsort(train[USER_ID].to_numpy(), kind="mergesort")
        users = train[USER_ID].to_numpy()[order]
        self.items_ = items.to_numpy(dtype=object)
        self.codes_ = codes[order]
        self.times_ = train[TIMESTAMP].to_numpy().astype("datetime64[ns]")[order]
        uniq, start = np.unique(users, return_index=True)
        end = np.append(start[1:], len(users))
        self.user_slices_ = {u: (s, e) for u, s, e in zip(uniq, start, end)}
        return self

    def scores(self, user_id: str, as_of: Any) -> tuple[np.ndarray, np.ndarray]:
        """(item codes, decayed counts) of the user's history before/at ``as_of``."""
        s, e = self.user_slices_.get(user_id, (0, 0))
        codes, times = self.codes_[s:e], self.times_[s:e]
        if as_of is not None:
            keep = times <= np.datetime64(pd.Timestamp(as_of), "ns")
            codes, times = codes[keep], times[keep]
            age = (np.datetime64(pd.Timestamp(as_of), "ns") - times) / np.timedelta64(1, "D")
        else:
            age = np.zeros(len(times))
        w = np.power(0.5, age / self.half_life_days)
        uniq, inv = np.unique(codes, return_inverse=True)
        return uniq, np.bincount(inv, weights=w, minlength=len(uniq))

    def recommend(self, user_ids: Sequence[str], as_of: Any = None, n: int = 10,
                  exclude: Sequence[Iterable] | None = None) -> list[list[str]]:
        as_of_arr = [None] * len(user_ids) if as_of is None else list(as_of)
        out = []
        for i, u in enumerate(user_ids):
            ex = set(exclude[i]) if exclude is not None else set()
            codes, score = self.scores(u, as_of_arr[i])
            order = np.lexsort((codes, -score))  # codes are popularity ranks: ties -> more popular
            own = [x for x in self.items_[codes[order]] if x not in ex][:n]
            if self.fill and len(own) < n:
                own += self.popularity_.top(n - len(own), ex, own)
            out.append(own)
        return out


def basket_weights(n_baskets: np.ndarray, rank: np.ndarray, group_size: int, within_decay: float,
                   group_decay: float, grouping: str = "size") -> np.ndarray:
    """TIFU weight of each basket from its user's basket count and its rank (0 = oldest).

    ``grouping="size"`` (the paper): groups of ``group_size`` baskets counted from the latest, the
    oldest group holds the remainder, basket decay within a group.  ``grouping="count"`` (the
    authors' code): ``group_size`` near-equal groups (each basket its own group when there are
    fewer), the larger groups last, basket decay over the whole history and group decay
    ``r_g ** (group_size - 1 - group)``.
    """
    n = n_baskets.astype(np.int64)
    j = rank.astype(np.int64)
    if grouping == "size":
        age = n - 1 - j                                  # 0 = the user's latest basket
        group_age, in_group_age = np.divmod(age, group_size)
        n_groups = -(-n // group_size)                   # ceil
        size = np.where(group_age == n_groups - 1, n - (n_groups - 1) * group_size, group_size)
        return (group_decay ** group_age / n_groups) * (within_decay ** in_group_age / size)
    if grouping == "count":
        n_groups = np.minimum(n, group_size)
        base = n // n_groups
        small = n_groups - (n - base * n_groups)          # groups of `base` baskets, then base + 1
        edge = small * base
        group = np.where(j < edge, j // base, small + (j - edge) // (base + 1))
        size = np.where(j < edge, base, base + 1)
        return (within_decay ** (n - 1 - j) * group_decay ** (group_size - 1 - group)) / (size * n_groups)
    raise ValueError(f"grouping must be 'size' or 'count', got {grouping!r}")


class TIFUKNN:
    """TIFU-KNN: time-decayed, group-decayed user vectors blended with their nearest users'.

    ``group_size`` (m), ``within_decay`` (r_b), ``group_decay`` (r_g), ``k`` neighbours and
    ``alpha`` (weight of the user's own vector); the defaults are the paper's for Ta Feng.  A
    user's history is their lines in the training frame (the protocol's splits hold none after
    the as-of time, so ``as_of`` is not needed).  Users unknown to the training frame get
    popularity (by ``popularity_by``), which also breaks ties and fills short lists.
    """

    def __init__(self, group_size: int = 7, within_decay: float = 0.9, group_decay: float = 0.7,
                 k: int = 300, alpha: float = 0.7, grouping: str = "size", metric: str = "cosine",
                 popularity_by: str = "buyers", chunk: int = 512):
        if group_size < 1 or k < 0 or not 0 <= alpha <= 1 or chunk < 1:
            raise ValueError("need group_size >= 1, k >= 0, 0 <= alpha <= 1 and chunk >= 1")
        if grouping not in ("size", "count") or metric not in ("cosine", "euclidean"):
            raise ValueError("grouping must be 'size' or 'count', metric 'cosine' or 'euclidean'")
        self.group_size, self.within_decay, self.group_decay = group_size, within_decay, group_decay
        self.k, self.alpha, self.grouping, self.metric = k, alpha, grouping, metric
        self.popularity_by, self.chunk = popularity_by, chunk
        self.name = (f"tifu_knn(m={group_size},rb={within_decay:g},rg={group_decay:g},"
                     f"k={k},alpha={alpha:g},{grouping},{metric})")

    def fit(self, train: pd.DataFrame) -> "TIFUKNN":
        check_columns(train, (USER_ID, ITEM_ID, TIMESTAMP))
        self.popularity_ = _PopularityRanking(train, self.popularity_by)
        self.items_ = self.popularity_.items           # column = popularity rank: ties -> popular
        item_index = pd.Index(self.items_)
        item = item_index.get_indexer(train[ITEM_ID].astype(str))
        user, users = pd.factorize(train[USER_ID].astype(str))
        self.user_index_ = pd.Index(users)
        basket, _ = pd.factorize(baskets_of(train))
        ts = train[TIMESTAMP].to_numpy().astype("datetime64[ns]").astype(np.int64)

        # one row per basket: its user and time; ranked per user, oldest first
        n_b = int(basket.max()) + 1 if len(basket) else 0
        b_user = np.zeros(n_b, dtype=np.int64)
        b_user[basket] = user
        b_time = np.full(n_b, np.iinfo(np.int64).max)
        np.minimum.at(b_time, basket, ts)
        order = np.lexsort((np.arange(n_b), b_time, b_user))
        n_per_user = np.bincount(b_user, minlength=len(users))
        first = np.concatenate([[0], np.cumsum(n_per_user)[:-1]])
        rank = np.empty(n_b, dtype=np.int64)
        rank[order] = np.arange(n_b) - first[b_user[order]]
        w = basket_weights(n_per_user[b_user], rank, self.group_size, self.within_decay, self.group_decay,
                           self.grouping)

        # a basket is the 0/1 vector of its distinct items: one entry per (basket, item)
        pairs = np.unique(basket.astype(np.int64) * len(item_index) + item)
        pb, pi = np.divmod(pairs, len(item_index))
        shape = (len(users), len(item_index))
        self.vectors_ = sparse.csr_matrix((w[pb], (b_user[pb], pi)), shape=shape)
        self.vectors_.sum_duplicates()
        norms = np.sqrt(np.asarray(self.vectors_.multiply(self.vectors_).sum(axis=1)).ravel())
        if self.metric == "cosine":
            self.unit_ = (sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ self.vectors_).astype(np.float32).tocsr()
        else:   # -|a - b|^2 = 2 a.b - |a|^2 - |b|^2: the same dense product, shifted by the norms
            self.unit_ = self.vectors_.astype(np.float32).tocsr()
        self.sq_norms_ = (norms ** 2).astype(np.float32)
        return self

    def scores(self, rows: np.ndarray) -> np.ndarray:
        """Dense (len(rows) x items) TIFU-KNN scores of the users at ``rows`` of the user index."""
        own = self.vectors_[rows].toarray()
        n_users = self.vectors_.shape[0]
        k = min(self.k, n_users - 1)
        if k <= 0 or self.alpha == 1:
            return own
        sim = (self.unit_ @ self.unit_[rows].T.toarray()).T      # (rows x users), dense
        if self.metric == "euclidean":
            sim = 2 * sim - self.sq_norms_[None, :] - self.sq_norms_[rows][:, None]
        sim[np.arange(len(rows)), rows] = -np.inf                 # never one's own neighbour
        nearest = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        mean = sparse.csr_matrix((np.full(nearest.size, 1.0 / k), nearest.ravel(),
                                  np.arange(0, nearest.size + 1, k)), shape=(len(rows), n_users))
        return self.alpha * own + (1 - self.alpha) * (mean @ self.vectors_).toarray()

    def recommend(self, user_ids: Sequence[str], as_of: Any = None, n: int = 10,
                  exclude: Sequence[Iterable] | None = None) -> list[list[str]]:
        rows = self.user_index_.get_indexer([str(u) for u in user_ids])
        item_index = pd.Index(self.items_)
        out: list[list[str]] = [[] for _ in user_ids]
        known = np.flatnonzero(rows >= 0)
        for start in range(0, len(known), self.chunk):
            idx = known[start:start + self.chunk]
            score = self.scores(rows[idx])
            if exclude is not None:
                for r, i in enumerate(idx):
                    codes = item_index.get_indexer(list(exclude[i]))
                    score[r, codes[codes >= 0]] = 0.0
            out_chunk = _top_positive(score, n)
            for r, i in enumerate(idx):
                out[i] = list(self.items_[out_chunk[r]])
        for i in range(len(user_ids)):
            if len(out[i]) < n:
                ex = set(exclude[i]) if exclude is not None else set()
                out[i] += self.popularity_.top(n - len(out[i]), ex, out[i])
        return out


def _top_positive(score: np.ndarray, n: int) -> list[np.ndarray]:
    """Per row, the columns of the ``n`` highest positive scores, best first; ties go to the lower
    column (the more popular item), also at the n-th place."""
    n = min(n, score.shape[1])
    if n == 0 or score.size == 0:
        return [np.zeros(0, dtype=np.int64) for _ in range(len(score))]
    nth = -np.partition(-score, n - 1, axis=1)[:, n - 1]
    r, c = np.nonzero((score >= nth[:, None]) & (score > 0))   # the top n and any ties with the n-th
    s = score[r, c]
    order = np.lexsort((c, -s, r))
    r, c = r[order], c[order]
    starts = np.searchsorted(r, np.arange(len(score)))
    keep = np.arange(len(r)) - starts[r] < n
    r, c = r[keep], c[keep]
    return np.split(c, np.searchsorted(r, np.arange(1, len(score))))
