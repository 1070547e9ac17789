"""Why each item is on a list: its source, a specific reason and the score breakdown.

Reasons are made for a whole batch at once: each (user, item) gets a kind and up to two whole
numbers, the distinct (kind, numbers) are formatted once, and every item points at its text; a
batch of a million customers formats a few thousand strings, not ten million."""
from __future__ import annotations

import numpy as np

from recsys.config import SEGMENTS
from recsys.serving.pipeline import RankedLists

SEGMENT_LABELS = {"small": "small", "low_average": "low-average", "average": "average", "high": "high"}
UPSELL_MARK = 1.01  # an upsell factor above this says "a step up from your usual price"
# reason kinds; the text of each, with its numbers a and b
DUE, LAPSED, BOUGHT, TOGETHER, ALIKE, POPULAR, NEIGHBOURS = range(7)
# the parts of a score that can be an item's source: the models (the learned ranker's other
# feature groups, customer and item facts, explain a score but are no source)
SOURCE_PARTS = ("repeat", "als", "item_cf", "popularity", "neighbours")


def sources_of(lists: RankedLists, model: str) -> np.ndarray:
    """(batch, n) the source whose part of the score is largest (the asked model otherwise)."""
    names = np.array([m for m in lists.parts if m in SOURCE_PARTS], dtype=object)
    if model != "hybrid" or not len(names):
        return np.full(lists.items.shape, model, dtype=object)
    return names[np.stack([lists.parts[m] for m in names]).argmax(axis=0)]


def _text(kind: int, a: int, b: int, upsell: bool) -> str:
    if kind == DUE:
        text = f"due again: you buy it about every {a} days, last {b} days ago"
    elif kind == LAPSED:
        text = f"lapsed: you used to buy it about every {a} days, last {b} days ago"
    elif kind == BOUGHT:
        text = f"you bought it {'once' if a == 1 else f'{a} times'}, last {b} days ago"
    elif kind == TOGETHER:
        text = f"bought together with {a} item{'s' if a != 1 else ''} in your basket history"
    elif kind == ALIKE:
        text = "customers who shop like you buy it"
    elif kind == NEIGHBOURS:
        text = "customers whose baskets look like yours buy it"
    else:
        text = f"popular with {SEGMENT_LABELS[SEGMENTS[a]]} spenders"
    return text + ("; a step up from your usual price" if upsell else "")


def reasons(lists: RankedLists, sources: np.ndarray, segments: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """(batch, n) the reason of every listed item, in the analyst's words ('' where no item).

    `neighbours`: (batch, n) how many of the user's past items list the item as a neighbour."""
    f = lists.facts
    count = f.count.astype(np.int64)
    cycle, days = f.cycle_days, f.days_since
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where((count > 0) & np.isfinite(cycle) & (cycle > 0), days / cycle, np.nan)
    kind = np.select(
        [(ratio >= 1.0) & (ratio < 2.0), ratio >= 2.0, (count > 0) & (sources != "popularity"),
         sources == "item_cf", sources == "als", sources == "neighbours"],
        [DUE, LAPSED, BOUGHT, TOGETHER, ALIKE, NEIGHBOURS], POPULAR)
    whole = lambda x: np.rint(np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)).astype(np.int64)  # noqa: E731
    seg = np.broadcast_to(np.asarray(segments, np.int64)[:, None], kind.shape)
    a = np.select([kind <= LAPSED, kind == BOUGHT, kind == TOGETHER, kind == POPULAR],
                  [whole(cycle), count, whole(neighbours), seg], 0)
    b = np.where(kind <= BOUGHT, whole(days), 0)
    upsell = lists.factors["upsell"] > UPSELL_MARK
    # one int64 key per (kind, a, b, upsell): a and b are days or counts, far below 2**28
    key = (((kind.astype(np.int64) << 1 | upsell) << 28 | np.clip(a, 0, (1 << 28) - 1)) << 28
           | np.clip(b, 0, (1 << 28) - 1))
    uniq, inverse = np.unique(key[lists.valid], return_inverse=True)
    texts = np.array([_text(int(k >> 57), int(k >> 28 & (1 << 28) - 1), int(k & (1 << 28) - 1), bool(k >> 56 & 1))
                      for k in uniq], dtype=object)  # one per distinct reason
    out = np.full(kind.shape, "", dtype=object)
    out[lists.valid] = texts[inverse.ravel()] if len(uniq) else []
    return out


def breakdown(lists: RankedLists, r: int, j: int) -> dict[str, float]:
    """Each model's part of the score, then each re-ranking step's change, in order."""
    return score_breakdown({m: float(p[r, j]) for m, p in lists.parts.items()},
                           {step: float(f[r, j]) for step, f in lists.factors.items()}, lists.scale)


def score_breakdown(parts: dict[str, float], factors: dict[str, float], scale: float) -> dict[str, float]:
    """The breakdown of one listed item from its parts (model -> share of the blended score), its
    re-ranking factors (step -> multiplier, in order) and the relevance scale."""
    out = {f"model:{m}": round(p, 6) for m, p in parts.items()}
    running = sum(parts.values())
    for step, f in factors.items():
        after = running * f
        out[f"rerank:{step}"] = round(after - running, 6)
        running = after
    if scale != 1.0:  # boosts can lift a score above 1: relevance divides by the largest lift
        out["rerank:rescale"] = round(running / scale - running, 6)
    return out
