"""Background jobs of the dashboard (training, evaluation): one registry for the whole process.

A job runs in a thread of its own, so it finishes (and writes its result to disk) even when the
browser tab that started it is closed; every session asking for the same key meanwhile joins the
running job and follows its progress instead of starting a second one.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import streamlit as st

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One background run: its progress as the worker reports it, then its result or error."""

    key: str
    target: Any = None      # what the job works on (for the pages to show)
    started: float = field(default_factory=time.time)
    message: str = "starting"
    fraction: float = 0.0
    stages: dict[str, tuple[float, str]] = field(default_factory=dict)  # per-stage progress (training)
    result: Any = None
    error: BaseException | None = None
    finished: float | None = None
    _finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float) -> bool:
        """Block up to `timeout` seconds; True once the job is done."""
        return self._finished.wait(timeout)

    @property
    def elapsed(self) -> float:
        return (self.finished or time.time()) - self.started

    def report(self, message: str, fraction: float) -> None:
        """The worker's progress callback: a message and a fraction in [0, 1]."""
        self.message, self.fraction = message, min(max(float(fraction), 0.0), 1.0)


@st.cache_resource
def _registry() -> dict[str, Job]:
    """Running (and just finished) jobs by key, shared by every session of the process."""
    return {}


_guard = threading.Lock()


def get(key: str) -> Job | None:
    return _registry().get(key)


def start_or_join(key: str, work: Callable[[Job], Any], target: Any = None) -> tuple[Job, bool]:
    """The running job of `key`, or a new one running `work(job)` in a thread; and whether the
    job was already running (started by this or another session)."""
    with _guard:
        job = _registry().get(key)
        if job is not None and not job.done:
            return job, True
        job = _registry()[key] = Job(key, target)
    threading.Thread(target=_run, args=(job, work), name=f"job-{key}", daemon=True).start()
    return job, False


def forget(job: Job) -> None:
    """Drop a finished job (its result is on disk; its error has been shown)."""
    with _guard:
        if _registry().get(job.key) is job:
            del _registry()[job.key]


def _run(job: Job, work: Callable[[Job], Any]) -> None:
    try:
        job.result = work(job)
    except BaseException as exc:  # shown to whichever session follows the job
        log.warning("background job %s failed: %s", job.key, exc, exc_info=True)
        job.error = exc
    finally:
        job.finished = time.time()
        job._finished.set()
