"""Paired-bootstrap comparison of two models on the same users: the mean difference and its CI."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np


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
    return _result(float(d.mean()), means, ci)


def bootstrap_statistic(statistic: Callable[[np.ndarray], np.ndarray], n_users: int, n_boot: int = 2000,
                        seed: int = 0, ci: float = 0.95) -> BootstrapResult:
    """Paired bootstrap over users of a statistic of the whole group rather than a mean of per-user
    values (the difference in catalogue coverage of two configurations' lists for the same users).

    `statistic(weights)` takes a (rows, n_users) array of how often each user is drawn in a
    resample and returns one value per row; the observed value is its value at weights 1. Users
    are drawn as in `paired_bootstrap` (same seed, same resamples); the interval is the percentile
    interval of the bias-corrected replicates."""
    if n_users == 0:
        return BootstrapResult(float("nan"), float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    chunk = max(1, 2_000_000 // n_users)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n_users, size=(stop - start, n_users))
        rows = np.repeat(np.arange(stop - start), n_users)
        weights = np.bincount(rows * n_users + idx.ravel(), minlength=(stop - start) * n_users)
        values[start:stop] = statistic(weights.reshape(stop - start, n_users).astype(np.float64))
    observed = float(np.asarray(statistic(np.ones((1, n_users))), dtype=float)[0])
    # a resample repeats some users and misses others, which biases a count of distinct things
    # (coverage) low: the replicates are shifted by their bias so the interval is around the
    # observed value (a mean of per-user values has next to no such bias: there the shift is tiny)
    return _result(observed, values - (values.mean() - observed), ci)


def _result(observed: float, values: np.ndarray, ci: float) -> BootstrapResult:
    """Percentile interval at level `ci` and the two-sided p-value of "no difference"."""
    alpha = (1 - ci) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    centred = values - values.mean()
    p = float(np.mean(np.abs(centred) >= abs(observed) - 1e-12))
    return BootstrapResult(observed, float(lo), float(hi), min(1.0, p))
