"""Training from the dashboard, with one progress bar per stage of `recsys.training.STAGES`."""
from __future__ import annotations

import logging
import threading
import time

import streamlit as st

from recsys import train
from recsys.artifacts import BundleError
from recsys.schema import DataError
from recsys.training import STAGES

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
    "calibration": "Confidence calibration",
    "save": "Save the model bundle",
}
def stage_label(stage: str) -> str:
    return STAGE_LABELS.get(stage, stage.replace("_", " ").capitalize())


EXPECTED_ERRORS = (DataError, BundleError, ValueError, KeyError, OSError, MemoryError)


@st.cache_resource
def _locks() -> dict[str, threading.Lock]:
    """One lock per bundle folder, shared by all sessions of this process."""
    return {}


_guard = threading.Lock()


def _lock_for(bundle_dir: str) -> threading.Lock:
    with _guard:
        return _locks().setdefault(bundle_dir, threading.Lock())


def train_with_progress(source: Source, title: str | None = None):
    """Train `source` into its bundle folder with live per-stage progress; the Recommender, or
    None after showing what went wrong. A second session asking meanwhile waits for the first."""
    lock = _lock_for(str(source.bundle_dir))
    status = st.status(title or f"Training the models on {source.label}…", expanded=True)
    if not lock.acquire(blocking=False):
        status.write("Another session is training these models right now; waiting for it to finish…")
        with lock:
            pass
        status.update(label="Models ready", state="complete", expanded=False)
        return None
    t0 = time.perf_counter()
    try:
        with status:
            bars = {s: st.progress(0.0, text=f"{stage_label(s)}: waiting") for s in STAGES}
        shown: dict[str, float] = {}

        def progress(stage: str, fraction: float, message: str) -> None:
            if stage not in bars:  # a stage the library added after this page was written
                with status:
                    bars[stage] = st.progress(0.0)
            fraction = min(max(float(fraction), 0.0), 1.0)
            if fraction in (0.0, 1.0) or fraction - shown.get(stage, 0.0) >= 0.05:
                shown[stage] = fraction
                bars[stage].progress(fraction, text=f"{stage_label(stage)}: {message}")

        if source.kind == "demo":
            progress("load", 0.0, "generating the synthetic demo store")
            from recsys.synthetic import demo_store

            data = demo_store()
        elif source.path is not None:
            data = str(source.path)
        else:
            raise ValueError(f"'{source.label}' has no data file to train on")
        rec = train(data, out_dir=str(source.bundle_dir), progress=progress)
        for stage, bar in bars.items():
            if stage not in shown:
                bar.progress(1.0, text=f"{stage_label(stage)}: skipped")
        status.update(label=f"Trained on {source.label} in {time.perf_counter() - t0:.1f} s",
                      state="complete", expanded=False)
        return rec
    except EXPECTED_ERRORS as exc:
        status.update(label="Training failed", state="error", expanded=True)
        status.error(str(exc))
        return None
    except Exception as exc:  # never a traceback on the page; the server log has it
        log.exception("training %s failed", source.key)
        status.update(label="Training failed", state="error", expanded=True)
        status.error(f"Training failed: {type(exc).__name__}: {exc}")
        return None
    finally:
        lock.release()
