"""Evaluating a model on a split: its lists for the split's users, scored against the truth.

`evaluate` accepts an object with `fit(train_df)` and `recommend(user_ids, as_of, n, exclude=None)`
(the baselines are such objects) or a callable `recommend_fn(train_df) -> scorer`."""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.evaluation.beyond import (
    distributional_coverage,
    diversity,
    item_buyers,
    novelty,
)
from recsys.evaluation.metrics import (
    lists_to_codes,
    ranking_metrics,
    relevance,
    sets_to_csr,
)
from recsys.evaluation.significance import BootstrapResult, paired_bootstrap
from recsys.evaluation.splits import (
    DEFAULT_SCENARIOS,
    MODES,
    Split,
    make_loyal_split,
    make_new_customer_split,
)
from recsys.io.schema import CUSTOMER_TYPE, ITEM_ID, PRICE

Scorer = Callable[..., Any]


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
    codes = lists_to_codes(lists, item_index, n)
    rel, n_truth = relevance(codes, sets_to_csr(view.truth, item_index))
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
    _beyond_accuracy(codes, split, len(item_index), ks, per_user, summary)
    summary["exclusion_violations"] = float(violations)
    return EvalResult(model_name, split.name, mode, ks, view.users, per_user, summary, lists)


def _beyond_accuracy(codes: np.ndarray, split: Split, width: int, ks: tuple[int, ...],
                     per_user: dict[str, np.ndarray], summary: dict[str, float]) -> None:
    """Novelty and diversity per user, distributional coverage of the lists (recsys.evaluation.beyond),
    against the purchases of the split's training frame."""
    bought = split.purchases
    if bought.shape[1] < width:  # items of the lists or the truth the training frame never had
        bought = sparse.hstack([bought, sparse.csr_matrix((bought.shape[0], width - bought.shape[1]))]).tocsr()
    buyers = item_buyers(bought)
    for kk in ks:
        top = codes[:, :kk]
        per_user[f"novelty@{kk}"] = novelty(top, buyers)
        per_user[f"diversity@{kk}"] = diversity(top, bought)
        for name in ("novelty", "diversity"):
            values = per_user[f"{name}@{kk}"]
            summary[f"{name}@{kk}"] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        summary[f"dist_coverage@{kk}"] = distributional_coverage(top)


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


def compare(result_a: EvalResult, result_b: EvalResult, metric: str = "ndcg@10", **kwargs: Any) -> BootstrapResult:
    """:func:`paired_bootstrap` of two :class:`EvalResult` on their common users."""
    common, ia, ib = np.intersect1d(result_a.users.astype(str), result_b.users.astype(str), return_indices=True)
    return paired_bootstrap(result_a.per_user[metric][ia], result_b.per_user[metric][ib], **kwargs)
