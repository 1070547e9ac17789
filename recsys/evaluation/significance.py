"""Paired-bootstrap comparison of two models on the same users: the mean difference and its CI."""
from __future__ import annotations

from collections.abc import Sequence
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
    obs = float(d.mean())
    alpha = (1 - ci) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    centred = means - means.mean()
    p = float(np.mean(np.abs(centred) >= abs(obs) - 1e-12))
    return BootstrapResult(obs, float(lo), float(hi), min(1.0, p))
