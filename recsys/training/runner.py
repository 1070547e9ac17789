"""Training: one pass from a store's sales lines to what a bundle holds, with stage timings and
progress. `train` is the one runner; the Spark engine shares its first and last stages."""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from recsys.arrays import one_blas_thread
from recsys.bundles.state import Trained, TrainedState
from recsys.config import TuningConfig
from recsys.io.cache import data_hash
from recsys.io.cleaning import Cleaned, CleaningReport, clean_sales
from recsys.io.loading import load_transactions
from recsys.io.source_files import source_exclusions
from recsys.models import TrainingData
from recsys.serving.lists import ListMaker
from recsys.serving.segment_summary import PER_SEGMENT, sampled_segment_recommendations
from recsys.training.blend import apply_fit
from recsys.training.blend import fit_hybrid as fit_blend
from recsys.training.calibration import fit_calibrator
from recsys.training.fit import fit_state
from recsys.training.progress import Progress, StageTimer, quiet
from recsys.training.ranker import fit_ranker
from recsys.training.repeat_learner import learn_repeat
from recsys.training.validation import make_holdout

# what the import did, told before the models are fitted (the CLI prints it; the app shows it)
ImportNotice = Callable[[CleaningReport], None]


def train(data: pd.DataFrame | str, config: TuningConfig | None = None, out_dir: str | None = None,
          progress: Progress | None = None, calibrate: bool = True, fit_hybrid: bool = True,
          on_import: ImportNotice | None = None, **data_options: Any) -> Trained:
    """Load (if a path), clean, learn every model, fit the hybrid to the store, calibrate, and
    save when out_dir is given. `fit_hybrid=False` keeps the config's hybrid weights.
    `on_import(report)` hears what the import and the cleaning did before any model is fitted.

    `data_options`: column_map, dates, catalogue, sheet (of `recsys.io.loading.load_transactions`)
    and exclude_items (of `clean_transactions`); each defaults to what is saved beside the file."""
    config = (config or TuningConfig()).validate()
    timer = StageTimer(progress or quiet)
    meta: dict = {}
    sales = load_and_clean(data, timer, meta, **data_options)
    if on_import is not None:
        on_import(sales.report)
    state, facts = fit_state(sales.customers, config, timer, guests=sales.guests)
    return finish_training(state, facts, sales, config, timer, meta, out_dir, calibrate, fit_hybrid)


def load_and_clean(data: pd.DataFrame | str, timer: StageTimer, meta: dict, exclude_items: Any = None,
                   **load_options: Any) -> Cleaned:
    """The first two stages every engine shares: read (a path) and clean, noting the source in meta;
    the customers' lines, the guests' and the report."""
    with timer.stage("load", "reading the sales lines"):
        if isinstance(data, pd.DataFrame):
            if load_options:
                raise ValueError(f"{', '.join(load_options)} apply when reading a file; this is a frame already")
            df = data
            meta["data_source"] = "dataframe"
            meta["data_hash"] = str(pd.util.hash_pandas_object(df, index=False).sum())
        else:
            df = load_transactions(data, **load_options)
            meta["data_source"] = str(data)
            meta["data_hash"] = data_hash(data)
            exclude_items = source_exclusions(data) if exclude_items is None else exclude_items
    with timer.stage("clean", "removing cancellations and non-product lines"):
        sales = clean_sales(df, exclude_items=exclude_items)
    if sales.customers.empty:
        guests = f" ({len(sales.guests):,} guest lines are left, but no customer to recommend to)" \
            if len(sales.guests) else ""
        raise ValueError(f"no sales lines left to train on after cleaning{guests}")
    return sales


def finish_training(state: TrainedState, facts: TrainingData, sales: Cleaned, config: TuningConfig,
                    timer: StageTimer, meta: dict, out_dir: str | None, calibrate: bool,
                    fit_hybrid: bool = True) -> Trained:
    """The stages every engine shares after its models: the buy-again learner, the validation
    window, the hybrid's fit, the ranker, calibration, the Segments sample, save."""
    # batches of thousands of small products and solves: BLAS threads would only wait on each other
    with one_blas_thread():
        return _finish_training(state, facts, sales, config, timer, meta, out_dir, calibrate, fit_hybrid)


def _finish_training(state: TrainedState, facts: TrainingData, sales: Cleaned, config: TuningConfig,
                     timer: StageTimer, meta: dict, out_dir: str | None, calibrate: bool, fit_hybrid: bool) -> Trained:
    if config.repeat.learned and config.repeat.windows > 0:
        with timer.stage("repeat_learner", "learning the buy-again model on past windows"):
            learn_repeat(state, facts, config)
    holdout = None
    if calibrate or fit_hybrid or config.ranker.enabled:
        with timer.stage("validation", "refitting the models on a validation window"):
            holdout = make_holdout(sales.customers, config, guests=sales.guests)
    if fit_hybrid:
        with timer.stage("hybrid_fit", "fitting the hybrid to this store"):
            fit = fit_blend(holdout, config)
            config = apply_fit(config, fit)
            meta["hybrid_fit"] = fit.to_dict()
    if config.ranker.enabled and config.ranker.policy != "never":
        with timer.stage("ranker", "learning the ranker on two validation windows"):
            learned = fit_ranker(holdout, lambda: make_holdout(sales.customers, config, guests=sales.guests,
                                                               offset_days=config.repeat.horizon_days), config)
            state.ranker = learned.ranker
            meta["ranker"] = learned.evidence
            if holdout is not None:  # calibration then sees the lists as they are served
                holdout.state.ranker = learned.validation_ranker
    if calibrate:
        with timer.stage("calibration", "calibrating confidence on the validation window"):
            state.calibrator = fit_calibrator(holdout, config)
    meta["calibrated"] = state.calibrator is not None
    with timer.stage("segment_summary", f"recommending for up to {PER_SEGMENT} customers per segment"):
        # after the hybrid's fit: the sample is recommended with the weights the store is served with
        state.segment_sample = sampled_segment_recommendations(ListMaker(state), config)
    meta["segment_sample_per_segment"] = PER_SEGMENT
    trained = Trained(state, config, meta, sales.report.to_dict())
    if out_dir is not None:
        with timer.stage("save", "writing the model bundle"):
            trained.save(out_dir, timer.timings)
    trained.metadata["timings_s"] = dict(timer.timings)
    trained.metadata["timings_s"]["total"] = round(sum(timer.timings.values()), 4)
    return trained
