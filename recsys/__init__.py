"""recsys: product recommendations from point-of-sale data.

    from recsys import load_transactions, train, Recommender, TuningConfig

The rooms (imports run one way, checked by the layer contract in .importlinter):
    config, errors, arrays, atomic   knobs, errors, array helpers, atomic writes
    process      process-wide settings (BLAS threads, a serving process's allocator)
    io/          any export -> one canonical frame (readers, mapping, dates, catalogue, cleaning, synthetic)
    models/      ALS, item-CF, popularity, repeat: fit(data) once, candidates(), score()
    bundles/     what training produces, and the bundle that stores it (no pickle, atomic)
    serving/     batches -> candidates -> scores -> blend -> filter -> re-rank -> explain; the Recommender
    training/    features, the repeat learner, validation window, the hybrid's fit, calibration, Spark
    evaluation/  splits, metrics, significance, baselines, the report
    cli          python -m recsys ...
"""
from __future__ import annotations

from typing import Any

from recsys.config import TuningConfig
from recsys.io.cleaning import clean_transactions
from recsys.io.loading import load_transactions
from recsys.serving.service import Recommender
from recsys.training import runner as _runner
from recsys.version import __version__


def train(data: Any, config: TuningConfig | None = None, out_dir: str | None = None, **options: Any) -> Recommender:
    """Train on a store's sales lines (a canonical frame or a file path) and return its
    Recommender; the bundle is saved when `out_dir` is given. Options: those of
    `recsys.training.runner.train` (progress, calibrate, fit_hybrid, column_map, dates, catalogue,
    exclude_items)."""
    trained = _runner.train(data, config, out_dir, **options)
    return Recommender.from_trained(trained, trained.bundle_name)


__all__ = ["Recommender", "TuningConfig", "clean_transactions", "load_transactions", "train", "__version__"]
