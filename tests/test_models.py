import numpy as np
import pytest
import scipy.sparse as sp

from recsys.arrays import gather_csr, top_k_sparse_rows
from recsys.models import ALSModel, ItemCFModel, PopularityModel, RepeatModel
from recsys.serving.pipeline import blend, normalise_scores
from tests.model_data import baskets_data, batch_of, lines_data, user_items_data


def baskets():
    # items 0 and 1 always bought together; 2 with 0 once; 3 alone
    rows = [[0, 1], [0, 1], [0, 1, 2], [3], [1, 0]]
    r = [i for i, b in enumerate(rows) for _ in b]
    c = [j for b in rows for j in b]
    return sp.csr_matrix((np.ones(len(c), np.float32), (r, c)), shape=(len(rows), 4))


def test_item_cf_neighbours_and_counts():
    m = ItemCFModel(top_k=2, shrinkage=0.0).fit(baskets_data(baskets()))
    idx, sims = m.similar_items(0, n=3)
    assert idx.tolist() == [1, 2]
    assert sims[0] == pytest.approx(4 / np.sqrt(4 * 4))  # cosine of identical co-purchase vectors
    assert m.co_purchase_counts(0, np.array([1, 2, 3])).tolist() == [4, 1, 0]
    assert m.similarity_[0, 0] == 0 and m.similarity_[3].nnz == 0


def test_item_cf_blocks_give_the_same_answer():
    a = ItemCFModel(top_k=3, block_size=1).fit(baskets_data(baskets())).similarity_.toarray()
    b = ItemCFModel(top_k=3, block_size=1000).fit(baskets_data(baskets())).similarity_.toarray()
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_item_cf_shrinkage_damps_rare_pairs():
    plain = ItemCFModel(shrinkage=0.0).fit(baskets_data(baskets())).similarity_
    shrunk = ItemCFModel(shrinkage=5.0).fit(baskets_data(baskets())).similarity_
    # the pair seen once loses more of its similarity than the pair seen four times
    assert shrunk[0, 2] / plain[0, 2] < shrunk[0, 1] / plain[0, 1]


ALL4 = np.array([[0, 1, 2, 3]])


def test_item_cf_scores_from_history():
    m = ItemCFModel(shrinkage=0.0).fit(baskets_data(baskets()))
    users = batch_of(sp.csr_matrix(np.array([[1.0, 0, 0, 0]], dtype=np.float32)))
    s = m.score(users, ALL4)
    assert s[0].argmax() == 1 and s[0, 3] == 0
    rows, items = m.candidates(users, k=1)
    assert rows.tolist() == [0] and items.tolist() == [1]
    # padded slots score 0
    assert m.score(users, np.array([[1, -1]]))[0].tolist() == [s[0, 1], 0.0]


def test_als_learns_and_folds_in():
    rng = np.random.default_rng(0)
    # two taste groups: users 0-19 buy items 0-9, users 20-39 buy items 10-19
    rows, cols = [], []
    for u in range(40):
        items = rng.choice(10, size=5, replace=False) + (0 if u < 20 else 10)
        rows += [u] * 5
        cols += items.tolist()
    x = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(40, 20))
    als = ALSModel(factors=8, iterations=10, regularization=0.1, random_state=0).fit(user_items_data(x))
    every = np.arange(20)[None, :]
    known = als.score(batch_of(x[:1], codes=[0]), every)[0]
    assert known[:10].mean() > known[10:].mean()
    _, top = als.candidates(batch_of(x[:1], codes=[0]), k=5)
    assert set(top.tolist()) == set(np.argsort(-known)[:5].tolist())
    banned = np.zeros(20, bool)
    banned[top] = True
    _, other = als.candidates(batch_of(x[:1], codes=[0]), k=5, banned=banned)
    assert not set(other.tolist()) & set(top.tolist())
    folded = als.score(batch_of(x[25:26], codes=[-1]), every)[0]
    assert folded[10:].mean() > folded[:10].mean()
    idx, _ = als.similar_items(3, n=5)
    assert (idx < 10).mean() >= 0.8


def test_als_item_index_finds_nearly_every_exact_candidate():
    """A big catalogue's candidates come from the clusters nearest each user: against every item
    scored, at least 90% of the top 100 and always the best item; bans hold; scores are exact."""
    from recsys.arrays import top_k_per_row

    rng = np.random.default_rng(3)
    # items in taste groups (as ALS factors are), users near one group each
    centres = rng.standard_normal((60, 16)).astype(np.float32)
    items = (centres[rng.integers(0, 60, 24_000)] + 0.5 * rng.standard_normal((24_000, 16))).astype(np.float32)
    users = (centres[rng.integers(0, 60, 300)] + 0.5 * rng.standard_normal((300, 16))).astype(np.float32)
    als = ALSModel(factors=16).set_factors(users, items)
    assert als.index_ is not None and sorted(als.index_.items.tolist()) == list(range(24_000))
    batch = batch_of(sp.csr_matrix((300, 24_000), dtype=np.float32), codes=list(range(300)))
    exact = users @ items.T
    er, ei = top_k_per_row(exact, 100)
    r, i = als.candidates(batch, 100)
    found = len(set((r * 10**6 + i).tolist()) & set((er * 10**6 + ei).tolist())) / len(er)
    assert found >= 0.9 and np.bincount(r, minlength=300).max() == 100
    assert all(exact[u].argmax() in set(i[r == u].tolist()) for u in range(300))
    banned = np.zeros(24_000, bool)
    banned[i] = True
    _, other = als.candidates(batch, 100, banned=banned)
    assert len(other) and not banned[other].any()
    # a request (few users: the probed items gathered) gets what the batch (a loop over clusters) gets
    import recsys.models.item_index as index_module

    one = batch_of(sp.csr_matrix((1, 24_000), dtype=np.float32), codes=[7])
    r1, i1 = als.candidates(one, 100, banned=banned)
    index_module.FEW_USERS, few = 0, index_module.FEW_USERS
    try:
        r2, i2 = als.candidates(batch_of(sp.csr_matrix((1, 24_000), dtype=np.float32), codes=[7]), 100,
                                banned=banned)
    finally:
        index_module.FEW_USERS = few
    assert sorted(i1.tolist()) == sorted(i2.tolist()) and len(i1) == 100
    pool = np.array([[int(exact[0].argmax()), 5, -1]])
    s = als.score(batch_of(sp.csr_matrix((1, 24_000), dtype=np.float32), codes=[0]), pool)[0]
    assert s[:2] == pytest.approx(exact[0, [exact[0].argmax(), 5]], rel=1e-5) and s[2] == 0


def test_popularity_blends_segment_and_overall():
    data = lines_data([], [], 2, 3, item_popularity=np.array([1.0, 0.5, 0.1]),
                      segment_buyers=np.array([[0, 0, 10], [5, 0, 0], [0, 0, 0], [0, 0, 0]], dtype=float))
    users = batch_of(sp.csr_matrix((2, 3), dtype=np.float32))
    users.segments = np.array([0, 1], np.int8)
    cands = np.array([[0, 1, 2], [0, 1, 2]])
    assert PopularityModel(0.0).fit(data).score(users, cands)[0].argmax() == 0
    assert PopularityModel(1.0).fit(data).score(users, cands)[0].argmax() == 2
    rows, items = PopularityModel(0.0).fit(data).candidates(users, k=2)
    # the best-seller overall for both users, and each segment's own (once: at most k distinct)
    assert sorted(zip(rows.tolist(), items.tolist())) == [(0, 0), (0, 2), (1, 0)]


def test_repeat_simple_decay_halves_per_half_life():
    h = sp.csr_matrix(np.array([[1.0, 1.0, 0]], dtype=np.float32))
    m = RepeatModel(half_life_days=10, learned=False).fit(lines_data([], [], 1, 3))
    users = batch_of(h, ages=[0.0, 10.0])
    s = m.score(users, np.array([[0, 1, 2]]))
    assert s[0, 0] == pytest.approx(1.0, abs=1e-4) and s[0, 1] == pytest.approx(0.5, abs=1e-4) and s[0, 2] == 0
    assert m.candidates(users, 0)[1].tolist() == [0, 1]
    assert m.candidates(users, 1)[1].tolist() == [0]  # k > 0: the k bought most recently
    assert m.candidates(users, 0, banned=np.array([True, False, False]))[1].tolist() == [1]


def test_repeat_learns_that_frequent_items_come_back():
    rng = np.random.default_rng(1)
    n = 3000
    x = rng.random((n, 21))
    y = (x[:, 2] + 0.2 * rng.standard_normal(n)) > 0.6  # decay_7 drives the label
    m = RepeatModel().fit(lines_data([], [], 1, 5).with_repeat_examples(x, y))
    assert m.booster_ is not None
    hi, lo = x.copy(), x.copy()
    hi[:, 2], lo[:, 2] = 0.95, 0.05
    assert m.booster_.predict(hi).mean() > m.booster_.predict(lo).mean() + 0.3


def test_blend_normalises_each_model_then_weights():
    scores = {"a": np.array([[2.0, 1.0, -1.0]]), "b": np.array([[0.0, 10.0, 5.0]])}
    blended, parts = blend(scores, {"a": 3.0, "b": 1.0})
    np.testing.assert_allclose(parts["a"], [[0.75, 0.375, 0.0]])
    np.testing.assert_allclose(parts["b"], [[0.0, 0.25, 0.125]])
    np.testing.assert_allclose(blended, [[0.75, 0.625, 0.125]])
    assert normalise_scores(np.zeros((1, 3))).max() == 0


def test_gather_csr_reads_candidates_and_rows():
    m = sp.csr_matrix(np.array([[0, 2.0, 0, 3.0], [1.0, 0, 0, 0]], dtype=np.float32))
    got = gather_csr(m, np.array([[3, 1, -1], [0, 2, 1]]))
    np.testing.assert_allclose(got, [[3.0, 2.0, 0.0], [1.0, 0.0, 0.0]])
    # rows picks m's rows; -1 gives zeros
    got = gather_csr(m, np.array([[0, 1], [1, 3]]), rows=np.array([1, -1]))
    np.testing.assert_allclose(got, [[1.0, 0.0], [0.0, 0.0]])


def test_top_k_sparse_rows_keeps_the_best_allowed_entries():
    m = sp.csr_matrix(np.array([[0.1, 0.5, 0.3, 0.0], [0.0, 0.0, 0.0, 0.2]], dtype=np.float32))
    rows, cols = top_k_sparse_rows(m, 2)
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 1), (0, 2), (1, 3)]
    rows, cols = top_k_sparse_rows(m, 2, banned=np.array([False, True, False, False]))
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 2), (0, 0), (1, 3)]
