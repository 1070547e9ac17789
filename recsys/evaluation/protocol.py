"""Offline evaluation: splits, ranking metrics, significance, calibration and baselines.

The protocol works on a *cleaned* canonical frame (see :mod:`recsys.schema`): returns and
non-product items (mean price 0) already removed.

Scenarios
---------
* **Loyal split** (:func:`make_loyal_split`): ``cutoff = last timestamp - test_days``; the training
  frame is every line with ``timestamp < cutoff``; the test users are loyal users with lines on
  both sides of the cutoff; the ground truth is the set of distinct items a test user bought at or
  after the cutoff; every user is asked at the cutoff time.  Two modes:

  - ``"all"``: repeat purchases count;
  - ``"new"`` (new-to-user): both the recommended lists and the ground truth exclude the items the
    user bought before the cutoff (``split.known``); users left with no new item are dropped.

* **New customers** (:func:`make_new_customer_split`): customers of type ``"new"`` that are not
  also loyal users and have at least two baskets.  Their history is their first basket; the ground
  truth is the distinct items of their later baskets; the training frame is all loyal lines plus
  those first baskets; each is asked at the time of the first basket.

* **Rolling windows** (:func:`rolling_windows`): earlier loyal splits whose truth windows end at or
  before the test cutoff, for choosing hyper-parameters without looking at the test window.

Model interface
---------------
:func:`evaluate` accepts either

* an object with ``fit(train_df)`` and ``recommend(user_ids, as_of, n, exclude=None)`` (the
  baselines :class:`BuyAgain` and :class:`Popularity` are such objects), or
* a callable ``recommend_fn(train_df) -> scorer`` where ``scorer`` has the signature of
  ``recommend`` above.

``recommend(user_ids, as_of, n, exclude)`` receives the test users (a sequence of str), their
as-of timestamps (``datetime64[ns]`` array, one per user), the list length ``n`` and ``exclude``:
``None`` or one collection of item ids per user that must not be recommended.  It returns one list
of at most ``n`` item ids per user, best first (a 2-D array of item ids also works).  The model is
fitted once per split and then asked for all its test users in one call.

The baselines are :class:`BuyAgain`, :class:`Popularity` and ``TIFUKNN`` (time-decayed user
vectors plus nearest users', from :mod:`recsys.neighbour_baselines`).

Metrics (at every ``k``, mean over users): ``precision``, ``recall``, ``ndcg`` (binary relevance,
ideal DCG over ``min(k, |truth|)``), ``hit_rate``, ``map`` (AP@k normalised by
``min(k, |truth|)``); plus ``coverage`` (distinct recommended items / items in the training frame)
and ``avg_price`` (mean unit price of the recommended items, per user then averaged).  Per-user
values are kept in :class:`EvalResult` for :func:`paired_bootstrap`.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse

from .schema import CUSTOMER_TYPE, ITEM_ID, PRICE, TICKET_ID, TIMESTAMP, USER_ID, DataError

__all__ = [
    "Split",
    "ModeView",
    "EvalResult",
    "BootstrapResult",
    "make_loyal_split",
    "make_new_customer_split",
    "rolling_windows",
    "evaluate",
    "score_recommendations",
    "evaluate_all",
    "format_table",
    "compare",
    "paired_bootstrap",
    "relevance",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "hit_rate_at_k",
    "average_precision_at_k",
    "ranking_metrics",
    "expected_calibration_error",
    "reliability_table",
    "BuyAgain",
    "Popularity",
    "TIFUKNN",
    "DEFAULT_SCENARIOS",
    "METRICS",
]

MODES = ("all", "new")
METRICS = ("precision", "recall", "ndcg", "hit_rate", "map")
#: (split name, mode) pairs evaluated by :func:`evaluate_all` by default.
DEFAULT_SCENARIOS = (("loyal", "all"), ("loyal", "new"), ("new_customers", "all"))

Scorer = Callable[..., Any]


def __getattr__(name: str) -> Any:
    """The nearest-neighbour baselines live in :mod:`recsys.neighbour_baselines` (kept apart
    for size); imported on first use so that module can build on this one."""
    if name == "TIFUKNN":
        from .neighbour_baselines import TIFUKNN

        return TIFUKNN
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ModeView:
    """The test users of a split as seen in one mode ("all" or "new")."""

    users: np.ndarray  # object array of str
    as_of: np.ndarray  # datetime64[ns]
    truth: tuple[frozenset, ...]
    exclude: tuple[frozenset, ...] | None  # items not to recommend (None: nothing excluded)

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True, eq=False)
class Split:
    """A train frame and the test users asked against it.

    ``truth[i]`` is the set of items ``users[i]`` bought in the test period, ``known[i]`` the items
    that user bought before ``as_of[i]`` (their history; excluded in ``"new"`` mode).
    """

    name: str
    train: pd.DataFrame
    users: np.ndarray
    as_of: np.ndarray
    truth: tuple[frozenset, ...]
    known: tuple[frozenset, ...]
    cutoff: pd.Timestamp | None = None
    window_end: pd.Timestamp | None = None
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.users)

    @property
    def catalogue(self) -> pd.Index:
        """Distinct items of the training frame."""
        return pd.Index(pd.unique(self.train[ITEM_ID]))

    def view(self, mode: str = "all") -> ModeView:
        """Users, as-of times, truth and exclusions for ``mode`` ("all" or "new")."""
        if mode == "all":
            return ModeView(self.users, self.as_of, self.truth, None)
        if mode == "new":
            truth = [t - k for t, k in zip(self.truth, self.known)]
            keep = np.array([len(t) > 0 for t in truth], dtype=bool)
            idx = np.flatnonzero(keep)
            return ModeView(
                self.users[idx],
                self.as_of[idx],
                tuple(truth[i] for i in idx),
                tuple(self.known[i] for i in idx),
            )
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    def truth_csr(self, item_index: pd.Index, mode: str = "all") -> sparse.csr_matrix:
        """Ground truth as a (users x items) 0/1 CSR over ``item_index`` (unknown items dropped)."""
        return _sets_to_csr(self.view(mode).truth, item_index)


def _check_columns(df: pd.DataFrame, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {missing} needed for evaluation")


def _baskets(df: pd.DataFrame) -> pd.Series:
    """The basket key of each line: ticket_id if present, else (user, timestamp)."""
    if TICKET_ID in df.columns and df[TICKET_ID].notna().all():
        return df[TICKET_ID].astype(str)
    return df[USER_ID].astype(str) + "|" + df[TIMESTAMP].astype(str)


def _loyal_users(df: pd.DataFrame) -> np.ndarray:
    if CUSTOMER_TYPE not in df.columns:
        return pd.unique(df[USER_ID])
    return pd.unique(df.loc[df[CUSTOMER_TYPE] == "loyal", USER_ID])


def _item_sets(df: pd.DataFrame, users: np.ndarray) -> tuple[frozenset, ...]:
    groups = df.groupby(USER_ID, sort=False)[ITEM_ID].unique()
    empty: frozenset = frozenset()
    return tuple(frozenset(groups[u]) if u in groups.index else empty for u in users)


def make_loyal_split(
    df: pd.DataFrame,
    test_days: float = 28,
    *,
    cutoff: pd.Timestamp | str | None = None,
    window_end: pd.Timestamp | str | None = None,
    name: str = "loyal",
) -> Split:
    """The loyal-customer split: train before the cutoff, truth at/after it.

    ``cutoff`` defaults to the last timestamp of ``df`` minus ``test_days`` days.  ``window_end``
    (exclusive) bounds the truth window; by default it is open (every later line counts), which is
    the test protocol.  :func:`rolling_windows` sets it for earlier validation windows.
    """
    _check_columns(df, (USER_ID, ITEM_ID, TIMESTAMP))
    ts = df[TIMESTAMP]
    if cutoff is None:
        if len(df) == 0:
            raise DataError("cannot split an empty frame")
        cutoff = ts.max() - pd.Timedelta(days=test_days)
    cutoff = pd.Timestamp(cutoff)
    window_end = None if window_end is None else pd.Timestamp(window_end)

    before = (ts < cutoff).to_numpy()
    after = (ts >= cutoff).to_numpy().copy()
    if window_end is not None:
        after &= (ts < window_end).to_numpy()
    train = df.loc[before].reset_index(drop=True)
    test = df.loc[after]

    loyal = _loyal_users(df)
    on_both = set(pd.unique(train[USER_ID])) & set(pd.unique(test[USER_ID]))
    users = np.array(sorted(u for u in loyal if u in on_both), dtype=object)

    return Split(
        name=name,
        train=train,
        users=users,
        as_of=np.full(len(users), cutoff.to_datetime64(), dtype="datetime64[ns]"),
        truth=_item_sets(test[test[USER_ID].isin(users)], users),
        known=_item_sets(train[train[USER_ID].isin(users)], users),
        cutoff=cutoff,
        window_end=window_end,
        info={"test_days": test_days},
    )


def make_new_customer_split(df: pd.DataFrame, *, min_baskets: int = 2, name: str = "new_customers") -> Split:
    """The new-customer split: first basket as history, later baskets as truth.

    Test users are customers of type ``"new"`` who are not also loyal users and have at least
    ``min_baskets`` baskets.  The first basket is the one with the earliest timestamp (ties broken
    by basket id).  Training frame: every loyal line plus the test users' first baskets.
    """
    _check_columns(df, (USER_ID, ITEM_ID, TIMESTAMP, CUSTOMER_TYPE))
    ctype = df[CUSTOMER_TYPE]
    loyal_mask = (ctype == "loyal").to_numpy()
    loyal_users = set(pd.unique(df.loc[loyal_mask, USER_ID]))
    new = df.loc[(ctype == "new").to_numpy() & ~df[USER_ID].isin(loyal_users).to_numpy()].copy()
    new["_basket"] = _baskets(new).to_numpy()

    baskets = (
        new.groupby([USER_ID, "_basket"], sort=False)[TIMESTAMP].min().reset_index()
        .sort_values([USER_ID, TIMESTAMP, "_basket"], kind="mergesort")
    )
    n_baskets = baskets.groupby(USER_ID, sort=False).size()
    eligible = n_baskets.index[n_baskets >= min_baskets]
    first = baskets[baskets[USER_ID].isin(eligible)].drop_duplicates(USER_ID, keep="first")
    first = first.set_index(USER_ID)
    users = np.array(sorted(first.index), dtype=object)

    new = new[new[USER_ID].isin(users)]
    is_first = new["_basket"].to_numpy() == first["_basket"].reindex(new[USER_ID]).to_numpy()
    history = new.loc[is_first].drop(columns="_basket")
    later = new.loc[~is_first]

    train = pd.concat([df.loc[loyal_mask], history], ignore_index=True)
    as_of = first[TIMESTAMP].reindex(users).to_numpy().astype("datetime64[ns]")
    return Split(
        name=name,
        train=train,
        users=users,
        as_of=as_of,
        truth=_item_sets(later, users),
        known=_item_sets(history, users),
        info={"min_baskets": min_baskets, "first_basket": dict(zip(users, first["_basket"].reindex(users)))},
    )


def rolling_windows(df: pd.DataFrame, n_windows: int = 4, test_days: float = 28) -> Iterator[Split]:
    """Earlier loyal validation splits inside the training data of the test split.

    ``df`` is the full cleaned frame (the one given to :func:`make_loyal_split`).  With ``last`` its
    last timestamp, window ``i`` (1..n_windows) has cutoff ``last - (i + 1) * test_days`` and a truth
    window that ends (exclusive) at ``last - i * test_days``: window 1 ends exactly at the test
    cutoff, so no window ever sees a test-period line.  Windows are yielded most recent first;
    windows with no test user are skipped.
    """
    _check_columns(df, (USER_ID, ITEM_ID, TIMESTAMP))
    last = df[TIMESTAMP].max()
    for i in range(1, n_windows + 1):
        end = last - pd.Timedelta(days=test_days * i)
        cutoff = last - pd.Timedelta(days=test_days * (i + 1))
        split = make_loyal_split(
            df[df[TIMESTAMP] < end], test_days, cutoff=cutoff, window_end=end, name=f"window-{i}"
        )
        if len(split):
            yield split


# --------------------------------------------------------------------------------------------
# Ranking metrics
# --------------------------------------------------------------------------------------------


def _sets_to_csr(sets: Sequence[Iterable], item_index: pd.Index) -> sparse.csr_matrix:
    rows, cols = [], []
    for r, s in enumerate(sets):
        codes = item_index.get_indexer(list(s))
        codes = np.unique(codes[codes >= 0])
        rows.append(np.full(len(codes), r, dtype=np.int64))
        cols.append(codes)
    row = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    col = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    m = sparse.csr_matrix(
        (np.ones(len(row), dtype=np.int8), (row, col)), shape=(len(sets), len(item_index))
    )
    m.sort_indices()
    return m


def _lists_to_codes(recs: Sequence[Sequence], item_index: pd.Index, width: int | None = None) -> np.ndarray:
    """Ragged lists of item ids -> (users x width) int array, -1 padded; unknown ids -> -1."""
    width = max((len(r) for r in recs), default=0) if width is None else width
    out = np.full((len(recs), width), -1, dtype=np.int64)
    for u, r in enumerate(recs):
        r = list(r)[:width]
        if r:
            out[u, : len(r)] = item_index.get_indexer(r)
    return out


def relevance(recs: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    """Binary relevance of recommendations and the size of each user's truth.

    Either ``recs`` is a 2-D int array of item indices (-1 = padding) and ``truth`` a (users x items)
    CSR matrix; or ``recs`` is a sequence of item-id lists and ``truth`` a sequence of sets.
    Returns ``(rel, n_truth)``: a bool (users x K) array and an int (users,) array.
    """
    if sparse.issparse(truth):
        t = sparse.csr_matrix(truth)
        t.sort_indices()
        recs = np.asarray(recs, dtype=np.int64)
        if recs.ndim != 2 or recs.shape[0] != t.shape[0]:
            raise ValueError("recs must be a (users x K) array with one row per truth row")
        n_cols = t.shape[1]
        t_rows = np.repeat(np.arange(t.shape[0], dtype=np.int64), np.diff(t.indptr))
        keys = t_rows * n_cols + t.indices.astype(np.int64)  # sorted: rows then sorted indices
        valid = (recs >= 0) & (recs < n_cols)
        q = np.arange(recs.shape[0], dtype=np.int64)[:, None] * n_cols + np.where(valid, recs, 0)
        pos = np.searchsorted(keys, q)
        pos = np.minimum(pos, max(len(keys) - 1, 0))
        rel = valid & (keys[pos] == q) if len(keys) else np.zeros(recs.shape, dtype=bool)
        return rel, np.diff(t.indptr).astype(np.int64)
    truth = list(truth)
    if len(recs) != len(truth):
        raise ValueError("recs and truth must have one entry per user")
    width = max((len(r) for r in recs), default=0)
    rel = np.zeros((len(recs), width), dtype=bool)
    for u, (r, s) in enumerate(zip(recs, truth)):
        s = set(s)
        rel[u, : len(r)] = [x in s for x in r]
    return rel, np.array([len(set(s)) for s in truth], dtype=np.int64)


def _topk(rel: np.ndarray, k: int) -> np.ndarray:
    rel = np.asarray(rel, dtype=bool)
    if rel.shape[1] >= k:
        return rel[:, :k]
    return np.pad(rel, ((0, 0), (0, k - rel.shape[1])))


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    den = np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.zeros_like(np.asarray(num, dtype=float)), where=den > 0)


def precision_at_k(rel: np.ndarray, k: int) -> np.ndarray:
    """Hits in the top k divided by k (a short list is not rewarded)."""
    return _topk(rel, k).sum(axis=1) / k


def recall_at_k(rel: np.ndarray, n_truth: np.ndarray, k: int) -> np.ndarray:
    """Hits in the top k divided by the size of the truth (0 when the truth is empty)."""
    return _safe_div(_topk(rel, k).sum(axis=1), n_truth)


def hit_rate_at_k(rel: np.ndarray, k: int) -> np.ndarray:
    """1 when at least one of the top k is relevant."""
    return _topk(rel, k).any(axis=1).astype(float)


def ndcg_at_k(rel: np.ndarray, n_truth: np.ndarray, k: int) -> np.ndarray:
    """Binary NDCG@k: DCG over the top k, ideal DCG over min(k, |truth|) hits."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = _topk(rel, k) @ discounts
    ideal = np.concatenate([[0.0], np.cumsum(discounts)])[np.minimum(np.asarray(n_truth), k)]
    return _safe_div(dcg, ideal)


def average_precision_at_k(rel: np.ndarray, n_truth: np.ndarray, k: int) -> np.ndarray:
    """AP@k: sum of precision@j at each hit j <= k, divided by min(k, |truth|)."""
    r = _topk(rel, k).astype(float)
    prec = np.cumsum(r, axis=1) / np.arange(1, k + 1)
    return _safe_div((prec * r).sum(axis=1), np.minimum(np.asarray(n_truth), k))


def ranking_metrics(rel: np.ndarray, n_truth: np.ndarray, k: Iterable[int] = (5, 10)) -> dict[str, np.ndarray]:
    """Per-user ``precision@k``, ``recall@k``, ``ndcg@k``, ``hit_rate@k`` and ``map@k`` arrays."""
    out: dict[str, np.ndarray] = {}
    for kk in k:
        out[f"precision@{kk}"] = precision_at_k(rel, kk)
        out[f"recall@{kk}"] = recall_at_k(rel, n_truth, kk)
        out[f"ndcg@{kk}"] = ndcg_at_k(rel, n_truth, kk)
        out[f"hit_rate@{kk}"] = hit_rate_at_k(rel, kk)
        out[f"map@{kk}"] = average_precision_at_k(rel, n_truth, kk)
    return out


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class EvalResult:
    """Metrics of one model on one split and mode."""

    model: str
    split: str
    mode: str
    k: tuple[int, ...]
    users: np.ndarray
    per_user: dict[str, np.ndarray]  # metric name -> array aligned with ``users``
    summary: dict[str, float]  # means of per_user plus coverage@k, avg_price@k, n_users
    recommendations: list[list]  # what the model returned (after exclusion/dedup), per user

    def __getitem__(self, metric: str) -> float:
        return self.summary[metric]

    def as_row(self) -> dict[str, Any]:
        return {"model": self.model, "scenario": self.split, "mode": self.mode, **self.summary}


def _as_scorer(model: Any, train: pd.DataFrame) -> Scorer:
    if hasattr(model, "fit") and hasattr(model, "recommend"):
        fitted = model.fit(train)
        return (fitted if fitted is not None and hasattr(fitted, "recommend") else model).recommend
    if callable(model):
        scorer = model(train)
        if hasattr(scorer, "recommend"):
            return scorer.recommend
        if not callable(scorer):
            raise TypeError("recommend_fn(train) must return a scorer callable")
        return scorer
    raise TypeError("model must have fit/recommend or be a callable recommend_fn(train) -> scorer")


def _clean_lists(raw: Any, n_users: int, n: int, exclude: Sequence[frozenset] | None) -> tuple[list[list], int]:
    if isinstance(raw, np.ndarray):
        raw = raw.tolist()
    raw = list(raw)
    if len(raw) != n_users:
        raise ValueError(f"scorer returned {len(raw)} lists for {n_users} users")
    out, violations = [], 0
    for u, r in enumerate(raw):
        ex = exclude[u] if exclude is not None else ()
        seen: set = set()
        lst = []
        for x in r:
            if x is None or (isinstance(x, float) and math.isnan(x)):
                continue
            x = str(x) if not isinstance(x, str) else x
            if x in seen:
                continue
            if x in ex:
                violations += 1
                continue
            seen.add(x)
            lst.append(x)
            if len(lst) == n:
                break
        out.append(lst)
    return out, violations


def _item_prices(train: pd.DataFrame) -> pd.Series:
    if PRICE not in train.columns:
        return pd.Series(dtype=float)
    return train.groupby(ITEM_ID, sort=False)[PRICE].mean()


def score_recommendations(
    recs: Sequence[Sequence],
    split: Split,
    mode: str = "all",
    k: Iterable[int] = (5, 10),
    *,
    model_name: str = "model",
    prices: pd.Series | None = None,
) -> EvalResult:
    """Metrics of precomputed recommendation lists (one per user of ``split.view(mode)``)."""
    ks = tuple(sorted(set(int(x) for x in k)))
    view = split.view(mode)
    n = max(ks)
    lists, violations = _clean_lists(recs, len(view), n, view.exclude)
    catalogue = split.catalogue
    extra = pd.Index(pd.unique(np.array([x for r in lists for x in r] + [x for t in view.truth for x in t], dtype=object)))
    item_index = catalogue.append(extra.difference(catalogue)) if len(extra) else catalogue
    codes = _lists_to_codes(lists, item_index, n)
    rel, n_truth = relevance(codes, _sets_to_csr(view.truth, item_index))
    per_user = ranking_metrics(rel, n_truth, ks)

    prices = _item_prices(split.train) if prices is None else prices
    price_arr = prices.reindex(item_index).to_numpy(dtype=float)
    summary: dict[str, float] = {"n_users": float(len(view))}
    for name, arr in per_user.items():
        summary[name] = float(arr.mean()) if len(arr) else float("nan")
    n_cat = max(len(catalogue), 1)
    for kk in ks:
        top = codes[:, :kk]
        summary[f"coverage@{kk}"] = float(len(np.unique(top[top >= 0])) / n_cat)
        p = np.where(top >= 0, price_arr[np.maximum(top, 0)], np.nan)
        with warnings.catch_warnings():  # users with an empty list: NaN, ignored below
            warnings.simplefilter("ignore", RuntimeWarning)
            user_price = np.nanmean(p, axis=1) if p.size else np.zeros(0)
        per_user[f"avg_price@{kk}"] = user_price
        summary[f"avg_price@{kk}"] = float(np.nanmean(user_price)) if np.isfinite(user_price).any() else float("nan")
    summary["exclusion_violations"] = float(violations)
    return EvalResult(model_name, split.name, mode, ks, view.users, per_user, summary, lists)


def evaluate(
    model: Any,
    split: Split,
    k: Iterable[int] = (5, 10),
    mode: str = "all",
    *,
    scorer: Scorer | None = None,
    model_name: str | None = None,
) -> EvalResult:
    """Fit ``model`` on ``split.train`` (unless a fitted ``scorer`` is given) and score it.

    ``model``: an object with ``fit``/``recommend`` or a ``recommend_fn(train_df) -> scorer``
    (see the module docstring).  In ``"new"`` mode the scorer receives each user's known items as
    ``exclude``; any excluded or duplicate item it still returns is dropped (and counted in
    ``summary["exclusion_violations"]``).
    """
    ks = tuple(sorted(set(int(x) for x in k)))
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    name = model_name or getattr(model, "name", None) or type(model).__name__
    view = split.view(mode)
    if scorer is None:
        scorer = _as_scorer(model, split.train)
    n = max(ks)
    if len(view):
        exclude = [set(e) for e in view.exclude] if view.exclude is not None else None
        raw = scorer(list(view.users), view.as_of, n, exclude)
    else:
        raw = []
    return score_recommendations(raw, split, mode, ks, model_name=name)


def evaluate_all(
    models: Mapping[str, Any],
    df: pd.DataFrame | None = None,
    *,
    splits: Mapping[str, Split] | None = None,
    scenarios: Iterable[tuple[str, str]] = DEFAULT_SCENARIOS,
    k: Iterable[int] = (5, 10),
    test_days: float = 28,
    return_results: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[tuple[str, str, str], EvalResult]]:
    """A tidy table: one row per model x (scenario, mode), one column per metric.

    Splits are built from ``df`` ("loyal" and "new_customers") unless given in ``splits``.  Each
    model is fitted once per split (the same fit serves both modes).  With ``return_results`` the
    :class:`EvalResult` objects, keyed by ``(model, scenario, mode)``, are returned too (for
    :func:`compare`).
    """
    scenarios = tuple(scenarios)
    if splits is None:
        if df is None:
            raise ValueError("give df or splits")
        splits = {}
        names = {s for s, _ in scenarios}
        if "loyal" in names:
            splits["loyal"] = make_loyal_split(df, test_days)
        if "new_customers" in names:
            if CUSTOMER_TYPE in df.columns:
                splits["new_customers"] = make_new_customer_split(df)
            else:  # no customer types: there are no new customers to evaluate
                scenarios = tuple(sc for sc in scenarios if sc[0] != "new_customers")
    ks = tuple(sorted(set(int(x) for x in k)))
    rows, results = [], {}
    for model_name, model in models.items():
        for split_name in dict.fromkeys(s for s, _ in scenarios):
            split = splits[split_name]
            modes = [m for s, m in scenarios if s == split_name]
            scorer = _as_scorer(model, split.train) if len(split) else (lambda *a: [])
            for mode in modes:
                res = evaluate(model, split, ks, mode, scorer=scorer, model_name=model_name)
                results[(model_name, split_name, mode)] = res
                rows.append(res.as_row())
    table = pd.DataFrame(rows)
    if len(table):
        table["n_users"] = table["n_users"].astype(int)
    return (table, results) if return_results else table


def format_table(table: pd.DataFrame, metrics: Sequence[str] | None = None, digits: int = 3) -> str:
    """A readable fixed-width text rendering of an :func:`evaluate_all` table."""
    if metrics is not None:
        keys = [c for c in ("model", "scenario", "mode", "n_users") if c in table.columns]
        table = table[keys + [m for m in metrics if m not in keys]]
    else:
        table = table.drop(columns=[c for c in ("exclusion_violations",) if c in table.columns
                                    and not table[c].any()])
    return table.to_string(index=False, float_format=lambda x: f"{x:.{digits}f}")


# --------------------------------------------------------------------------------------------
# Significance
# --------------------------------------------------------------------------------------------


class BootstrapResult(NamedTuple):
    mean_diff: float  # mean of a - b
    ci_low: float
    ci_high: float
    p_value: float  # two-sided bootstrap p-value of "no difference" (approximate)


def paired_bootstrap(
    per_user_a: Sequence[float],
    per_user_b: Sequence[float],
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
) -> BootstrapResult:
    """Paired bootstrap over users of ``mean(a - b)``.

    Users are resampled with replacement ``n_boot`` times; the interval is the percentile interval
    at level ``ci``; the p-value is the share of centred bootstrap means at least as far from 0 as
    the observed mean (two-sided).  A CI that contains 0 (p > 0.05) means the difference is noise.
    """
    a = np.asarray(per_user_a, dtype=float)
    b = np.asarray(per_user_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("per-user arrays must be 1-D and of the same length (same users, same order)")
    d = a - b
    if len(d) == 0:
        return BootstrapResult(float("nan"), float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // len(d))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, len(d), size=(stop - start, len(d)))
        means[start:stop] = d[idx].mean(axis=1)
    obs = float(d.mean())
    alpha = (1 - ci) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    centred = means - means.mean()
    p = float(np.mean(np.abs(centred) >= abs(obs) - 1e-12))
    return BootstrapResult(obs, float(lo), float(hi), min(1.0, p))


def compare(result_a: EvalResult, result_b: EvalResult, metric: str = "ndcg@10", **kwargs: Any) -> BootstrapResult:
    """:func:`paired_bootstrap` of two :class:`EvalResult` on their common users."""
    common, ia, ib = np.intersect1d(result_a.users.astype(str), result_b.users.astype(str), return_indices=True)
    return paired_bootstrap(result_a.per_user[metric][ia], result_b.per_user[metric][ib], **kwargs)


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------


def reliability_table(confidences: Sequence[float], outcomes: Sequence[float], n_bins: int = 10) -> pd.DataFrame:
    """Equal-width bins over [0, 1]: bin, lower, upper, mean_confidence, observed_rate, count.

    Empty bins are listed with count 0 and NaN means.
    """
    c = np.asarray(confidences, dtype=float).ravel()
    y = np.asarray(outcomes, dtype=float).ravel()
    if c.shape != y.shape:
        raise ValueError("confidences and outcomes must have the same length")
    if len(c) and (np.nanmin(c) < 0 or np.nanmax(c) > 1):
        raise ValueError("confidences must lie in [0, 1]")
    b = np.minimum((c * n_bins).astype(np.int64), n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    sum_c = np.bincount(b, weights=c, minlength=n_bins)
    sum_y = np.bincount(b, weights=y, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c = np.where(count > 0, sum_c / count, np.nan)
        rate = np.where(count > 0, sum_y / count, np.nan)
    edges = np.linspace(0, 1, n_bins + 1)
    return pd.DataFrame({
        "bin": np.arange(n_bins),
        "lower": edges[:-1],
        "upper": edges[1:],
        "mean_confidence": mean_c,
        "observed_rate": rate,
        "count": count,
    })


def expected_calibration_error(confidences: Sequence[float], outcomes: Sequence[float], n_bins: int = 10) -> float:
    """ECE: count-weighted mean over bins of |mean confidence - observed rate|."""
    t = reliability_table(confidences, outcomes, n_bins)
    total = t["count"].sum()
    if total == 0:
        return float("nan")
    nz = t["count"] > 0
    gap = (t.loc[nz, "mean_confidence"] - t.loc[nz, "observed_rate"]).abs()
    return float((gap * t.loc[nz, "count"]).sum() / total)


# --------------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------------


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
        _check_columns(train, (USER_ID, ITEM_ID))
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
        _check_columns(train, (USER_ID, ITEM_ID, TIMESTAMP))
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
