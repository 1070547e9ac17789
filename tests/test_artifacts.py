import json

import joblib
import pytest

from recsys import artifacts
from recsys.artifacts import BundleError
from recsys.service import Recommender


def lists(rec, users):
    return {u: [r.item_id for r in rec.recommend(u, n=5).recommendations] for u in users}


def test_round_trip_gives_the_same_answers(small_bundle):
    rec, out = small_bundle
    loaded = Recommender.load(out)
    users = rec.users().user_id.head(5).tolist()
    assert lists(loaded, users) == lists(rec, users)
    meta = loaded.metadata
    assert meta["format"] == artifacts.FORMAT and meta["data_hash"] and meta["trained_at"]
    assert set(meta["timings_s"]) >= {"features", "als", "item_cf", "popularity", "repurchase_cycles"}
    assert meta["counts"]["users"] == rec.state.n_users and len(meta["date_range"]) == 2


def test_interrupted_save_keeps_the_previous_bundle(small_bundle, tmp_path, monkeypatch):
    rec, _ = small_bundle
    rec.save(tmp_path)
    before = artifacts.current_bundle(tmp_path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut mid-save")

    monkeypatch.setattr(joblib, "dump", crash)
    with pytest.raises(KeyboardInterrupt):
        rec.save(tmp_path)
    monkeypatch.undo()
    assert artifacts.current_bundle(tmp_path) == before
    assert not list(tmp_path.glob(".staging-*"))
    users = rec.users().user_id.head(3).tolist()
    assert lists(Recommender.load(tmp_path), users) == lists(rec, users)


def test_no_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(BundleError, match="no trained models"):
        Recommender.load(tmp_path)


def test_incompatible_version_is_refused_with_a_message(small_bundle, tmp_path):
    rec, _ = small_bundle
    path = rec.save(tmp_path)
    meta = json.loads((path / artifacts.META_FILE).read_text())
    meta["format_version"] = 99
    (path / artifacts.META_FILE).write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="format version 99.*retrain"):
        Recommender.load(tmp_path)


def test_a_replaced_model_file_is_never_unpickled(small_bundle, tmp_path, monkeypatch):
    rec, _ = small_bundle
    path = rec.save(tmp_path)
    (path / artifacts.MODEL_FILE).write_bytes(b"not what we wrote")
    called = []
    monkeypatch.setattr(joblib, "load", lambda *a, **k: called.append(1))
    with pytest.raises(BundleError, match="does not match its metadata"):
        Recommender.load(tmp_path)
    assert not called


def test_old_bundles_are_pruned(small_bundle, tmp_path):
    rec, _ = small_bundle
    for _ in range(3):
        rec.save(tmp_path)
    assert len(list(tmp_path.glob("bundle-*"))) == 2


def test_atomic_write_text_leaves_no_temp_files(tmp_path):
    artifacts.atomic_write_text(tmp_path / "a.txt", "hello")
    assert (tmp_path / "a.txt").read_text() == "hello" and len(list(tmp_path.iterdir())) == 1
