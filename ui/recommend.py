"""Frames the Recommendations page shows, built from Recommender responses (no Streamlit)."""
from __future__ import annotations

import itertools

import pandas as pd

from recsys import Recommender

from ui.knobs import Request
from ui.state import MODEL_ORDER, SOURCE_LABELS


def recommendation_frame(resp) -> pd.DataFrame:
    """The response as a table: rank first, model sources in words, the breakdown kept for charts."""
    frame = resp.to_frame()
    frame.insert(0, "rank", range(1, len(frame) + 1))
    frame["model_source"] = frame["model_source"].map(lambda s: SOURCE_LABELS.get(s, s))
    return frame


def compare_models(rec: Recommender, user: str, req: Request,
                   colour: str = "#0f766e") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(wide, overlap, shared): every model's top-n side by side (as a Styler shading shared
    items), the pairwise overlap counts, and the items more than one model recommends."""
    lists: dict[str, list[str]] = {}
    prices: dict[str, float] = {}
    for model in MODEL_ORDER:
        resp = rec.recommend(user, n=req.n, model=model, timestamp=req.timestamp,
                             exclude_purchased=req.exclude_purchased, config=req.config)
        lists[SOURCE_LABELS[model]] = [r.item_id for r in resp.recommendations]
        prices.update({r.item_id: r.item_price for r in resp.recommendations})
    width = max((len(v) for v in lists.values()), default=0)
    wide = pd.DataFrame({name: ids + [""] * (width - len(ids)) for name, ids in lists.items()})
    wide.insert(0, "#", range(1, width + 1))

    names = list(lists)
    overlap = pd.DataFrame(0, index=names, columns=names)
    for a, b in itertools.product(names, names):
        overlap.loc[a, b] = len(set(lists[a]) & set(lists[b]))

    by_item: dict[str, list[str]] = {}
    for name, ids in lists.items():
        for item in ids:
            by_item.setdefault(item, []).append(name)
    shared = pd.DataFrame([{"item_id": i, "n_models": len(m), "models": m, "item_price": prices[i]}
                           for i, m in by_item.items() if len(m) > 1],
                          columns=["item_id", "n_models", "models", "item_price"])
    shared = shared.sort_values(["n_models", "item_id"], ascending=[False, True]).reset_index(drop=True)

    rgb = ", ".join(str(int(colour.lstrip("#")[i:i + 2], 16)) for i in (0, 2, 4))
    counts = {i: len(m) for i, m in by_item.items()}
    top = max(len(names), 2)

    def shade(value: str) -> str:
        k = counts.get(value, 0)
        if k < 2:
            return ""
        alpha = 0.12 + 0.5 * (k - 1) / (top - 1)
        return f"background-color: rgba({rgb}, {alpha:.2f})"

    styled = wide.style.map(shade, subset=names)
    return styled, overlap, shared
