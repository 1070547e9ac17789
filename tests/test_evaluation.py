"""Tests of the offline evaluation protocol, metrics, bootstrap, calibration and baselines."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys import evaluation as ev



# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def frame(rows):
    """rows: (user, item, timestamp, ticket, customer_type[, price])."""
    out = []
    for r in rows:
        user, item, ts, ticket, ctype = r[:5]
        price = r[5] if len(r) > 5 else 1.0
        out.append({"user_id": user, "item_id": item, "timestamp": pd.Timestamp(ts), "quantity": 1.0,
                    "price": float(price), "ticket_id": ticket, "customer_type": ctype})
    df = pd.DataFrame(out)
    df["timestamp"] = df["timestamp"].astype("datetime64[ns]")
    return df


@pytest.fixture
def toy():
    return frame([
        # loyal u1: before and after the cutoff (last = 2025-03-01, 28 days -> cutoff 2025-02-01)
        ("u1", "a", "2025-01-01", "t1", "loyal", 2.0),
        ("u1", "b", "2025-01-01", "t1", "loyal", 4.0),
        ("u1", "a", "2025-01-20", "t2", "loyal", 2.0),
        ("u1", "a", "2025-02-10", "t3", "loyal", 2.0),
        ("u1", "c", "2025-02-10", "t3", "loyal", 6.0),
        # loyal u2: only new items after the cutoff
        ("u2", "b", "2025-01-05", "t4", "loyal", 4.0),
        ("u2", "d", "2025-02-01", "t5", "loyal", 1.0),  # exactly at the cutoff: test side
        # loyal u3: only repeats after the cutoff -> dropped in "new" mode
        ("u3", "a", "2025-01-07", "t6", "loyal", 2.0),
        ("u3", "a", "2025-02-15", "t7", "loyal", 2.0),
        # loyal u4: only before; loyal u5: only after
        ("u4", "b", "2025-01-09", "t8", "loyal", 4.0),
        ("u5", "e", "2025-02-20", "t9", "loyal", 3.0),
        # a new customer (3 baskets), one with a single basket, one that is also loyal
        ("n1", "b", "2025-02-05", "t10", "new", 4.0),
        ("n1", "f", "2025-02-05", "t10", "new", 5.0),
        ("n1", "a", "2025-02-12", "t11", "new", 2.0),
        ("n1", "b", "2025-03-01", "t12", "new", 4.0),
        ("n2", "a", "2025-02-07", "t13", "new", 2.0),
        ("u1", "z", "2025-02-08", "t14", "new", 9.0),
        ("u1", "y", "2025-02-09", "t15", "new", 9.0),
    ])


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------

RECS = [["a", "b", "c", "d", "e"], ["p", "q"], ["x", "y", "z"]]
TRUTH = [{"a", "c", "x"}, {"q"}, {"w"}]


def test_metrics_hand_computed():
    rel, n_truth = ev.relevance(RECS, TRUTH)
    assert rel.tolist()[0] == [True, False, True, False, False]
    assert n_truth.tolist() == [3, 1, 1]
    m = ev.ranking_metrics(rel, n_truth, k=(1, 5))
    idcg3 = 1 + 1 / math.log2(3) + 0.5
    np.testing.assert_allclose(m["precision@5"], [2 / 5, 1 / 5, 0])
    np.testing.assert_allclose(m["recall@5"], [2 / 3, 1, 0])
    np.testing.assert_allclose(m["hit_rate@5"], [1, 1, 0])
    np.testing.assert_allclose(m["ndcg@5"], [1.5 / idcg3, 1 / math.log2(3), 0])
    np.testing.assert_allclose(m["map@5"], [(1 + 2 / 3) / 3, 0.5, 0])
    np.testing.assert_allclose(m["precision@1"], [1, 0, 0])
    np.testing.assert_allclose(m["ndcg@1"], [1, 0, 0])
    np.testing.assert_allclose(m["map@1"], [1, 0, 0])
    np.testing.assert_allclose(m["recall@1"], [1 / 3, 0, 0])


def test_ndcg_ideal_uses_min_k_truth_and_perfect_list_scores_one():
    rel, n = ev.relevance([["a", "b"]], [{"a", "b"}])
    assert ev.ndcg_at_k(rel, n, 10)[0] == pytest.approx(1.0)
    assert ev.average_precision_at_k(rel, n, 10)[0] == pytest.approx(1.0)
    rel, n = ev.relevance([list("abcdefghij")], [set("abcdefghijklmnop")])
    assert ev.ndcg_at_k(rel, n, 10)[0] == pytest.approx(1.0)
    assert ev.recall_at_k(rel, n, 10)[0] == pytest.approx(10 / 16)


def test_csr_path_equals_set_path():
    index = pd.Index(sorted({x for r in RECS for x in r} | {x for t in TRUTH for x in t}))
    codes = np.full((3, 5), -1)
    for u, r in enumerate(RECS):
        codes[u, : len(r)] = index.get_indexer(r)
    truth = ev.metrics.sets_to_csr(TRUTH, index)
    assert sparse.issparse(truth)
    rel_a, n_a = ev.relevance(codes, truth)
    rel_b, n_b = ev.relevance(RECS, TRUTH)
    np.testing.assert_array_equal(rel_a, np.pad(rel_b, ((0, 0), (0, 5 - rel_b.shape[1]))))
    np.testing.assert_array_equal(n_a, n_b)
    for key, val in ev.ranking_metrics(rel_a, n_a).items():
        np.testing.assert_allclose(val, ev.ranking_metrics(rel_b, n_b)[key])


# --------------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------------

def test_loyal_split(toy):
    s = ev.make_loyal_split(toy, test_days=28)
    assert s.cutoff == pd.Timestamp("2025-02-01")
    assert (s.train["timestamp"] < s.cutoff).all()
    assert len(s.train) == (toy["timestamp"] < s.cutoff).sum()
    assert list(s.users) == ["u1", "u2", "u3"]  # loyal, lines on both sides
    assert (s.as_of == np.datetime64(s.cutoff)).all()
    truth = dict(zip(s.users, s.truth))
    assert truth["u1"] == {"a", "c", "z", "y"}  # u1's lines in the new sheet count as u1's too
    assert truth["u2"] == {"d"}
    assert dict(zip(s.users, s.known))["u1"] == {"a", "b"}

    v = s.view("new")
    assert list(v.users) == ["u1", "u2"]  # u3 had only repeats
    assert dict(zip(v.users, v.truth))["u1"] == {"c", "z", "y"}
    assert dict(zip(v.users, v.exclude))["u1"] == {"a", "b"}
    with pytest.raises(ValueError):
        s.view("bogus")


def test_new_customer_split_uses_only_first_basket(toy):
    s = ev.make_new_customer_split(toy)
    assert list(s.users) == ["n1"]  # n2: one basket; u1: also loyal
    assert s.as_of[0] == np.datetime64("2025-02-05")
    assert s.truth[0] == {"a", "b"}
    assert s.known[0] == {"b", "f"}
    new_lines = s.train[s.train["user_id"] == "n1"]
    assert set(new_lines["ticket_id"]) == {"t10"}
    assert (s.train["customer_type"] == "new").sum() == 2
    # every loyal line is there, including the ones after the first basket
    assert (s.train["customer_type"] == "loyal").sum() == (toy["customer_type"] == "loyal").sum()


def test_rolling_windows_never_touch_the_test_window():
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", "2024-12-31", freq="D")
    rows = [(f"u{u}", f"i{rng.integers(30)}", d, f"{u}-{d.date()}", "loyal")
            for u in range(5) for d in days if rng.random() < 0.3]
    df = frame(rows)
    test = ev.make_loyal_split(df, 28)
    windows = list(ev.rolling_windows(df, n_windows=4, test_days=28))
    assert len(windows) == 4
    last = df["timestamp"].max()
    for i, w in enumerate(windows, start=1):
        assert w.cutoff == last - pd.Timedelta(days=28 * (i + 1))
        assert w.window_end == last - pd.Timedelta(days=28 * i)
        assert w.window_end <= test.cutoff
        assert (w.train["timestamp"] < w.cutoff).all()
        in_window = df[(df["timestamp"] >= w.cutoff) & (df["timestamp"] < w.window_end)]
        for u, t in zip(w.users, w.truth):
            assert t == set(in_window.loc[in_window["user_id"] == u, "item_id"])


# --------------------------------------------------------------------------------------------
# baselines and evaluate
# --------------------------------------------------------------------------------------------

def test_popularity_by_buyers_and_exclude():
    df = frame([("u1", "a", "2025-01-01", "t1", "loyal")] * 5
               + [("u1", "b", "2025-01-01", "t1", "loyal"), ("u2", "b", "2025-01-02", "t2", "loyal"),
                  ("u3", "c", "2025-01-02", "t3", "loyal")])
    pop = ev.Popularity("buyers").fit(df)
    assert pop.recommend(["x"], None, 3) == [["b", "a", "c"]]  # a: 1 buyer but more lines than c
    assert ev.Popularity("lines").fit(df).recommend(["x"], None, 1) == [["a"]]
    assert pop.recommend(["x", "y"], None, 2, [{"b"}, set()]) == [["a", "c"], ["b", "a"]]


def test_buy_again_decay_ties_and_fill():
    df = frame([
        ("u1", "old", "2024-01-01", "t1", "loyal"), ("u1", "old", "2024-01-02", "t2", "loyal"),
        ("u1", "recent", "2024-06-25", "t3", "loyal"),
        ("u1", "x", "2024-06-01", "t4", "loyal"), ("u1", "y", "2024-06-01", "t4", "loyal"),
        ("u2", "y", "2024-06-01", "t5", "loyal"), ("u3", "p", "2024-06-01", "t6", "loyal"),
        ("u4", "p", "2024-06-01", "t7", "loyal"), ("u5", "p", "2024-06-01", "t8", "loyal"),
    ])
    as_of = np.array(["2024-07-01"], dtype="datetime64[ns]")
    ba = ev.BuyAgain(half_life_days=30).fit(df)
    # recent (1 line, 6 days) > y == x (tie; y has 2 buyers) > old (2 lines, ~6 months) > fill p
    assert ba.recommend(["u1"], as_of, 5) == [["recent", "y", "x", "old", "p"]]
    assert ev.BuyAgain(half_life_days=1000).fit(df).recommend(["u1"], as_of, 1) == [["old"]]
    # new-to-user mode: own items excluded, popularity fills
    assert ba.recommend(["u1"], as_of, 2, [{"recent", "y", "x", "old"}]) == [["p"]]
    assert ba.recommend(["nobody"], as_of, 2) == [["p", "y"]]


def test_evaluate_interfaces_and_table(toy):
    s = ev.make_loyal_split(toy)
    obj = ev.evaluate(ev.BuyAgain(), s, k=(5, 10))
    fn = ev.evaluate(lambda train: ev.BuyAgain().fit(train).recommend, s, k=(5, 10))
    assert obj.summary == fn.summary
    assert obj["n_users"] == 3 and set(obj.per_user) >= {"ndcg@10", "map@5", "avg_price@10"}
    assert 0 < obj["coverage@10"] <= 1

    # a scorer that ignores `exclude` is cleaned up and the violations are counted
    cheat = ev.evaluate(lambda train: (lambda users, as_of, n, exclude: [["a", "b", "c", "d"]] * len(users)),
                        s, mode="new")
    assert cheat["exclusion_violations"] > 0
    assert all(not (set(r) & ex) for r, ex in zip(cheat.recommendations, s.view("new").exclude))

    table = ev.evaluate_all({"ba": ev.BuyAgain(), "pop": ev.Popularity()}, toy)
    assert list(table[["model", "scenario", "mode"]].itertuples(index=False, name=None)) == [
        ("ba", "loyal", "all"), ("ba", "loyal", "new"), ("ba", "new_customers", "all"),
        ("pop", "loyal", "all"), ("pop", "loyal", "new"), ("pop", "new_customers", "all")]
    assert {"ndcg@10", "precision@5", "coverage@5", "avg_price@10", "n_users"} <= set(table.columns)
    text = ev.format_table(table, ["ndcg@10", "hit_rate@10"])
    assert "ba" in text and "ndcg@10" in text and "new_customers" in text


def test_avg_price_and_coverage(toy):
    s = ev.make_loyal_split(toy)
    res = ev.score_recommendations([["a", "b"], ["b"], ["a"]], s, k=(1,))
    # train prices: a=2, b=4; catalogue {a, b}
    np.testing.assert_allclose(res.per_user["avg_price@1"], [2, 4, 2])
    assert res["coverage@1"] == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# bootstrap and calibration
# --------------------------------------------------------------------------------------------

def test_paired_bootstrap():
    rng = np.random.default_rng(1)
    b = rng.random(200)
    a = b + 0.1 + rng.normal(0, 0.1, 200)
    true_diff = float((a - b).mean())
    r = ev.paired_bootstrap(a, b, n_boot=2000, seed=0)
    assert r.mean_diff == pytest.approx(true_diff)
    assert r.ci_low < 0.1 < r.ci_high and r.ci_low > 0
    assert r.p_value < 0.01
    same = ev.paired_bootstrap(b, b)
    assert same == (0.0, 0.0, 0.0, 1.0)
    noise = ev.paired_bootstrap(b, rng.permutation(b))
    assert noise.ci_low < 0 < noise.ci_high


def test_compare_aligns_users(toy):
    s = ev.make_loyal_split(toy)
    ra, rb = ev.evaluate(ev.BuyAgain(), s), ev.evaluate(ev.Popularity(), s)
    r = ev.compare(ra, rb, "ndcg@10", n_boot=200)
    assert r.mean_diff == pytest.approx(ra["ndcg@10"] - rb["ndcg@10"])
    assert ev.compare(ra, ra).p_value == 1.0


def test_calibration():
    rng = np.random.default_rng(0)
    conf = rng.random(200_000)
    y = rng.random(200_000) < conf
    assert ev.expected_calibration_error(conf, y) < 0.01
    assert ev.expected_calibration_error(np.full(1000, 0.9), np.zeros(1000)) == pytest.approx(0.9)
    t = ev.reliability_table(conf, y, n_bins=10)
    assert list(t.columns) == ["bin", "lower", "upper", "mean_confidence", "observed_rate", "count"]
    assert t["count"].sum() == 200_000
    np.testing.assert_allclose(t["observed_rate"], t["mean_confidence"], atol=0.02)
    t1 = ev.reliability_table([1.0, 0.0], [1, 0], n_bins=4)
    assert t1["count"].tolist() == [1, 0, 0, 1]


# --------------------------------------------------------------------------------------------
# the real workbook
# --------------------------------------------------------------------------------------------

def _load_real(path: Path) -> pd.DataFrame:
    from recsys.io.cleaning import clean_transactions
    from recsys.io.loading import load_transactions

    df, _report = clean_transactions(load_transactions(path))  # the session's loader cache (conftest.py)
    return df


# NDCG@10 of the reference protocol: (loyal all, loyal new-to-user, new customers).
REFERENCE = {"buy_again": (0.517, 0.040, 0.260), "popularity": (0.212, 0.040, 0.255)}


def test_real_workbook_reference_numbers(real_path):
    df = _load_real(real_path)
    loyal = ev.make_loyal_split(df, 28)
    assert len(loyal) == 66
    assert (loyal.train["timestamp"] < loyal.cutoff).all()
    # the reference popularity counts baskets; Popularity("buyers"), the default, is a bit better
    models = {"buy_again": ev.BuyAgain(60), "popularity": ev.Popularity("baskets")}
    table = ev.evaluate_all(models, splits={"loyal": loyal, "new_customers": ev.make_new_customer_split(df)})
    for name, ref in REFERENCE.items():
        got = table.loc[table["model"] == name, "ndcg@10"].to_numpy()
        np.testing.assert_allclose(got, ref, atol=0.015, err_msg=f"{name}\n{ev.format_table(table)}")


# --------------------------------------------------------------------------------------------
# TIFU-KNN
# --------------------------------------------------------------------------------------------

def test_tifu_basket_weights_hand_computed():
    from recsys.evaluation.baselines import basket_weights

    # 9 baskets, m = 7: the latest 7 form a full group (age 0), the oldest 2 the remainder (age 1)
    w = basket_weights(np.full(9, 9), np.arange(9), 7, 0.9, 0.7)
    groups = 2
    np.testing.assert_allclose(w[8], 1 / groups * 1 / 7)                 # latest basket
    np.testing.assert_allclose(w[2], 1 / groups * 0.9 ** 6 / 7)          # oldest of the full group
    np.testing.assert_allclose(w[1], 0.7 / groups * 1 / 2)               # latest of the remainder
    np.testing.assert_allclose(w[0], 0.7 / groups * 0.9 / 2)
    # one basket: weight 1; a full single group sums the within-group decays over m
    np.testing.assert_allclose(basket_weights(np.array([1]), np.array([0]), 7, 0.9, 0.7), [1.0])


def _tifu_reference(df, m, rb, rg, grouping):
    """User vectors straight from the paper's formulas ("size") or the authors' code ("count"),
    one user and one basket at a time."""
    out = {}
    for user, lines in df.groupby("user_id"):
        baskets = (lines.groupby("ticket_id").agg(t=("timestamp", "min"), items=("item_id", set))
                   .reset_index().sort_values(["t", "ticket_id"]))
        items = list(baskets["items"])
        n = len(items)
        vec: dict = {}
        if grouping == "size":
            n_groups = -(-n // m)
            first = n - (n_groups - 1) * m
            groups = [items[:first]] + [items[first + i * m:first + (i + 1) * m] for i in range(n_groups - 1)]
            for gi, group in enumerate(groups):
                for bj, basket in enumerate(group):
                    w = rg ** (n_groups - 1 - gi) / n_groups * rb ** (len(group) - 1 - bj) / len(group)
                    for item in basket:
                        vec[item] = vec.get(item, 0.0) + w
        else:
            decayed = [rb ** (n - 1 - j) for j in range(n)]
            if n < m:
                sizes = [1] * n
            else:
                extra = n - (n // m) * m
                sizes = [n // m] * (m - extra) + [n // m + 1] * extra
            start = 0
            for gi, size in enumerate(sizes):
                for j in range(start, start + size):
                    for item in items[j]:
                        vec[item] = vec.get(item, 0.0) + decayed[j] / size * rg ** (m - 1 - gi) / len(sizes)
                start += size
        out[user] = vec
    return out


@pytest.mark.parametrize("grouping", ["size", "count"])
def test_tifu_vectors_match_the_paper_and_the_code(small_store, grouping):
    from recsys.io.cleaning import clean_transactions

    df = clean_transactions(small_store.astype({c: str for c in ("user_id", "item_id", "ticket_id", "customer_type")}))[0]
    df = df[df.user_id.isin(df.user_id.unique()[:40])]
    model = ev.TIFUKNN(group_size=3, within_decay=0.8, group_decay=0.6, grouping=grouping).fit(df)
    ref = _tifu_reference(df, 3, 0.8, 0.6, grouping)
    items = list(model.items_)
    for user, vec in ref.items():
        row = model.vectors_[model.user_index_.get_loc(user)].toarray().ravel()
        expected = np.zeros(len(items))
        for item, w in vec.items():
            expected[items.index(item)] = w
        np.testing.assert_allclose(row, expected, rtol=1e-9, atol=1e-12)


def test_tifu_neighbours_bring_new_items():
    # u1 and u2 share a and b; u2 also buys c. x is the most popular item (u3, u4, u5).
    rows = [("u1", "a", "2025-01-01", "t1", "loyal"), ("u1", "b", "2025-01-02", "t2", "loyal"),
            ("u2", "a", "2025-01-01", "t3", "loyal"), ("u2", "b", "2025-01-01", "t3", "loyal"),
            ("u2", "c", "2025-01-03", "t4", "loyal")]
    rows += [(u, "x", "2025-01-01", f"t-{u}", "loyal") for u in ("u3", "u4", "u5")]
    rows += [("u3", "y", "2025-01-02", "t9", "loyal")]
    df = frame(rows)
    tifu = ev.TIFUKNN(k=1, alpha=0.5).fit(df)
    assert tifu.recommend(["u1"], None, 2, [{"a", "b"}]) == [["c", "x"]]        # c from the neighbour u2
    assert ev.Popularity().fit(df).recommend(["u1"], None, 1, [{"a", "b"}]) == [["x"]]
    assert tifu.recommend(["u1"], None, 3)[0][:2] == ["b", "a"]                 # own items, latest first
    assert tifu.recommend(["nobody"], None, 2) == [["x", "a"]]                 # unknown: popularity
    assert ev.TIFUKNN(alpha=1.0).fit(df).recommend(["u1"], None, 4, [{"a"}]) == [["b", "x", "c", "y"]]


def test_tifu_chunks_and_evaluate(small_store):
    from recsys.io.cleaning import clean_transactions

    df = clean_transactions(small_store.astype({c: str for c in ("user_id", "item_id", "ticket_id", "customer_type")}))[0]
    split = ev.make_loyal_split(df, 28)
    users = list(split.users)
    big = ev.TIFUKNN(k=20).fit(split.train)
    small = ev.TIFUKNN(k=20, chunk=7).fit(split.train)
    assert big.recommend(users, split.as_of, 10) == small.recommend(users, split.as_of, 10)
    res = {m: ev.evaluate(ev.TIFUKNN(k=20), split, (10,), m) for m in ("all", "new")}
    pop = ev.evaluate(ev.Popularity(), split, (10,), "new")
    assert res["new"]["exclusion_violations"] == 0
    assert res["all"]["ndcg@10"] > 0.2 and res["new"]["ndcg@10"] > 0
    assert all(len(r) == 10 for r in big.recommend(users[:50], split.as_of[:50], 10))
    assert pop["n_users"] == res["new"]["n_users"]


def test_tifu_bad_parameters():
    with pytest.raises(ValueError):
        ev.TIFUKNN(group_size=0)
    with pytest.raises(ValueError):
        ev.TIFUKNN(alpha=1.5)
    with pytest.raises(ValueError, match="grouping"):
        ev.TIFUKNN(grouping="weekly")


def test_tifu_euclidean_neighbours():
    # with Euclidean distance the nearest user of u1 is u2 (same items, same scale), not u3
    rows = [("u1", "a", "2025-01-01", "t1", "loyal"), ("u1", "b", "2025-01-01", "t1", "loyal"),
            ("u2", "a", "2025-01-01", "t2", "loyal"), ("u2", "b", "2025-01-01", "t2", "loyal"),
            ("u2", "c", "2025-01-01", "t2", "loyal"),
            ("u3", "z", "2025-01-01", "t3", "loyal")]
    rows += [(u, "x", "2025-01-01", f"t-{u}", "loyal") for u in ("u4", "u5", "u6", "u7")]
    tifu = ev.TIFUKNN(k=1, alpha=0.5, metric="euclidean").fit(frame(rows))
    assert tifu.recommend(["u1"], None, 1, [{"a", "b"}]) == [["c"]]
    assert tifu.recommend(["u3"], None, 1, [{"z"}]) == [["x"]]    # nearest is a single-item user
