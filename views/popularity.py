"""Popularity: the best sellers, what their popularity is made of, and how they trend."""
import pandas as pd
import streamlit as st

from recsys.config import SEGMENTS
from recsys.serving.explain import SEGMENT_LABELS
from ui import catalogue, charts, shell, state, tables, widgets
from ui.popularity import components_frame, trend_frame

ctx = shell.require_model()
rec = ctx.rec
widgets.follow_similar_link()
widgets.header("Popularity", "Items ranked by weighted popularity: purchases, distinct buyers and units "
                             "sold, each scaled to its maximum. Open an item to see what sells with it.")

with st.container(border=True):
    a, b = st.columns([1, 2], vertical_alignment="bottom")
    segment = a.selectbox("Customers", [None, *SEGMENTS], key="pop_segment", persist_state="session",
                          format_func=lambda s: "All customers" if s is None else f"{SEGMENT_LABELS[s]} spenders")
    n = b.slider("Top items", 5, 100, 20, key="pop_n", persist_state="session")

top = catalogue.with_names(rec.popular_items(n, segment=segment), ctx.key)
top.insert(0, "open", "Similar")
weights = rec.config.popularity
left, right = st.columns([1.5, 1], gap="medium")
with left, st.container(border=True):
    st.markdown("**Top items**" + ("" if segment is None else
                                   f" · scored by distinct buyers among {SEGMENT_LABELS[segment]} spenders"))
    st.dataframe(top, hide_index=True, key="pop_table", height=38 + 35 * min(len(top), 20),
                 column_config={"open": st.column_config.ButtonColumn(
                     "", type="tertiary", key="pop_open", width=66,
                     on_click=widgets.open_clicked, args=("pop_open", top["item_id"].tolist()),
                     help="Open its similar items"), **tables.POPULAR},
                 column_order=["open", *[c for c in tables.POPULAR if c != "rank" and c in top.columns]])
with right, st.container(border=True):
    st.markdown(f"**What the popularity is made of** · weights: purchases {weights.purchase_weight:g}, "
                f"buyers {weights.buyers_weight:g}, units {weights.quantity_weight:g}")
    comp = components_frame(rec, top["item_id"].head(20).tolist())
    charts.show(charts.popularity_components(comp, {"purchase_count": weights.purchase_weight,
                                                    "unique_buyers": weights.buyers_weight,
                                                    "total_quantity": weights.quantity_weight}), key="pop_parts")

left, right = st.columns([1.15, 1], gap="medium")
with left, st.container(border=True):
    head, smooth = st.columns([2, 1], vertical_alignment="center")
    head.markdown("**Weekly trend of the top items**")
    weeks = 4 if smooth.toggle("4-week average", value=True, key="pop_smooth") else 1
    weekly = rec.state.weekly_item_sales
    available = weekly["item_id"].drop_duplicates().tolist()
    default = [i for i in top["item_id"] if i in set(available)][:5] or available[:5]
    chosen = st.multiselect("Items", available, default=default, key="pop_trend_items", max_selections=10,
                            label_visibility="collapsed", placeholder="Pick items (the top 50 sellers)")
    if chosen:
        charts.show(charts.trend_lines(trend_frame(weekly, chosen, weeks)), key="pop_trend")
    else:
        st.caption("Pick up to ten items to see their weekly sales.")
with right, st.container(border=True):
    points = state.scatter_items(ctx.key)
    every = len(points) == rec.state.n_items
    if not every:  # the listed items are always drawn
        listed = rec.items().iloc[rec.item_codes(top["item_id"])][points.columns]
        points = pd.concat([points, listed], ignore_index=True).drop_duplicates("item_id")
    st.markdown("**Price against popularity** · " + ("every item" if every else
                f"the {state.SCATTER_ITEMS // 2:,} most popular items and {len(points) - state.SCATTER_ITEMS // 2:,} "
                f"others drawn at random (of {rec.state.n_items:,})") + "; the top items highlighted")
    charts.show(charts.price_vs_popularity(points, set(top["item_id"])), key="pop_scatter")

if catalogue.has_categories(ctx.key):
    with st.container(border=True):
        st.markdown("**Sales by category** · lines, units and items of each category; share of all sales lines")
        st.dataframe(catalogue.category_table(ctx.key), hide_index=True, key="pop_categories",
                     height=38 + 35 * 12, column_config={
                         "category": tables.CATEGORY, "items": st.column_config.NumberColumn("Items", format="%d"),
                         "lines": st.column_config.NumberColumn("Lines", format="%d"),
                         "units": st.column_config.NumberColumn("Units", format="%.0f"),
                         "avg_price": st.column_config.NumberColumn("Median price", format="%.2f"),
                         "share": st.column_config.ProgressColumn("Share of lines", min_value=0.0, max_value=1.0,
                                                                  format="percent")})
