"""What training recorded about the hybrid's fit to the store (bundle metadata), as tables."""
from __future__ import annotations

from typing import Any

import pandas as pd

from recsys.serving.candidates import SOURCES


def weights_frame(fit: dict[str, Any]) -> pd.DataFrame:
    """The fitted blends as a table: one row per list kind, one column per source."""
    rows = {"loyal customers": fit["weights"], "newcomers (one trip)": fit["newcomer_weights"],
            "discovery (exclude purchased)": fit.get("discovery_weights", {})}
    return pd.DataFrame.from_dict(rows, orient="index").reindex(columns=list(SOURCES)).rename_axis("list")


def validation_frame(fit: dict[str, Any]) -> pd.DataFrame:
    """NDCG@10 of every model on the training run's validation window, one row per group of
    customers, with the paired-bootstrap CI of the fitted hybrid against the best single model."""
    rows = []
    for view, figures in fit.get("validation", {}).items():
        sig = fit.get("significance", {}).get(view, {})
        rows.append({"customers": view.replace("_", "-"), "users": fit.get("users", {}).get(view), **figures,
                     "best single": sig.get("against"), "hybrid - best": sig.get("diff"),
                     "CI low": sig.get("ci_low"), "CI high": sig.get("ci_high")})
    return pd.DataFrame(rows)


def ranker_frame(evidence: dict[str, Any]) -> pd.DataFrame:
    """Per list kind, on the later validation window: NDCG@10 of the learned ranker (trained on the
    earlier window), of the fitted blend and of every source, the ranker - blend difference with its
    paired-bootstrap 95% CI, and what serves that kind."""
    rows = [{"list": kind, **figures} for kind, figures in evidence.get("kinds", {}).items()]
    return pd.DataFrame(rows)


def ranker_importance_frame(evidence: dict[str, Any]) -> pd.DataFrame:
    """The features the ranker leans on most (share of LightGBM's total gain)."""
    return pd.DataFrame({"feature": list(evidence.get("importance", {})),
                         "gain share": list(evidence.get("importance", {}).values())})
