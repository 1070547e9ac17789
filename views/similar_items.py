"""Similar items: what is bought with an item (item-CF) or sits next to it in ALS space."""
import pandas as pd
import streamlit as st

from recsys.serving.together import SORTS, bought_together
from ui import catalogue, charts, shell, state, tables, widgets
from ui.search import MAX_MATCHES
from ui.sidebar import ITEM, mirror_in_url

ctx = shell.require_model()
rec = ctx.rec
widgets.header("Similar items", "Items bought together with the query item, or close to it in the ALS "
                                "taste space. Open a result to make it the new query.")

search = state.item_search(ctx.key)
if st.session_state.get(ITEM) is None or rec.item_codes([st.session_state[ITEM]])[0] < 0:
    st.session_state[ITEM] = search.ids[0]  # the most popular item
TRAIL = "_sim_trail"


def go_to(item_id: str) -> None:
    st.session_state[ITEM] = item_id


with st.container(border=True):
    f, a, b, c = st.columns([1.3, 2.6, 1.6, 1.2], vertical_alignment="bottom")
    query = f.text_input("Find an item", key="sim_query", placeholder="item id, or part of it",
                         help=f"Searched among every item, most popular first; the first {MAX_MATCHES} are offered")
    matches = state.item_matches(ctx.key, query)
    current = st.session_state[ITEM]
    options = matches if current in matches else [current, *matches[:MAX_MATCHES - 1]]
    item = a.selectbox("Query item", options, key=ITEM, format_func=lambda i: state.item_label(rec, i),
                       persist_state="session", help="The most popular items first; search in the box beside")
    model = b.segmented_control("Similar by", ["item_cf", "als"], default="item_cf", required=True,
                                format_func={"item_cf": "Bought together", "als": "ALS taste"}.get,
                                key="sim_model", persist_state="session") or "item_cf"
    n = c.slider("Results", 3, 30, 10, key="sim_n", persist_state="session")
mirror_in_url(item=item)

past = [i for i in st.session_state.get(TRAIL, []) if i != item]
trail = [i for i, c in zip(past, rec.item_codes(past)) if c >= 0][-6:] + [item]
st.session_state[TRAIL] = trail


def back_to(key: str) -> None:
    if st.session_state.get(key):
        go_to(st.session_state[key])


if len(trail) > 1:
    trail_key = f"trail_{len(trail)}_{item}"  # a fresh widget per step: nothing stays selected
    st.pills("Explored before", trail[:-1], key=trail_key, on_change=back_to, args=(trail_key,),
             help="Go back to an item you explored")

row = rec.items().iloc[rec.item_code(item)]
if about := " · ".join(str(row[c]) for c in ("item_name", "category") if str(row.get(c, "") or "")):
    st.markdown(f"**{item}** · {about}")
m = st.columns(6)
m[0].metric("Price", widgets.money(row["price"]), border=True)
m[1].metric("Popularity", f"{row['popularity']:.3f}", border=True, help="Weighted popularity, 0–1")
m[2].metric("Purchases", f"{int(row['purchase_count']):,}", border=True)
m[3].metric("Buyers", f"{int(row['unique_buyers']):,}", border=True)
m[4].metric("Repeat rate", f"{row['repeat_rate']:.0%}", border=True, help="Share of buyers who bought it again")
m[5].metric("Cycle (days)", "—" if pd.isna(row["cycle_days"]) else f"{row['cycle_days']:.0f}", border=True,
            help="Median days between two purchases of it by the same customer")


@shell.guarded
def results() -> None:
    resp = rec.similar_items(item, n=n, model=model)
    frame = catalogue.with_names(pd.DataFrame(resp.similar_items, columns=[
        "item_id", "relevance_score", "confidence_score", "item_price", "co_purchase_count"]), ctx.key)
    if frame.empty:
        st.info("No similar items found for this item.")
        return
    frame.insert(0, "open", "Open")
    click_key = f"sim_open_{item}"
    left, right = st.columns([1.5, 1], gap="medium")
    with left, st.container(border=True):
        st.markdown(f"**Top {len(frame)} similar items** · {resp.processing_time_ms:.1f} ms")
        st.dataframe(frame, hide_index=True, key="sim_table",
                     column_config={"open": st.column_config.ButtonColumn(
                         "", type="tertiary", on_click=widgets.open_clicked, args=(click_key, frame["item_id"].tolist(), False),
                         key=click_key, width=62), **tables.SIMILAR})
    with right, st.container(border=True):
        st.markdown("**Relevance** · colour: confidence · label: baskets bought together")
        charts.show(charts.similar_bars(frame), key="sim_chart")


results()


@st.fragment
@shell.guarded
def together(item: str) -> None:
    """Association rules of the query item: bought in the same baskets more often than chance."""
    with st.container(border=True):
        head, order, lift, count = st.columns([2.1, 1.8, 0.8, 0.8], vertical_alignment="bottom")
        head.markdown("**Bought together** · more often than chance: lift = P(other | this item) / P(other)")
        min_lift = lift.number_input("Min lift", 0.0, 100.0, 1.0, 0.1, key="tog_lift", persist_state="session")
        min_count = count.number_input("Min baskets", 1, 1000, 2, 1, key="tog_count", persist_state="session",
                                       help="Baskets holding both, at least")
        sort_by = order.segmented_control("Best first by", list(SORTS), default="lift", required=True, key="tog_sort",
                                          persist_state="session", format_func=str.capitalize) or "lift"
        frame = catalogue.with_names(bought_together(rec, item, n=n, min_lift=float(min_lift), min_count=int(min_count),
                                                     sort_by=sort_by), ctx.key)
        if frame.empty:
            st.caption("No item is bought with this one more often than chance at these thresholds.")
        else:
            st.dataframe(frame, hide_index=True, key="tog_table", column_config=tables.TOGETHER)


together(item)
