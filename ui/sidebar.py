"""The shared choices in the sidebar: data source, user and model.

Rendered on every page by app.py, so they persist across pages. They are mirrored in the URL
(`?source=demo&user=…&model=als`, plus `item=` on the Similar items page) so a view can be
shared: a new session starts from the URL's values, every run writes the current ones back.
(Streamlit's own `bind="query-params"` is not used: it writes the *formatted* option into the
URL, i.e. labels like "ALS (shoppers like you)" instead of ids.) A value that does not fit the
current data (a user of another store) falls back to the default instead of failing.
"""
from __future__ import annotations

import streamlit as st

from recsys import Recommender
from ui import state
from ui.search import MAX_MATCHES
from ui.sources import Source

SOURCE, USER, MODEL, ITEM = "source", "user", "model", "item"
USER_QUERY, USER_SEGMENT, ANY_SEGMENT = "user_query", "user_segment", "any segment"
URL_KEYS = (SOURCE, USER, MODEL, ITEM)
URL_LOADED = "_url_loaded"
CARRIED = "_carried_choices"


def load_url_once() -> None:
    """On a session's first run, take the shared choices from the URL."""
    if st.session_state.get(URL_LOADED):
        return
    st.session_state[URL_LOADED] = True
    for key in URL_KEYS:
        if key in st.query_params:
            st.session_state[key] = st.query_params[key]


def carry_choices() -> None:
    """Before `st.switch_page` from a page's body: keep the shared choices for the next page.

    Streamlit clears the widget state of a page change it cannot tie to the browser's widgets
    (a switch from the script body), which dropped the sidebar back to the demo store."""
    st.session_state[CARRIED] = {k: st.session_state[k] for k in (SOURCE, USER, MODEL) if k in st.session_state}


def restore_choices() -> None:
    """On the run after `carry_choices`, before the sidebar widgets exist: put the choices back."""
    for key, value in st.session_state.pop(CARRIED, {}).items():
        st.session_state[key] = value


def mirror_in_url(**values) -> None:
    """Write the current choices into the URL (None removes a parameter)."""
    for key, value in values.items():
        if value is None:
            st.query_params.pop(key, None)
        elif st.query_params.get(key) != str(value):
            st.query_params[key] = str(value)


def keep_valid(key: str, options: list, default) -> None:
    """Point a widget at the default when its value is not among the options."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def source_picker(sources: list[Source], default_key: str) -> Source:
    keys = [s.key for s in sources]
    by_key = {s.key: s for s in sources}
    # the default source (RECSYS_SOURCE, else the demo store) goes first
    if default_key in by_key:
        keys.remove(default_key)
        keys.insert(0, default_key)
    load_url_once()
    keep_valid(SOURCE, keys, keys[0])
    with st.sidebar:
        chosen = st.selectbox(
            "Data source", keys, key=SOURCE,
            format_func=lambda k: by_key[k].label + ("" if by_key[k].trained else " — not trained"),
            help="The store whose models every page shows. Files in the data folder appear here; "
                 "upload and train on the Data and training page.")
    return by_key[chosen]


def user_picker(key: state.ModelKey) -> str | None:
    """The customer: searched server side (id or part of it, a segment), at most MAX_MATCHES
    options; the current customer (e.g. from a ?user= link) is always among them."""
    busiest = state.busiest_users(key)
    if not busiest:
        return None
    rec = state.recommender(key)
    if st.session_state.get(USER) is None or rec.user_code(st.session_state[USER]) < 0:
        st.session_state[USER] = busiest[0]
    with st.sidebar:
        query = st.text_input("Find a customer", key=USER_QUERY, placeholder="customer id, or part of it",
                              help="Matches are searched among every customer, busiest first; "
                                   f"the first {MAX_MATCHES} are offered below.")
        segment = st.selectbox("Customer segment", [ANY_SEGMENT, *state.SEGMENT_ORDER], key=USER_SEGMENT)
        group = None if segment == ANY_SEGMENT else state.SEGMENT_ORDER.index(segment)
        matches = state.user_matches(key, query, group)
        current = st.session_state[USER]
        options = matches if current in matches else [current, *matches[:MAX_MATCHES - 1]]
        chosen = st.selectbox("Customer", options, key=USER, format_func=lambda u: state.user_label(rec, u),
                              help="Busiest customers first. Type in the box above to search.")
        if (query or group is not None) and not matches:
            st.caption("No customer matches; the list shows the current one.")
        return chosen


def model_picker(disabled: bool = False) -> str:
    options = list(state.MODEL_ORDER)
    keep_valid(MODEL, options, options[0])
    with st.sidebar:
        return st.radio("Model", options, key=MODEL, disabled=disabled,
                        format_func=state.MODEL_LABELS.get,
                        help="Which recommender answers on the Recommendations and Segments pages.")


def footer(source: Source, rec: Recommender | None) -> None:
    with st.sidebar:
        st.divider()
        if rec is None:
            st.caption(f"{source.label}: no trained models yet.")
            return
        s = rec.state.summary
        trained = str(rec.metadata.get("trained_at", "?")).replace("T", " ")[:16]
        st.caption(f"{s.get('users', 0):,} customers · {s.get('items', 0):,} items · "
                   f"{s.get('lines', 0):,} lines  \nModels trained {trained} UTC")
