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

import pandas as pd
import streamlit as st

from recsys import Recommender, TuningConfig

from ui import state

PREFIX = "k_"
WEIGHT_LABELS = {"als": "ALS", "item_cf": "Item-CF", "popularity": "Popularity", "repeat": "Buy again"}
CONFIG_TOML = "tuning_toml"   # the last config the panel built (the Data page offers it as TOML)
KNOBS_FOR = "_knobs_for"      # the bundle (ModelKey.stamp) the knobs were set for


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


def knob_keys() -> list[str]:
    return [k for k in st.session_state if isinstance(k, str) and k.startswith(PREFIX)]


def reset_knobs() -> None:
    for k in knob_keys():
        del st.session_state[k]


def _slider(label: str, lo: float, hi: float, value, step: float, name: str, **kw):
    return st.slider(label, min_value=lo, max_value=max(hi, value if not isinstance(value, tuple) else hi),
                     value=value, step=step, key=PREFIX + name, persist_state="session", **kw)


def knob_panel(rec: Recommender, key: state.ModelKey, model: str) -> Request:
    """Render the knobs; return the request they describe."""
    if st.session_state.get(KNOBS_FOR) != key.stamp:
        reset_knobs()
        st.session_state[KNOBS_FOR] = key.stamp
    base = rec.config
    r, w = base.rerank, base.weights
    notes: list[str] = []
    start, end = rec.state.data_start.date(), rec.state.data_end.date()

    with st.container(border=True):
        head, reset = st.columns([3, 2], vertical_alignment="center")
        head.markdown("**Tuning knobs**")
        reset.button("Reset", icon=":material/restart_alt:", on_click=reset_knobs, key="knobs_reset",
                     type="tertiary", help="Back to the trained defaults")

        n = int(st.slider("Items in the list", 1, 50, 10, key=PREFIX + "n", persist_state="session"))
        as_of: date = st.date_input("As of", value=end, min_value=start, max_value=end, key=PREFIX + "asof",
                                    persist_state="session", format="YYYY-MM-DD",
                                    help="Recommend as the customer stood at the end of this day "
                                         "(later purchases are ignored)")
        exclude = st.toggle("Only items new to the customer", value=False, key=PREFIX + "exclude",
                            persist_state="session", help="Exclude everything the customer bought before")

        st.markdown("**Price**")
        upsell = _slider("Upsell factor", 0.0, 2.0, float(r.upsell_factor), 0.05, "upsell",
                         help="Boost for items priced above the customer's average item price (0 = off)")
        boost = _slider("Price-boost weight", 0.0, 1.0, float(r.price_boost_weight), 0.05, "boost",
                        help="How strongly the price ratio feeds the upsell boost")
        sensitivity = _slider("Price sensitivity", 0.0, 3.0, float(r.price_sensitivity), 0.1, "sensitivity",
                              help="Penalty for items beyond the budget (0 = off)")
        budget = _slider("Budget tolerance (× usual price)", 1.0, 4.0, float(r.budget_tolerance), 0.1, "budget",
                         help="Prices up to this multiple of the customer's average item price are not "
                              "penalised; acts when price sensitivity is above 0")
        lo_bound, hi_bound = state.price_bounds(key)
        if hi_bound <= lo_bound:
            hi_bound = lo_bound + 1.0
        step = 0.05 if hi_bound - lo_bound <= 50 else 0.5
        default_range = (min(max(float(r.price_min), lo_bound), hi_bound) if r.price_min is not None else lo_bound,
                         min(max(float(r.price_max), lo_bound), hi_bound) if r.price_max is not None else hi_bound)
        price_lo, price_hi = st.slider("Price range", lo_bound, hi_bound, default_range, step,
                                       key=PREFIX + "price", persist_state="session",
                                       help="Only items priced inside the range are recommended")

        st.markdown("**Hybrid blend**")
        hybrid = model == "hybrid"
        weights = {}
        cols = st.columns(2)
        top = max([1.0, *w.as_dict().values()])  # one scale for all (the blend rescales them to sum 1)
        for i, (name, default) in enumerate(w.as_dict().items()):
            with cols[i % 2]:
                weights[name] = _slider(WEIGHT_LABELS.get(name, name), 0.0, float(top), float(default), 0.05,
                                        f"w_{name}", disabled=not hybrid,
                                        help=None if hybrid else "Only the hybrid model blends")
        if sum(weights.values()) <= 0:
            notes.append("All hybrid weights are 0: the trained weights are used instead.")
            weights = w.as_dict()

        st.markdown("**Repurchase and candidates**")
        repurchase = st.toggle("Skip items bought too recently", value=bool(r.repurchase_exclusion),
                               key=PREFIX + "repurchase", persist_state="session",
                               help="Leave out items whose repurchase cycle has not come round yet")
        buffer = _slider("Repurchase buffer (× cycle)", 0.0, 1.0, float(r.repurchase_buffer), 0.05, "buffer",
                         disabled=not repurchase,
                         help="An item bought within this share of its cycle is skipped")
        pool_max = max(10, min(1000, rec.state.n_items))
        pool = int(_slider("Candidate pool", 10, pool_max, int(min(r.candidate_pool, pool_max)), 10, "pool",
                           help="Candidates level 1 hands to re-ranking"))

    config = base.replace(
        rerank=dict(upsell_factor=upsell, price_boost_weight=boost, price_sensitivity=sensitivity,
                    budget_tolerance=budget, repurchase_exclusion=repurchase, repurchase_buffer=buffer,
                    candidate_pool=pool,
                    price_min=price_lo if price_lo > lo_bound else None,
                    price_max=price_hi if price_hi < hi_bound else None),
        weights=weights)
    st.session_state[CONFIG_TOML] = config.to_toml()
    timestamp = None if as_of == end else pd.Timestamp(as_of) + pd.Timedelta(days=1)
    return Request(n=n, timestamp=timestamp, exclude_purchased=bool(exclude), config=config, notes=notes)
