"""The live Recommender of an artifacts folder, swapped atomically when a new bundle lands.

A request reads `holder.current` once at its start and uses that `Served` to the end: a reload
loads the new bundle fully (and warms it) before it replaces that one reference, so no request
fails or mixes two bundles during the swap. A watcher thread polls the CURRENT pointer (one
`stat` and a tiny read a second); `reload()` is also there for POST /api/v1/reload.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from recsys import Recommender
from recsys.bundles.store import BUNDLE_NAME, POINTER, POINTER_BYTES
from recsys.serving.default_lists import SIDECAR
from recsys.errors import BundleError

log = logging.getLogger("recsys.api")


@dataclass
class Served:
    """One loaded bundle and the answers that never change while it is live."""

    rec: Recommender
    bundle: str
    loaded_at: str
    stats: dict[str, Any]
    models: dict[str, Any]
    config: dict[str, Any]
    popular: dict[tuple[int, str | None], list[dict[str, Any]]] = field(default_factory=dict)
    configs: dict[tuple[str, int, int], Any] = field(default_factory=dict)  # saved configurations read


def _pointer_stamp(artifacts: Path) -> tuple[int, bytes, int] | None:
    """(mtime_ns, bytes) of the CURRENT pointer, read as bytes (whatever it holds, the watcher
    only compares it), and the mtime of the live bundle's default lists (0: none yet; they are
    added after a big store's bundle is published); None when there is no pointer yet."""
    try:
        pointer = artifacts / POINTER
        stamp = pointer.stat().st_mtime_ns, pointer.read_bytes()[:POINTER_BYTES + 1]
    except OSError:
        return None
    try:
        name = stamp[1].decode("utf-8").strip()
        lists = (artifacts / name / SIDECAR / "manifest.json").stat().st_mtime_ns if BUNDLE_NAME.fullmatch(name) else 0
    except (OSError, UnicodeDecodeError):
        lists = 0
    return (*stamp, lists)


def load_served(artifacts: Path) -> Served:
    """Load and warm the current bundle (CURRENT read once: its name labels every answer) and
    compute what is served as is (stats, models, config)."""
    rec = Recommender.open(artifacts)
    return Served(rec=rec, bundle=rec.bundle_name, loaded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  stats=rec.stats(), models=rec.models(), config=rec.config_dict())


class BundleHolder:
    """Holds the live `Served` of one artifacts folder and replaces it when the bundle changes."""

    def __init__(self, artifacts: str | Path, poll_seconds: float = 1.0) -> None:
        self.artifacts = Path(artifacts)
        self.poll_seconds = poll_seconds
        self._stamp = _pointer_stamp(self.artifacts)
        self._current = load_served(self.artifacts)
        self._lock = threading.Lock()  # one reload at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.reloads = 0
        self.last_error: str | None = None

    @property
    def current(self) -> Served:
        """The live bundle: read it once per request."""
        return self._current

    def reload(self, force: bool = False) -> bool:
        """Load the bundle CURRENT names if it changed (or `force`); True when it was swapped.
        A bundle that fails to load leaves the live one in place (the error is kept for /health)."""
        with self._lock:
            stamp = _pointer_stamp(self.artifacts)
            if stamp is None or (not force and stamp == self._stamp):
                return False
            try:
                served = load_served(self.artifacts)
            except Exception as exc:  # a damaged or incompatible bundle must not take the API down
                # one line that names the bundle and the reason; never a server path or a traceback
                self.last_error = str(exc) if isinstance(exc, BundleError) else \
                    f"the new bundle could not be loaded ({type(exc).__name__})"
                self._stamp = stamp  # do not retry the same broken bundle every second
                log.error("new bundle not loaded, still serving %s: %s", self._current.bundle, self.last_error)
                return False
            self._stamp = stamp
            swapped = served.bundle != self._current.bundle or force or \
                (served.rec.default_lists is not None) != (self._current.rec.default_lists is not None)
            self._current = served  # the one reference requests read
            self.last_error = None
            self.reloads += 1
            log.info("serving bundle %s", served.bundle)
            return swapped

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            if _pointer_stamp(self.artifacts) != self._stamp:
                self.reload()

    def start_watching(self) -> None:
        if self.poll_seconds > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="bundle-watcher", daemon=True)
            self._thread.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wait_for(self, bundle: str, timeout: float = 30.0) -> bool:
        """Wait until `bundle` is live (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._current.bundle == bundle:
                return True
            time.sleep(0.05)
        return self._current.bundle == bundle
