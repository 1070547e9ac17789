"""The live knob panel of the Recommendations page.

Every default is read from the loaded bundle's `TuningConfig` (the lead's defaults, or a config
the models were trained with), never hard-coded here; a move builds a new config with
`cfg.replace(...)` and the page asks `rec.recommend(..., config=cfg)`: no retraining.
The widgets keep their values across pages (`persist_state="session"`) and reset when the
data source (bundle) changes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from recsys import Recommender, TuningConfig
from recsys.config import KNOB_RANGES
from ui import state

PREFIX = "k_"
WEIGHT_LABELS = {"als": "ALS", "item_cf": "Item-CF", "popularity": "Popularity", "repeat": "Buy again"}
CONFIG_TOML = "tuning_toml"   # the last config the panel built (the Data page offers it as TOML)
KNOBS_FOR = "_knobs_for"      # the bundle (ModelKey.stamp) the knobs were set for
LOADED = "_loaded_config"     # {"for": stamp, "name": ..., "toml": ...}: a saved configuration loaded
REQUEST_ONLY = (PREFIX + "n", PREFIX + "asof", PREFIX + "exclude")  # knobs of a request, not of a config


@dataclass
class Request:
    """What the panel asks for: list size, as-of time, filters and the tuning config."""

    n: int
    timestamp: pd.Timestamp | None
    exclude_purchased: bool
    config: TuningConfig
    notes: list[str] = field(default_factory=list)


def tuned_config_toml(key: state.ModelKey) -> str | None:
    """The config the knob panel last built for this bundle (None: the knobs were not touched)."""
    return st.session_state.get(CONFIG_TOML) if st.session_state.get(KNOBS_FOR) == key.stamp else None


def loaded_config(key: state.ModelKey) -> tuple[str, str] | None:
    """(name, TOML) of the saved configuration loaded for this bundle, None when none is."""
    got = st.session_state.get(LOADED)
    return (got["name"], got["toml"]) if isinstance(got, dict) and got.get("for") == key.stamp else None


def base_config(rec: Recommender, key: state.ModelKey) -> TuningConfig:
    """What the knobs start from: the loaded saved configuration, else the trained one."""
    loaded = loaded_config(key)
    return TuningConfig.from_toml(loaded[1]) if loaded else rec.config


def current_config_toml(rec: Recommender, key: state.ModelKey) -> str:
    """The config the knobs describe now (a loaded configuration counts), as TOML."""
    loaded = loaded_config(key)
    return tuned_config_toml(key) or (loaded[1] if loaded else rec.config.to_toml())


def load_into_knobs(rec: Recommender, key: state.ModelKey, name: str, config: TuningConfig) -> None:
    """Set every knob to a configuration (a widget callback: before the widgets exist); the list
    size, as-of date and 'only new items' are not part of a configuration and stay."""
    values = knob_defaults(rec, key, config)
    if st.session_state.get(KNOBS_FOR) != key.stamp:
        reset_knobs(values)
    else:
        for k, v in values.items():
            if k not in REQUEST_ONLY or k not in st.session_state:
                st.session_state[k] = v
    st.session_state[KNOBS_FOR] = key.stamp
    st.session_state[CONFIG_TOML] = config.to_toml()
    if config.to_toml() == rec.config.to_toml():
        st.session_state.pop(LOADED, None)
    else:
        st.session_state[LOADED] = {"for": key.stamp, "name": name, "toml": config.to_toml()}


def back_to_trained(defaults: dict[str, Any]) -> None:
    """The Reset button: every knob as trained, no saved configuration loaded."""
    st.session_state.pop(LOADED, None)
    st.session_state.pop(CONFIG_TOML, None)
    reset_knobs(defaults)


def knob_keys() -> list[str]:
    return [k for k in st.session_state if isinstance(k, str) and k.startswith(PREFIX)]


def reset_knobs(defaults: dict[str, Any]) -> None:
    """Every knob back to its default: the values are written, not deleted (a deleted key comes
    back from the widget's persisted state, so the slider kept showing the old value)."""
    for k in knob_keys():
        if k not in defaults:
            del st.session_state[k]
    for k, v in defaults.items():
        st.session_state[k] = v


def _slider(label: str, knob: str, name: str, defaults: dict[str, Any], **kw):
    lo, hi, step = KNOB_RANGES[knob]
    value = defaults[PREFIX + name]
    return st.slider(label, min_value=lo, max_value=max(hi, value), step=step, key=PREFIX + name,
                     persist_state="session", **_initial(name, defaults), **kw)


def _initial(name: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """`value=` for a widget only before its key is in the session (else Streamlit warns that the
    value was set twice, and the key's value wins anyway)."""
    return {} if PREFIX + name in st.session_state else {"value": defaults[PREFIX + name]}


def price_range_of(key: state.ModelKey) -> tuple[float, float, float]:
    """The price slider's bounds and step for a bundle."""
    lo, hi = state.price_bounds(key)
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi, 0.05 if hi - lo <= 50 else 0.5


def knob_defaults(rec: Recommender, key: state.ModelKey, config: TuningConfig | None = None) -> dict[str, Any]:
    """Every knob's value under a config (default: the bundle's trained one), by widget key."""
    config = config or rec.config
    r, w = config.rerank, config.weights
    lo, hi, _ = price_range_of(key)
    price = (min(max(float(r.price_min), lo), hi) if r.price_min is not None else lo,
             min(max(float(r.price_max), lo), hi) if r.price_max is not None else hi)
    values = {"n": 10, "asof": rec.state.data_end.date(), "exclude": False,
              "upsell": float(r.upsell_factor), "boost": float(r.price_boost_weight),
              "sensitivity": float(r.price_sensitivity), "budget": float(r.budget_tolerance), "price": price,
              "segment_filter": bool(r.segment_filter), "repurchase": bool(r.repurchase_exclusion),
              "buffer": float(r.repurchase_buffer), "due": float(r.due_boost),
              "pool": int(min(r.candidate_pool, _pool_max(rec))),
              **{f"w_{name}": float(v) for name, v in w.as_dict().items()}}
    return {PREFIX + k: v for k, v in values.items()}


def _pool_max(rec: Recommender) -> int:
    return max(10, min(1000, rec.state.n_items))


def knob_panel(rec: Recommender, key: state.ModelKey, model: str) -> Request:
    """Render the knobs; return the request they describe."""
    defaults = knob_defaults(rec, key)
    if st.session_state.get(KNOBS_FOR) != key.stamp:
        reset_knobs(defaults)  # another bundle: its own defaults (a price range of this store, ...)
        st.session_state[KNOBS_FOR] = key.stamp
    base = base_config(rec, key)  # a loaded saved configuration keeps the knobs the panel has no slider for
    loaded = loaded_config(key)
    w = base.weights
    notes: list[str] = []
    start, end = rec.state.data_start.date(), rec.state.data_end.date()

    with st.container(border=True):
        head, reset = st.columns([3, 2], vertical_alignment="center")
        head.markdown("**Tuning knobs**")
        reset.button("Reset", icon=":material/restart_alt:", on_click=back_to_trained, args=(defaults,),
                     key="knobs_reset", type="tertiary", help="Back to the trained defaults")
        if loaded:
            st.caption(f":material/bookmark: Started from the saved configuration **{loaded[0]}** (sidebar)")

        n = int(st.slider("Items in the list", 1, 50, key=PREFIX + "n", persist_state="session",
                          **_initial("n", defaults)))
        as_of: date = st.date_input("As of", min_value=start, max_value=end, key=PREFIX + "asof",
                                    persist_state="session", format="YYYY-MM-DD", **_initial("asof", defaults),
                                    help="Recommend as the customer stood at the end of this day "
                                         "(later purchases are ignored)")
        exclude = st.toggle("Only items new to the customer", key=PREFIX + "exclude", persist_state="session",
                            help="Exclude everything the customer bought before", **_initial("exclude", defaults))

        st.markdown("**Price**")
        upsell = _slider("Upsell factor", "upsell_factor", "upsell", defaults,
                         help="Boost for items priced above the customer's average item price (0 = off)")
        boost = _slider("Price-boost weight", "price_boost_weight", "boost", defaults,
                        help="How strongly the price ratio feeds the upsell boost")
        sensitivity = _slider("Price sensitivity", "price_sensitivity", "sensitivity", defaults,
                              help="Penalty for items beyond the budget (0 = off)")
        budget = _slider("Budget tolerance (× usual price)", "budget_tolerance", "budget", defaults,
                         help="Prices up to this multiple of the customer's average item price are not "
                              "penalised; acts when price sensitivity is above 0")
        lo_bound, hi_bound, step = price_range_of(key)
        price_lo, price_hi = st.slider("Price range", lo_bound, hi_bound, step=step, key=PREFIX + "price",
                                       persist_state="session", **_initial("price", defaults),
                                       help="Only items priced inside the range are recommended")
        segment_filter = st.toggle("Stay within the customer's segment", key=PREFIX + "segment_filter",
                                   persist_state="session", **_initial("segment_filter", defaults),
                                   help="Leave out items the customer never bought that are priced above "
                                        "their spending segment's price cap (see the Segments page)")

        st.markdown("**Hybrid blend**")
        hybrid = model == "hybrid"
        weights = {}
        cols = st.columns(2)
        for i, name in enumerate(w.as_dict()):
            with cols[i % 2]:
                weights[name] = _slider(WEIGHT_LABELS.get(name, name), "weight", f"w_{name}", defaults,
                                        disabled=not hybrid, help=None if hybrid else "Only the hybrid model blends")
        if sum(weights.values()) <= 0:
            notes.append("All hybrid weights are 0: the trained weights are used instead.")
            weights = w.as_dict()

        st.markdown("**Repurchase and candidates**")
        repurchase = st.toggle("Skip items bought too recently", key=PREFIX + "repurchase", persist_state="session",
                               help="Leave out items whose repurchase cycle has not come round yet",
                               **_initial("repurchase", defaults))
        buffer = _slider("Repurchase buffer (× cycle)", "repurchase_buffer", "buffer", defaults,
                         disabled=not repurchase, help="An item bought within this share of its cycle is skipped")
        due = _slider("Due boost", "due_boost", "due", defaults,
                      help="Extra weight for items whose repurchase cycle has come round: the score is "
                           "multiplied by 1 + this (0 = off; the buy-again model already weighs it)")
        pool = int(st.slider("Candidate pool", 10, max(_pool_max(rec), defaults[PREFIX + "pool"]), step=10,
                             key=PREFIX + "pool", persist_state="session", **_initial("pool", defaults),
                             help="Candidates level 1 hands to re-ranking"))

    config = base.replace(
        rerank=dict(upsell_factor=upsell, price_boost_weight=boost, price_sensitivity=sensitivity,
                    budget_tolerance=budget, repurchase_exclusion=repurchase, repurchase_buffer=buffer,
                    segment_filter=bool(segment_filter), due_boost=due, candidate_pool=pool,
                    price_min=price_lo if price_lo > lo_bound else None,
                    price_max=price_hi if price_hi < hi_bound else None),
        weights=weights)
    st.session_state[CONFIG_TOML] = config.to_toml()
    timestamp = None if as_of == end else pd.Timestamp(as_of) + pd.Timedelta(days=1)
    return Request(n=n, timestamp=timestamp, exclude_purchased=bool(exclude), config=config, notes=notes)
