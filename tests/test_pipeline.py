"""The request pipeline's stages on their own, and candidate-first against exhaustive scoring."""
import numpy as np
import pytest

from recsys.analysis.report import RecommenderModel
from recsys.evaluation.protocol import evaluate
from recsys.evaluation.splits import make_loyal_split
from recsys.serving.candidates import pack_pairs, select_candidates, sources_for
from recsys.serving.pipeline import history_facts


def test_pack_pairs_dedups_and_pads():
    pool = pack_pairs(np.array([0, 0, 0, 2]), np.array([5, 3, 5, 1]), n_rows=3, n_items=10)
    assert pool.items.tolist() == [[3, 5], [-1, -1], [1, -1]]
    assert pool.sizes.tolist() == [2, 0, 1]


def test_pool_holds_history_and_every_sources_best(small_rec):
    rec = small_rec
    code = int(np.argmax(np.diff(rec.state.line_ptr)))
    batch = rec.builder.build(np.array([code]), np.array([rec.as_of_seconds(None)]), rec.config)
    pool = select_candidates(rec.state, batch, sources_for("hybrid", rec.config), rec.config)
    items = set(pool.items[0][pool.items[0] >= 0].tolist())
    past = set(rec.state.line_item[rec.state.line_ptr[code]:rec.state.line_ptr[code + 1]].tolist())
    assert past <= items
    assert int(rec.state.popularity.top_overall_[0]) in items
    assert int(np.argmax(rec.state.als.catalogue_scores(batch)[0])) in items
    assert len(items) < rec.state.n_items  # a pool, not the catalogue


def test_banned_items_never_reach_a_list_but_the_list_stays_full(small_rec):
    rec = small_rec
    uid = rec.state.user_ids[0]
    price = rec.items()["price"]
    lo, hi = float(price.quantile(0.4)), float(price.quantile(0.6))
    res = rec.recommend(uid, n=10, price_min=lo, price_max=hi, exclude_purchased=True)
    assert len(res.recommendations) == 10
    assert all(lo <= r.item_price <= hi for r in res.recommendations)
    assert res.filtered["price_range"] > 0  # the one filter stage counts what it removed
    assert res.candidates_considered > 10


def test_history_facts_count_and_recency(small_rec):
    rec = small_rec
    batch = rec.builder.build(np.array([0]), np.array([rec.as_of_seconds(None)]), rec.config)
    item = int(batch.line_item[0])
    count, days = history_facts(batch, np.array([[item, -1]]), rec.state.n_items)
    mine = batch.line_item == item
    assert count[0, 0] == mine.sum() and count[0, 1] == 0
    assert days[0, 0] == pytest.approx(batch.line_age_days[mine].min()) and np.isnan(days[0, 1])


def test_newcomers_are_users_with_one_trip(small_rec):
    rec = small_rec
    batch = rec.builder.build(np.array([0, -1]), np.array([rec.as_of_seconds(None)] * 2), rec.config)
    assert batch.newcomer.tolist() == [False, True]


def test_candidate_first_equals_exhaustive_scoring(small_bundle, small_store):
    """Pools of a few hundred items give the lists (and the NDCG) of scoring every item."""
    rec, _ = small_bundle
    n_items = rec.state.n_items
    exhaustive = rec.config.replace(candidates={"als": n_items, "item_cf": n_items, "popularity": n_items})
    users = rec.state.user_ids[:200]
    a = rec.recommend_batch(users, n=10, with_confidence=False)
    b = rec.recommend_batch(users, n=10, config=exhaustive, with_confidence=False)
    same = (a.groupby("user_id")["item_id"].agg(set) == b.groupby("user_id")["item_id"].agg(set)).mean()
    assert same >= 0.95
    split = make_loyal_split(small_store, test_days=28)
    fitted = RecommenderModel("hybrid").fit(split.train).rec_
    wide = fitted.with_config(fitted.config.replace(candidates=exhaustive.candidates))
    nd_fast = evaluate(None, split, k=(10,), scorer=RecommenderModel.of(fitted).recommend)["ndcg@10"]
    nd_full = evaluate(None, split, k=(10,), scorer=RecommenderModel.of(wide).recommend)["ndcg@10"]
    assert nd_fast == pytest.approx(nd_full, abs=0.005)


def test_one_user_and_a_batch_give_the_same_list(small_rec):
    rec = small_rec
    uid = rec.state.user_ids[3]
    one = [r.item_id for r in rec.recommend(uid, n=10).recommendations]
    many = rec.recommend_batch([uid, rec.state.user_ids[4]], n=10)
    assert many[many.user_id == uid].sort_values("rank")["item_id"].tolist() == one
