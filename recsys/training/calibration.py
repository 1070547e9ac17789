"""Calibration of the confidence scores: at training time, the validation window's users are
asked at its cutoff (through the same ranking core as every request) and a logistic model of
"bought within the horizon" is fitted on a few facts of each recommendation (see
recsys.serving.confidence for the model and its features)."""
from __future__ import annotations

import numpy as np

from recsys.config import TuningConfig
from recsys.serving.confidence import Calibrator, candidate_features
from recsys.serving.lists import ListMaker, ListRequest
from recsys.training.validation import Holdout

LIST_SIZE = 20   # items per list the calibrator learns from
MIN_LABELS = 5   # of each outcome: fewer, no calibrator


def fit_calibrator(holdout: Holdout | None, config: TuningConfig, n: int = LIST_SIZE) -> Calibrator | None:
    """Learn confidence = P(bought within the horizon) from the validation window's users, asked
    at its cutoff for both the buy-again and the discovery lists. None when there is too little."""
    if holdout is None or not len(holdout.codes):
        return None
    core = ListMaker(holdout.state)
    n_items = holdout.state.n_items
    codes = holdout.codes
    as_of = np.full(len(codes), holdout.cutoff, dtype=np.int64)
    xs, ys = [], []
    for exclude in (False, True):
        request = ListRequest(n, "hybrid", exclude)
        for lo, parts in core.lists_in_chunks(codes, as_of, request, config, reasons=False):
            for part in parts:  # validation users are all known: one part, never the fallback
                c = codes[lo + part.rows]
                keys = (c[:, None] * n_items + part.ranked.items).ravel()
                valid = part.ranked.valid.ravel()
                xs.append(candidate_features(part.ranked, np.zeros(len(c), bool))[valid])
                ys.append(np.isin(keys[valid], holdout.truth))
    x, y = np.concatenate(xs), np.concatenate(ys)
    if y.sum() < MIN_LABELS or (~y).sum() < MIN_LABELS:
        return None
    return Calibrator.fit(x, y.astype(int))
