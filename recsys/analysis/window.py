"""The validation window a comparison of configurations is measured on: the last 28 days of the
bundle's own training lines, with every model refitted on the days before (training's machinery,
`recsys.training.validation.make_holdout`), so no configuration ever sees the days it is judged on.

The window is cut from the cleaned lines the bundle holds, not from the data file: it needs no
file, works for bundles trained from a frame (the demo store) or by Spark, and cannot drift from
the models it judges. A basket there is a customer's checkout time (the bundle keeps no ticket
ids) and an item's price the median of its last sales before the window.

It is built once per bundle (seconds on the workbook: one refit) and kept: in memory for the
process and, when the artifacts folder is writable, beside the bundle in `validation/` (a bundle
of its own, pickle-free, naming the bundle it belongs to), so the next comparison, in any
process, starts from it. The bundle's calibrator, fitted on this same window at training, gives
the lists their confidence.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.bundles.state import TrainedState
from recsys.bundles.store import load_bundle, read_metadata, save_bundle
from recsys.errors import BundleError
from recsys.io import schema as S
from recsys.serving.service import Recommender
from recsys.training.validation import Holdout, make_holdout

FOLDER = "validation"
HORIZON_DAYS = 28
WINDOW_FORMAT = 1          # bump when what the window holds changes: older caches are rebuilt
_MEMORY: OrderedDict[tuple, Window] = OrderedDict()
_MEMORY_SIZE = 2
_lock = threading.Lock()


@dataclass
class Window:
    """The refitted models, the customers asked at the cutoff, what they then bought, and the
    purchases before the cutoff (for novelty, diversity and 'new to the customer')."""

    holdout: Holdout
    purchases: sparse.csr_matrix   # (customers x items) 1 = bought before the cutoff
    bundle: str                    # the bundle it was cut for
    origin: str                    # "built", "kept on disk" or "in memory"
    seconds: float                 # to build or to load

    @property
    def state(self) -> TrainedState:
        return self.holdout.state

    @property
    def users(self) -> int:
        return len(self.holdout.codes)

    @property
    def cutoff(self) -> pd.Timestamp:
        return pd.Timestamp(self.holdout.cutoff, unit="s")

    def describe(self) -> dict[str, Any]:
        start, end = self.cutoff, self.cutoff + pd.Timedelta(days=HORIZON_DAYS)
        return {"start": str(start.date()), "end": str(end.date()), "days": HORIZON_DAYS, "customers": self.users,
                "items": int(self.state.n_items), "bundle": self.bundle, "origin": self.origin,
                "seconds": round(self.seconds, 2)}


def lines_frame(state: TrainedState) -> pd.DataFrame:
    """The cleaned sales lines a bundle holds, as a canonical frame (ids as categories: no Python
    str per line; a basket is a customer's checkout time; the customer type from the profiles)."""
    per_user = np.diff(state.line_ptr)
    user = np.repeat(np.arange(state.n_users, dtype=np.int64), per_user)
    user_type = state.profiles["user_type"].to_numpy(dtype=object)
    types = np.asarray(S.CUSTOMER_TYPES, dtype=object)
    type_code = np.maximum(np.searchsorted(types, user_type), 0).clip(max=len(types) - 1)
    return pd.DataFrame({
        S.USER_ID: pd.Categorical.from_codes(user, categories=pd.Index(state.user_ids.astype(str))),
        S.ITEM_ID: pd.Categorical.from_codes(np.asarray(state.line_item, dtype=np.int64),
                                             categories=pd.Index(state.item_ids.astype(str))),
        S.TIMESTAMP: pd.to_datetime(np.asarray(state.line_time, dtype=np.int64), unit="s"),
        S.QUANTITY: np.asarray(state.line_quantity, dtype=np.float64),
        S.PRICE: np.asarray(state.line_price, dtype=np.float64),
        S.CUSTOMER_TYPE: pd.Categorical.from_codes(type_code[user], categories=list(types)),
    })


def purchases_of(state: TrainedState) -> sparse.csr_matrix:
    """(customers x items) 1 where a customer of the state bought the item."""
    user = np.repeat(np.arange(state.n_users, dtype=np.int64), np.diff(state.line_ptr))
    m = sparse.csr_matrix((np.ones(len(user), dtype=np.int8), (user, np.asarray(state.line_item, dtype=np.int64))),
                          shape=(state.n_users, state.n_items))
    m.sum_duplicates()
    m.data[:] = 1
    return m


def window_for(rec: Recommender, artifacts: str | Path | None = None,
               progress: Callable[[str, float], None] | None = None) -> Window:
    """The validation window of the bundle `rec` was loaded from (of `artifacts`, when given):
    from memory, from beside the bundle, or built now (and kept). ValueError when the data has too
    little history on both sides of the window's start."""
    say = progress or (lambda message, fraction: None)
    key = (str(Path(artifacts).resolve()) if artifacts else "", rec.bundle_name or id(rec.state),
           str(rec.metadata.get("trained_at", "")))
    with _lock:
        if key in _MEMORY:
            _MEMORY.move_to_end(key)
            kept = _MEMORY[key]
            return Window(kept.holdout, kept.purchases, kept.bundle, "in memory", 0.0)
    t0 = time.perf_counter()
    window = _load_kept(rec, artifacts) if artifacts and rec.bundle_name else None
    if window is None:
        say("cutting the validation window: the models refitted on the days before it", 0.05)
        window = _build(rec, t0)
        if artifacts and rec.bundle_name:
            say("keeping the validation window beside the bundle", 0.5)
            _keep(window, rec, artifacts)
    window.holdout.state.calibrator = rec.state.calibrator  # fitted on this window at training
    window.holdout.state.ranker = rec.state.ranker  # hybrid lists are compared as they are served
    with _lock:
        _MEMORY[key] = window
        while len(_MEMORY) > _MEMORY_SIZE:
            _MEMORY.popitem(last=False)
    return window


def _build(rec: Recommender, t0: float) -> Window:
    holdout = make_holdout(lines_frame(rec.state), rec.config, horizon_days=HORIZON_DAYS)
    if holdout is None or not len(holdout.codes):
        raise ValueError(f"the data has too little history for a validation window: fewer than 10 customers bought "
                         f"both before and during the last {HORIZON_DAYS} days of the training data")
    return Window(holdout, purchases_of(holdout.state), rec.bundle_name, "built", time.perf_counter() - t0)


def _meta(rec: Recommender) -> dict[str, Any]:
    return {"kind": "validation-window", "window_format": WINDOW_FORMAT, "for_bundle": rec.bundle_name,
            "for_trained_at": str(rec.metadata.get("trained_at", "")), "horizon_days": HORIZON_DAYS}


def _keep(window: Window, rec: Recommender, artifacts: str | Path) -> None:
    """Save the window beside the bundle (best effort: a read-only folder only loses the cache)."""
    h = window.holdout
    payload = {"state": h.state, "cutoff": int(h.cutoff), "codes": h.codes, "truth": h.truth, "unseen": h.unseen}
    # the bundle's own calibrator and ranker: not copied
    calibrator, ranker, h.state.calibrator, h.state.ranker = h.state.calibrator, h.state.ranker, None, None
    try:
        save_bundle(Path(artifacts) / FOLDER, payload, {**_meta(rec), "seconds": round(window.seconds, 3)}, keep=1)
    except OSError:
        pass
    finally:
        h.state.calibrator, h.state.ranker = calibrator, ranker


def _load_kept(rec: Recommender, artifacts: str | Path) -> Window | None:
    """The window kept beside the bundle, when it was cut for this very bundle."""
    folder = Path(artifacts) / FOLDER
    t0 = time.perf_counter()
    try:
        meta = read_metadata(folder)
        wanted = _meta(rec)
        if any(meta.get(k) != v for k, v in wanted.items()):
            return None
        loaded = load_bundle(folder)
        p = loaded.payload
        state = p["state"]
        if not isinstance(state, TrainedState):
            return None
        holdout = Holdout(state=state, cutoff=int(p["cutoff"]), codes=np.asarray(p["codes"], dtype=np.int64),
                          truth=np.asarray(p["truth"], dtype=np.int64), unseen=np.asarray(p["unseen"], dtype=np.int64))
    except (BundleError, OSError, KeyError, TypeError, ValueError):
        return None  # none kept, or of another bundle or version: built again
    return Window(holdout, purchases_of(state), rec.bundle_name, "kept on disk", time.perf_counter() - t0)


def forget_windows() -> None:
    """Drop the windows held in memory (tests; after a retrain they are never asked for again)."""
    with _lock:
        _MEMORY.clear()
