"""The dashboard under `streamlit.testing.v1.AppTest`: every page, and the knobs doing what they say.

The session's small synthetic bundle is the demo source (a copy in this module's tmp artifacts
folder, tests/conftest.py `app_env`), and a hand-made store is offered as a CSV data source for the
upsell test. The environment variables of `ui/settings.py` point the app at them.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from apptest_helpers import assert_clean, new_app, table  # noqa: E402
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGES = {
    "views/overview.py": "Overview", "views/recommendations.py": "Recommendations", "views/basket.py": "Basket what-if",
    "views/similar_items.py": "Similar items", "views/segments.py": "Segments",
    "views/popularity.py": "Popularity", "views/data_training.py": "Data and training",
    "views/evaluation.py": "Evaluation",
}
sys.path.insert(0, str(ROOT))  # so that recsys and ui import however pytest is started
UPSELL_FILE = "upsell-store.csv"
TIMEOUT = 60


def upsell_store() -> pd.DataFrame:
    """A store where a higher upsell factor must raise the list's average price.

    Customers 0-39 bought every item once: 20 cheap items (1.00-1.95) and 4 dear ones (20-35).
    Twenty more customers bought only cheap items, so cheap items are the most popular: with
    upsell 0 the popularity list of customer 0 holds cheap items only; with a strong upsell the
    dear ones (priced above 3x the customer's average, so boosted 1 + 2 x 1 = 3x while their base
    score is at least 2/3 of the top) must come first.
    """
    prices = [1.0 + 0.05 * i for i in range(20)] + [20.0, 25.0, 30.0, 35.0]
    rows = []
    start = pd.Timestamp("2025-01-06 10:00")
    for u in range(60):
        items = range(24) if u < 40 else range(0, 20 - (u - 40))
        for k, i in enumerate(items):
            t = start + pd.Timedelta(days=(3 * u + 7 * k) % 300, minutes=u)
            rows.append({"user_id": f"C{u:03d}", "item_id": f"I{i:02d}", "timestamp": t, "quantity": 1.0,
                         "price": prices[i], "ticket_id": f"T{u}-{t:%Y%m%d}", "customer_type": "loyal"})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def env(app_env, fast_config):
    """The session's small bundle as the demo source, and the upsell CSV in the data folder, trained."""
    from recsys import train
    from ui.sources import slugify

    csv = Path(app_env["RECSYS_DATA_DIR"]) / UPSELL_FILE
    upsell_store().to_csv(csv, index=False)
    train(str(csv), config=fast_config, out_dir=str(Path(app_env["RECSYS_ARTIFACTS"]) / slugify(UPSELL_FILE)),
          calibrate=False)
    return app_env


def rec_table(at: AppTest) -> pd.DataFrame:
    return table(at, "recommendation_reason")


def _param(at: AppTest, key: str):
    value = at.query_params.get(key)
    return value[-1] if isinstance(value, list) else value


def test_a_fresh_machine_trains_the_demo_store_on_first_start(env, tmp_path, monkeypatch, fast_config):
    """No bundle anywhere: the first run trains the demo store (with per-stage progress), then shows it."""
    import recsys.io.synthetic
    import ui.training
    from recsys import train as real_train
    from recsys.io.synthetic import generate_store

    stages = []

    def small_fast_train(data, out_dir, progress):
        def spy(stage, fraction, message):
            stages.append(stage)
            progress(stage, fraction, message)
        return real_train(data, config=fast_config, out_dir=out_dir, progress=spy, calibrate=False)

    monkeypatch.setenv("RECSYS_ARTIFACTS", str(tmp_path / "fresh-artifacts"))
    monkeypatch.setattr(recsys.io.synthetic, "demo_store", lambda: generate_store(n_users=120, n_items=150, n_lines=6000))
    monkeypatch.setattr(ui.training, "train", small_fast_train)
    from ui import jobs

    at = new_app()  # the page is there at once; the demo store trains in the background
    assert_clean(at)
    assert [t.value for t in at.title] == ["Overview"]
    job = jobs.get(f"train:{tmp_path / 'fresh-artifacts' / 'demo'}")
    assert job is None or job.wait(120)  # None: it finished (and was forgotten) within the first run
    at = new_app()  # (a browser's page reruns itself when the fragment sees the job done)
    assert_clean(at)
    assert {"load", "als", "item_cf", "save"} <= set(stages)
    assert (tmp_path / "fresh-artifacts" / "demo" / "CURRENT").exists()
    assert [t.value for t in at.title] == ["Overview"]  # once trained the app shows the store
    assert at.metric[0].value == "120"


def test_the_training_status_shows_no_check_mark_while_training_runs(env, tmp_path, monkeypatch, fast_config):
    from streamlit.elements.lib.mutable_status_container import StatusContainer

    import ui.training
    from recsys import train as real_train

    states: list[str] = []
    real_update = StatusContainer.update
    monkeypatch.setattr(StatusContainer, "update",
                        lambda self, **kw: states.append(kw.get("state")) or real_update(self, **kw))
    seen_while_training: list[str] = []

    def spy_train(data, out_dir, progress):
        import time

        deadline = time.time() + 2.0  # the page draws its bars meanwhile (the thread starts first)
        while "complete" not in states and time.time() < deadline:
            time.sleep(0.05)
        seen_while_training.extend(states)
        return real_train(data, config=fast_config, out_dir=out_dir, progress=progress, calibrate=False)

    monkeypatch.setattr(ui.training, "train", spy_train)
    data = Path(env["RECSYS_DATA_DIR"])
    upsell_store().to_csv(data / "status-check.csv", index=False)
    try:
        at = new_app("views/data_training.py", source="status-check-csv")
        at.button(key="train").click().run()
    finally:
        (data / "status-check.csv").unlink()
    assert_clean(at)
    assert "complete" not in seen_while_training  # was: marked complete as soon as the bars were drawn
    assert states[-1] == "complete"


# ---- every page ----------------------------------------------------------------------------

@pytest.mark.parametrize("page", list(PAGES))
def test_each_page_runs_without_exceptions(env, page):
    at = new_app(page)
    assert_clean(at)
    assert [t.value for t in at.title] == [PAGES[page]]
    # the shared sidebar is there on every page
    assert at.sidebar.selectbox(key="source").value == "demo"
    assert at.sidebar.selectbox(key="user").value
    assert at.sidebar.radio(key="model").value == "hybrid"


def test_recommendation_views_why_and_compare(env):
    at = new_app("views/recommendations.py")
    listed = rec_table(at)
    # the why: a breakdown of every listed item, and one item's waterfall
    assert at.selectbox(key="why_item").value == listed["item_id"].iloc[0]
    at.selectbox(key="why_item").set_value(listed["item_id"].iloc[2]).run()
    assert_clean(at)
    bodies = [h.proto.body for h in at.get("html")]  # the why charts are HTML (ui/html_charts.py)
    assert any("Score contributions of each recommended item" in b for b in bodies)
    assert any(f"How the score of {listed['item_id'].iloc[2]} was built" in b for b in bodies), \
        "the breakdown does not follow the picked item"
    # the comparison of every model for the same customer
    at.session_state["rec_view"] = [t.label for t in at.tabs][1]
    at.run()
    assert_clean(at)
    wide = table(at, "Buy again")
    assert {"Hybrid", "ALS", "Item-CF", "Popularity", "Buy again"} <= set(wide.columns)
    assert list(wide["Hybrid"]) == list(listed["item_id"])


# ---- the knobs -----------------------------------------------------------------------------

def test_a_narrower_price_range_leaves_only_items_inside_it(env):
    at = new_app("views/recommendations.py")
    before = rec_table(at)
    lo, hi = at.slider(key="k_price").value
    assert before["item_price"].min() >= lo and before["item_price"].max() <= hi
    q1, q3 = np.quantile(before["item_price"], [0.25, 0.75])
    assert q1 < q3, "the fixture's list should span prices"
    at.slider(key="k_price").set_value((float(np.floor(q1 * 20) / 20), float(np.ceil(q3 * 20) / 20))).run()
    assert_clean(at)
    lo, hi = at.slider(key="k_price").value
    after = rec_table(at)
    assert len(after) > 0
    assert after["item_price"].between(lo, hi).all(), after[["item_id", "item_price"]]
    assert not before["item_price"].between(lo, hi).all(), "the narrower range must have removed something"


def test_a_higher_upsell_factor_raises_the_average_price_of_the_list(env):
    from ui.sources import slugify

    at = new_app("views/recommendations.py", source=slugify(UPSELL_FILE), user="C000", model="popularity")
    assert_clean(at)
    assert at.sidebar.selectbox(key="user").value == "C000"
    at.toggle(key="k_repurchase").set_value(False).run()
    at.slider(key="k_n").set_value(5).run()
    at.slider(key="k_upsell").set_value(0.0).run()
    plain = rec_table(at)["item_price"].mean()
    at.slider(key="k_boost").set_value(1.0).run()
    at.slider(key="k_upsell").set_value(2.0).run()
    assert_clean(at)
    upsold = rec_table(at)
    assert upsold["item_price"].mean() > plain + 5, (plain, upsold)
    assert (upsold["item_price"] >= 20).sum() == 4  # every dear item made the list
    assert upsold["recommendation_reason"].str.contains("step up").any()


def test_switching_the_model_changes_the_model_source_column(env):
    at = new_app("views/recommendations.py")
    sources = {}
    for model in ("popularity", "als", "item_cf", "repeat"):
        at.sidebar.radio(key="model").set_value(model).run()
        assert_clean(at)
        sources[model] = set(rec_table(at)["model_source"])
    assert sources["popularity"] == {"Popularity"}
    assert sources["als"] == {"ALS"}
    assert sources["item_cf"] == {"Item-CF"}
    assert sources["repeat"] == {"Buy again"}


def test_knobs_never_retrain_and_load_the_models_once(env, monkeypatch):
    import ui.training
    from recsys.serving.service import Recommender

    def no_training(*a, **k):
        raise AssertionError("a knob retrained the models")

    loads = []
    original = Recommender.load.__func__
    monkeypatch.setattr(ui.training, "train", no_training)
    monkeypatch.setattr(Recommender, "load", classmethod(lambda cls, *a, **k: loads.append(a) or original(cls, *a, **k)))
    at = new_app("views/recommendations.py")
    at.toggle(key="k_repurchase").set_value(True).run()  # the buffer acts (and is enabled) only then
    for name, value in (("k_upsell", 1.0), ("k_budget", 2.0), ("k_sensitivity", 1.0), ("k_pool", 50),
                        ("k_w_als", 0.0), ("k_buffer", 0.5)):
        at.slider(key=name).set_value(value).run()
        assert_clean(at)
    at.toggle(key="k_exclude").set_value(True).run()
    assert_clean(at)
    assert len(loads) <= 1  # cached per process: at most the first load of this bundle
    toml = at.session_state["tuning_toml"]
    assert "upsell_factor = 1.0" in toml and "candidate_pool = 50" in toml


def test_reset_puts_every_knob_back_and_the_next_move_keeps_it(env):
    at = new_app("views/recommendations.py")
    defaults = {k: at.slider(key=k).value for k in ("k_upsell", "k_n", "k_boost", "k_w_als")}
    at.slider(key="k_upsell").set_value(1.5).run()
    at.slider(key="k_n").set_value(5).run()
    at.slider(key="k_w_als").set_value(2.0).run()
    at.toggle(key="k_segment_filter").set_value(True).run()
    assert len(rec_table(at)) == 5 and "upsell_factor = 1.5" in at.session_state["tuning_toml"]
    at.button(key="knobs_reset").click().run()
    assert_clean(at)
    assert {k: at.slider(key=k).value for k in defaults} == defaults
    assert at.toggle(key="k_segment_filter").value is False
    assert len(rec_table(at)) == defaults["k_n"]
    at.slider(key="k_boost").set_value(0.9).run()  # the next move does not bring the old upsell back
    assert_clean(at)
    assert at.slider(key="k_upsell").value == defaults["k_upsell"]
    toml = at.session_state["tuning_toml"]
    assert f"upsell_factor = {defaults['k_upsell']}" in toml and "segment_filter = false" in toml


def test_segment_filter_and_due_boost_are_knobs_and_the_segments_page_follows_them(env):
    from recsys.config import KNOB_RANGES

    at = new_app("views/recommendations.py")
    assert at.slider(key="k_upsell").max == KNOB_RANGES["upsell_factor"][1]
    at.slider(key="k_due").set_value(0.5).run()
    at.toggle(key="k_segment_filter").set_value(True).run()
    assert_clean(at)
    toml = at.session_state["tuning_toml"]
    assert "segment_filter = true" in toml and "due_boost = 0.5" in toml
    at.switch_page("views/segments.py").run()
    assert_clean(at)
    assert "filtered out" in at.caption[0].value
    at.switch_page("views/recommendations.py").run()
    at.toggle(key="k_segment_filter").set_value(False).run()
    at.switch_page("views/segments.py").run()
    assert "filtered out" not in at.caption[0].value and "segment filter is off" in at.caption[0].value


def test_knobs_persist_across_pages(env):
    at = new_app("views/recommendations.py")
    at.slider(key="k_upsell").set_value(0.75).run()
    at.switch_page("views/overview.py").run()
    at.switch_page("views/recommendations.py").run()
    assert at.slider(key="k_upsell").value == 0.75


def test_the_url_sets_the_shared_choices_and_bad_values_fall_back(env):
    at = new_app("views/recommendations.py", model="als", user="40000000000")
    assert at.sidebar.radio(key="model").value == "als"
    assert set(rec_table(at)["model_source"]) == {"ALS"}
    at = new_app("views/recommendations.py", user="no-such-user", model="nonsense", source="nowhere")
    assert_clean(at)
    assert at.sidebar.selectbox(key="source").value == "demo"
    assert at.sidebar.radio(key="model").value == "hybrid"
    assert at.sidebar.selectbox(key="user").value
    assert _param(at, "model") == "hybrid" and _param(at, "source") == "demo"
    chosen = at.sidebar.selectbox(key="user").options[3]
    user = chosen.split(" · ")[0]
    at = new_app("views/recommendations.py", user=user)
    assert at.sidebar.selectbox(key="user").value == user and _param(at, "user") == user


# ---- items ---------------------------------------------------------------------------------

def test_similar_items_picking_a_result_makes_it_the_query(env):
    at = new_app("views/similar_items.py")
    first = at.selectbox(key="item").value
    results = table(at, "co_purchase_count")
    assert len(results) and first not in set(results["item_id"])
    pick = results["item_id"].iloc[1]
    # what the "Open" button column's callback does (AppTest cannot click inside a table)
    at.session_state["item"] = pick
    at.run()
    assert_clean(at)
    assert at.selectbox(key="item").value == pick
    assert _param(at, "item") == pick
    assert pick not in set(table(at, "co_purchase_count")["item_id"])
    trail = [g for g in at.get("button_group") if g.key.startswith("trail_")]
    assert trail and first in trail[0].options  # the trail leads back
    trail[0].set_value(first).run()
    assert at.selectbox(key="item").value == first


def _click_similar(at: AppTest, row: int) -> str:
    """What the Popularity page's "Similar" button column's callback leaves behind."""
    pick = table(at, "popularity_score")["item_id"].iloc[row]
    at.session_state["item"] = pick
    at.session_state["_goto_similar"] = True
    at.run()
    assert_clean(at)
    return pick


def test_popularity_opens_the_similar_items_of_an_item(env):
    at = new_app("views/popularity.py")
    assert_clean(at)
    pick = _click_similar(at, 2)
    assert [t.value for t in at.title] == ["Similar items"]
    assert at.selectbox(key="item").value == pick


def test_similar_from_popularity_keeps_the_data_source_customer_and_model(env):
    from ui.sources import slugify

    store = slugify(UPSELL_FILE)
    # a deep link onto the page ...
    at = new_app("views/popularity.py", source=store, user="C001", model="als")
    pick = _click_similar(at, 0)
    assert [t.value for t in at.title] == ["Similar items"] and at.selectbox(key="item").value == pick
    assert at.sidebar.selectbox(key="source").value == store and _param(at, "source") == store
    assert at.sidebar.selectbox(key="user").value == "C001" and at.sidebar.radio(key="model").value == "als"
    # ... and the source chosen in the sidebar, then the page opened from the menu
    at = new_app()
    at.sidebar.selectbox(key="source").set_value(store).run()
    at.switch_page("views/popularity.py").run()
    _click_similar(at, 1)
    assert [t.value for t in at.title] == ["Similar items"]
    assert at.sidebar.selectbox(key="source").value == store


# ---- data and training ---------------------------------------------------------------------

def test_an_invalid_upload_shows_the_validation_report(env):
    at = new_app("views/data_training.py")
    bad = b"user_id,item_id,timestamp,quantity,price\nU1,I1,2025-01-02 10:00,1,2.5\nU2,I2,not a date,1,3.0\n"
    at.file_uploader(key="upload").upload("broken sales.csv", bad, "text/csv").run()
    assert not at.exception
    report = table(at, "problem")
    row = report.iloc[0]
    assert row["file"] == "broken sales.csv" and row["column"] == "timestamp" and row["row"] == 3
    assert any("problem" in e.value for e in at.error)
    assert not any(b.key == "publish" for b in at.button)  # an invalid file cannot be trained on
    # missing columns are named too
    at.file_uploader(key="upload").set_value(("short.csv", b"user_id,item_id\n1,2\n", "text/csv")).run()
    report = table(at, "problem")
    assert report["file"].eq("short.csv").all() and len(report) >= 1
    assert "Traceback" not in " ".join(e.value for e in at.error)
    # invalid files never become data sources
    assert not list(Path(env["RECSYS_DATA_DIR"]).glob("*broken*"))


def test_a_model_file_is_never_accepted_as_an_upload(env, tmp_path):
    from ui.sources import MODEL_SUFFIXES, stage_upload

    at = new_app("views/data_training.py")
    allowed = {t.lstrip(".") for t in at.file_uploader(key="upload").allowed_type}
    assert allowed and not allowed & {s.lstrip(".") for s in MODEL_SUFFIXES}
    for name in ("model.joblib", "bundle.pkl", "../../etc/state.pickle"):
        with pytest.raises(ValueError, match="model file"):
            stage_upload(name, b"\x80\x04", tmp_path, "s1")
    with pytest.raises(ValueError, match="not a workbook"):
        stage_upload("notes.txt", b"hello", tmp_path, "s1")
    staged = stage_upload("../../sneaky name.csv", b"a,b\n", tmp_path, "s1")
    assert staged.parent == tmp_path / ".uploads" / "s1" and staged.name == "sneaky name.csv"


def test_a_valid_upload_is_published_and_trained(env, fast_training):
    """Valid upload -> report OK -> "use it" moves it into the data folder, switches and trains."""
    at = new_app("views/data_training.py")
    csv = upsell_store().to_csv(index=False).encode()
    at.file_uploader(key="upload").upload("fresh store.csv", csv, "text/csv").run()
    assert_clean(at)
    assert any("is valid" in s.value for s in at.success)
    at.button(key="publish").click().run()
    assert_clean(at)
    assert (Path(env["RECSYS_DATA_DIR"]) / "fresh store.csv").exists()
    assert at.sidebar.selectbox(key="source").value == "fresh-store-csv"
    assert "not trained" not in at.sidebar.selectbox(key="source").format_func("fresh-store-csv")
    at.switch_page("views/overview.py").run()
    assert_clean(at)


def test_the_data_page_shows_no_server_paths_and_no_none(env):
    untrained = Path(env["RECSYS_DATA_DIR"]) / "not-trained-yet.csv"
    upsell_store().to_csv(untrained, index=False)
    try:
        at = new_app("views/data_training.py", source="upsell-store-csv")
    finally:
        untrained.unlink()
    assert_clean(at)
    texts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    sources = table(at, "models_in")
    assert "not trained" in set(sources["status"])
    cells = sources.astype(str).to_numpy().ravel().tolist()
    for absolute in (env["RECSYS_ARTIFACTS"], env["RECSYS_DATA_DIR"], str(ROOT)):
        assert not [t for t in texts + cells if absolute in t]
    assert any(f"{UPSELL_FILE} (in the data folder)" in t for t in texts)
    assert "None" not in cells and "nan" not in cells


def test_an_upload_named_like_a_data_file_is_saved_beside_it_and_staging_is_per_session(env, fast_training):
    data = Path(env["RECSYS_DATA_DIR"])
    original = (data / UPSELL_FILE).read_bytes()
    csv = upsell_store().head(600).to_csv(index=False).encode()
    one, two = new_app("views/data_training.py"), new_app("views/data_training.py")
    one.file_uploader(key="upload").upload(UPSELL_FILE, csv, "text/csv").run()
    two.file_uploader(key="upload").upload("other.csv", csv, "text/csv").run()
    staged_one, staged_two = Path(one.session_state["_staged_upload"]), Path(two.session_state["_staged_upload"])
    assert staged_one.exists() and staged_two.exists() and staged_one.parent != staged_two.parent
    one.button(key="publish").click().run()
    assert_clean(one)
    renamed = data / UPSELL_FILE.replace(".csv", " (2).csv")
    try:
        assert (data / UPSELL_FILE).read_bytes() == original  # never overwritten
        assert renamed.read_bytes() == csv
        assert one.sidebar.selectbox(key="source").value == "upsell-store-2-csv"
        assert staged_two.exists()  # the other session's upload is still waiting for it
    finally:
        renamed.unlink(missing_ok=True)


def test_data_page_offers_the_downloads_and_the_way_back_to_the_demo(env):
    from ui.sources import slugify

    at = new_app("views/data_training.py", source=slugify(UPSELL_FILE))
    assert_clean(at)
    assert at.sidebar.selectbox(key="source").value == slugify(UPSELL_FILE)
    assert any("is valid" in s.value for s in at.success)
    assert {"dl_csv", "dl_toml"} <= {d.key for d in at.get("download_button")}
    at.button(key="to_demo").click().run()
    assert at.sidebar.selectbox(key="source").value == "demo"


def test_a_source_without_models_says_what_to_do_and_trains_in_one_click(env, fast_training):
    data = Path(env["RECSYS_DATA_DIR"])
    upsell_store().to_csv(data / "untrained.csv", index=False)
    (data / "broken.csv").write_text("user_id,item_id\n1,2\n")
    try:
        at = new_app("views/recommendations.py", source="broken-csv")
        assert [t.value for t in at.title] == ["No trained models for this data source"]
        at.button(key="gate_train").click().run()
        assert not at.exception
        assert table(at, "problem")["file"].eq("broken.csv").all()  # validated first: not trained
        at = new_app("views/data_training.py", source="untrained-csv")
        assert not at.exception and at.button(key="train")
        at.switch_page("views/recommendations.py").run()
        at.button(key="gate_train").click().run()
        assert_clean(at)
        assert [t.value for t in at.title] == ["Recommendations"]
        assert len(rec_table(at)) > 0
    finally:
        (data / "untrained.csv").unlink()
        (data / "broken.csv").unlink()


def test_csv_of_all_recommendations(env):
    from recsys import TuningConfig
    from ui import state

    key = state.model_key(Path(env["RECSYS_ARTIFACTS"]) / "demo")
    rec = state.recommender(key)
    csv = state.csv_of_recommendations(key, 3, "hybrid", TuningConfig().to_toml())
    frame = pd.read_csv(pd.io.common.BytesIO(csv))
    assert set(frame["user_id"].astype(str)) == set(rec.state.user_ids)
    assert frame.groupby("user_id").size().max() == 3


def test_a_training_that_cannot_write_says_why_without_server_paths(env, monkeypatch):
    import errno

    import ui.training

    def disk_full(data, out_dir, progress):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(out_dir) / "bundle-x" / "arrays.npz"))

    monkeypatch.setattr(ui.training, "train", disk_full)
    at = new_app("views/data_training.py", source="upsell-store-csv")
    at.button(key="train").click().run()
    assert not at.exception
    messages = " ".join(e.value for e in at.error)
    assert "No space left on device" in messages and "arrays.npz" in messages
    assert env["RECSYS_ARTIFACTS"] not in messages


# ---- basket what-if --------------------------------------------------------------------------

def _demo_rec(env):
    from recsys import Recommender

    return Recommender.load(Path(env["RECSYS_ARTIFACTS"]) / "demo")


def test_the_basket_page_lists_what_a_new_customer_with_the_basket_gets(env):
    rec = _demo_rec(env)
    a, b = [str(i) for i in rec.popular_items(2)["item_id"]]
    at = new_app("views/basket.py")
    assert_clean(at)
    assert not at.dataframe  # nothing picked yet: no list
    at.multiselect(key="basket_items").set_value([a]).run()
    assert_clean(at)
    one = rec_table(at)
    assert _param(at, "basket") == a
    at.multiselect(key="basket_items").set_value([a, b]).run()
    assert_clean(at)
    two = rec_table(at)
    assert _param(at, "basket") == f"{a},{b}"
    lib = rec.recommend("what-if", n=len(two), history=[{"item_id": a}, {"item_id": b}])
    assert list(two["item_id"]) == [r.item_id for r in lib.recommendations]
    assert list(one["item_id"]) != list(two["item_id"])
    assert len(at.get("plotly_chart")) >= 2  # the why chart and one item's waterfall
    # the knobs act here too: only items new to the customer leaves the basket out
    at.toggle(key="k_exclude").set_value(True).run()
    assert not {a, b} & set(rec_table(at)["item_id"])
    # complete the basket: rules of recsys.serving.together
    assert list(table(at, "with_items")["item_id"]) == \
        list(rec.complete_basket([a, b], n=10)["item_id"])


def test_a_shared_basket_url_and_a_customers_last_basket(env):
    rec = _demo_rec(env)
    a, b = [str(i) for i in rec.popular_items(5)["item_id"][3:5]]
    at = new_app("views/basket.py", basket=f"{a},no-such-item,{b}")
    assert at.multiselect(key="basket_items").value == [a, b]
    assert any("no-such-item" in w.value for w in at.warning)
    assert len(rec_table(at)) > 0
    user = at.sidebar.selectbox(key="user").value
    at.button(key="basket_from_user").click().run()
    assert_clean(at)
    hist = rec.user_history(user, n=None)
    last = hist[hist["timestamp"] == hist["timestamp"].max()]["item_id"].astype(str)
    assert at.multiselect(key="basket_items").value == list(dict.fromkeys(last))
    assert _param(at, "basket") == ",".join(dict.fromkeys(last))


def test_similar_items_shows_what_is_bought_together(env):
    at = new_app("views/similar_items.py")
    item = at.selectbox(key="item").value
    rules = table(at, "lift")
    from recsys.serving.together import bought_together

    assert list(rules["item_id"]) == list(bought_together(_demo_rec(env), item, n=10)["item_id"])
    assert (rules["lift"] > 1).all()
    at.number_input(key="tog_lift").set_value(1.5).run()
    assert_clean(at)
    assert (table(at, "lift")["lift"] > 1.5).all()
    next(g for g in at.get("button_group") if g.key == "tog_sort").set_value("confidence").run()
    assert_clean(at)
    assert table(at, "lift")["confidence"].is_monotonic_decreasing


# ---- pickers at scale --------------------------------------------------------------------

def test_id_search_substring_group_exact_first_and_a_limit():
    from ui.search import IdSearch

    ids = np.array([f"C{i:06d}" for i in range(300_000)] + ["C00001"], dtype=object)
    groups = np.arange(len(ids)) % 4
    s = IdSearch(ids, groups)
    assert s.find("") == ids[:50].tolist()
    assert s.find("c00001", limit=5)[0] == "C00001"  # the exact id first, though it is the last
    assert s.find("c2999") == [f"C2999{i:02d}" for i in range(50)]  # case-insensitive substring
    hits = s.find("123", group=2)
    assert hits and all("123" in h and groups[int(h[1:])] == 2 for h in hits)
    assert s.find("no-such-id") == []


def test_the_customer_picker_searches_server_side_and_keeps_a_deep_link(env):
    at = new_app("views/recommendations.py")
    box = at.sidebar.selectbox(key="user")
    assert 1 < len(box.options) <= 50
    busiest = box.value
    # a customer beyond the first 50 options, by a deep link: listed and chosen
    from recsys import Recommender

    rec = Recommender.load(os.path.join(os.environ["RECSYS_ARTIFACTS"], "demo"))
    users = rec.users()
    ids = users["user_id"].to_numpy()[np.argsort(-users["total_purchases"].to_numpy(), kind="stable")].tolist()
    far = ids[-1]
    at = new_app("views/recommendations.py", user=far)
    assert_clean(at)
    assert at.sidebar.selectbox(key="user").value == far and _param(at, "user") == far
    # a search lists only matching ids, the current customer kept first
    at.sidebar.text_input(key="user_query").input(far[-3:]).run()
    assert_clean(at)
    opts = at.sidebar.selectbox(key="user").options
    assert all(far[-3:] in o.split(" · ")[0] for o in opts)
    # a segment narrows the list to that segment
    at.sidebar.text_input(key="user_query").input("").run()
    at.sidebar.selectbox(key="user_segment").set_value("high").run()
    assert_clean(at)
    opts = at.sidebar.selectbox(key="user").options
    assert all(o.split(" · ")[1] == "high" for o in opts[1:])
    picked = opts[-1].split(" · ")[0]
    at.sidebar.selectbox(key="user").set_value(picked).run()
    assert _param(at, "user") == picked


def test_the_segments_page_reads_the_stored_sample_and_says_its_size(env, monkeypatch):
    import streamlit as st

    from recsys.serving.service import Recommender

    st.cache_data.clear()  # another test may have left the same summary cached
    calls = []
    original = Recommender.segment_recommendations
    monkeypatch.setattr(Recommender, "segment_recommendations",
                        lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    at = new_app("views/segments.py")
    assert_clean(at)
    assert not calls, "the Segments page recommended on load: it must read the stored sample"
    heading = next(m.value for m in at.markdown if "How recommendations differ" in m.value)
    assert "random sample" in heading and "high" in heading
    # another model: the same sampled customers, recomputed once
    at.sidebar.radio(key="model").set_value("als").run()
    assert_clean(at)
    assert len(calls) == 1 and set(table(at, "#").columns) >= {"#"}
