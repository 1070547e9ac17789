"""Recommendations for one customer, with live knobs, the why of each score and a model comparison."""
import streamlit as st

from ui import catalogue, charts, html_charts, knobs, shell, state, tables, widgets
from ui.recommend import compare_models, recommendation_frame

ctx = shell.require_model()
widgets.header("Recommendations", "The list one customer gets, re-ranked live as you move the knobs "
                                  "(no retraining); the customer and the model are chosen in the sidebar.")
shell.guarded(widgets.customer_card)(ctx.rec, ctx.user)


@st.fragment
@shell.guarded
def panel(key: state.ModelKey, user: str, model: str) -> None:
    """Knobs and everything they change: rerun alone when a knob moves."""
    rec = state.recommender(key)
    left, right = st.columns([1, 3.2], gap="medium")
    with left:
        req = knobs.knob_panel(rec, key, model)
    with right:
        for note in req.notes:
            st.warning(note)
        resp = rec.recommend(user, n=req.n, model=model, timestamp=req.timestamp,
                             exclude_purchased=req.exclude_purchased, config=req.config)
        frame = catalogue.with_names(recommendation_frame(resp), key)
        if categories := catalogue.categories_of(frame, key):
            chosen = st.multiselect("Categories", categories, key="rec_categories", placeholder="All categories",
                                    help="Show only the items of these categories (of this list)")
            frame = catalogue.filter_by_category(frame, key, chosen)
        profile = resp.user_info
        m = st.columns(4)
        m[0].metric("Request time", f"{resp.processing_time_ms:.1f} ms", border=True,
                    help="Server-side time of this recommend() call")
        m[1].metric("Items", f"{len(frame)}", border=True,
                    delta=None if len(frame) == req.n else f"{len(frame) - req.n} short", delta_color="off")
        avg = frame["item_price"].mean() if len(frame) else 0.0
        m[2].metric("List avg price", widgets.money(avg), border=True,
                    delta=f"{avg - profile['avg_item_price']:+.2f} vs usual" if len(frame) else None,
                    delta_color="off", help="Against the customer's average item price")
        removed = sum(resp.filtered.values())
        m[3].metric("Filtered out", f"{removed:,}", border=True,
                    help="; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in resp.filtered.items()) or None)
        if resp.fallback_used:
            st.info("Unknown customer: popular items of the default segment are shown.")

        tab_list, tab_compare = st.tabs([":material/list: List and why", ":material/compare: Compare models"],
                                        key="rec_view", on_change="rerun")
        with tab_list:
            if tab_list.open is False:
                pass  # hidden: its table and charts would be built for nothing
            elif frame.empty:
                st.info("No item passes the filters: widen the price range or switch off a filter.")
            else:
                table = frame.drop(columns=["score_breakdown"] + _blank_columns(frame))
                st.dataframe(table, hide_index=True, key="rec_table", column_config=tables.RECOMMENDATIONS,
                             column_order=[c for c in tables.RECOMMENDATIONS if c in table.columns])
                st.download_button("Download this list (CSV)", lambda: table.to_csv(index=False),  # on click only
                                   file_name=f"recommendations-{user}.csv", mime="text/csv",
                                   icon=":material/download:", type="tertiary", on_click="ignore")
                why(frame)
        with tab_compare:
            if tab_compare.open:
                wide, overlap, shared = compare_models(rec, user, req, charts.primary())
                st.caption(f"Top {req.n} of every model for customer {user}, under the same knobs. "
                           "Shaded cells are items that more than one model recommends.")
                st.dataframe(wide, hide_index=True, key="compare_table")
                a, b = st.columns([1, 1])
                with a:
                    st.markdown("**Items two models share**")
                    charts.show(charts.overlap_heatmap(overlap), key="overlap")
                with b:
                    st.markdown("**Items several models agree on**")
                    if shared.empty:
                        st.caption("No item is in more than one list.")
                    else:
                        st.dataframe(shared, hide_index=True, key="shared_table",
                                     column_config={"item_id": st.column_config.TextColumn("Item"),
                                                    "models": st.column_config.ListColumn("Recommended by"),
                                                    "n_models": st.column_config.NumberColumn("Lists", format="%d"),
                                                    "item_price": tables.PRICE})


def _blank_columns(frame) -> list[str]:
    """Name and category columns with nothing in them (a store without a catalogue): not shown."""
    return [c for c in ("item_name", "category")
            if c in frame.columns and not (frame[c].fillna("").astype(str).str.strip() != "").any()]


def why(frame) -> None:
    """Each item's score split into what the models and each re-ranking step contributed."""
    st.markdown("**Why these items** · what each model contributed (solid) and how each re-ranking step "
                "changed the score (hatched; left of the bar when it lowered it); the diamond is the final score")
    chart, one = st.columns([1.55, 1], gap="medium")
    with chart:
        st.html(html_charts.why_chart(frame))
    with one:
        labels = {i: f"#{r} {i}" for r, i in zip(frame["rank"], frame["item_id"])}
        pick = st.selectbox("Break down one item", list(labels), key="why_item", format_func=labels.get)
        row = frame[frame["item_id"] == pick].iloc[0]
        st.html(html_charts.waterfall(row["score_breakdown"], pick))


panel(ctx.key, ctx.user, ctx.model)
