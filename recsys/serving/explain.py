"""Why each item is on a list: its source, a specific reason and the score breakdown."""
from __future__ import annotations

import numpy as np

from recsys.config import SEGMENTS
from recsys.pipeline import RankedLists

SEGMENT_LABELS = {"small": "small", "low_average": "low-average", "average": "average", "high": "high"}


def sources_of(lists: RankedLists, model: str) -> np.ndarray:
    """(batch, n) the model whose part of the blended score is largest (the asked model otherwise)."""
    if model != "hybrid" or not lists.parts:
        return np.full(lists.items.shape, model, dtype=object)
    names = np.array(list(lists.parts), dtype=object)
    return names[np.stack([lists.parts[m] for m in names]).argmax(axis=0)]


def reason(lists: RankedLists, r: int, j: int, source: str, segment: int, neighbours: float) -> str:
    """The reason of the j-th item of row r, in the analyst's words."""
    f = lists.facts
    days, cycle, count = f.days_since[r, j], f.cycle_days[r, j], int(f.count[r, j])
    ratio = days / cycle if count and np.isfinite(cycle) and cycle > 0 else np.nan
    if 1.0 <= ratio < 2.0:
        text = f"due again: you buy it about every {cycle:.0f} days, last {days:.0f} days ago"
    elif ratio >= 2.0:
        text = f"lapsed: you used to buy it about every {cycle:.0f} days, last {days:.0f} days ago"
    elif count and source != "popularity":
        text = f"you bought it {'once' if count == 1 else f'{count} times'}, last {days:.0f} days ago"
    elif source == "item_cf":
        k = int(neighbours)
        text = f"bought together with {k} item{'s' if k != 1 else ''} in your basket history"
    elif source == "als":
        text = "customers who shop like you buy it"
    else:
        text = f"popular with {SEGMENT_LABELS[SEGMENTS[segment]]} spenders"
    if lists.factors["upsell"][r, j] > 1.01:
        text += "; a step up from your usual price"
    return text


def breakdown(lists: RankedLists, r: int, j: int) -> dict[str, float]:
    """Each model's part of the score, then each re-ranking step's change, in order."""
    out = {f"model:{m}": round(float(p[r, j]), 6) for m, p in lists.parts.items()}
    running = sum(float(p[r, j]) for p in lists.parts.values())
    for step, f in lists.factors.items():
        after = running * float(f[r, j])
        out[f"rerank:{step}"] = round(after - running, 6)
        running = after
    if lists.scale != 1.0:  # boosts can lift a score above 1: relevance divides by the largest lift
        out["rerank:rescale"] = round(running / lists.scale - running, 6)
    return out
