"""The A/B comparison of the Evaluation page: which configurations may be compared, a background
run of `recsys.analysis.compare.compare_configs` with live progress (`ui.jobs`), the last result
kept beside the bundle (`<bundle>/evaluation/compare.json`, atomically) and its charts.

A comparison takes seconds once the bundle's validation window exists (the first one cuts it:
one refit of the models, seconds on the workbook, kept beside the bundle for next time)."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from recsys import Recommender, TuningConfig
from recsys.analysis.compare import ALL, BY_KEY, MEASURES, Comparison
from recsys.analysis.compare_report import SEGMENT_NAMES, difference, value, verdict
from recsys.atomic import atomic_write_text
from recsys.bundles.configs import TRAINED, NamedConfig, resolve_config, saved_names
from ui import charts, jobs, knobs, state

FORMAT, FORMAT_VERSION = "recsys-ab-comparison", 1
FILE = "compare.json"
CURRENT = "current sliders"   # B's default: the knobs as they are now
VERDICT_COLOURS = {"B higher": "#16a34a", "B lower": "#e11d48", "noise": "#94a3b8"}


# ---- what may be compared --------------------------------------------------------------------

def options_a(folder: str | Path) -> list[str]:
    return [TRAINED, *saved_names(folder)]


def options_b(folder: str | Path) -> list[str]:
    return [CURRENT, *saved_names(folder), TRAINED]


def option_label(name: str) -> str:
    return {TRAINED: "As trained", CURRENT: "Current knobs"}.get(name, name)


def chosen(rec: Recommender, key: state.ModelKey, name: str) -> NamedConfig:
    """A picked option as a configuration (ValueError when a saved one needs a retrain)."""
    if name == CURRENT:
        loaded = knobs.loaded_config(key)
        toml = knobs.current_config_toml(rec, key)
        label = loaded[0] if loaded and loaded[1] == toml else "current knobs"
        return NamedConfig(label, TuningConfig.from_toml(toml), "knobs")
    return resolve_config(key.bundle_dir, name, rec.config)


# ---- the result on disk ----------------------------------------------------------------------

def result_path(bundle_dir: str | Path) -> Path:
    return Path(bundle_dir) / "evaluation" / FILE


def config_hash(config: TuningConfig) -> str:
    return hashlib.sha256(config.to_toml().encode()).hexdigest()[:16]


def run_key(key: state.ModelKey, a: NamedConfig, b: NamedConfig) -> str:
    """What a result depends on: the bundle and both configurations."""
    parts = [key.stamp, config_hash(a.config), config_hash(b.config)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]


@dataclass
class Saved:
    comparison: Comparison
    meta: dict[str, Any]

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.meta["created_at"])


@st.cache_data(max_entries=8, show_spinner=False)
def _read(path: str, mtime_ns: int, size: int) -> Saved:
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    if d.get("format") != FORMAT or d.get("format_version") != FORMAT_VERSION:
        raise ValueError("the saved comparison is of another format; compare again")
    return Saved(Comparison.from_dict(d["comparison"]), {k: v for k, v in d.items() if k != "comparison"})


def saved_result(bundle_dir: str | Path) -> Saved | None:
    """The last comparison of this bundle folder; None when there is none; ValueError when unreadable."""
    path = result_path(bundle_dir)
    try:
        st_ = path.stat()
    except FileNotFoundError:
        return None
    try:
        return _read(str(path), st_.st_mtime_ns, st_.st_size)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the saved comparison could not be read ({exc}); compare again") from exc


# ---- a run in the background -----------------------------------------------------------------

def _job_key(bundle_dir: str | Path) -> str:
    return f"compare:{result_path(bundle_dir)}"


def job_for(bundle_dir: str | Path) -> jobs.Job | None:
    return jobs.get(_job_key(bundle_dir))


def start(rec: Recommender, key: state.ModelKey, a: NamedConfig, b: NamedConfig) -> jobs.Job:
    """Compare in the background (the running comparison of this bundle when one is under way)."""
    target = {"a": a, "b": b, "key": run_key(key, a, b), "stamp": key.stamp}
    return jobs.start_or_join(_job_key(key.bundle_dir), lambda job: _work(job, rec, key.bundle_dir), target=target)[0]


def _work(job: jobs.Job, rec: Recommender, bundle_dir: str) -> None:
    from recsys.analysis.compare import compare_configs

    t = job.target
    comp = compare_configs(rec, t["a"], t["b"], artifacts=bundle_dir, progress=job.report)
    job.report("saving the comparison", 1.0)
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "key": t["key"], "bundle_stamp": t["stamp"],
           "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "elapsed_s": round(time.time() - job.started, 1),
           "configs": {"a": t["a"].config.to_toml(), "b": t["b"].config.to_toml()},
           "comparison": comp.to_dict()}
    atomic_write_text(result_path(bundle_dir), json.dumps(doc, default=str, allow_nan=False))


# ---- frames and charts -----------------------------------------------------------------------

def measures_frame(comp: Comparison, group: str = ALL) -> pd.DataFrame:
    """One row per measure of a group: label, A, B, difference and interval as text, verdict."""
    t = comp.table[comp.table["group"] == group].set_index("measure")
    rows = []
    for m in MEASURES:
        if m.key not in t.index:
            continue
        r = t.loc[m.key].to_dict()
        rows.append({"measure": m.label, "a": value(m.key, r["a"]), "b": value(m.key, r["b"]),
                     "diff": difference(m.key, r["diff"]),
                     "ci": f"{difference(m.key, r['ci_low'])} … {difference(m.key, r['ci_high'])}",
                     "verdict": verdict(r), "users": int(r["users"]), "help": m.help})
    return pd.DataFrame(rows)


def relative(comp: Comparison, group: str = ALL) -> pd.DataFrame:
    """Each measure's B - A and interval in % of A (one scale for measures of every unit)."""
    t = comp.table[comp.table["group"] == group].set_index("measure")
    rows = []
    for m in MEASURES:
        if m.key not in t.index:
            continue
        r = t.loc[m.key]
        base = abs(float(r["a"])) if r["a"] is not None and np.isfinite(r["a"]) else np.nan
        if not base or not np.isfinite(base):
            continue
        rows.append({"measure": m.label, "key": m.key, "pct": 100 * r["diff"] / base, "lo": 100 * r["ci_low"] / base,
                     "hi": 100 * r["ci_high"] / base, "verdict": verdict(r.to_dict()),
                     "text": f"{value(m.key, r['a'])} → {value(m.key, r['b'])} ({difference(m.key, r['diff'])})"})
    return pd.DataFrame(rows)


def change_chart(comp: Comparison, group: str = ALL) -> go.Figure:
    """B against A for every measure, in % of A, with the 95 % interval (a cross of 0 = noise)."""
    df = relative(comp, group)
    fig = go.Figure()
    for verdict_, colour in VERDICT_COLOURS.items():
        part = df[df["verdict"] == verdict_]
        if part.empty:
            continue
        fig.add_trace(go.Scatter(
            x=part["pct"], y=part["measure"], mode="markers", name=verdict_,
            marker=dict(color=colour, size=11, symbol="diamond"),
            error_x=dict(type="data", symmetric=False, array=part["hi"] - part["pct"],
                         arrayminus=part["pct"] - part["lo"], color=colour, thickness=2.2, width=5),
            customdata=np.c_[part["text"], part["lo"], part["hi"]],
            hovertemplate="%{y}<br>%{customdata[0]}<br>%{x:+.1f} % of A, 95 % interval "
                          "%{customdata[1]:+.1f} … %{customdata[2]:+.1f} %<extra></extra>"))
    fig.add_vline(x=0, line=dict(color="#6b7280", width=1, dash="dot"))
    fig.update_yaxes(autorange="reversed", type="category", categoryorder="array", categoryarray=list(df["measure"]),
                     title=None)
    fig.update_xaxes(title="B − A, in % of A (95 % interval)", ticksuffix=" %", zeroline=False)
    return charts.style(fig, 80 + 32 * len(df))


def segment_chart(comp: Comparison, measure: str) -> go.Figure:
    """One measure's B - A per spending segment (and overall), with the 95 % intervals."""
    t = comp.table[comp.table["measure"] == measure]
    groups = [g for g in comp.groups if g in set(t["group"])]
    rows = [t[t["group"] == g].iloc[0] for g in groups]
    labels = ["all customers" if g == ALL else SEGMENT_NAMES.get(g, g) for g in groups]
    colours = [VERDICT_COLOURS.get(verdict(r.to_dict()), "#94a3b8") for r in rows]
    diffs = np.array([r["diff"] for r in rows], dtype=float)
    lo = np.array([r["ci_low"] for r in rows], dtype=float)
    hi = np.array([r["ci_high"] for r in rows], dtype=float)
    fig = go.Figure(go.Bar(
        x=labels, y=diffs, marker_color=colours, text=[difference(measure, d) for d in diffs], textposition="inside",
        insidetextanchor="start", textfont=dict(color="white"), cliponaxis=False,
        error_y=dict(type="data", symmetric=False, array=hi - diffs, arrayminus=diffs - lo, color="#374151",
                     thickness=1.4, width=6),
        customdata=np.c_[[int(r["users"]) for r in rows], lo, hi],
        hovertemplate="%{x}: B − A %{y:.3g}<br>95 % interval %{customdata[1]:.3g} … %{customdata[2]:.3g}"
                      "<br>%{customdata[0]:,} customers<extra></extra>"))
    fig.add_hline(y=0, line=dict(color="#6b7280", width=1))
    fig.update_yaxes(title=f"B − A: {BY_KEY[measure].label}")
    fig.update_xaxes(type="category", title=None)
    return charts.style(fig, 320, legend=False)


def overlap_chart(comp: Comparison) -> go.Figure:
    """Mean Jaccard overlap of the two top-10s, overall and per segment."""
    groups = [g for g in comp.groups if g in comp.overlap]
    values = [comp.overlap[g] for g in groups]
    labels = ["all customers" if g == ALL else SEGMENT_NAMES.get(g, g) for g in groups]
    seg = charts.segment_colours()
    colours = [charts.primary() if g == ALL else seg.get(SEGMENT_NAMES.get(g, g), charts.primary()) for g in groups]
    fig = go.Figure(go.Bar(x=labels, y=values, marker_color=colours,
                           text=[f"{v:.2f}" for v in values], textposition="outside", cliponaxis=False,
                           hovertemplate="%{x}: mean Jaccard %{y:.2f}<extra></extra>"))
    fig.update_yaxes(range=[0, 1.12], title="overlap of the top-10s (Jaccard)")
    fig.update_xaxes(type="category", title=None)
    return charts.style(fig, 320, legend=False)


def list_view(customer: dict[str, Any], side: str) -> pd.DataFrame:
    """One configuration's list for a customer, for reading: the item (and name), price,
    confidence, marks (✓ bought in the window, = in both lists) and the reason in full."""
    raw = side_by_side(customer, side)
    named = raw["name"].astype(bool)
    out = pd.DataFrame({
        "Item": np.where(named, raw["item"] + " · " + raw["name"], raw["item"]),
        "Price": raw["price"].map("{:.2f}".format), "Conf.": raw["confidence"].map("{:.0%}".format),
        "Bought · both": [" ".join(m for m, on in (("✓", b), ("=", i)) if on)
                          for b, i in zip(raw["bought"], raw["in_both"])],
        "Why": raw["reason"]})
    return out.set_axis(pd.Index(raw["rank"].to_numpy(), name="#"))


def side_by_side(customer: dict[str, Any], side: str) -> pd.DataFrame:
    """One configuration's list for a customer: item, name, price, confidence, reason, marks."""
    rows = [e for e in customer["rows"] if f"{side}_item" in e]
    return pd.DataFrame({
        "rank": [e["rank"] for e in rows], "item": [e[f"{side}_item"] for e in rows],
        "name": [e[f"{side}_name"] for e in rows], "price": [e[f"{side}_price"] for e in rows],
        "confidence": [e[f"{side}_confidence"] for e in rows], "reason": [e[f"{side}_reason"] for e in rows],
        "in_both": [e[f"{side}_in_both"] for e in rows], "bought": [e[f"{side}_bought"] for e in rows]})
