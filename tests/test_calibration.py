import numpy as np

from recsys.serving.confidence import Calibrator


def test_calibrator_matches_the_observed_rate():
    rng = np.random.default_rng(0)
    x = rng.random((5000, 3))
    p = 1 / (1 + np.exp(-(3 * x[:, 0] - 2)))
    y = rng.random(5000) < p
    cal = Calibrator.fit(x, y)
    pred = cal.predict(x)
    assert abs(pred.mean() - y.mean()) < 0.01
    assert np.corrcoef(pred, p)[0, 1] > 0.95


def test_a_nearly_separating_feature_does_not_blow_the_fit_up():
    """A feature that all but separates bought from not bought (Ta Feng's case) must leave finite,
    sensible confidences, not coefficients in the thousands and probabilities of 0."""
    rng = np.random.default_rng(1)
    n = 20_000
    y = rng.random(n) < 0.05
    x = np.c_[y + 1e-3 * rng.standard_normal(n), rng.random(n), np.zeros(n)]
    x[:10, 0] = 1 - x[:10, 0]  # a handful of exceptions
    cal = Calibrator.fit(x, y)
    assert np.isfinite(cal.coef).all() and np.abs(cal.coef).max() < 100 and abs(cal.intercept) < 100
    pred = cal.predict(x)
    assert pred[y].mean() > 0.5 and pred[~y].mean() < 0.1
    assert abs(pred.mean() - y.mean()) < 0.01
