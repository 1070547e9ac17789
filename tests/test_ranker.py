"""The learned ranker: what it learns, that it never reads a window it learns from, when it
falls back to the fitted blend, and that its lists explain themselves honestly."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import Recommender, TuningConfig, train
from recsys.serving.ranker import DISCOVERY, FEATURES, LOYAL, NEWCOMER
from recsys.training.ranker import kind_cases
from recsys.training.validation import make_holdout

ALWAYS = {"policy": "always", "users_per_window": 400, "min_users": 30, "discovery": True}


CYCLE = 42  # days between a staple's purchases: longer than the 28 days a list is judged on


def due_store(seed: int = 3) -> pd.DataFrame:
    """Customers who rebuy one staple exactly every six weeks (each on their own phase), plus a
    few other items on every trip: the staple will be bought within the next four weeks only when
    it is due, so it is worth listing then and not right after it was bought."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-01-01")
    lines = []
    for u in range(120):
        staple, phase = f"S{u % 12:02d}", int(rng.integers(0, CYCLE))
        for day in range(int(rng.integers(0, 4)), 252, 4):  # a trip every four days
            ts = start + pd.Timedelta(days=day, hours=10)
            basket = [f"I{i:03d}" for i in rng.choice(80, size=2, replace=False)]
            if (day - phase) % CYCLE < 4:  # the trip that falls in this cycle's slot
                basket.append(staple)
            lines += [(f"c{u:03d}", it, ts) for it in basket]
    df = pd.DataFrame(lines, columns=["user_id", "item_id", "timestamp"])
    df["quantity"], df["price"] = 1.0, 2.5
    df["ticket_id"] = df["user_id"] + df["timestamp"].astype(str)
    df["customer_type"] = "loyal"
    return df


@pytest.fixture(scope="module")
def due_rec() -> Recommender:
    return train(due_store(), TuningConfig().replace(ranker=ALWAYS), calibrate=False)


def test_the_ranker_lists_an_item_when_it_is_due_and_not_before(due_rec):
    rec, df = due_rec, due_store()
    end = df["timestamp"].max()
    staples = df[df["item_id"].str.startswith("S")]
    last = staples.groupby("user_id")["timestamp"].max()
    since = (end - last).dt.days
    due, fresh = since.index[since >= 28], since.index[since <= 8]
    assert len(due) >= 10 and len(fresh) >= 10

    def staple_rank(user: str) -> int:
        res = rec.recommend(user, n=10)
        assert "model:baseline" in res.recommendations[0].score_breakdown  # the ranker served it
        ids = [r.item_id for r in res.recommendations]
        staple = f"S{int(user[1:]) % 12:02d}"
        return ids.index(staple) + 1 if staple in ids else 11

    due_ranks = np.array([staple_rank(u) for u in due])
    fresh_ranks = np.array([staple_rank(u) for u in fresh])
    assert (due_ranks == 1).mean() >= 0.8       # due: first
    assert np.median(fresh_ranks) > 5           # just bought: well down the list, or off it


def test_a_windows_features_never_read_a_line_inside_it(small_store):
    """Change everything sold from the window's start on: its features stay exactly the same."""
    config = TuningConfig().replace(repeat={"learned": False})
    end = small_store["timestamp"].max()
    start = end - pd.Timedelta(days=56)  # the earlier of the two windows
    changed = small_store.copy()
    inside = changed["timestamp"] >= start
    rng = np.random.default_rng(0)
    changed.loc[inside, "item_id"] = rng.permutation(changed.loc[inside, "item_id"].to_numpy())
    changed.loc[inside, "quantity"] = changed.loc[inside, "quantity"] * 3
    a = make_holdout(small_store, config, offset_days=28)
    b = make_holdout(changed, config, offset_days=28)
    assert a.cutoff == b.cutoff and np.array_equal(a.codes, b.codes)
    codes = a.codes[:80]
    for kind in (LOYAL, DISCOVERY, NEWCOMER):
        ca, cb = kind_cases(a, config, kind, codes), kind_cases(b, config, kind, codes)
        both, ia, ib = np.intersect1d(ca.codes, cb.codes, return_indices=True)  # asked in both windows
        assert len(both) >= 30
        np.testing.assert_array_equal(ca.x[ia], cb.x[ib])
        assert (ca.label[ia] != cb.label[ib]).any()  # the window itself did change


def test_too_few_validation_customers_keep_the_fitted_blend(small_store, tmp_path):
    few = small_store[small_store["user_id"].isin(small_store["user_id"].unique()[:25])]
    rec = train(few, TuningConfig(), out_dir=tmp_path / "b", calibrate=False)
    assert rec.state.ranker is None
    assert rec.ranker_fit()["method"] == "fitted blend: fewer than 200 validation customers to learn a ranker from"
    again = Recommender.load(tmp_path / "b")
    assert again.ranker_fit() == rec.ranker_fit() and again.state.ranker is None
    res = again.recommend(again.state.user_ids[0], n=5)
    assert "model:baseline" not in res.recommendations[0].score_breakdown


def test_the_ranker_survives_the_bundle_and_explains_its_lists(due_rec, tmp_path):
    due_rec.save(tmp_path / "r")
    rec = Recommender.load(tmp_path / "r")
    assert rec.state.ranker is not None and rec.state.ranker.serves_.all()
    user = rec.state.user_ids[5]
    a, b = due_rec.recommend(user, n=8), rec.recommend(user, n=8)
    assert [r.item_id for r in a.recommendations] == [r.item_id for r in b.recommendations]
    for r in b.recommendations:
        parts = r.score_breakdown
        assert sum(parts.values()) == pytest.approx(r.relevance_score, abs=1e-4)
        sources = {k[6:]: v for k, v in parts.items() if k[6:] in ("repeat", "als", "item_cf", "popularity",
                                                                    "neighbours")}
        assert r.model_source == max(sources, key=sources.get)  # the reason names the strongest source
    # off at request time: the fitted blend, no ranker parts
    off = rec.recommend(user, n=8, config=rec.config.replace(ranker={"use": False}))
    assert "model:baseline" not in off.recommendations[0].score_breakdown
    assert rec.ranker_tables()[0]["list"].tolist() == ["loyal", "discovery", "newcomer"]
    assert set(rec.ranker_tables()[1]["feature"]) <= set(FEATURES)


def test_a_ranked_stores_default_lists_equal_its_live_lists(due_rec):
    """The precomputed lists follow the ranker: each default answer equals the live path's."""
    loaded = due_rec
    assert loaded.default_lists is not None
    live = loaded.with_config(loaded.config)
    live.default_lists = None
    for uid in loaded.state.user_ids[::9]:
        fast, slow = loaded.recommend(uid, n=10), live.recommend(uid, n=10)
        assert (fast.served_by, slow.served_by) == ("precomputed", "live")
        a, b = fast.to_dict(), slow.to_dict()
        for d in (a, b):
            for k in ("processing_time_ms", "generated_at", "served_by"):
                d.pop(k)
        assert a == b
        assert "model:baseline" in fast.recommendations[0].score_breakdown
