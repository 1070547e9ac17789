"""Training from the dashboard, with one progress bar per stage of `recsys.training.progress.STAGES`."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import streamlit as st

from recsys import train
from recsys.errors import BundleError, DataError
from recsys.serving.default_lists import precompute_default_lists
from recsys.training.progress import STAGES
from ui import jobs
from ui.sources import Source

log = logging.getLogger(__name__)

STAGE_LABELS = {
    "load": "Load the sales lines",
    "clean": "Clean (returns, non-product items)",
    "features": "Signals, profiles and segments",
    "als": "ALS matrix factorisation",
    "item_cf": "Item-item collaborative filtering",
    "popularity": "Popularity, overall and per segment",
    "repurchase_cycles": "Repurchase cycles",
    "repeat_learner": "Buy-again learner (past windows)",
    "validation": "Validation window (models refitted)",
    "hybrid_fit": "Hybrid fitted to the store",
    "calibration": "Confidence calibration",
    "segment_summary": "Segment summary (sampled customers)",
    "save": "Save the model bundle",
    "default_lists": "Each customer's default list",
}


def stage_label(stage: str) -> str:
    return STAGE_LABELS.get(stage, stage.replace("_", " ").capitalize())


EXPECTED_ERRORS = (DataError, BundleError, ValueError, KeyError, OSError, MemoryError)
FAILED = "_background_training_failed"  # session state: the source whose background training failed


def _training_data(source: Source, job: jobs.Job):
    if source.kind == "demo":
        job.stages["load"] = (0.0, "generating the synthetic demo store")
        from recsys.io.synthetic import demo_store

        return demo_store()
    if source.path is not None:
        return str(source.path)
    raise ValueError(f"'{source.label}' has no data file to train on")


def start_or_join(source: Source) -> tuple[jobs.Job, bool]:
    """The running training of this bundle folder, or a new one (in a thread of its own: it
    finishes and saves the bundle even when the session that started it is closed); and whether
    it was already running."""
    def work(job: jobs.Job):
        rec = train(_training_data(source, job), out_dir=str(source.bundle_dir),
                    progress=lambda stage, fraction, message: job.stages.__setitem__(stage, (fraction, message)))
        if str(rec.metadata.get("default_lists", "")).startswith("pending"):
            # a big store: its bundle is served already; every customer's default list follows it
            jobs.start_or_join(f"lists:{source.bundle_dir}",
                               lambda _job: precompute_default_lists(source.bundle_dir), target=source)
        return rec

    return jobs.start_or_join(f"train:{source.bundle_dir}", work, target=source)


def train_with_progress(source: Source, title: str | None = None):
    """Train `source` into its bundle folder with live per-stage progress; the Recommender, or
    None after showing what went wrong. A second session asking meanwhile follows the first run."""
    job, joined = start_or_join(source)
    # Elements are added with status.<element>, never `with status:`: leaving that block marks the
    # status complete, which showed a check mark while the training was still running.
    status = st.status(title or f"Training the models on {source.label}…", expanded=True, state="running")
    t0 = time.perf_counter()
    if joined:
        status.write("Training of this data source was already under way; following it…")
    bars = {s: status.progress(0.0, text=f"{stage_label(s)}: waiting") for s in STAGES}
    shown: dict[str, float] = {}

    def refresh() -> None:
        for stage, (fraction, message) in list(job.stages.items()):
            if stage not in bars:  # a stage the library added after this page was written
                bars[stage] = status.progress(0.0)
            fraction = min(max(float(fraction), 0.0), 1.0)
            if shown.get(stage) != fraction and (fraction in (0.0, 1.0) or fraction - shown.get(stage, 0.0) >= 0.05):
                shown[stage] = fraction
                bars[stage].progress(fraction, text=f"{stage_label(stage)}: {message}")

    while not job.wait(0.25):
        refresh()
    refresh()
    jobs.forget(job)
    if job.error is None:
        for stage, bar in bars.items():
            if stage not in shown:
                bar.progress(1.0, text=f"{stage_label(stage)}: skipped")
        status.update(label=f"Trained on {source.label} in {time.perf_counter() - t0:.1f} s",
                      state="complete", expanded=False)
        return job.result
    status.update(label="Training failed", state="error", expanded=True)
    if isinstance(job.error, OSError) and job.error.strerror:  # the reason, not the server's paths
        name = Path(job.error.filename).name if job.error.filename else source.label
        status.error(f"Training failed: {job.error.strerror} ({name})")
    elif isinstance(job.error, EXPECTED_ERRORS):
        status.error(str(job.error))
    else:  # never a traceback on the page; the server log has it
        log.error("training %s failed", source.key, exc_info=job.error)
        status.error(f"Training failed: {type(job.error).__name__}: {job.error}")
    return None


def overall_progress(job: jobs.Job) -> tuple[float, str]:
    """(fraction of the stages done, the latest message) of a training job."""
    stages = dict(job.stages)
    done = sum(min(max(float(f), 0.0), 1.0) for f, _ in stages.values())
    latest = next((f"{stage_label(s)}: {m}" for s, (f, m) in reversed(stages.items()) if f < 1.0), None)
    return min(done / len(STAGES), 0.99 if not job.done else 1.0), latest or "starting"


def train_in_background(source: Source) -> None:
    """Start (or join) the training of `source` and show its progress: a fragment refreshes the
    bar twice a second and reruns the whole page once the models are saved. The page is there
    at once (the first start on a fresh machine: the demo store trains behind it)."""
    job, _ = start_or_join(source)

    @st.fragment(run_every=0.5)
    def progress() -> None:
        fraction, message = overall_progress(job)
        st.progress(fraction, text=f"{fraction:.0%} · {message} · {job.elapsed:.0f} s")
        if not job.done:
            return
        jobs.forget(job)
        if job.error is None:
            st.rerun(scope="app")  # the models are saved: the page shows them
        st.session_state[FAILED] = source.key  # shown once; not started again by itself in this session
        if isinstance(job.error, EXPECTED_ERRORS):
            st.error(f"Training failed: {job.error}")
        else:  # never a traceback on the page; the server log has it
            log.error("training %s failed", source.key, exc_info=job.error)
            st.error(f"Training failed: {type(job.error).__name__}: {job.error}")

    progress()
