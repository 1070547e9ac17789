import copy
import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.bundles import format as bundle_format
from recsys.bundles import store as artifacts
from recsys.config import MODELS, SEGMENTS, TuningConfig
from recsys.errors import BundleError
from recsys.serving.service import Recommender


def lists(rec, users):
    return {u: [r.item_id for r in rec.recommend(u, n=5).recommendations] for u in users}


def answers(rec, users):
    """Items, scores and reasons: what a user sees, to the float."""
    return {u: [(r.item_id, r.relevance_score, r.confidence_score, r.recommendation_reason, r.model_source)
                for r in rec.recommend(u, n=10).recommendations] for u in users}


class PlantedPayload:
    """A pickle that, if ever unpickled, creates `marker` (what a malicious bundle would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def rewrite_manifest(path: Path, edit) -> None:
    """Edit a bundle's manifest and re-seal it (file sizes, hashes): what an attacker who can write could do."""
    manifest = json.loads((path / artifacts.MANIFEST_FILE).read_text())
    edit(manifest)
    for name, entry in manifest["files"].items():
        data = (path / name).read_bytes()
        entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    raw = json.dumps(manifest).encode()
    (path / artifacts.MANIFEST_FILE).write_bytes(raw)
    meta = json.loads((path / artifacts.META_FILE).read_text())
    meta["manifest_sha256"] = hashlib.sha256(raw).hexdigest()
    (path / artifacts.META_FILE).write_text(json.dumps(meta))


def listed_file(path: Path, suffix: str, part: str = "") -> str:
    manifest = json.loads((path / artifacts.MANIFEST_FILE).read_text())
    return next(n for n in sorted(manifest["files"]) if n.endswith(suffix) and part in n)


def assert_same(a, b, where="state"):
    """Deep equality of two trained states, dtypes included."""
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif sp.issparse(a):
        assert a.format == b.format and a.shape == b.shape and a.dtype == b.dtype, where
        assert (a != b).nnz == 0, where
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, obj=where)
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif type(a).__module__.startswith("lightgbm"):
        assert a.model_to_string(num_iteration=-1) == b.model_to_string(num_iteration=-1), where
        assert a.best_iteration == b.best_iteration, where
    elif type(a).__module__.startswith("recsys"):
        assert_same(vars(a), vars(b), where)
    else:
        assert a == b or (a != a and b != b), where  # NaN == NaN here


def test_round_trip_gives_the_same_answers(small_bundle):
    rec, out = small_bundle
    loaded = Recommender.load(out)
    users = rec.users().user_id.head(20).tolist()
    assert answers(loaded, users) == answers(rec, users)
    item = rec.items().item_id.iloc[0]
    assert loaded.similar_items(item, n=5).similar_items == rec.similar_items(item, n=5).similar_items
    assert loaded.cleaning_report == rec.cleaning_report and loaded.cleaning_report["lines_in"] > 0
    meta = loaded.metadata
    assert meta["format"] == artifacts.FORMAT and meta["format_version"] == artifacts.FORMAT_VERSION == 4
    assert meta["data_hash"] and meta["trained_at"]
    assert set(meta["timings_s"]) >= {"features", "als", "item_cf", "popularity", "repurchase_cycles"}
    assert meta["counts"]["users"] == rec.state.n_users and len(meta["date_range"]) == 2


def test_round_trip_restores_every_field_exactly(small_bundle):
    rec, out = small_bundle
    loaded = Recommender.load(out)
    assert rec.state.repeat.booster_ is not None and rec.state.calibrator is not None  # all kinds covered
    assert_same(rec.state, loaded.state)
    x = np.random.default_rng(0).random((50, rec.state.repeat.booster_.num_feature()))
    np.testing.assert_array_equal(rec.state.repeat.booster_.predict(x), loaded.state.repeat.booster_.predict(x))


def _every_answer(rec, users, items, cfg):
    """What the public API answers (request timings and clocks left out)."""
    out = {}
    for model in MODELS:
        for user in users:
            resp = rec.recommend(user, n=10, model=model, config=cfg, exclude_purchased=model != "repeat").to_dict()
            out[(model, user)] = {k: v for k, v in resp.items() if k not in ("processing_time_ms", "generated_at")}
        out[(model, "batch")] = rec.recommend_batch(users, n=10, model=model, config=cfg).to_dict("list")
    out["newcomer"] = rec.recommend("someone-new", n=5, history=list(items[:3])).recommendations
    out["cold"] = rec.recommend("someone-else", n=5).recommendations
    out["similar"] = [rec.similar_items(i, n=5).similar_items for i in items]
    out["popular"] = [rec.popular_items(n=5, segment=s).to_dict("list") for s in (None, *SEGMENTS)]
    out["profiles"] = [(rec.user_profile(u), rec.user_history(u).to_dict("list")) for u in users]
    out["stats"] = {k: v for k, v in rec.stats().items() if k != "timings_s"}
    return out


def test_a_loaded_bundle_answers_every_call_like_the_trained_models(small_bundle):
    rec, out = small_bundle
    loaded = Recommender.load(out)  # memory-mapped, read-only arrays: nothing on the request path writes them
    cfg = TuningConfig.from_dict({"rerank": {"segment_filter": True, "upsell_factor": 0.3, "repurchase_exclusion": True,
                                             "due_boost": 0.5, "price_sensitivity": 0.5}})
    users = rec.users().user_id.sample(8, random_state=1).tolist()
    items = rec.items().item_id.head(4).tolist()
    for config in (rec.config, cfg):
        assert _every_answer(loaded, users, items, config) == _every_answer(rec, users, items, config)


def test_arrays_are_read_only_and_big_ones_memory_mapped(small_bundle, monkeypatch):
    _, out = small_bundle
    state = Recommender.load(out).state
    for arr in (state.line_item, state.als.user_factors_, state.item_cf.similarity_.data, state.segment_caps):
        assert type(arr) is np.ndarray and not arr.flags.writeable
    assert not isinstance(state.line_item.base, np.memmap)  # 120 KB: read, not mapped
    monkeypatch.setattr(bundle_format, "MMAP_MIN_BYTES", 10_000)
    state = Recommender.load(out).state
    assert isinstance(state.line_item.base, np.memmap) and not isinstance(state.segment_caps.base, np.memmap)
    assert Recommender(state).state.line_item.flags.writeable is False
    in_memory = artifacts.load_bundle(out, mmap=False).payload
    assert in_memory["state"].line_item.flags.writeable


def test_the_bundle_holds_no_pickle(small_bundle):
    _, out = small_bundle
    path = artifacts.current_bundle(out)
    names = {p.name for p in path.iterdir() if p.is_file()}
    assert not {n for n in names if n.endswith((".joblib", ".pkl", ".pickle"))}
    assert {n.rsplit(".", 1)[-1] for n in names} <= {"json", "npy", "parquet", "txt"}
    assert {p.name for p in path.iterdir() if p.is_dir()} <= {"lists"}  # the default lists, added after
    assert {p.suffix for p in (path / "lists").iterdir()} <= {".json", ".npy"}
    for npy in [*path.glob("*.npy"), *path.glob("lists/*.npy")]:
        np.load(npy, allow_pickle=False)  # every array file reads without pickle


def test_loading_never_unpickles(small_bundle, monkeypatch):
    _, out = small_bundle

    def refuse(*args, **kwargs):
        raise AssertionError("a bundle load reached pickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    assert Recommender.load(out).state.n_users > 0


def test_interrupted_save_keeps_the_previous_bundle(small_bundle, tmp_path, monkeypatch):
    rec, _ = small_bundle
    rec.save(tmp_path)
    before = artifacts.current_bundle(tmp_path)
    real_save, written = np.save, []

    def crash_after_a_few(*args, **kwargs):
        if len(written) == 5:
            raise KeyboardInterrupt("power cut mid-save")
        written.append(args[0])
        return real_save(*args, **kwargs)

    monkeypatch.setattr(np, "save", crash_after_a_few)
    with pytest.raises(KeyboardInterrupt):
        rec.save(tmp_path)
    monkeypatch.undo()
    assert len(written) == 5  # the crash came mid-bundle, not before it
    assert artifacts.current_bundle(tmp_path) == before
    assert not list(tmp_path.glob(".staging-*"))
    users = rec.users().user_id.head(3).tolist()
    assert lists(Recommender.load(tmp_path), users) == lists(rec, users)


def test_a_field_that_cannot_be_saved_names_its_path(small_bundle, tmp_path):
    rec, _ = small_bundle
    rec.save(tmp_path)
    before = artifacts.current_bundle(tmp_path)
    state = copy.copy(rec.state)
    state.candidate_lists = {"hybrid": {1, 2, 3}}  # a set: not storable
    with pytest.raises(TypeError, match=r"payload\['state'\]\.candidate_lists\['hybrid'\]: a builtins\.set"):
        Recommender(state, rec.config, rec.metadata).save(tmp_path)
    state.candidate_lists = {"hybrid": np.arange(3)}  # an array: stored without any change here
    Recommender(state, rec.config, rec.metadata).save(tmp_path)
    loaded = Recommender.load(tmp_path).state
    np.testing.assert_array_equal(loaded.candidate_lists["hybrid"], np.arange(3))
    assert artifacts.current_bundle(tmp_path) != before and not list(tmp_path.glob(".staging-*"))


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


def test_a_version_2_joblib_bundle_asks_for_a_retrain_and_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    old = tmp_path / "bundle-20250101-000000-1"
    old.mkdir()
    (old / "model.joblib").write_bytes(pickle.dumps(PlantedPayload(marker)))
    (old / artifacts.META_FILE).write_text(json.dumps(
        {"format": artifacts.FORMAT, "format_version": 2, "library_version": "0.4", "model_sha256": "x"}))
    (tmp_path / artifacts.POINTER).write_text(old.name + "\n")
    with pytest.raises(BundleError, match="format version 2.*retrain"):
        Recommender.load(tmp_path)
    assert not marker.exists()


def test_a_replaced_data_file_is_refused(small_bundle, tmp_path):
    rec, _ = small_bundle
    path = rec.save(tmp_path)
    name = listed_file(path, ".npy", "line_item")
    (path / name).write_bytes(b"not what we wrote")
    with pytest.raises(BundleError, match="does not match its metadata"):
        Recommender.load(tmp_path)


def test_a_same_size_damaged_file_is_caught_by_its_hash(small_bundle, tmp_path):
    rec, _ = small_bundle
    path = rec.save(tmp_path)
    target = path / listed_file(path, ".npy", "line_weight")
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte in the last weight: same size, same header
    target.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="does not match its metadata"):
        Recommender.load(tmp_path)


def test_an_edited_manifest_is_refused(small_bundle, tmp_path):
    rec, _ = small_bundle
    path = rec.save(tmp_path)
    manifest = path / artifacts.MANIFEST_FILE
    manifest.write_text(manifest.read_text().replace('"shape": [', '"shape": [1, '))
    with pytest.raises(BundleError, match="manifest.json' does not match its metadata"):
        Recommender.load(tmp_path)


def test_planted_pickles_are_never_loaded(small_bundle, tmp_path):
    rec, _ = small_bundle
    path = rec.save(tmp_path)
    marker = tmp_path / "pwned"
    evil = pickle.dumps(PlantedPayload(marker))
    for name in ("model.joblib", "state.pkl", "9999-payload.state.extra.npy"):
        (path / name).write_bytes(evil)  # files the manifest does not list are never opened
    users = rec.users().user_id.head(3).tolist()
    assert lists(Recommender.load(tmp_path), users) == lists(rec, users)
    assert not marker.exists()


def test_a_pickle_in_place_of_a_listed_array_is_refused_even_with_fixed_hashes(small_bundle, tmp_path):
    rec, _ = small_bundle
    path = rec.save(tmp_path)
    marker = tmp_path / "pwned"
    name = listed_file(path, ".npy", "user_ids")
    (path / name).write_bytes(pickle.dumps(PlantedPayload(marker)))
    rewrite_manifest(path, lambda m: None)
    with pytest.raises(BundleError, match="not a plain array file"):
        Recommender.load(tmp_path)
    assert not marker.exists()


def test_an_object_dtype_npy_is_refused_even_with_fixed_hashes(small_bundle, tmp_path):
    rec, _ = small_bundle
    path = rec.save(tmp_path)
    marker = tmp_path / "pwned"
    name = listed_file(path, ".npy", "item_ids")
    np.save(path / name, np.array([PlantedPayload(marker), "x"], dtype=object), allow_pickle=True)
    rewrite_manifest(path, lambda m: None)
    with pytest.raises(BundleError, match=r"payload\['state'\]\.item_ids: .* is not a plain array file"):
        Recommender.load(tmp_path)  # memory-mapped: numpy refuses to map objects
    with pytest.raises(BundleError, match="not a plain array file.*allow_pickle=False"):
        artifacts.load_bundle(tmp_path, mmap=False)
    assert not marker.exists()


@pytest.mark.parametrize("cls", ["os.system", "builtins.eval", "recsys.serving.service.Recommender",
                                 "recsys.bundles.state.TrainedState.__init__", "subprocess.Popen", ""])
def test_an_unknown_class_in_the_manifest_is_refused(small_bundle, tmp_path, cls):
    rec, _ = small_bundle
    path = rec.save(tmp_path)

    def swap(manifest):
        manifest["tree"]["items"]["state"]["fields"]["als"]["class"] = cls

    rewrite_manifest(path, swap)
    with pytest.raises(BundleError, match="is not one a bundle may hold"):
        Recommender.load(tmp_path)


def test_manifest_files_outside_the_bundle_are_refused(small_bundle, tmp_path):
    rec, _ = small_bundle
    path = rec.save(tmp_path)
    np.save(tmp_path / "outside.npy", np.arange(3))

    def point_out(manifest):
        node = manifest["tree"]["items"]["state"]["fields"]["segment_caps"]
        node["file"] = "../outside.npy"
        manifest["files"]["../outside.npy"] = {}

    rewrite_manifest(path, point_out)
    with pytest.raises(BundleError, match="does not match its metadata"):
        Recommender.load(tmp_path)


@pytest.mark.parametrize("pointer", ["../evil", "/etc", "bundle-x/../../evil", "bundle-a/b", "", "bundle-..",
                                     "bundle-x\n../evil"])
def test_a_current_pointer_out_of_the_folder_is_refused(small_bundle, tmp_path, pointer):
    rec, _ = small_bundle
    root = tmp_path / "artifacts"
    good = rec.save(root)
    evil = tmp_path / "evil"  # a complete-looking bundle beside the folder
    evil.mkdir()
    (evil / artifacts.META_FILE).write_text((good / artifacts.META_FILE).read_text())
    (root / artifacts.POINTER).write_text(pointer + "\n")
    with pytest.raises(BundleError, match="not a bundle of this folder|missing or incomplete"):
        Recommender.load(root)


def test_an_absolute_current_pointer_to_a_real_bundle_is_refused(small_bundle, tmp_path):
    rec, _ = small_bundle
    good = rec.save(tmp_path / "a")
    (tmp_path / "a" / artifacts.POINTER).write_text(str(good) + "\n")
    with pytest.raises(BundleError, match="not a bundle of this folder"):
        Recommender.load(tmp_path / "a")


def test_old_bundles_are_pruned(small_bundle, tmp_path):
    rec, _ = small_bundle
    for _ in range(3):
        rec.save(tmp_path)
    assert len(list(tmp_path.glob("bundle-*"))) == 2


def test_a_loaded_bundle_saves_again(small_bundle, tmp_path):
    rec, out = small_bundle
    loaded = Recommender.load(out)  # memory-mapped arrays written into a new bundle
    loaded.save(tmp_path)
    assert_same(rec.state, Recommender.load(tmp_path).state)


def test_atomic_write_text_leaves_no_temp_files(tmp_path):
    artifacts.atomic_write_text(tmp_path / "a.txt", "hello")
    assert (tmp_path / "a.txt").read_text() == "hello" and len(list(tmp_path.iterdir())) == 1


def count_hashes(monkeypatch) -> list[str]:
    hashed: list[str] = []
    real = artifacts.file_sha256
    monkeypatch.setattr(artifacts, "file_sha256", lambda p: hashed.append(Path(p).name) or real(p))
    return hashed


def test_a_sealed_bundle_loads_without_rehashing_and_a_copy_is_hashed_once(small_bundle, tmp_path, monkeypatch):
    rec, _ = small_bundle
    path = rec.save(tmp_path / "a")
    n_files = len(json.loads((path / artifacts.MANIFEST_FILE).read_text())["files"])
    hashed = count_hashes(monkeypatch)
    artifacts.load_bundle(tmp_path / "a")
    assert hashed == []  # the seal written at save time vouches for every file
    artifacts.load_bundle(tmp_path / "a", verify="full")
    assert len(hashed) == n_files
    import shutil
    shutil.copytree(tmp_path / "a", tmp_path / "b")  # a copy (new inodes, ctimes): every file hashed once
    hashed.clear()
    artifacts.load_bundle(tmp_path / "b")
    assert len(hashed) == n_files
    hashed.clear()
    artifacts.load_bundle(tmp_path / "b")
    assert hashed == []


def test_an_edit_in_place_with_its_mtime_restored_is_still_caught(small_bundle, tmp_path, monkeypatch):
    import os
    rec, _ = small_bundle
    path = rec.save(tmp_path)
    target = path / listed_file(path, ".npy", "item_factors")
    before = target.stat()
    with open(target, "r+b") as fh:  # same size, same inode
        fh.seek(-4, 2)
        fh.write(b"\x00\x00\x80\x7f")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    hashed = count_hashes(monkeypatch)
    with pytest.raises(BundleError, match="damaged or replaced"):
        Recommender.load(tmp_path)
    assert hashed == [target.name]  # only the changed file was hashed


def test_a_missing_or_broken_seal_means_every_file_is_hashed(small_bundle, tmp_path, monkeypatch):
    rec, _ = small_bundle
    path = rec.save(tmp_path)
    n_files = len(json.loads((path / artifacts.MANIFEST_FILE).read_text())["files"])
    hashed = count_hashes(monkeypatch)
    for broken in ("not json", "[1, 2]", json.dumps({n: [0, 0, 0, 0] for n in json.loads(
            (path / artifacts.MANIFEST_FILE).read_text())["files"]})):
        (path / artifacts.SEAL_FILE).write_text(broken)
        hashed.clear()
        artifacts.load_bundle(tmp_path)
        assert len(hashed) == n_files
    hashed.clear()
    artifacts.load_bundle(tmp_path)  # the load that hashed them wrote a fresh seal
    assert hashed == []


def test_verify_must_be_a_known_mode(small_bundle):
    with pytest.raises(ValueError, match="verify must be"):
        artifacts.load_bundle(small_bundle[1], verify=False)
