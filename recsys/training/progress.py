"""Progress and timings of a training run: each stage named, timed and reported as it goes."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

# progress(stage, fraction_of_stage_done, message)
Progress = Callable[[str, float, str], None]
STAGES = ("load", "clean", "features", "als", "item_cf", "popularity", "repurchase_cycles", "neighbours",
          "repeat_learner", "validation", "hybrid_fit", "ranker", "calibration", "segment_summary", "save",
          "default_lists")


def quiet(stage: str, fraction: float, message: str) -> None:
    """A progress callback that reports nothing."""
    return None


@dataclass
class StageTimer:
    """Times each training stage and reports progress as it goes."""

    progress: Progress = quiet
    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        """Seconds since the timer was made (stages may overlap: the validation refit runs beside others)."""
        return time.perf_counter() - self.started

    @contextmanager
    def stage(self, name: str, message: str = "") -> Iterator[None]:
        self.progress(name, 0.0, message or name)
        t0 = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t0, 4)
        self.progress(name, 1.0, f"{name} done in {self.timings[name]:.2f} s")
