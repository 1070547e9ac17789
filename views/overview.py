"""Overview: the store in numbers, its sales, its customers, and how the models were trained."""
import streamlit as st

from ui import charts, shell, widgets
from ui.fit import show_fit, show_ranker
from ui.overview import CLEANING_COLUMNS, cleaning_frame, kpis, thresholds_text, training_facts
from ui.state import customer_types, segment_counts
from ui.training import STAGE_LABELS

ctx = shell.require_model()
rec = ctx.rec
widgets.header("Overview", f"{ctx.source.label}: the store in numbers, its sales over time, and how the "
                           "models were trained.")

cols = st.columns([1, 1, 1, 1, 1, 2.1])
for col, (label, value, help_) in zip(cols, kpis(rec)):
    col.metric(label, value, help=help_, border=True)

left, right = st.columns([2.2, 1], gap="medium")
with left, st.container(border=True):
    head, pick = st.columns([1.2, 1], vertical_alignment="center")
    head.markdown("**Sales per week**")
    metric = pick.segmented_control("Measure", ["revenue", "baskets", "lines"], default="revenue",
                                    key="ov_metric", label_visibility="collapsed") or "revenue"
    charts.show(charts.weekly_sales(rec.state.weekly_sales, metric), key="weekly_sales")
with right, st.container(border=True):
    st.markdown("**Loyal and new customers**")
    by_type = customer_types(ctx.key)
    charts.show(charts.share_split(by_type.T.rename(index=str.capitalize)), key="loyal_new")
    for t, r in by_type.iterrows():
        st.caption(f"**{t.capitalize()}**: {int(r.customers):,} customers, {int(r.lines):,} lines, "
                   f"{widgets.money(r.revenue)} revenue, {widgets.money(r.revenue / max(r.customers, 1))} per customer")

left, right = st.columns([1, 1.2], gap="medium")
with left, st.container(border=True, height="stretch"):
    st.markdown("**Customers per spending segment**")
    counts = segment_counts(ctx.key)
    colours = charts.segment_colours()
    charts.show(charts.bars(counts.index, counts.values, [colours[s] for s in counts.index],
                            y_title="customers", height=250), key="segment_users")
    st.caption(f"Customers split by their average item price at the {thresholds_text(rec)} "
               "percentiles; more on the Segments page.")
facts, stages = training_facts(rec)
with right, st.container(border=True, height="stretch"):
    st.markdown("**Models**")
    grid = st.columns(3)
    for i, (label, value) in enumerate(facts):
        grid[i % 3].markdown(f":gray[{label}]  \n**{value}**")

with st.container(border=True):
    st.markdown("**How the hybrid fits this store**")
    show_fit(rec, "overview_fit")
    st.markdown("**The learned ranker**")
    show_ranker(rec, "overview_ranker")

left, right = st.columns([1, 1.6], gap="medium")
with left, st.container(border=True, height="stretch"):
    st.markdown("**Training time per stage**")
    if stages:
        charts.show(charts.timings(stages, STAGE_LABELS), key="timings")
    else:
        st.caption("The bundle records no stage timings.")
with right, st.container(border=True, height="stretch"):
    st.markdown("**Cleaning report**")
    report = rec.cleaning_report or {}
    if not report:
        st.caption("The bundle carries no cleaning report.")
    else:
        a, b, c = st.columns(3)
        a.metric("Lines read", f"{report.get('lines_in', 0):,}")
        b.metric("Lines removed", f"{report.get('lines_removed', 0):,}")
        c.metric("Lines trained on", f"{report.get('lines_out', 0):,}")
        # the rule and its line count only: items, users and examples need the Data page's width
        st.dataframe(cleaning_frame(report), hide_index=True, key="cleaning", column_config=CLEANING_COLUMNS,
                     column_order=["action", "reason", "lines"])
        st.caption("Removed lines are not trained on; flagged lines (duplicates, extreme quantities…) are "
                   "counted here and kept. Items, customers and examples of each rule: the Data and training page.")
        if report.get("guest_lines"):
            st.caption(f"Of the lines trained on, {report['guest_lines']:,} are guest lines ({report.get('guest_baskets', 0):,} "
                       "baskets without a customer id): they count for popularity, bought together and prices, "
                       "never as a customer.")
        if report.get("kinds"):
            st.caption("Non-product lines left out: " + "; ".join(f"{k} {v:,}" for k, v in report["kinds"].items()))
        if report.get("non_product_items"):
            st.caption("Non-product items removed: " + ", ".join(map(str, report["non_product_items"][:30]))
                       + (" …" if len(report["non_product_items"]) > 30 else ""))
