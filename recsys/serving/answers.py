"""The answers the facade returns: plain dataclasses with `to_dict()`, shared by every face."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd


@dataclass
class Recommendation:
    item_id: str
    relevance_score: float
    confidence_score: float
    item_price: float
    recommendation_reason: str
    model_source: str
    score_breakdown: dict[str, float] = field(default_factory=dict)
    item_name: str = ""
    category: str = ""


@dataclass
class RecommendationResponse:
    user_id: str
    user_info: dict[str, Any]
    recommendations: list[Recommendation]
    primary_model: str
    fallback_used: bool
    processing_time_ms: float
    generated_at: str
    as_of: str = ""
    filtered: dict[str, int] = field(default_factory=dict)
    candidates_considered: int = 0
    # item ids of a call-time history the models never saw: left out of the basket, never dropped silently
    ignored_items: list[str] = field(default_factory=list)
    # "precomputed": read from the default lists computed after training; "live": through the pipeline
    served_by: str = "live"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(r) for r in self.recommendations],
                            columns=[f for f in Recommendation.__dataclass_fields__])


@dataclass
class SimilarItemsResponse:
    item_id: str
    similar_items: list[dict[str, Any]]
    processing_time_ms: float
    model: str = "item_cf"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
