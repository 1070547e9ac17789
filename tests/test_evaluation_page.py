"""The Evaluation page under AppTest (run on demand, persisted, the what-if switch, errors as
messages) and `build_report` itself on the small synthetic store.

Kept small and quick: the models are trained with the learned buy-again model off (the default
turns it on and takes minutes on this store): `fast_config` of tests/conftest.py.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from apptest_helpers import assert_clean, new_app, table  # noqa: E402
from streamlit.testing.v1 import AppTest

pytest.importorskip("recsys.analysis.report")

ROOT = Path(__file__).resolve().parents[1]
PAGE = "views/evaluation.py"
TIMEOUT = 120


@pytest.fixture(scope="module")
def page_env(app_env, fast_config):
    """The dashboard's environment (tests/conftest.py) with a tiny store as the demo source, trained
    with the quick config (the page evaluates with the config of the source's models: the default
    one learns the buy-again model in every fit and takes minutes), plus a CSV with too little history."""
    import recsys.io.synthetic
    from recsys import train
    from recsys.io.synthetic import generate_store

    store = generate_store(n_users=150, n_items=200, n_lines=8000, seed=5)
    artifacts, data = Path(app_env["RECSYS_ARTIFACTS"]), Path(app_env["RECSYS_DATA_DIR"])
    shutil.rmtree(artifacts / "demo")  # the small bundle's copy
    train(store, config=fast_config, out_dir=str(artifacts / "demo"), calibrate=False)
    short = store[store["timestamp"] > store["timestamp"].max() - pd.Timedelta(days=20)]
    short.to_csv(data / "short.csv", index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(recsys.io.synthetic, "demo_store", lambda seed=0: store.copy())  # the demo store = the tiny one
        yield {**app_env, "artifacts": artifacts}


def open_page(**query) -> AppTest:
    return new_app(PAGE, timeout=TIMEOUT, **query)


def test_the_page_runs_the_evaluation_on_demand_and_keeps_it(page_env, monkeypatch):
    import streamlit as st

    import recsys.analysis.report as er

    report_file = page_env["artifacts"] / "demo" / "evaluation" / "report.json"
    at = open_page()
    assert_clean(at)
    assert [t.value for t in at.title] == ["Evaluation"]
    # nothing runs until asked: only the fit training recorded is shown
    assert not report_file.exists() and [c.key for c in at.get("plotly_chart")] == ["ev_fit_weights"]
    assert any("Run the evaluation" in i.value for i in at.info)

    at.button(key="ev_run").click().run()
    assert_clean(at)
    assert report_file.exists()
    shown = table(at, "ndcg@10")
    assert {"Hybrid", "Baseline: buy again", "Baseline: popularity"} <= set(shown["model"])
    assert len(shown) == 7 * 3  # 5 models + 2 baselines, 3 scenario x mode
    assert len(at.get("plotly_chart")) >= 6  # the fit, scores, significance, segments, reliability, what-if
    assert {"hybrid better", "noise"} & set(table(at, "verdict")["verdict"])
    assert len(at.metric) == 4 and at.metric[-1].label.startswith("Calibration")

    # the what-if panel only picks a stored sweep
    assert at.selectbox(key="ev_knob").value == "upsell_factor"
    before = table(at, "d_ndcg")
    at.selectbox(key="ev_knob").set_value("weight: repeat").run()
    assert_clean(at)
    after = table(at, "d_ndcg")
    assert list(after["value"]) == list(er.SWEEPS["weight: repeat"][2])
    assert list(before["value"]) != list(after["value"])

    # the table's filters
    next(g for g in at.get("button_group") if g.key == "ev_f_mode").set_value(["new"]).run()
    assert set(table(at, "ndcg@10")["mode"]) == {"New to them"}

    # after a restart (caches gone) a new session shows the saved report without recomputing
    monkeypatch.setattr(er, "build_report", lambda *a, **k: pytest.fail("the report was recomputed"))
    st.cache_data.clear()
    again = open_page()
    assert_clean(again)
    assert len(table(again, "ndcg@10")) == 21
    assert any("Last report" in m.value for m in again.markdown)
    assert not again.warning

    # a report of other data or models is still shown, marked as out of date
    saved = json.loads(report_file.read_text())
    report_file.write_text(json.dumps({**saved, "key": "of-an-older-bundle"}))
    stale = open_page()
    assert_clean(stale)
    assert any("Run the evaluation again" in w.value for w in stale.warning)
    assert len(table(stale, "ndcg@10")) == 21


def test_too_little_history_is_a_message_not_a_traceback(page_env):
    at = open_page(source="short-csv")
    assert not at.exception
    assert at.sidebar.selectbox(key="source").value == "short-csv"
    at.button(key="ev_run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "covers 20 days" in errors[0] and "Traceback" not in errors[0]
    assert not (page_env["artifacts"] / "short-csv" / "evaluation" / "report.json").exists()


# ---- the report itself ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def report(small_store, fast_config):
    from recsys.analysis.report import build_report

    steps = []
    out = build_report(small_store, config=fast_config, progress=lambda m, f: steps.append((m, f)))
    return out, steps


def test_build_report_on_a_small_store(report, small_store, fast_config):
    from recsys.analysis.report import SWEEPS, RecommenderModel
    from recsys.evaluation.splits import make_loyal_split
    from recsys.io.cleaning import clean_transactions

    rep, steps = report
    t = rep.table
    hybrid = t[t["model"] == "hybrid"]
    assert {("loyal", "all"), ("loyal", "new")} <= set(zip(hybrid["scenario"], hybrid["mode"]))
    assert {"ndcg@10", "precision@5", "avg_price@10", "coverage@10"} <= set(t.columns)
    assert t["ndcg@10"].between(0, 1).all()
    fractions = [f for _, f in steps]
    assert fractions == sorted(fractions) and 0 < fractions[0] < fractions[-1] <= 1

    # reliability: every recommended item of the hybrid's top 10 falls in one bin
    split = make_loyal_split(clean_transactions(small_store)[0], 28)
    model = RecommenderModel("hybrid", fast_config, calibrate=True).fit(split.train)
    n_recs = len(model.frame(list(split.users), split.as_of, 10, False))
    assert n_recs > 0 and int(rep.reliability["count"].sum()) == n_recs
    assert 0 <= rep.ece <= 1

    assert set(rep.significance["verdict"]) <= {"hybrid better", "hybrid worse", "noise"}
    noise = rep.significance["verdict"] == "noise"
    assert ((rep.significance["ci_low"][noise] <= 0) & (rep.significance["ci_high"][noise] >= 0)).all()
    assert rep.by_segment["count"].sum() == hybrid.query("scenario == 'loyal' and mode == 'all'")["n_users"].iloc[0]

    assert set(rep.sweeps) == set(SWEEPS)
    for name, sweep in rep.sweeps.items():
        assert list(sweep["value"]) == list(SWEEPS[name][2]), name  # one row per value
        assert sweep[["ndcg@10", "avg_price@10"]].notna().all().all()
    upsell = rep.sweeps["upsell_factor"]
    assert upsell["avg_price@10"].iloc[-1] > upsell["avg_price@10"].iloc[0]  # upsell raises the price


def test_a_report_survives_the_round_trip_to_disk(report, tmp_path):
    from recsys.atomic import atomic_write_text
    from ui import evaluation as ev

    rep, _ = report
    path = tmp_path / "evaluation" / "report.json"
    atomic_write_text(path, ev.to_json(rep, {"key": "k1", "created_at": "2025-01-02T03:04:05+00:00"}))
    back = ev.from_json(path.read_text())
    assert back.key == "k1" and back.created.year == 2025
    for name in ("table", "significance", "reliability", "by_segment"):
        pd.testing.assert_frame_equal(getattr(back.report, name), getattr(rep, name), check_dtype=False,
                                      check_exact=False, rtol=1e-12)
    for name, sweep in rep.sweeps.items():
        pd.testing.assert_frame_equal(back.report.sweeps[name], sweep, check_dtype=False)
    assert np.isclose(back.report.ece, rep.ece) and back.report.info == rep.info
    assert not list(path.parent.glob(".*.tmp"))  # written atomically, no leftovers
    with pytest.raises(ValueError, match="another format"):
        ev.from_json('{"format": "something else"}')


# ---- A/B: two configurations ---------------------------------------------------------------

def test_saved_configurations_and_the_ab_comparison(page_env):
    """Save the knobs under a name in the sidebar, load them back, compare them with the trained
    configuration in the background; the comparison is kept for the next session."""
    from recsys.analysis.window import forget_windows

    forget_windows()
    demo = page_env["artifacts"] / "demo"
    result = demo / "evaluation" / "compare.json"
    at = new_app("views/recommendations.py", timeout=TIMEOUT)
    assert_clean(at)
    at.slider(key="k_upsell").set_value(1.0).run()
    at.slider(key="k_boost").set_value(1.0).run()
    at.text_input(key="cfg_name").input("upsell 1.0, price-boost 1.0").run()
    at.button(key="cfg_save").click().run()
    assert_clean(at)
    saved = demo / "configs" / "upsell 1.0, price-boost 1.0.toml"
    assert saved.exists() and "upsell_factor = 1.0" in saved.read_text()
    at.button(key="knobs_reset").click().run()
    assert at.slider(key="k_upsell").value == 0.0
    at.selectbox(key="cfg_pick").set_value("upsell 1.0, price-boost 1.0").run()
    at.button(key="cfg_load").click().run()
    assert_clean(at)
    assert at.slider(key="k_upsell").value == 1.0 and at.slider(key="k_boost").value == 1.0
    assert any("Loaded" in s.value for s in at.success)
    # a configuration that needs a retrain is refused with the reason, the knobs stay
    (demo / "configs" / "more factors.toml").write_text("[als]\nfactors = 16\n")
    at.run()
    at.selectbox(key="cfg_pick").set_value("more factors").run()
    at.button(key="cfg_load").click().run()
    assert any("needs a retrain" in w.value and "als.factors" in w.value for w in at.warning)
    assert at.slider(key="k_upsell").value == 1.0
    (demo / "configs" / "more factors.toml").unlink()

    at.switch_page(PAGE).run()
    assert_clean(at)
    assert any("No comparison yet" in i.value for i in at.info)
    at.selectbox(key="ab_b").set_value("upsell 1.0, price-boost 1.0").run()
    assert any("rerank.upsell_factor" in c.value for c in at.caption)
    at.button(key="ab_run").click().run()
    assert_clean(at)
    assert result.exists()
    keys = [c.key for c in at.get("plotly_chart")]
    assert {"ab_change", "ab_segments", "ab_overlap"} <= set(keys)
    frame = table(at, "verdict")
    assert "NDCG@10, all items" in set(frame["measure"]) and len(frame) == 12
    price = frame.set_index("measure").loc["Average price of a listed item"]
    assert price["verdict"] == "B higher"
    lists = [t.value for t in at.table if "Why" in t.value.columns]
    assert len(lists) == 2 and all(len(v) and v["Why"].str.len().gt(0).all() for v in lists)
    assert all(list(v.index) == list(range(1, len(v) + 1)) for v in lists)

    # a new session (caches cleared) shows the kept comparison without computing it again
    import streamlit as st

    st.cache_data.clear()
    again = new_app(PAGE, timeout=TIMEOUT)
    assert_clean(again)
    assert any("A = trained, B = upsell 1.0, price-boost 1.0" in m.value for m in again.markdown)
    assert any(m.label == "Lists overlap" for m in again.metric)
    result.unlink()  # the first test of this file expects no comparison yet
