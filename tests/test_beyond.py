"""Beyond-accuracy measures (recsys.evaluation.beyond) against hand counts on a tiny store, the
bootstrap of a whole-group statistic, and the measures in the evaluation protocol."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys.evaluation import beyond as B
from recsys.evaluation import make_loyal_split, score_recommendations
from recsys.evaluation.significance import bootstrap_statistic, paired_bootstrap

# 4 customers x 5 items: who bought what before (buyers per item: 3, 2, 2, 1, 0 = 8 pairs)
BOUGHT = sparse.csr_matrix(np.array([
    [1, 1, 0, 0, 0],
    [2, 1, 1, 0, 0],     # a count of 2 is still one buyer
    [1, 0, 1, 0, 0],
    [0, 0, 0, 1, 0],
]))
# three lists of up to 3 items, -1 = no item
LISTS = np.array([[0, 1, 2], [0, 3, -1], [4, -1, -1]])


def test_catalogue_coverage_counts_distinct_items_shown():
    assert B.catalogue_coverage(LISTS, 5) == 1.0                       # items 0..4 all shown
    assert B.catalogue_coverage(LISTS[:2], 5) == pytest.approx(4 / 5)   # 0, 1, 2, 3
    assert B.catalogue_coverage(LISTS[1:], 10) == pytest.approx(3 / 10)
    assert B.catalogue_coverage(np.full((2, 3), -1), 5) == 0.0


def test_distributional_coverage_is_the_entropy_of_the_shows():
    # shows: item 0 twice, items 1, 2, 3, 4 once: p = 2/6, 1/6 x 4
    expected = -(2 / 6) * math.log2(2 / 6) - 4 * (1 / 6) * math.log2(1 / 6)
    assert B.distributional_coverage(LISTS) == pytest.approx(expected)
    assert B.distributional_coverage(np.array([[0], [0], [0]])) == 0.0   # one item shown: no spread
    assert B.distributional_coverage(np.array([[0, 1], [2, 3]])) == pytest.approx(2.0)  # 4 equal: log2 4


def test_novelty_is_minus_log2_of_the_share_of_buyers():
    buyers = B.item_buyers(BOUGHT)
    np.testing.assert_array_equal(buyers, [3, 2, 2, 1, 0])
    nov = B.item_novelty(buyers)
    np.testing.assert_allclose(nov[:4], [-math.log2(3 / 8), 2.0, 2.0, 3.0])
    assert np.isnan(nov[4])                                              # nobody bought it
    per_list = B.novelty(LISTS, buyers)
    np.testing.assert_allclose(per_list[:2], [(-math.log2(3 / 8) + 2 + 2) / 3, (-math.log2(3 / 8) + 3) / 2])
    assert np.isnan(per_list[2])


def test_diversity_is_one_minus_the_mean_co_purchase_cosine():
    div = B.diversity(LISTS, BOUGHT)
    # list 0: (0,1) 2 customers / sqrt(3*2); (0,2) 2 / sqrt(3*2); (1,2) 1 / sqrt(2*2)
    cos = [2 / math.sqrt(6), 2 / math.sqrt(6), 1 / 2]
    assert div[0] == pytest.approx(1 - sum(cos) / 3)
    assert div[1] == pytest.approx(1.0)         # items 0 and 3: never bought by the same customer
    assert np.isnan(div[2])                     # one item: no pair
    same = B.diversity(np.array([[0, 1]]), sparse.csr_matrix(np.ones((3, 2))))
    assert same[0] == pytest.approx(0.0)        # always bought together: no diversity


def test_beyond_accuracy_summary():
    got = B.beyond_accuracy(LISTS, BOUGHT)
    assert got["coverage"] == 1.0 and got["distributional_coverage"] == B.distributional_coverage(LISTS)
    assert got["novelty"] == pytest.approx(np.nanmean(B.novelty(LISTS, B.item_buyers(BOUGHT))))
    assert got["diversity"] == pytest.approx(np.nanmean(B.diversity(LISTS, BOUGHT)))


def test_counts_versions_match_the_list_versions():
    counts = np.array([[2, 1, 1, 1, 1], [0, 0, 3, 0, 0]])
    np.testing.assert_allclose(B.coverage_of_counts(counts, 5), [1.0, 0.2])
    np.testing.assert_allclose(B.entropy_of_counts(counts), [B.distributional_coverage(LISTS), 0.0])


def test_bootstrap_statistic_matches_the_paired_bootstrap_on_means():
    rng = np.random.default_rng(3)
    a, b = rng.random(60), rng.random(60)
    by_mean = paired_bootstrap(a, b, n_boot=500, seed=1)
    by_weights = bootstrap_statistic(lambda w: w @ (a - b) / w.sum(axis=1), 60, n_boot=500, seed=1)
    assert by_weights.mean_diff == pytest.approx(by_mean.mean_diff)
    assert by_weights.ci_low == pytest.approx(by_mean.ci_low, abs=0.01)
    assert by_weights.ci_high == pytest.approx(by_mean.ci_high, abs=0.01)
    # a statistic that does not move: zero-width interval at its value
    flat = bootstrap_statistic(lambda w: np.full(len(w), 0.25), 10, n_boot=50)
    assert (flat.mean_diff, flat.ci_low, flat.ci_high) == (0.25, 0.25, 0.25)


def test_the_protocol_reports_novelty_diversity_and_distributional_coverage():
    rows = [("u1", "a", "2024-01-01"), ("u1", "b", "2024-01-02"), ("u2", "a", "2024-01-03"),
            ("u2", "c", "2024-01-04"), ("u1", "a", "2024-03-01"), ("u2", "b", "2024-03-01")]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(
        timestamp=lambda d: pd.to_datetime(d["timestamp"]), quantity=1.0, price=1.0, ticket_id=lambda d: d.index)
    split = make_loyal_split(df, test_days=28)
    res = score_recommendations([["a", "b"], ["c", "a"]], split, k=(2,))
    # before the cutoff: a bought by u1 and u2, b by u1, c by u2 (4 pairs)
    users = list(split.users)
    nov = dict(zip(users, res.per_user["novelty@2"]))
    assert nov["u1"] == pytest.approx((1 + 2) / 2) and nov["u2"] == pytest.approx((2 + 1) / 2)
    div = dict(zip(users, res.per_user["diversity@2"]))
    assert div["u1"] == pytest.approx(1 - 1 / math.sqrt(2))    # a and b: one customer of 2 x 1
    assert res["dist_coverage@2"] == pytest.approx(1.5)           # shows a 2, b 1, c 1 of 4
