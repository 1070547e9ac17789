"""Confidence scores: the calibrated probability that a recommended item is bought within the
horizon, from a few facts of each recommendation (a logistic model fitted at training time on the
validation window, see recsys.training.calibration)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.serving.pipeline import RankedLists

FEATURES = ("relevance", "log_rank", "bought_before", "log_count", "due", "repeat_part", "fallback", "recent")


def candidate_features(lists: RankedLists, fallback: np.ndarray) -> np.ndarray:
    """(batch * n, len(FEATURES)) facts of each recommended item, in row-major order."""
    relevance = lists.relevance
    b, n = relevance.shape
    rank = np.broadcast_to(np.arange(1, n + 1), (b, n))
    repeat = lists.parts.get("repeat", np.zeros((b, n)))
    f = lists.facts
    days = np.nan_to_num(f.days_since, nan=365.0)
    cols = [relevance, np.log1p(rank), f.bought.astype(float), np.log1p(f.count), f.due().astype(float), repeat,
            np.broadcast_to(fallback[:, None], (b, n)).astype(float), np.exp(-days / 30.0)]
    return np.stack([np.asarray(c, dtype=np.float64).reshape(b, n) for c in cols], axis=-1).reshape(b * n, -1)


@dataclass
class Calibrator:
    """Logistic regression over candidate facts, stored as plain arrays."""

    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    n_train: int = 0
    base_rate: float = 0.0

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 50) -> "Calibrator":
        """L2-penalised logistic regression by Newton steps (8 features: no need for sklearn)."""
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0
        z = np.c_[(x - mean) / scale, np.ones(len(x))]
        y = np.asarray(y, dtype=np.float64)
        w = np.zeros(z.shape[1])
        w[-1] = np.log(max(y.mean(), 1e-6) / max(1 - y.mean(), 1e-6))
        penalty = np.full(z.shape[1], l2)
        penalty[-1] = 0.0  # the intercept is not shrunk

        def loss(w: np.ndarray) -> float:
            zw = z @ w
            # log(1 + e^zw) - y zw, computed without overflow
            return float(np.sum(np.logaddexp(0.0, zw) - y * zw) + 0.5 * np.sum(penalty * w * w))

        current = loss(w)
        for _ in range(iterations):
            p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -30.0, 30.0)))
            grad = z.T @ (p - y) + penalty * w
            hess = (z.T * (p * (1 - p))) @ z + np.diag(penalty) + 1e-9 * np.eye(len(w))
            step = np.linalg.solve(hess, grad)
            # backtracking: a full Newton step can overshoot when a feature nearly separates the classes
            t = 1.0
            while t > 1e-4 and loss(w - t * step) > current:
                t /= 2
            if t <= 1e-4:
                break
            w = w - t * step
            current = loss(w)
            if np.abs(t * step).max() < 1e-8:
                break
        return cls(coef=w[:-1], intercept=float(w[-1]), mean=mean, scale=scale, n_train=len(y),
                   base_rate=float(y.mean()))

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def confidences(calibrator: "Calibrator | None", lists: RankedLists, fallback: np.ndarray) -> np.ndarray:
    """(batch, n) calibrated confidence of each listed item (the relevance when uncalibrated)."""
    if calibrator is None:
        return lists.relevance
    return calibrator.predict(candidate_features(lists, fallback)).reshape(lists.relevance.shape)
