"""Frames the Recommendations page shows, built from Recommender responses (no Streamlit)."""
from __future__ import annotations

import itertools
from dataclasses import fields

import pandas as pd

from recsys import Recommender
from recsys.serving.answers import Recommendation
from ui.knobs import Request
from ui.state import MODEL_ORDER, SOURCE_LABELS

COLUMNS = [f.name for f in fields(Recommendation)]


def recommendation_frame(resp) -> pd.DataFrame:
    """The response as a table: rank first, model sources in words, the breakdown kept for charts.

    Built column by column from the attributes (on every knob move): `resp.to_frame()` goes
    through `dataclasses.asdict`, which deep-copies every score breakdown."""
    recs = resp.recommendations
    columns = {"rank": list(range(1, len(recs) + 1))}
    columns.update({name: [getattr(r, name) for r in recs] for name in COLUMNS})
    columns["model_source"] = [SOURCE_LABELS.get(s, s) for s in columns["model_source"]]
    return pd.DataFrame(columns, columns=list(columns))


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
