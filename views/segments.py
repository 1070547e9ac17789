"""Spending segments: who is in them, what they buy, and how their recommendations differ."""
import streamlit as st

from ui import catalogue, charts, shell, state, tables, widgets
from ui.segments import (
    PRICE_POINTS,
    price_points,
    recommendations_by_segment,
    sample_sizes,
    sampled_frame,
    segment_filter_on,
    segment_overview,
    top_items_by_segment,
)

ctx = shell.require_model()
rec = ctx.rec
widgets.header("Segments", "Customers fall into four spending segments by their average item price. " + (
    "The segment filter is on: items a customer never bought priced above the segment's price cap are filtered "
    "out of their recommendations." if segment_filter_on(ctx) else
    "The segment filter is off: recommendations may hold items above the segment's price cap (switch it on "
    "among the knobs of the Recommendations page)."))

table, cuts, thresholds = segment_overview(ctx.key)
with st.container(border=True):
    st.markdown("**Thresholds** · percentiles " + ", ".join(f"{t:.0%}" for t in thresholds)
                + " of the customers' average item price")
    st.dataframe(table.assign(total_spend=table["total_spend"].round().astype("int64")), hide_index=True,
                 key="segment_table", column_config={
        "segment": st.column_config.TextColumn("Segment"),
        "price_range": st.column_config.TextColumn("Average item price"),
        "customers": st.column_config.NumberColumn("Customers", format="localized"),
        "total_spend": st.column_config.NumberColumn("Total spend", format="localized"),
        "avg_item_price": st.column_config.NumberColumn("Mean avg item price", format="%.2f"),
        "price_cap": st.column_config.NumberColumn("Price cap", format="%.2f",
                                                   help="Segment filter: new items above this price are not recommended"),
    })

colours = charts.segment_colours()
segs = table["segment"].tolist()
a, b, c = st.columns([1, 1, 1.5], gap="medium")
with a, st.container(border=True):
    st.markdown("**Customers**")
    charts.show(charts.bars(segs, table["customers"], [colours[s] for s in segs], height=260), key="seg_users")
with b, st.container(border=True):
    st.markdown("**Total spend**")
    charts.show(charts.bars(segs, table["total_spend"], [colours[s] for s in segs], height=260), key="seg_spend")
with c, st.container(border=True):
    st.markdown("**Average item price per customer**")
    points = price_points(ctx.key)
    charts.show(charts.price_distribution(points, cuts), key="seg_price")
    if len(points) < int(table["customers"].sum()):
        st.caption(f"Points: a random sample of up to {PRICE_POINTS:,} customers per segment.")

with st.container(border=True):
    head, pick = st.columns([3, 1], vertical_alignment="center")
    head.markdown("**What each segment buys most** · by distinct buyers within the segment")
    n_top = pick.slider("Items per segment", 5, 25, 8, key="seg_top_n", persist_state="session")
    tops = top_items_by_segment(ctx.key, n_top)
    cols = st.columns(len(tops))
    for col, (seg, frame) in zip(cols, tops.items()):
        with col:
            st.markdown(f"**{seg}**")
            st.dataframe(catalogue.with_names(frame, ctx.key), hide_index=True, key=f"seg_top_{seg}", column_config={
                "item_id": st.column_config.TextColumn("Item"), "item_name": tables.NAME, "category": tables.CATEGORY,
                "buyers": st.column_config.NumberColumn("Buyers", format="localized"),
                "price": st.column_config.NumberColumn("Price", format="%.2f")})

if catalogue.has_categories(ctx.key):
    with st.container(border=True):
        st.markdown("**Categories each segment buys** · share of the segment's sales lines")
        st.dataframe(catalogue.segment_categories(ctx.key), hide_index=True, key="seg_categories",
                     column_config={"#": st.column_config.NumberColumn(width=36, format="%d")})

with st.container(border=True):
    head, opt = st.columns([3, 1], vertical_alignment="center")
    tuned = opt.toggle("Use my knobs", value=True, key="seg_use_knobs",
                       help="Apply the knobs set on the Recommendations page (else the trained defaults)")
    frame = sampled_frame(ctx, tuned)
    if frame is None:
        head.markdown("**How recommendations differ by segment**")
        st.info("These models were trained before the segment summary existed: retrain them (Data and training) "
                "to see what each segment is recommended.")
        st.stop()
    sizes = sample_sizes(frame)
    head.markdown(f"**How recommendations differ by segment** · {state.MODEL_LABELS[ctx.model]}, top 10 of a random "
                  f"sample of customers per segment ({', '.join(f'{seg} {n:,}' for seg, n in sizes.items())})")
    summary, sources, favourites = recommendations_by_segment(frame)
    a, b = st.columns(2, gap="medium")
    with a:
        charts.show(charts.grouped_bars(summary, "segment", {"customer_price": "customers' average item price",
                                                             "recommended_price": "average recommended price"},
                                        "price"), key="seg_rec_price")
    with b:
        charts.show(charts.share_bars(sources, "segment", "model_source"), key="seg_rec_sources")
    st.markdown("**Items recommended to the most customers of each segment** · share of the sampled "
                "customers whose list holds the item")
    st.dataframe(favourites, hide_index=True, key="seg_favourites",
                 column_config={"#": st.column_config.NumberColumn(width=36, format="%d")})
