"""`st.dataframe` column configs shared by the pages."""
from __future__ import annotations

import streamlit as st

cc = st.column_config

PRICE = cc.NumberColumn("Price", format="%.2f", width="small")
NAME = cc.TextColumn("Name", width="medium")
CATEGORY = cc.TextColumn("Category", width="small")


# Progress bars need room beside their figure: at width "small" the bar shrank to a dot.
BAR_WIDTH = 110


def relevance(label: str = "Relevance") -> cc.ProgressColumn:
    return cc.ProgressColumn(label, min_value=0.0, max_value=1.0, format="%.2f", width=BAR_WIDTH,
                             help="Score after blending and re-ranking, scaled to 0–1")


def confidence(label: str = "Confidence", width: int = BAR_WIDTH) -> cc.ProgressColumn:
    return cc.ProgressColumn(label, min_value=0.0, max_value=1.0, format="percent", width=width,
                             help="Calibrated chance that the customer buys it within four weeks "
                                  "(for similar items: share of the query item's baskets that also hold it)")


# The Recommendations list fits beside the knob panel at 1440 px (about 720 px; it scrolled sideways
# and cut the price off): the reason keeps room for a whole sentence, the bar its 100 px, and the
# relevance (the chart below draws each score and its parts) is in the downloaded CSV, not a column.
RECOMMENDATIONS = {  # in display order: the why beside the item, so it is read, not scrolled to
    "rank": cc.NumberColumn("#", width=34, format="%d"),
    "item_id": cc.TextColumn("Item", width=96),
    "item_name": cc.TextColumn("Name", width=130),
    "category": CATEGORY,
    "recommendation_reason": cc.TextColumn("Why", width=354),  # ~6 px a character of the longest reason
    "confidence_score": confidence(width=100),  # a bar needs 100 px beside its figure
    "item_price": cc.NumberColumn("Price", format="%.2f", width=56),
    "model_source": cc.TextColumn("Source", width=74, help="The model that contributed most"),
}

HISTORY = {
    "timestamp": cc.DatetimeColumn("When", format="D MMM YYYY, HH:mm"),
    "item_id": cc.TextColumn("Item"),
    "quantity": cc.NumberColumn("Units", format="%g", width="small"),
    "price": PRICE,
}

SIMILAR = {
    "item_id": cc.TextColumn("Item", width=100),
    "item_name": NAME,
    "category": CATEGORY,
    "relevance_score": relevance(),
    "confidence_score": confidence(),
    "item_price": PRICE,
    "co_purchase_count": cc.NumberColumn("Together", format="%d", width=70,
                                         help="Co-purchases: baskets holding both items"),
}

POPULAR = {
    "rank": cc.NumberColumn("#", width=36, format="%d"),
    "item_id": cc.TextColumn("Item", width=105),
    "item_name": NAME,
    "category": CATEGORY,
    "popularity_score": cc.ProgressColumn("Popularity", min_value=0.0, max_value=1.0, format="%.2f", width=BAR_WIDTH),
    "price": cc.NumberColumn("Price", format="%.2f", width=60),
    "purchase_count": cc.NumberColumn("Lines", format="localized", width=60, help="Sales lines holding the item"),
    "unique_buyers": cc.NumberColumn("Buyers", format="localized", width=62, help="Distinct customers who bought it"),
    "total_quantity": cc.NumberColumn("Units", format="localized", width=60, help="Units sold"),
    "segment_buyers": cc.NumberColumn("Buyers here", format="localized", width=80,
                                      help="Distinct customers of this segment who bought it"),
    "share_of_segment": cc.NumberColumn("Share", format="percent", width=60,
                                        help="Share of the segment's customers who bought it"),
    "store_buyers": cc.NumberColumn("All buyers", format="localized", width=72,
                                    help="Distinct customers of the whole store who bought it"),
}

TOGETHER = {  # recsys.serving.together's rules: bought together more often than chance
    "item_id": cc.TextColumn("Item", width=110),
    "item_name": cc.TextColumn("Name"),
    "item_price": PRICE,
    "together": cc.NumberColumn("Baskets", format="%d", width=70, help="Baskets holding both"),
    "support": cc.NumberColumn("Support", format="%.4f", width=80, help="Share of all baskets holding both"),
    "confidence": cc.ProgressColumn("Confidence", min_value=0.0, max_value=1.0, format="percent", width="small",
                                    help="P(this item | the other): share of the other's baskets holding this one too"),
    "lift": cc.NumberColumn("Lift", format="%.2f", width=60,
                            help="Confidence / the item's own share of baskets: above 1 = more often than chance"),
    "with_item": cc.TextColumn("With", width=110, help="The basket item of the strongest rule"),
    "with_items": cc.NumberColumn("Goes with", format="%d", width=75, help="Basket items it is bought with"),
}
