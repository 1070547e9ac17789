"""Basket what-if: the list a new customer with a chosen basket gets, live under the knobs."""
import streamlit as st

from recsys.config import SEGMENTS
from recsys.serving.explain import SEGMENT_LABELS
from ui import basket, charts, knobs, shell, state, tables, widgets
from ui.sidebar import mirror_in_url

ctx = shell.require_model()
rec = ctx.rec
widgets.header("Basket what-if", "Pick a basket: the list a new customer who bought it gets, with the why of "
                                 "each item, under the same live knobs as the Recommendations page.")

ids, labels = basket.item_labels(ctx.key)
if not st.session_state.get(basket.URL_READ):  # a shared link: the basket is in the URL
    st.session_state[basket.URL_READ] = True
    from_url, unknown = basket.parse_basket(st.query_params.get(basket.URL_KEY), ids)
    st.session_state[basket.BASKET] = from_url
    if unknown:
        st.session_state["_basket_unknown"] = unknown
chosen = [i for i in st.session_state.get(basket.BASKET, []) if i in labels]
st.session_state[basket.BASKET] = chosen


def start_from_customer() -> None:
    if ctx.user is not None:
        st.session_state[basket.BASKET] = [i for i in basket.last_basket(rec, ctx.user) if i in labels]


with st.container(border=True):
    a, b = st.columns([3.2, 1.3], vertical_alignment="bottom")
    items = a.multiselect("Basket", ids, key=basket.BASKET, format_func=lambda i: labels.get(i, i),
                          placeholder="Type an item id or name to add it",
                          help="Search by id (or name, where the data has names); the most popular items come first")
    b.button(f"Start from customer {ctx.user}'s last basket", key="basket_from_user", icon=":material/person:",
             on_click=start_from_customer, disabled=ctx.user is None,
             help="The items of the sidebar customer's most recent basket")
    supported = basket.segment_supported(rec)
    segment = st.segmented_control(
        "Spending segment", [basket.AUTO_SEGMENT, *SEGMENTS], default=basket.AUTO_SEGMENT, required=True,
        key="basket_segment", disabled=not supported,
        format_func=lambda s: "From the basket's prices" if s == basket.AUTO_SEGMENT else SEGMENT_LABELS[s],
        help=None if supported else "The library derives a new customer's segment from the basket's average price")
mirror_in_url(**{basket.URL_KEY: basket.basket_param(items)})
missing = st.session_state.pop("_basket_unknown", None)
if missing:
    st.warning(f"Not in this store's catalogue, left out: {', '.join(missing[:10])}")


@st.fragment
@shell.guarded
def panel(key: state.ModelKey, items: tuple[str, ...], model: str, segment: str) -> None:
    """Knobs and everything they change: rerun alone when a knob moves."""
    rec = state.recommender(key)
    left, right = st.columns([1, 3.2], gap="medium")
    with left:
        req = knobs.knob_panel(rec, key, model)
    with right:
        for note in req.notes:
            st.warning(note)
        if not items:
            st.info("Add items to the basket (or start from a customer's last basket) to see the list.")
            return
        resp, frame = basket.what_if(rec, list(items), model, req, segment)
        info = resp.user_info
        m = st.columns(4)
        m[0].metric("Request time", f"{resp.processing_time_ms:.1f} ms", border=True)
        m[1].metric("Basket", f"{len(items)} items", border=True)
        m[2].metric("Segment", SEGMENT_LABELS.get(info["spending_segment"], info["spending_segment"]), border=True,
                    help="From the basket's average item price")
        m[3].metric("Basket avg price", widgets.money(info["avg_item_price"]), border=True)
        if frame.empty:
            st.info("No item passes the filters: widen the price range or switch off a filter.")
        else:
            st.markdown(f"**The list** · model {resp.primary_model}")
            st.dataframe(frame.drop(columns=["score_breakdown"]), hide_index=True, key="basket_table",
                         column_config=tables.RECOMMENDATIONS, column_order=list(tables.RECOMMENDATIONS))
            chart, one = st.columns([1.55, 1], gap="medium")
            with chart:
                st.markdown("**Why these items** · model contributions (solid) and re-ranking steps (hatched)")
                charts.show(charts.why_chart(frame), key="basket_why_chart")
            with one:
                pick = st.selectbox("Break down one item", frame["item_id"].tolist(), key="basket_why_item")
                row = frame[frame["item_id"] == pick].iloc[0]
                charts.show(charts.waterfall(row["score_breakdown"], pick), key="basket_waterfall")
        complete(rec, items)


def complete(rec, items: tuple[str, ...]) -> None:
    """Complete the basket: items bought with the basket's items more often than chance."""
    st.markdown("**Complete the basket** · bought in the same baskets more often than chance")
    frame = basket.completing_items(rec, list(items), n=10)
    if frame.empty:
        st.caption("No item is bought with these items more often than chance (in at least two baskets).")
        return
    st.dataframe(frame, hide_index=True, key="basket_complete", column_config=tables.TOGETHER)


panel(ctx.key, tuple(items), ctx.model, segment or basket.AUTO_SEGMENT)
