"""Request and response bodies: pydantic mirrors of the library's response dataclasses
(recsys.serving.service Recommendation / RecommendationResponse / SimilarItemsResponse).

Response models allow extra fields, so a field the library adds later passes through."""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from recsys.config import MODELS, SEGMENTS, check_price_range

CONFIG_NAME_HELP = ("a saved configuration beside the served models (`python -m recsys configs`, or saved on the "
                    "dashboard): its knobs instead of the trained ones; refused when it needs a retrain")
ModelName = Literal[MODELS]  # type: ignore[valid-type]
Segment = Literal[SEGMENTS]  # type: ignore[valid-type]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Recommendation(_Open):
    item_id: str
    relevance_score: float
    confidence_score: float
    item_price: float
    recommendation_reason: str
    model_source: str
    score_breakdown: dict[str, float] = Field(default_factory=dict)
    item_name: Optional[str] = None
    category: Optional[str] = None


class UserInfo(_Open):
    user_id: str
    user_type: str
    spending_segment: str
    total_purchases: int
    unique_items: int
    avg_item_price: float
    last_purchase_date: Optional[str] = None


class RecommendationResponse(_Open):
    user_id: str
    user_info: UserInfo
    recommendations: list[Recommendation]
    primary_model: str
    fallback_used: bool
    processing_time_ms: float
    generated_at: str
    as_of: str = ""
    filtered: dict[str, int] = Field(default_factory=dict)
    candidates_considered: int = 0
    ignored_items: list[str] = Field(default_factory=list, description="item ids of `history` the models never "
                                     "saw: left out of the basket (the answer is for the rest)")
    served_by: Literal["precomputed", "live"] = Field("live", description="'precomputed': read from the customer's "
                                                      "default list, computed after training; 'live': through the "
                                                      "pipeline (any knob, filter, basket, model or as-of time)")


class HistoryLine(BaseModel):
    """One purchase of a basket given with the request (a customer unseen at training)."""

    model_config = ConfigDict(extra="forbid")
    item_id: str
    quantity: Optional[float] = Field(None, gt=0)
    price: Optional[float] = Field(None, ge=0)
    timestamp: Optional[str] = None


class RecommendationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "user_id": "new-customer", "num_recommendations": 5, "model_type": "hybrid",
        "history": [{"item_id": "I00001", "quantity": 2}], "config": {"rerank": {"upsell_factor": 1.0}}}]})
    user_id: str
    num_recommendations: int = Field(5, ge=1, le=200)
    model_type: ModelName = "hybrid"
    exclude_purchased: bool = False
    price_range_min: Optional[float] = Field(None, ge=0)
    price_range_max: Optional[float] = Field(None, ge=0)
    timestamp: Optional[str] = None
    history: Optional[list[HistoryLine]] = Field(None, max_length=1000)
    config_name: Optional[str] = Field(None, max_length=80, description=CONFIG_NAME_HELP)
    config: Optional[dict[str, dict[str, Any]]] = Field(
        None, description="request-time knob overrides by TuningConfig section, e.g. {\"rerank\": {\"upsell_factor\": 1.0}} "
                          "(over `config_name` when both are given)")

    @model_validator(mode="after")
    def _price_range(self) -> "RecommendationRequest":
        check_price_range(self.price_range_min, self.price_range_max)  # the library's one check
        return self


class SimilarItem(_Open):
    item_id: str
    relevance_score: float
    confidence_score: float
    item_price: float
    co_purchase_count: int
    item_name: Optional[str] = None
    category: Optional[str] = None


class SimilarItemsResponse(_Open):
    item_id: str
    similar_items: list[SimilarItem]
    processing_time_ms: float
    model: str = "item_cf"


class PopularItem(_Open):
    rank: int
    item_id: str
    popularity_score: float
    price: float
    purchase_count: Optional[float] = Field(None, description="store-wide sales lines (overall lists)")
    unique_buyers: Optional[float] = Field(None, description="store-wide distinct buyers (overall lists)")
    total_quantity: Optional[float] = Field(None, description="store-wide units (overall lists)")
    segment_buyers: Optional[int] = Field(None, description="distinct buyers within the segment (segment lists)")
    share_of_segment: Optional[float] = Field(None, description="share of the segment's customers who bought it")
    store_buyers: Optional[float] = Field(None, description="store-wide distinct buyers (segment lists)")


class PopularItemsResponse(BaseModel):
    segment: Optional[str]
    items: list[PopularItem]


class TogetherItem(_Open):
    item_id: str
    item_price: float
    together: int = Field(description="baskets holding both items")
    support: float = Field(description="share of all baskets holding both")
    confidence: float = Field(description="P(this item | the query item)")
    lift: float = Field(description="confidence / P(this item): above 1 = more often than chance")


class BoughtTogetherResponse(BaseModel):
    item_id: str
    min_support: float
    min_lift: float
    min_count: int
    sort_by: str
    items: list[TogetherItem]


class UsersPage(BaseModel):
    total: int
    offset: int
    limit: int
    users: list[dict[str, Any]]


class ReloadResponse(BaseModel):
    reloaded: bool
    bundle: str
    loaded_at: str
