"""Regression tests of the eight bugs the review of the restructure found (issue "one house with
rooms"); each failed on the code before it."""
from __future__ import annotations

import json
import logging
import shutil
import threading

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys import Recommender, TuningConfig
from recsys.process import one_blas_thread
from recsys.bundles import store
from recsys.errors import BundleError
from recsys.evaluation import make_loyal_split
from recsys.models import ALSModel
from tests.model_data import user_items_data

# 1. ALS fold-in ------------------------------------------------------------------------------

def test_folding_in_a_training_customers_row_gives_back_their_trained_factors():
    """implicit's solver uses the confidence c in both sides; the fold-in used (1 + c) on the
    right (a median relative error of 0.42 here), so every unseen customer got a biased vector."""
    rng = np.random.default_rng(0)
    rows, cols = [], []
    for u in range(200):
        items = rng.choice(120, size=rng.integers(3, 15), replace=False)
        rows += [u] * len(items)
        cols += items.tolist()
    x = sp.csr_matrix((rng.integers(1, 5, len(rows)).astype(np.float32), (rows, cols)), shape=(200, 120))
    als = ALSModel(factors=16, iterations=30, regularization=0.1, random_state=0).fit(user_items_data(x))
    folded, trained = als.fold_in(x[:50]), als.user_factors_[:50]
    error = np.linalg.norm(folded - trained, axis=1) / np.linalg.norm(trained, axis=1)
    assert error.max() < 0.05


# 2. one confidence for one pair ----------------------------------------------------------------

def test_similar_items_and_bought_together_give_one_confidence_for_a_pair(small_rec):
    """confidence(a -> b) = baskets holding both / baskets holding a, on both answers (similar
    items divided by a's line count)."""
    rec = small_rec
    items = rec.items()
    differs = items.index[items["purchase_count"] != items["basket_count"]]
    checked = 0
    for code in differs[:40]:  # items bought twice in one basket: lines and baskets differ
        item = str(rec.state.item_ids[code])
        rules = rec.bought_together(item, n=50, min_lift=0.0, min_count=1).set_index("item_id")["confidence"]
        for s in rec.similar_items(item, n=20).similar_items:
            if s["item_id"] in rules.index:
                assert s["confidence_score"] == pytest.approx(rules[s["item_id"]], abs=1e-6)
                checked += 1
    assert checked >= 10


# 3. the buy-again learner's last day -----------------------------------------------------------

def _frame(lines: list[tuple[str, str, str]]) -> pd.DataFrame:
    df = pd.DataFrame(lines, columns=["user_id", "item_id", "timestamp"])
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    df["quantity"], df["price"] = 1.0, 2.0
    df["ticket_id"] = df["user_id"] + df["timestamp"].astype(str)
    df["customer_type"] = "loyal"
    return df


def test_a_rebuy_on_the_last_day_of_the_data_counts_as_bought_again():
    """The first window's labels stopped before the last timestamp: for a date-only store the
    whole last day of rebuys was labelled 'not bought again'."""
    from recsys.training.fit import fit_state
    from recsys.training.repeat_learner import repeat_training_rows

    day = pd.Timestamp("2025-01-01")
    lines = [("a", "milk", str(day + pd.Timedelta(days=d))) for d in range(0, 61, 10)]
    lines += [("a", "bread", str(day + pd.Timedelta(days=5)))]
    lines += [(u, "bread", str(day + pd.Timedelta(days=3))) for u in "bcdef"]  # a window needs 5 customers
    lines += [("a", "milk", str(day + pd.Timedelta(days=100)))]  # the last sale of the data: a rebuy
    config = TuningConfig().replace(repeat={"windows": 1, "newcomer_share": 0.0})
    state, _ = fit_state(_frame(lines), config)
    x, y = repeat_training_rows(state, config)
    assert len(y) == 7  # a: milk, bread; b-f: bread
    assert y.sum() == 1  # a's milk, bought again on the last day


# 4. one meaning of NDCG ------------------------------------------------------------------------

def test_the_validation_window_counts_every_item_bought_as_the_test_protocol_does(small_store):
    """The validation truth dropped items first sold in the window; the test protocol keeps them
    (they can never be recommended but count in the ideal DCG)."""
    from recsys.training.validation import make_holdout

    store_ = small_store.copy()
    end = store_["timestamp"].max()
    new = store_[store_["timestamp"] > end - pd.Timedelta(days=10)].head(60).copy()
    new["item_id"] = "brand-new-" + (np.arange(len(new)) % 7).astype(str)  # first sold in the window
    store_ = pd.concat([store_, new], ignore_index=True)
    holdout = make_holdout(store_, TuningConfig().replace(repeat={"learned": False}))
    split = make_loyal_split(store_, test_days=28)
    truth = dict(zip(split.users, split.truth))
    n = holdout.state.n_items
    ids = holdout.state.user_ids[holdout.codes]
    counted = np.bincount(np.searchsorted(holdout.codes, holdout.truth // n), minlength=len(ids)) + holdout.unseen
    loyal = np.array([u in truth for u in ids])  # the protocol's users are its loyal ones
    expected = np.array([len(truth[u]) for u in ids[loyal]])
    assert loyal.sum() >= 50 and holdout.unseen[loyal].sum() > 0
    assert (counted[loyal] == expected).all()


# 5. BLAS threads -------------------------------------------------------------------------------

def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_concurrent_requests_never_touch_the_process_blas_threads(small_rec, monkeypatch):
    """Every request set the process-wide BLAS thread count and put it back: concurrent API or
    Streamlit threads interleaved and could leave it wrong. A request now never changes it (a
    serving process sets one thread once, at its start)."""
    from recsys import process

    entered = []
    monkeypatch.setattr(process._ONE_BLAS_THREAD, "enter", lambda: entered.append(1))
    before = _blas_threads()
    users = [str(u) for u in small_rec.state.user_ids[:20]] + ["walk-in"]
    basket = [{"item_id": str(small_rec.state.item_ids[3])}]
    errors = []

    def serve() -> None:
        try:
            for u in users:  # known customers, a fold-in from a basket, an unknown one
                small_rec.recommend(u, n=5, history=basket if u == "walk-in" else None)
                small_rec.similar_items(str(small_rec.state.item_ids[0]), n=3, model="als")
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=serve) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors and not entered
    assert _blas_threads() == before


def test_the_training_blas_guard_restores_the_count_when_the_last_user_leaves():
    """Overlapping users of the guard: the first saves and sets one thread, the last restores."""
    from threadpoolctl import threadpool_limits

    from recsys.process import _ONE_BLAS_THREAD as guard

    with threadpool_limits(2, user_api="blas"):
        if max(_blas_threads()) != 2:
            pytest.skip("this BLAS cannot run two threads")
        guard.enter()       # a fit starts
        guard.enter()       # another overlaps it
        guard.exit()        # the first ends while the second still runs
        assert max(_blas_threads()) == 1
        guard.exit()        # the last one out restores
        assert max(_blas_threads()) == 2
        with one_blas_thread():
            assert max(_blas_threads()) == 1
        assert max(_blas_threads()) == 2


# 6. an as-of date past 2262 -------------------------------------------------------------------

def test_any_as_of_date_works_or_is_refused_by_name(small_rec):
    """Nanosecond times overflowed past 2262 (numpy's 'operands could not be broadcast')."""
    user = small_rec.state.user_ids[0]
    far = small_rec.recommend(user, n=5, timestamp="2999-01-01")
    assert len(far.recommendations) == 5 and far.as_of.startswith("2999-01-01")
    early = small_rec.recommend(user, n=5, timestamp="1900-01-01")  # before any sale: a newcomer
    assert len(early.recommendations) == 5
    with pytest.raises(ValueError, match="timestamp '10000-01-01' is not a date"):
        small_rec.recommend(user, n=5, timestamp="10000-01-01")


def test_the_api_answers_a_far_date_or_names_it(small_bundle, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from api import create_app

    rec, src = small_bundle
    folder = tmp_path / "artifacts"
    shutil.copytree(src, folder)
    with TestClient(create_app(folder, poll_seconds=0)) as client:
        user = str(rec.state.user_ids[0])
        ok = client.get(f"/api/v1/recommendations/{user}", params={"timestamp": "2999-01-01"})
        assert ok.status_code == 200 and len(ok.json()["recommendations"]) == 5
        bad = client.get(f"/api/v1/recommendations/{user}", params={"timestamp": "10000-01-01"})
        assert bad.status_code == 422 and "10000-01-01" in bad.json()["detail"]


# 7. CURRENT read once ------------------------------------------------------------------------

def test_a_pointer_that_moves_mid_load_never_mixes_two_bundles(small_bundle, tmp_path, monkeypatch):
    """CURRENT was read three times: a retrain landing mid-load gave a false 'damaged' error
    (the metadata of one bundle, the manifest of the next) or a wrong bundle label."""
    rec, src = small_bundle
    folder = tmp_path / "artifacts"
    shutil.copytree(src, folder)
    first = store.current_bundle(folder).name
    second = rec.save(folder).name  # a second bundle beside it
    (folder / store.POINTER).write_text(first + "\n")
    original = store._metadata_of

    def retrain_lands(path):  # CURRENT moves right after it was read
        (folder / store.POINTER).write_text(second + "\n")
        return original(path)

    monkeypatch.setattr(store, "_metadata_of", retrain_lands)
    loaded = Recommender.load(folder)
    meta = json.loads((folder / first / store.META_FILE).read_text())
    assert loaded.bundle_name == first and loaded.metadata["manifest_sha256"] == meta["manifest_sha256"]


# 8. reload errors ----------------------------------------------------------------------------

def test_a_broken_reload_is_one_line_that_names_the_bundle_and_no_path(small_bundle, tmp_path, caplog):
    """A CURRENT of random bytes answered "'utf-8' codec can't decode byte 0xda" and logged a
    traceback; every reload error named server paths."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from api import create_app

    rec, src = small_bundle
    folder = tmp_path / "artifacts"
    shutil.copytree(src, folder)
    live = store.current_bundle(folder).name
    user = str(rec.state.user_ids[0])
    with TestClient(create_app(folder, poll_seconds=0)) as client, caplog.at_level(logging.ERROR):
        (folder / store.POINTER).write_bytes(bytes([0xDA, 0x17, 0xFF, 0x00, 0x9C]))
        r = client.post("/api/v1/reload")
        detail = r.json()["detail"]
        assert r.status_code == 503 and "\n" not in detail and "not text" in detail and str(tmp_path) not in detail
        assert client.get(f"/api/v1/recommendations/{user}").headers["X-Recsys-Bundle"] == live  # still serving
        # a damaged file of a new bundle: the bundle and the file named, never the server path
        damaged = rec.save(folder)
        victim = max(damaged.glob("*.npy"), key=lambda p: p.stat().st_size)
        victim.write_bytes(victim.read_bytes()[::-1])
        r = client.post("/api/v1/reload")
        detail = r.json()["detail"]
        assert r.status_code == 503 and damaged.name in detail and victim.name in detail
        assert str(tmp_path) not in detail and "\n" not in detail
        assert client.get(f"/api/v1/recommendations/{user}").headers["X-Recsys-Bundle"] == live
    assert not any(rec_.exc_info for rec_ in caplog.records), "a traceback reached the server log"
    assert all(str(tmp_path) not in rec_.getMessage() for rec_ in caplog.records)
    with pytest.raises(BundleError, match="not a bundle of this folder|damaged"):
        (folder / store.POINTER).write_text("../../etc\n")
        Recommender.load(folder)


# the one rule for unknown basket items ---------------------------------------------------------

def test_unknown_basket_items_are_ignored_and_named_by_the_library_and_the_api(small_bundle, tmp_path):
    rec, src = small_bundle
    known = [str(i) for i in rec.popular_items(3)["item_id"]]
    lib = rec.recommend("walk-in", n=5, history=[{"item_id": known[0]}, {"item_id": "no-such-item"}])
    assert lib.ignored_items == ["no-such-item"] and not lib.fallback_used
    same = rec.recommend("walk-in", n=5, history=[{"item_id": known[0]}])
    assert [r.item_id for r in lib.recommendations] == [r.item_id for r in same.recommendations]
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from api import create_app

    folder = tmp_path / "artifacts"
    shutil.copytree(src, folder)
    with TestClient(create_app(folder, poll_seconds=0)) as client:
        body = {"user_id": "walk-in", "history": [{"item_id": known[0]}, {"item_id": "no-such-item"}]}
        r = client.post("/api/v1/recommendations", json=body)
        assert r.status_code == 200 and r.json()["ignored_items"] == ["no-such-item"]
        assert [x["item_id"] for x in r.json()["recommendations"]] == [x.item_id for x in lib.recommendations]
