"""Training: one pass from a store's sales lines to what a bundle holds, with stage timings and
progress. `train` is the one runner; the Spark engine shares its first and last stages."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd

from recsys.bundles.state import Trained, TrainedState
from recsys.config import TuningConfig
from recsys.io.cache import data_hash
from recsys.io.cleaning import Cleaned, CleaningReport, clean_sales
from recsys.io.loading import load_transactions
from recsys.io.source_files import source_exclusions
from recsys.models import TrainingData
from recsys.process import one_blas_thread
from recsys.serving import default_lists
from recsys.serving.confidence import Calibrator
from recsys.serving.lists import ListMaker
from recsys.serving.segment_summary import PER_SEGMENT, sampled_segment_recommendations
from recsys.training.blend import HybridFit, apply_fit
from recsys.training.blend import fit_hybrid as fit_blend
from recsys.training.calibration import fit_calibrator
from recsys.training.fit import fit_state
from recsys.training.progress import Progress, StageTimer, quiet
from recsys.training.ranker import fit_ranker
from recsys.training.repeat_learner import learn_repeat
from recsys.training.validation import Holdout, make_holdout

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
    # BLAS on one thread: training's products are many and small (fold-in solves, Gram matrices,
    # scoring chunks), and a waiting BLAS pool spins on cores that ALS's and the app's threads
    # share (the workbook's training: ~1.5x less CPU on this 2-core machine); ALS has its own threads
    with one_blas_thread():
        sales = load_and_clean(data, timer, meta, **data_options)
        if on_import is not None:
            on_import(sales.report)
        holdout = None
        if (calibrate or fit_hybrid or ranks(config)) and len(sales.customers) <= PARALLEL_VALIDATION_LINES:
            # the validation window's refit needs only the cleaned lines: it runs beside the main
            # models on the other core (numpy, implicit and LightGBM release the GIL)
            holdout = Background(lambda: _validate(sales, config, timer, calibrate, fit_hybrid))
        state, facts = fit_state(sales.customers, config, timer, guests=sales.guests)
        return finish_training(state, facts, sales, config, timer, meta, out_dir, calibrate, fit_hybrid, holdout)


PARALLEL_VALIDATION_LINES = 3_000_000  # bigger stores refit in turn: two fits at once would add their peaks


class Background:
    """A function run in a thread of its own; `result()` waits for it (and raises what it raised)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._out: list[Any] = []
        self._thread = threading.Thread(target=self._run, args=(fn,), name="recsys-validation", daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._out.append((fn(), None))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of result()
            self._out.append((None, exc))

    def result(self) -> Any:
        self._thread.join()
        value, exc = self._out[0]
        if exc is not None:
            raise exc
        return value


def ranks(config: TuningConfig) -> bool:
    """Whether training tries the learned ranker (then calibration waits for it: the confidence is
    calibrated on the lists as they are served)."""
    return config.ranker.enabled and config.ranker.policy != "never"


@dataclass
class Validated:
    """What the validation window gives training: the window itself, the hybrid's fit and (when no
    ranker is tried) the confidence calibrator."""

    config: TuningConfig          # with the fitted weights (the given one when not fitted)
    fit: HybridFit | None
    calibrator: Calibrator | None
    holdout: Holdout | None = None


def _validate(sales: Cleaned, config: TuningConfig, timer: StageTimer, calibrate: bool,
              fit_hybrid: bool) -> Validated:
    """The validation window's refit, the hybrid's fit on it, and the calibration when no ranker
    is tried (they read the window only, never the main models: small stores run them beside the
    main fit)."""
    with timer.stage("validation", "refitting the models on a validation window"):
        holdout = make_holdout(sales.customers, config, guests=sales.guests)
    fit = calibrator = None
    if fit_hybrid:
        with timer.stage("hybrid_fit", "fitting the hybrid to this store"):
            fit = fit_blend(holdout, config)
            config = apply_fit(config, fit)
    if calibrate and not ranks(config):
        with timer.stage("calibration", "calibrating confidence on the validation window"):
            calibrator = fit_calibrator(holdout, config)
    return Validated(config, fit, calibrator, holdout)


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
                    fit_hybrid: bool = True, holdout_job: "Background | None" = None) -> Trained:
    """The stages every engine shares after its models: the buy-again learner, the validation
    window (or the one `holdout_job` computed meanwhile), the hybrid's fit, the learned ranker,
    calibration, the Segments sample, save, and the default lists of a small store."""
    if config.repeat.learned and config.repeat.windows > 0:
        with timer.stage("repeat_learner", "learning the buy-again model on past windows"):
            learn_repeat(state, facts, config)
    if holdout_job is not None:
        validated = holdout_job.result()
    elif calibrate or fit_hybrid or ranks(config):
        validated = _validate(sales, config, timer, calibrate, fit_hybrid)
    else:
        validated = Validated(config, None, None)
    config = validated.config
    if validated.fit is not None:
        meta["hybrid_fit"] = validated.fit.to_dict()
    state.calibrator = validated.calibrator
    if ranks(config):
        holdout = validated.holdout
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
    lists = None
    if state.n_users <= default_lists.INLINE_USERS and not default_lists.unsupported(config):
        with timer.stage("default_lists", "each customer's list under the default knobs"):
            lists = default_lists.compute(state, config)  # in memory until the bundle is saved
    with timer.stage("segment_summary", f"recommending for up to {PER_SEGMENT} customers per segment"):
        # after the hybrid's fit: the sample is recommended with the weights the store is served with
        state.segment_sample = sampled_segment_recommendations(ListMaker(state), config, lists=(
            None if lists is None else default_lists.from_arrays(*lists)))
    meta["segment_sample_per_segment"] = PER_SEGMENT
    trained = Trained(state, config, meta, sales.report.to_dict())
    if out_dir is not None:
        with timer.stage("save", "writing the model bundle"):
            path = trained.save(out_dir, timer.timings)
    if lists is not None:
        trained.default_lists = default_lists.from_arrays(*lists) if out_dir is None \
            else default_lists.store(path, *lists)
    trained.metadata["default_lists"] = _lists_note(trained, out_dir)
    trained.metadata["timings_s"] = dict(timer.timings)
    # the wall time from start to end: the validation stage may have run beside others
    trained.metadata["timings_s"]["total"] = round(timer.elapsed(), 4)
    return trained


def _lists_note(trained: Trained, out_dir: str | None) -> str:
    """What became of the default lists (kept in the returned metadata, not the saved bundle's)."""
    reason = default_lists.unsupported(trained.config)
    if reason:
        return f"not precomputed: {reason}; every request takes the live path"
    if trained.default_lists is not None:
        return "precomputed"
    return "pending: `python -m recsys precompute` (the CLI's train runs it after saving)" if out_dir else "not computed"
