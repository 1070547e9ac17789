"""The Evaluation page's machinery: what to evaluate, a background run of
`recsys.analysis.report.build_report` with live progress, the report persisted per data source
and cached, and the page's charts.

A report takes minutes (every model is trained again on each split), so it runs on demand in a
worker thread: the page polls it (a rerun or a second session just picks the running job up
again) and the worker writes the finished report to `<source's bundle folder>/evaluation/
report.json` atomically, so the last report shows instantly after a restart. The file carries a
key (source, data hash, trained_at, config, protocol): a report of other data or models is still
shown, marked as out of date.
"""
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
from plotly.subplots import make_subplots

from recsys.atomic import atomic_write_text
from ui import charts, jobs
from ui.sources import Source
from ui.state import SOURCE_LABELS

FORMAT, FORMAT_VERSION = "recsys-evaluation-report", 1
FOLDER, REPORT_FILE = "evaluation", "report.json"
TEST_DAYS, K = 28, (5, 10)
CASES = {  # (scenario, mode) -> label
    ("loyal", "all"): "Loyal · all items",
    ("loyal", "new"): "Loyal · items new to them",
    ("new_customers", "all"): "New customers · after the first basket",
}
SHORT_CASES = {("loyal", "all"): "Loyal, all items", ("loyal", "new"): "Loyal, new items",
               ("new_customers", "all"): "New customers"}
PROTOCOL = (f"Protocol: the last {TEST_DAYS} days are held out; every model learns from the days before and is "
            "scored on what loyal customers then bought (all items, and items new to them); new customers "
            "are scored on their later baskets from their first basket alone.")
VERDICT_STYLE = {"hybrid better": "background-color: #dcfce7; color: #166534",
                 "hybrid worse": "background-color: #fee2e2; color: #991b1b",
                 "noise": "background-color: #f1f5f9; color: #64748b"}


# ---- what to evaluate ----------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """The data of a source (a file path, or None for the demo store) and the report's key."""

    source_key: str
    source_label: str
    data: str | None
    config_toml: str
    key: str            # hash of everything the report depends on
    parts: tuple        # what went into the key (shown when a report is out of date)


@st.cache_data(max_entries=32, show_spinner=False)
def _file_hash(path: str, mtime_ns: int, size: int) -> str:
    from recsys.io.cache import data_hash

    return data_hash(path)


def file_stamp(path: str | Path) -> str:
    """Sha256 of a data file, computed once per (path, mtime, size)."""
    st_ = Path(path).stat()
    return _file_hash(str(path), st_.st_mtime_ns, st_.st_size)


def target_for(source: Source, rec: Any | None) -> Target:
    """What the Evaluation page evaluates for a source: its file (or the demo store, or the file a
    CLI bundle was trained on) with the config its models were trained with. ValueError when the
    data is not at hand."""
    from recsys import TuningConfig, __version__

    meta = dict(rec.metadata) if rec is not None else {}
    if source.kind == "demo":
        data, stamp = None, str(meta.get("data_hash") or f"demo_store@{__version__}")
    elif source.path is not None:
        if not Path(source.path).exists():
            raise ValueError(f"the data file '{source.path.name}' is gone")
        data, stamp = str(source.path), file_stamp(source.path)
    else:
        trained_on = str(meta.get("data_source", ""))
        if not trained_on or trained_on == "dataframe" or not Path(trained_on).exists():
            raise ValueError(f"the data the models in '{source.label}' were trained on is not available here: "
                             "put the file in the data folder to evaluate on it")
        data, stamp = trained_on, file_stamp(trained_on)
    config = rec.config if rec is not None else TuningConfig()
    config_toml = config.to_toml()
    parts = (source.key, stamp, str(meta.get("trained_at", "")), TEST_DAYS, K, __version__,
             hashlib.sha256(config_toml.encode()).hexdigest()[:16])
    key = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:20]
    return Target(source.key, source.label, data, config_toml, key, parts)


def report_path(source: Source) -> Path:
    return Path(source.bundle_dir) / FOLDER / REPORT_FILE


# ---- the report on disk --------------------------------------------------------------------

@dataclass
class Saved:
    """A persisted report: the EvaluationReport plus when, on what and with which key."""

    report: Any
    meta: dict[str, Any]

    @property
    def key(self) -> str:
        return str(self.meta.get("key", ""))

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.meta["created_at"])


def _frame_out(df: pd.DataFrame) -> dict[str, Any]:
    return {"columns": [str(c) for c in df.columns], "dtypes": {str(c): str(t) for c, t in df.dtypes.items()},
            "data": json.loads(df.to_json(orient="values", double_precision=15))}


def _frame_in(d: dict[str, Any]) -> pd.DataFrame:
    df = pd.DataFrame(d["data"], columns=d["columns"])
    for col, dtype in d.get("dtypes", {}).items():
        try:
            kind = np.dtype(dtype).kind
        except TypeError:
            continue
        if kind in "fiub":
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(np.float64 if kind == "f" else dtype)
    return df


def to_json(report: Any, meta: dict[str, Any]) -> str:
    return json.dumps({
        "format": FORMAT, "format_version": FORMAT_VERSION, **meta,
        "ece": None if report.ece is None or not np.isfinite(report.ece) else float(report.ece),
        "info": report.info,
        "table": _frame_out(report.table), "significance": _frame_out(report.significance),
        "reliability": _frame_out(report.reliability), "by_segment": _frame_out(report.by_segment),
        "sweeps": {name: _frame_out(f) for name, f in report.sweeps.items()},
    }, default=str)


def from_json(text: str) -> Saved:
    from recsys.analysis.report import EvaluationReport

    d = json.loads(text)
    if d.get("format") != FORMAT or d.get("format_version") != FORMAT_VERSION:
        raise ValueError("the saved evaluation report is of another format; run the evaluation again")
    report = EvaluationReport(
        table=_frame_in(d["table"]), significance=_frame_in(d["significance"]),
        reliability=_frame_in(d["reliability"]), ece=float("nan") if d.get("ece") is None else float(d["ece"]),
        by_segment=_frame_in(d["by_segment"]), sweeps={k: _frame_in(v) for k, v in d.get("sweeps", {}).items()},
        info=d.get("info", {}))
    meta = {k: v for k, v in d.items() if k not in ("table", "significance", "reliability", "by_segment",
                                                  "sweeps", "info", "ece")}
    return Saved(report, meta)


@st.cache_data(max_entries=8, show_spinner=False)
def _read(source_key: str, path: str, mtime_ns: int, size: int) -> Saved:
    """A report file, parsed once per source and file version (a new run writes a new version)."""
    return from_json(Path(path).read_text(encoding="utf-8"))


def saved_report(source: Source) -> Saved | None:
    """The last report of a source, None when there is none; ValueError when it is unreadable."""
    path = report_path(source)
    try:
        st_ = path.stat()
    except FileNotFoundError:
        return None
    try:
        return _read(source.key, str(path), st_.st_mtime_ns, st_.st_size)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the saved evaluation report could not be read ({exc}); run the evaluation again") from exc


# ---- a run in the background ---------------------------------------------------------------

def _job_key(source: Source) -> str:
    return f"evaluate:{report_path(source)}"


def job_for(source: Source) -> jobs.Job | None:
    return jobs.get(_job_key(source))


def start(source: Source, target: Target) -> jobs.Job:
    """Start evaluating a source in the background (the running job when one is under way)."""
    path = report_path(source)
    return jobs.start_or_join(_job_key(source), lambda job: _work(job, path), target=target)[0]


def forget(job: jobs.Job) -> None:
    """Drop a finished job (its report is on disk; its error has been shown)."""
    jobs.forget(job)


def prepared_data(data: str | None) -> pd.DataFrame:
    """The cleaned sales lines to evaluate on, with a clear message when a split is impossible."""
    from recsys.evaluation.splits import make_loyal_split
    from recsys.io.cleaning import clean_transactions
    from recsys.io.loading import load_transactions

    if data is None:
        from recsys.io.synthetic import demo_store

        frame = demo_store()
    else:
        frame = load_transactions(data)
    df = clean_transactions(frame)[0]
    if df.empty:
        raise ValueError("no sales lines are left after cleaning: there is nothing to evaluate")
    span = (df["timestamp"].max() - df["timestamp"].min()) / pd.Timedelta(days=1)
    if span <= TEST_DAYS + 7:
        raise ValueError(f"the data covers {span:.0f} days: the evaluation holds out the last {TEST_DAYS} days "
                         "and needs some weeks of history before them")
    split = make_loyal_split(df, TEST_DAYS)
    if len(split) == 0:
        raise ValueError(f"no loyal customer bought both before and during the last {TEST_DAYS} days: "
                         "the data has not enough history for the evaluation's split")
    return df


def base_values(config_toml: str) -> dict[str, float]:
    """The trained config's value of every knob the what-if panel sweeps."""
    from recsys import TuningConfig
    from recsys.analysis.report import SWEEPS

    cfg = TuningConfig.from_toml(config_toml)
    return {name: float(getattr(getattr(cfg, section), key)) for name, (section, key, _) in SWEEPS.items()}


def _work(job: jobs.Job, path: Path) -> None:
    """Build the report and write it atomically (errors go to the job, see `ui.jobs`)."""
    from recsys import TuningConfig
    from recsys.analysis.report import build_report

    job.report("loading and cleaning the sales lines", 0.02)
    df = prepared_data(job.target.data)
    config = TuningConfig.from_toml(job.target.config_toml)
    report = build_report(df, test_days=TEST_DAYS, k=K, config=config, progress=job.report)
    job.report("saving the report", 1.0)
    meta = {"key": job.target.key, "key_parts": list(job.target.parts), "source_key": job.target.source_key,
            "source_label": job.target.source_label,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "elapsed_s": round(time.time() - job.started, 1), "config": job.target.config_toml,
            "base_values": base_values(job.target.config_toml),
            "data": {"lines": int(len(df)), "customers": int(df["user_id"].nunique()),
                     "items": int(df["item_id"].nunique())}}
    atomic_write_text(path, to_json(report, meta))


def follow(job: jobs.Job, bar: Any, poll_s: float = 0.4) -> None:
    """Mirror a job's progress into a progress bar until it finishes."""
    last = None
    while not job.done:
        shown = (job.message, round(job.fraction, 2), int(job.elapsed))
        if shown != last:
            last = shown
            bar.progress(job.fraction, text=f"{job.message[:1].upper()}{job.message[1:]} · {duration(job.elapsed)}")
        time.sleep(poll_s)
    bar.progress(1.0, text=f"Finished in {duration(job.elapsed)}")


# ---- formatting ----------------------------------------------------------------------------

def duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"


def ago(when: datetime) -> str:
    s = (datetime.now(timezone.utc) - when).total_seconds()
    if s < 90:
        return "just now"
    if s < 5400:
        return f"{s / 60:.0f} minutes ago"
    if s < 172_800:
        return f"{s / 3600:.0f} hours ago"
    return f"{s / 86_400:.0f} days ago"


def model_label(model: str) -> str:
    if model.startswith("baseline:"):
        return "Baseline: " + model.split(":", 1)[1].strip()
    return "Buy again (repeat)" if model == "repeat" else SOURCE_LABELS.get(model, model)


def model_colours(models) -> dict[str, str]:
    p = charts.palette()
    fixed = {"hybrid": p[0], "als": p[2], "item_cf": p[1], "repeat": p[3], "popularity": p[4],
             "baseline: buy again": "#64748b", "baseline: popularity": "#b6c0cc"}
    greys = iter(["#94a3b8", "#cbd5e1", "#475569"])
    return {m: fixed.get(m) or (next(greys, "#94a3b8") if m.startswith("baseline") else p[(5 + i) % len(p)])
            for i, m in enumerate(models)}


def case_label(scenario: str, mode: str, short: bool = False) -> str:
    return (SHORT_CASES if short else CASES).get((scenario, mode), f"{scenario} · {mode}")


def metric_label(metric: str) -> str:
    name, _, k = metric.partition("@")
    names = {"ndcg": "NDCG", "map": "MAP", "precision": "Precision", "recall": "Recall", "hit_rate": "Hit rate",
             "coverage": "Coverage", "avg_price": "Avg price"}
    return f"{names.get(name, name.replace('_', ' ').capitalize())}@{k}" if k else name.replace("_", " ").capitalize()


def knob_label(name: str) -> str:
    if name.startswith("weight: "):
        return f"Hybrid weight of {SOURCE_LABELS.get(name[8:], name[8:])}"
    if name.startswith("budget_tolerance"):
        return "Budget tolerance (with price sensitivity 1)"
    return name.replace("_", " ").capitalize()


def metric_columns(table: pd.DataFrame) -> list[str]:
    """Metric columns, the larger cut-off first, NDCG first within it."""
    order = ["ndcg", "precision", "recall", "hit_rate", "map", "coverage", "avg_price"]
    metrics = [c for c in table.columns if "@" in str(c)]

    def rank(c: str) -> tuple:
        name, _, k = c.partition("@")
        return (-int(k) if k.isdigit() else 0, order.index(name) if name in order else len(order), c)
    return sorted(metrics, key=rank)


def metric_config(metric: str) -> Any:
    cc = st.column_config
    label = metric_label(metric)
    if metric.startswith("coverage"):
        return cc.NumberColumn(label, format="percent", help="Share of the catalogue that appears in some list")
    if metric.startswith("avg_price"):
        return cc.NumberColumn(label, format="%.2f", help="Average price of the recommended items")
    if metric.startswith("ndcg"):
        return cc.ProgressColumn(label, min_value=0.0, max_value=1.0, format="%.3f",
                                 help="Ranking quality: 1 = every later purchase at the top of the list")
    return cc.NumberColumn(label, format="%.3f")


# ---- derived frames ------------------------------------------------------------------------

def kpis(report: Any, metric: str = "ndcg@10") -> list[tuple[str, str, str | None, str | None, str]]:
    """(label, value, delta, against, help) per scenario: the hybrid against the best baseline."""
    t = report.table
    out = []
    for (scenario, mode), label in SHORT_CASES.items():
        part = t[(t["scenario"] == scenario) & (t["mode"] == mode)]
        ours = part[part["model"] == "hybrid"]
        if ours.empty or metric not in part:
            continue
        base = part[part["model"].str.startswith("baseline")]
        value = float(ours[metric].iloc[0])
        if base.empty:
            out.append((label, f"{value:.3f}", None, None, f"Hybrid {metric_label(metric)}"))
            continue
        best = base.loc[base[metric].idxmax()]
        diff = value - float(best[metric])
        out.append((label, f"{value:.3f}", f"{diff:+.3f}", f"vs {best['model'].split(':', 1)[-1].strip()}",
                    f"Hybrid {metric_label(metric)} on {int(ours['n_users'].iloc[0]):,} customers, against the "
                    f"best simple baseline ({model_label(best['model'])}: {float(best[metric]):.3f})"))
    return out


def significance_view(sig: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "case": [case_label(s, m) for s, m in zip(sig["scenario"], sig["mode"])],
        "against": sig["against"].map(model_label), "hybrid": sig["hybrid"], "other": sig["other"],
        "difference": sig["difference"],
        "ci": [f"{lo:+.3f} … {hi:+.3f}" for lo, hi in zip(sig["ci_low"], sig["ci_high"])],
        "p_value": sig["p_value"], "verdict": sig["verdict"]})


def style_verdicts(view: pd.DataFrame):
    return view.style.map(lambda v: VERDICT_STYLE.get(v, ""), subset=["verdict"]).format(
        {"hybrid": "{:.3f}", "other": "{:.3f}", "difference": "{:+.3f}", "p_value": "{:.3f}"})


SIGNIFICANCE_COLUMNS = {
    "case": st.column_config.TextColumn("Scenario"),
    "against": st.column_config.TextColumn("Hybrid against", width=140),
    "hybrid": st.column_config.NumberColumn("Hybrid", help="NDCG@10 of the hybrid", width=65),
    "other": st.column_config.NumberColumn("Other", help="NDCG@10 of the other model", width=65),
    "difference": st.column_config.NumberColumn("Lead", help="Hybrid minus the other model", width=65),
    "ci": st.column_config.TextColumn("95 % interval", help="Paired bootstrap over customers", width=120),
    "p_value": st.column_config.NumberColumn("p", width=55, help="Two-sided bootstrap p-value of no difference (approximate)"),
    "verdict": st.column_config.TextColumn("Verdict", help="'noise' where the interval crosses 0", width=105),
}


def reference_row(sweep: pd.DataFrame, base: float | None) -> int:
    """Position of the swept value nearest the trained setting (the first one without a setting)."""
    if base is None or not len(sweep):
        return 0
    return int(np.argmin(np.abs(sweep["value"].to_numpy(dtype=float) - base)))


def sweep_view(sweep: pd.DataFrame, base: float | None) -> pd.DataFrame:
    ref = sweep.iloc[reference_row(sweep, base)]
    return pd.DataFrame({
        "value": sweep["value"], "ndcg@10": sweep["ndcg@10"], "avg_price@10": sweep["avg_price@10"],
        "d_ndcg": sweep["ndcg@10"] - ref["ndcg@10"],
        "d_price": 100 * (sweep["avg_price@10"] / ref["avg_price@10"] - 1) if ref["avg_price@10"] else np.nan})


SWEEP_COLUMNS = {
    "value": st.column_config.NumberColumn("Value", format="%g"),
    "ndcg@10": st.column_config.NumberColumn("NDCG@10", format="%.3f"),
    "avg_price@10": st.column_config.NumberColumn("Avg price", format="%.2f"),
    "d_ndcg": st.column_config.NumberColumn("Δ NDCG", format="%+.3f", help="Against the trained setting"),
    "d_price": st.column_config.NumberColumn("Δ price", format="%+.0f %%", help="Against the trained setting"),
}


def trade_off(sweep: pd.DataFrame, base: float | None, name: str) -> str:
    """One sentence: from the trained setting to the dearest lists, what accuracy goes for what price."""
    view = sweep_view(sweep, base)
    top = view.loc[view["avg_price@10"].idxmax()]
    ref = view.iloc[reference_row(sweep, base)]
    if top["value"] == ref["value"]:
        return f"The trained setting ({ref['value']:g}) already gives the dearest lists."
    return (f"From the trained {ref['value']:g} to {top['value']:g}, the average price of a top-10 item goes "
            f"{ref['avg_price@10']:.2f} → {top['avg_price@10']:.2f} ({top['d_price']:+.0f} %) for "
            f"{top['d_ndcg']:+.3f} NDCG@10 ({100 * top['d_ndcg'] / ref['ndcg@10']:+.0f} %).")


# ---- charts (the app's plotly style, see ui/charts.py) -------------------------------------

def score_bars(table: pd.DataFrame, metric: str) -> go.Figure:
    models = list(dict.fromkeys(table["model"]))
    colours = model_colours(models)
    fig = go.Figure()
    fmt = "%{y:.2f}" if metric.startswith("avg_price") else ("%{y:.0%}" if metric.startswith("coverage") else "%{y:.3f}")
    for model in models:
        part = table[table["model"] == model]
        fig.add_trace(go.Bar(
            x=[case_label(s, m) for s, m in zip(part["scenario"], part["mode"])], y=part[metric],
            name=model_label(model), marker_color=colours[model], texttemplate=fmt.replace(".3f", ".2f"),
            textposition="outside", textfont=dict(size=10), cliponaxis=False,
            customdata=part["n_users"], hovertemplate="%{x}<br>" + model_label(model) + ": " + fmt
            + " on %{customdata:,} customers<extra></extra>"))
    fig.update_layout(barmode="group", bargroupgap=0.08)
    fig.update_yaxes(title=metric_label(metric), rangemode="tozero",
                     tickformat=".0%" if metric.startswith("coverage") else None)
    fig.update_xaxes(title=None, type="category")
    return charts.style(fig, 360)


def significance_chart(sig: pd.DataFrame) -> go.Figure:
    """The hybrid's NDCG@10 lead over each model with its 95 % interval (a cross of 0 = noise)."""
    colours = {"hybrid better": charts.primary(), "hybrid worse": "#e11d48", "noise": "#94a3b8"}
    labels = [model_label(a) for a in sig["against"]]
    fig = go.Figure()
    for verdict, colour in colours.items():
        part = sig[sig["verdict"] == verdict]
        if part.empty:
            continue
        fig.add_trace(go.Scatter(
            x=part["difference"], y=[labels[i] for i in np.flatnonzero(sig["verdict"] == verdict)], mode="markers",
            name=verdict, marker=dict(color=colour, size=10, symbol="diamond"),
            error_x=dict(type="data", symmetric=False, array=part["ci_high"] - part["difference"],
                         arrayminus=part["difference"] - part["ci_low"], color=colour, thickness=2, width=5),
            customdata=np.c_[part["ci_low"], part["ci_high"], part["p_value"]],
            hovertemplate="hybrid − %{y}: %{x:+.3f}<br>95 % interval %{customdata[0]:+.3f} … %{customdata[1]:+.3f}"
                          "<br>p = %{customdata[2]:.3f}<extra></extra>"))
    fig.add_vline(x=0, line=dict(color="#6b7280", width=1, dash="dot"))
    fig.update_yaxes(autorange="reversed", type="category", title=None, categoryorder="array", categoryarray=labels)
    fig.update_xaxes(title="lead of the hybrid in NDCG@10", zeroline=False)
    return charts.style(fig, 70 + 34 * len(sig))


def segment_bars(by_segment: pd.DataFrame, metric: str = "ndcg@10") -> go.Figure:
    colours = charts.segment_colours()
    df = ordered_segments(by_segment)
    fig = go.Figure(go.Bar(
        x=[s.replace("-", "-<br>") for s in df["label"]], y=df["mean"],
        marker_color=[colours.get(s, charts.primary()) for s in df["label"]],
        text=[f"{m:.3f}" for m in df["mean"]], textposition="outside", cliponaxis=False, customdata=df["count"],
        hovertemplate="%{x}: " + metric_label(metric) + " %{y:.3f}<br>%{customdata:,} customers<extra></extra>"))
    top = float(df["mean"].max()) if len(df) else 1.0
    fig.update_yaxes(title=f"Hybrid {metric_label(metric)}", range=[0, max(top * 1.18, 0.05)])
    fig.update_xaxes(type="category", title=None, tickangle=0)
    return charts.style(fig, 300, legend=False)


def ordered_segments(by_segment: pd.DataFrame) -> pd.DataFrame:
    """Segments small to high (unknown ones last), with a readable label."""
    from recsys.serving.explain import SEGMENT_LABELS

    df = by_segment.copy()
    df["label"] = df["segment"].map(SEGMENT_LABELS).fillna(df["segment"])
    rank = {s: i for i, s in enumerate(SEGMENT_LABELS.values())}
    return df.iloc[np.argsort([rank.get(s, len(rank)) for s in df["label"]], kind="stable")].reset_index(drop=True)


def reliability_chart(rel: pd.DataFrame) -> go.Figure:
    """Observed purchase rate against the stated confidence per bin, with the diagonal; counts below."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.74, 0.26], vertical_spacing=0.05)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                             line=dict(color="#9ca3af", dash="dash", width=1.2), hoverinfo="skip"), row=1, col=1)
    full = rel[rel["count"] > 0]
    fig.add_trace(go.Scatter(
        x=full["mean_confidence"], y=full["observed_rate"], mode="lines+markers", name="hybrid's top 10",
        line=dict(color=charts.primary(), width=2.2), marker=dict(size=8, line=dict(width=1, color="white")),
        customdata=full["count"],
        hovertemplate="stated %{x:.0%} → bought %{y:.0%}<br>%{customdata:,} recommendations<extra></extra>"),
        row=1, col=1)
    fig.add_trace(go.Bar(
        x=(rel["lower"] + rel["upper"]) / 2, y=rel["count"], width=(rel["upper"] - rel["lower"]) * 0.86,
        marker_color=charts.palette()[1], name="recommendations", showlegend=False,
        customdata=np.c_[rel["lower"], rel["upper"]],
        hovertemplate="%{customdata[0]:.0%}–%{customdata[1]:.0%}: %{y:,} recommendations<extra></extra>"),
        row=2, col=1)
    fig.update_xaxes(range=[0, 1], tickformat=".0%", row=1, col=1)
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title="stated confidence", row=2, col=1)
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title="observed purchase rate", row=1, col=1)
    fig.update_yaxes(title="count", row=2, col=1, rangemode="tozero")
    return charts.style(fig, 380)


def sweep_chart(sweep: pd.DataFrame, base: float | None, name: str) -> go.Figure:
    """NDCG@10 against the average price of the lists as one knob moves, each point labelled."""
    p = charts.palette()
    values = sweep["value"].to_numpy(dtype=float)
    at = reference_row(sweep, base) if base is not None and len(values) else -1
    fig = go.Figure(go.Scatter(
        x=sweep["avg_price@10"], y=sweep["ndcg@10"], mode="lines+markers+text", name=knob_label(name),
        text=[f"{v:g}" for v in values], textposition="top center", textfont=dict(size=12),
        line=dict(color=charts.primary(), width=2), marker=dict(size=9, color=charts.primary()),
        customdata=values,
        hovertemplate=knob_label(name) + " %{customdata:g}<br>NDCG@10 %{y:.3f}<br>avg price %{x:.2f}<extra></extra>"))
    if at >= 0 and abs(values[at] - base) < 1e-9:
        fig.add_trace(go.Scatter(
            x=[sweep["avg_price@10"].iloc[at]], y=[sweep["ndcg@10"].iloc[at]], mode="markers",
            name=f"trained setting ({values[at]:g})", hoverinfo="skip",
            marker=dict(size=18, color="rgba(0,0,0,0)", line=dict(color=p[1], width=3))))
    ys = sweep["ndcg@10"].to_numpy(dtype=float)
    pad = max((ys.max() - ys.min()) * 0.18, 0.005) if len(ys) else 0.01
    fig.update_yaxes(title="NDCG@10 (loyal customers, all items)", range=[ys.min() - pad, ys.max() + pad * 1.6])
    fig.update_xaxes(title="average price of a recommended item (top 10)")
    return charts.style(fig, 380)
