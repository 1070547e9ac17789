"""Precomputed default lists: a default request reads them, every other request takes the live
path, and both paths give the same answer."""
import shutil

import numpy as np
import pytest

from recsys import Recommender
from recsys.serving import default_lists

VOLATILE = ("processing_time_ms", "generated_at", "served_by")


def _answer(resp) -> dict:
    d = resp.to_dict()
    for k in VOLATILE:
        d.pop(k)
    return d


@pytest.fixture(scope="module")
def loaded(small_bundle):
    """The small store's bundle as a server loads it (lists read from the sidecar, memory-mapped)."""
    return Recommender.load(small_bundle[1])


def test_training_stores_the_lists_beside_the_bundle(small_bundle, loaded):
    rec, out = small_bundle
    lists = loaded.default_lists
    assert lists is not None and rec.metadata["default_lists"] == "precomputed"
    assert lists.items.shape == (rec.state.n_users, default_lists.LIST_SIZE)
    assert isinstance(lists.items.base, np.memmap) or lists.items.nbytes < (1 << 20)  # mapped when big
    assert lists.serves(loaded.config, default_lists.LIST_SIZE)
    assert not lists.serves(loaded.config, default_lists.LIST_SIZE + 1)


def test_default_requests_read_the_lists_and_equal_the_live_path(loaded):
    live = loaded.with_config(loaded.config)
    live.default_lists = None
    for uid in loaded.state.user_ids[::7]:
        for n in (1, 5, default_lists.LIST_SIZE):
            fast, slow = loaded.recommend(uid, n=n), live.recommend(uid, n=n)
            assert (fast.served_by, slow.served_by) == ("precomputed", "live")
            assert _answer(fast) == _answer(slow)


@pytest.mark.parametrize("ask", [
    dict(n=default_lists.LIST_SIZE + 1), dict(model="als"), dict(exclude_purchased=True), dict(price_max=5.0),
    dict(timestamp="2024-09-01"), dict(history=[{"item_id": "__nothing__"}]),
])
def test_anything_but_the_default_takes_the_live_path(loaded, ask):
    uid = loaded.state.user_ids[3]
    assert loaded.recommend(uid, **{"n": 5, **ask}).served_by == "live"


def test_a_moved_knob_takes_the_live_path_and_the_same_knobs_do_not(loaded):
    uid = loaded.state.user_ids[3]
    moved = loaded.config.replace(rerank={"upsell_factor": 0.5})
    assert loaded.recommend(uid, n=5, config=moved).served_by == "live"
    same = loaded.config.replace(rerank={})  # an equal config built anew (the app's knob panel does this)
    assert loaded.recommend(uid, n=5, config=same).served_by == "precomputed"
    assert loaded.recommend("someone-new", n=5).served_by == "live"  # unknown: best-sellers, live


def test_lists_of_another_bundle_or_damaged_are_not_used(small_bundle, tmp_path):
    _, out = small_bundle
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    bundle = next(p for p in copy.iterdir() if p.is_dir() and (p / "lists").is_dir())
    meta = bundle / "metadata.json"
    meta.write_text(meta.read_text().replace('"manifest_sha256": "', '"manifest_sha256": "0'))
    assert default_lists.load(bundle) is None  # belongs to another bundle now
    shutil.rmtree(copy)
    shutil.copytree(out, copy)
    bundle = next(p for p in copy.iterdir() if p.is_dir() and (p / "lists").is_dir())
    target = bundle / "lists" / "items.npy"
    raw = bytearray(target.read_bytes())
    raw[-1] ^= 0xFF
    target.write_bytes(bytes(raw))
    assert default_lists.load(bundle) is None  # a changed file is hashed and refused
    assert Recommender.load(copy).recommend(Recommender.load(copy).state.user_ids[0]).served_by == "live"


def test_big_stores_get_them_after_the_bundle_is_published(small_store, tmp_path, monkeypatch):
    from recsys.training.runner import train

    monkeypatch.setattr(default_lists, "INLINE_USERS", 10)
    small = small_store[small_store["user_id"].isin(small_store["user_id"].unique()[:60])]
    trained = train(small, out_dir=str(tmp_path), calibrate=False, fit_hybrid=False)
    assert trained.metadata["default_lists"].startswith("pending")
    rec = Recommender.load(tmp_path)
    assert rec.default_lists is None and rec.recommend(rec.state.user_ids[0]).served_by == "live"
    before = _answer(rec.recommend(rec.state.user_ids[0], n=5))
    assert default_lists.precompute_default_lists(tmp_path) is not None
    again = Recommender.load(tmp_path)
    resp = again.recommend(again.state.user_ids[0], n=5)
    assert resp.served_by == "precomputed" and _answer(resp) == before


def test_a_default_that_filters_is_served_live(small_store, tmp_path):
    from recsys import TuningConfig
    from recsys.training.runner import train

    small = small_store[small_store["user_id"].isin(small_store["user_id"].unique()[:60])]
    config = TuningConfig().replace(rerank={"segment_filter": True})
    trained = train(small, config=config, out_dir=str(tmp_path), calibrate=False, fit_hybrid=False)
    assert trained.metadata["default_lists"].startswith("not precomputed")
    rec = Recommender.load(tmp_path)
    assert rec.default_lists is None and rec.recommend(rec.state.user_ids[0]).served_by == "live"


def test_the_segment_sample_read_from_the_lists_equals_the_pipelines(loaded):
    from pandas.testing import assert_frame_equal

    from recsys.serving.segment_summary import sampled_segment_recommendations

    core = loaded.core
    piped = sampled_segment_recommendations(core, loaded.config, per_segment=20)
    read = sampled_segment_recommendations(core, loaded.config, per_segment=20, lists=loaded.default_lists)
    assert len(piped) > 0
    assert_frame_equal(read, piped)


def test_a_default_batch_reads_the_lists_and_equals_the_live_batch(loaded):
    from pandas.testing import assert_frame_equal

    live = loaded.with_config(loaded.config)
    live.default_lists = None
    users = list(loaded.state.user_ids[:60])
    assert_frame_equal(loaded.recommend_batch(users, n=10), live.recommend_batch(users, n=10))
    assert_frame_equal(loaded.recommend_batch(users, n=5, with_reasons=False, with_confidence=False),
                       live.recommend_batch(users, n=5, with_reasons=False, with_confidence=False))


def test_the_api_picks_up_lists_that_arrive_after_the_bundle(small_bundle, tmp_path):
    pytest.importorskip("fastapi")
    from api.holder import BundleHolder

    _, out = small_bundle
    copy = tmp_path / "served"
    shutil.copytree(out, copy)
    bundle = next(p for p in copy.iterdir() if p.is_dir() and (p / "lists").is_dir())
    shutil.rmtree(bundle / "lists")  # published without them, as a big store's bundle is
    holder = BundleHolder(copy, poll_seconds=0)
    uid = holder.current.rec.state.user_ids[0]
    assert holder.current.rec.recommend(uid).served_by == "live"
    assert default_lists.precompute_default_lists(copy) is not None
    holder.reload()  # what the watcher does when the lists' manifest appears
    assert holder.current.bundle == bundle.name and holder.current.rec.recommend(uid).served_by == "precomputed"


def test_the_dashboard_attaches_lists_that_arrive_after_its_models_loaded(small_bundle, tmp_path):
    from ui.state import with_default_lists

    _, out = small_bundle
    copy = tmp_path / "served"
    shutil.copytree(out, copy)
    bundle = next(p for p in copy.iterdir() if p.is_dir() and (p / "lists").is_dir())
    shutil.rmtree(bundle / "lists")
    rec = Recommender.load(copy)  # what the app's cache holds
    uid = rec.state.user_ids[0]
    assert with_default_lists(rec, copy).recommend(uid).served_by == "live"
    default_lists.precompute_default_lists(copy)
    assert with_default_lists(rec, copy) is rec and rec.recommend(uid).served_by == "precomputed"
