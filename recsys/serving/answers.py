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
        # field by field (what dataclasses.asdict gives, ~5x faster: it deep-copies through every
        # value; a served answer is turned into JSON once per request)
        out = {f: getattr(self, f) for f in RESPONSE_FIELDS}
        out["user_info"] = dict(self.user_info)
        out["recommendations"] = [{**r.__dict__, "score_breakdown": dict(r.score_breakdown)}
                                  for r in self.recommendations]
        out["filtered"], out["ignored_items"] = dict(self.filtered), list(self.ignored_items)
        return out

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(r) for r in self.recommendations],
                            columns=[f for f in Recommendation.__dataclass_fields__])


RESPONSE_FIELDS = tuple(RecommendationResponse.__dataclass_fields__)


@dataclass
class SimilarItemsResponse:
    item_id: str
    similar_items: list[dict[str, Any]]
    processing_time_ms: float
    model: str = "item_cf"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
