"""The Spark engine (`python -m recsys train --engine spark`), in local mode on a small synthetic store.

It must write the same bundle as the local engine (the Recommender and the dashboard load it),
learn the same aggregates, and recommend about as well: NDCG@10 within 10% of the local engine
on the loyal split (both engines trained on the split's training frame with the same config).
Both read it as a store sends it: a CSV with its own column names and day-first dates, a share of
its lines guest sales (no customer id), one item on an exclusion list: the same data options.

Skipped where pyspark (requirements-spark.txt) or Java is missing. Spark's own overhead (a JVM, and
dozens of small jobs, each planned and scheduled) is most of the time, whatever the store's size:
so the store is small (but with enough loyal customers for NDCG@10 to mean something) and the JVM
is started for a short job (`SPARK_SUBMIT_ARGS`: the quick C1 JIT compiler and the serial garbage
collector, no adaptive query planning, a 1 GiB heap). About 30 s on 2 busy cores.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None:
    pytest.skip("the Spark engine needs Java (17+)", allow_module_level=True)

from recsys import train  # noqa: E402
from recsys.analysis.report import RecommenderModel  # noqa: E402
from recsys.bundles.store import read_metadata  # noqa: E402
from recsys.config import TuningConfig  # noqa: E402
from recsys.evaluation.protocol import evaluate  # noqa: E402
from recsys.evaluation.splits import make_loyal_split
from recsys.io.cleaning import clean_transactions  # noqa: E402
from recsys.io.synthetic import generate_store  # noqa: E402
from recsys.serving.service import Recommender  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# pyspark's Arrow conversion still passes copy= to pandas 3 (a deprecation warning, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")
# smaller factors than the default 128 keep Spark's ALS (pure JVM linear algebra) quick, and its
# iterations are the default's (each is a few Spark jobs); both engines use it. Fewer past windows
# for the buy-again learner (local in both engines) keep the test short
CONFIG = TuningConfig().replace(als={"factors": 32, "iterations": 5},
                                repeat={"windows": 2, "max_users_per_window": 1000})
# how the test's JVM starts (read by pyspark when it launches the JVM; the engine's own settings,
# local[2], 4 shuffle partitions, no UI, stay as they are): quick to start, for a short job
SPARK_SUBMIT_ARGS = ("--driver-java-options '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC' "
                     "--conf spark.sql.adaptive.enabled=false pyspark-shell")


# the store's own column names; dates written day first
COLUMNS = {"Kunde": "user_id", "Artikel": "item_id", "Datum": "timestamp", "Menge": "quantity", "Preis": "price",
           "Bon": "ticket_id", "Typ": "customer_type", "Summe": "ticket_amount"}


def _as_export(train_frame, split, work: Path) -> tuple[Path, str]:
    """The split's training lines as a store's CSV: 15% of the customers not asked in the test
    shop as guests (their customer id blank); an exclusion list with one item; (path, item)."""
    rng = np.random.default_rng(0)
    asked = set(split.users)
    others = np.array(sorted(set(train_frame["user_id"].astype(str)) - asked))
    guests = set(rng.choice(others, size=int(0.15 * len(others)), replace=False))
    out = train_frame.astype({c: str for c in ("user_id", "item_id", "ticket_id", "customer_type")})
    out["user_id"] = out["user_id"].where(~out["user_id"].isin(guests), "")
    out["timestamp"] = out["timestamp"].dt.strftime("%d.%m.%Y %H:%M:%S")
    inverse = {v: k for k, v in COLUMNS.items()}
    path = work / "export.csv"
    out.rename(columns=inverse)[list(COLUMNS)].to_csv(path, index=False)
    item = out["item_id"].value_counts().index[5]
    (work / "export.csv.exclude.txt").write_text(f"{item}\n")
    return path, item


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    """(split, Spark recommender loaded from its bundle, local recommender, artifacts root, the
    excluded item)."""
    root = tmp_path_factory.mktemp("spark-artifacts")
    work = tmp_path_factory.mktemp("spark-data")
    # ~70 loyal customers in the test window
    store, _ = clean_transactions(generate_store(n_users=1200, n_items=800, n_lines=20_000, seed=3))
    split = make_loyal_split(store, test_days=28)
    data, excluded = _as_export(split.train, split, work)
    config_file = work / "tuning.toml"
    CONFIG.save(config_file)

    from recsys.cli import main

    # the CLI path the issue names: reads the CSV with the data options, trains with Spark, writes the bundle
    columns = ",".join(f"{k}={v}" for k, v in COLUMNS.items())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYSPARK_SUBMIT_ARGS", SPARK_SUBMIT_ARGS)
        mp.setenv("RECSYS_SPARK_DRIVER_MEMORY", "1g")
        assert main(["train", "--engine", "spark", "--spark-master", "local[2]", "--data", str(data),
                     "--artifacts", str(root / "demo"), "--config", str(config_file), "--columns", columns,
                     "--dayfirst"]) == 0
    spark_rec = Recommender.load(root / "demo")
    local_rec = train(str(data), config=CONFIG, calibrate=False, column_map=COLUMNS, dates="dayfirst")
    return split, spark_rec, local_rec, root, excluded


def test_bundle_is_marked_and_serves(engines):
    split, rec, _, root, _ = engines
    meta = read_metadata(root / "demo")
    assert meta["engine"] == "spark"
    assert meta["spark_master"] == "local[2]"
    assert {"features", "als", "item_cf", "repurchase_cycles", "save"} <= set(meta["timings_s"])
    user = split.users[0]
    res = rec.recommend(user, n=5)
    assert len(res.recommendations) == 5
    assert not res.fallback_used and res.primary_model == "hybrid"
    assert all(r.item_id in set(rec.state.item_ids) for r in res.recommendations)
    item = rec.state.item_ids[int(np.argmax(rec.state.items["purchase_count"].to_numpy()))]
    assert len(rec.similar_items(item, n=5).similar_items) == 5
    batch = rec.recommend_batch(split.users[:50], n=10)
    assert batch["user_id"].nunique() == 50


def test_both_engines_read_the_same_data_options_and_keep_the_guests_apart(engines):
    _, s_rec, l_rec, _, excluded = engines
    for rec in (s_rec, l_rec):
        report = rec.cleaning_report
        assert report["source"]["dates"] == "day first (as told)" and report["source"]["columns"]["Kunde"] == "user_id"
        assert report["excluded_items"] == [excluded] and excluded not in set(rec.state.item_ids)
        assert report["guest_lines"] > 0 and rec.state.summary["guest_lines"] == report["guest_lines"]
        assert "" not in set(rec.state.user_ids)


def test_same_aggregates_as_local_engine(engines):
    _, s_rec, l_rec, _, _ = engines
    s, l = s_rec.state, l_rec.state
    assert list(s.user_ids) == list(l.user_ids) and list(s.item_ids) == list(l.item_ids)
    assert list(s.profiles.columns) == list(l.profiles.columns)
    assert list(s.items.columns) == list(l.items.columns)
    for col in ("total_purchases", "tickets", "unique_items", "segment_code", "user_type"):
        assert (s.profiles[col].to_numpy() == l.profiles[col].to_numpy()).all(), col
    for col in ("avg_item_price", "total_spend"):
        np.testing.assert_allclose(s.profiles[col], l.profiles[col], rtol=1e-6)
    assert (s.profiles["last_purchase"] == l.profiles["last_purchase"]).all()
    for col in ("purchase_count", "unique_buyers"):
        assert (s.items[col].to_numpy() == l.items[col].to_numpy()).all(), col
    for col in ("price", "total_quantity", "avg_units", "popularity", "cycle_days", "repeat_rate"):
        np.testing.assert_allclose(s.items[col].to_numpy(float), l.items[col].to_numpy(float), rtol=1e-5,
                                   equal_nan=True, err_msg=col)
    np.testing.assert_array_equal(s.segment_buyers, l.segment_buyers)
    np.testing.assert_allclose(s.segment_caps, l.segment_caps, rtol=1e-6)
    np.testing.assert_allclose(s.line_weight, l.line_weight, rtol=1e-5)
    assert s.user_item_cycle.nnz == l.user_item_cycle.nnz
    np.testing.assert_allclose(s.user_item_cycle.toarray(), l.user_item_cycle.toarray(), rtol=1e-6)
    # item-CF: the same neighbour lists up to float ties at the k-th place
    assert abs(s.item_cf.similarity_.nnz - l.item_cf.similarity_.nnz) <= 0.01 * l.item_cf.similarity_.nnz
    diff = abs(s.item_cf.similarity_ - l.item_cf.similarity_)
    assert diff.max() < 1e-4
    assert s.als.user_factors_.shape == l.als.user_factors_.shape
    assert s.als.item_factors_.shape == l.als.item_factors_.shape
    assert s.summary == l.summary


def _scorer(rec):
    return RecommenderModel.of(rec).recommend


def test_quality_within_ten_percent_of_local(engines):
    split, s_rec, l_rec, _, _ = engines
    s_res = evaluate(None, split, k=(10,), scorer=_scorer(s_rec), model_name="spark")
    l_res = evaluate(None, split, k=(10,), scorer=_scorer(l_rec), model_name="local")
    s_ndcg, l_ndcg = s_res["ndcg@10"], l_res["ndcg@10"]
    print(f"NDCG@10 on {len(split)} loyal users: spark {s_ndcg:.4f}, local {l_ndcg:.4f}")
    assert l_ndcg > 0.05  # the split is meaningful
    assert s_ndcg >= 0.9 * l_ndcg


@pytest.mark.skipif(not (ROOT / "app.py").exists(), reason="no dashboard (app.py) in this checkout")
def test_dashboard_loads_the_spark_bundle(engines, monkeypatch):
    from streamlit.testing.v1 import AppTest

    _, _, _, root, _ = engines
    monkeypatch.setenv("RECSYS_ARTIFACTS", str(root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = " ".join(str(getattr(e, "value", "")) for e in list(at.markdown) + list(at.caption) + list(at.metric))
    assert "no trained models" not in text.lower()
