"""Shared page pieces: headers, KPI rows, the customer card, item navigation."""
from __future__ import annotations

import streamlit as st

from recsys import Recommender
from recsys.serving.explain import SEGMENT_LABELS
from ui import tables
from ui.sidebar import ITEM, carry_choices

SIMILAR_PAGE = "views/similar_items.py"
GOTO_SIMILAR = "_goto_similar"


def header(title: str, subtitle: str) -> None:
    st.title(title)
    st.caption(subtitle)


def money(x: float) -> str:
    return f"{x:,.2f}" if abs(x) < 1000 else f"{x:,.0f}"


def customer_card(rec: Recommender, user: str) -> None:
    """Who the customer is and what they bought lately."""
    p = rec.user_profile(user)
    segment = SEGMENT_LABELS.get(p["spending_segment"], p["spending_segment"])
    left, right = st.columns([1.05, 1], gap="medium")
    with left, st.container(border=True):
        st.markdown(f"#### :material/person: Customer {user}")
        st.markdown(f":green-badge[{segment} spender] :blue-badge[{p['user_type']} customer] "
                    f":gray-badge[{str(p['first_purchase'])[:10]} → {str(p['last_purchase'])[:10]}]")
        a, b, c = st.columns(3)
        a.metric("Purchases", f"{p['total_purchases']:,}", help="Sales lines")
        b.metric("Baskets", f"{p['tickets']:,}")
        c.metric("Distinct items", f"{p['unique_items']:,}")
        a.metric("Avg item price", money(p["avg_item_price"]))
        b.metric("Total spend", money(p["total_spend"]))
        c.metric("Spend per basket", money(p["total_spend"] / max(p["tickets"], 1)))
    with right, st.container(border=True):
        st.markdown("#### :material/receipt_long: Recent purchases")
        st.dataframe(rec.user_history(user, 25), hide_index=True, column_config=tables.HISTORY, height=262,
                     key="history_table")


def open_clicked(click_key: str, item_ids: list[str], goto: bool = True) -> None:
    """Callback of an "open" button column: make the clicked row's item the Similar-items query
    and (with `goto`) switch to that page on this rerun."""
    click = st.session_state.get(click_key)
    if click is None or not 0 <= click["row"] < len(item_ids):
        return
    st.session_state[ITEM] = item_ids[click["row"]]
    if goto:
        st.session_state[GOTO_SIMILAR] = True


def follow_similar_link() -> None:
    """Switch to the Similar items page when a callback asked for it."""
    if st.session_state.pop(GOTO_SIMILAR, False):
        carry_choices()  # the data source, customer and model stay what they are
        st.switch_page(SIMILAR_PAGE)
