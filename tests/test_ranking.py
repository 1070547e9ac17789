import numpy as np
import pytest

from recsys.config import RerankConfig
from recsys.ranking import RerankInput, rerank

CAPS = np.array([5.0, 10.0, 20.0, np.inf])


def inp(**over):
    base = dict(items=np.array([[0, 1, 2, 3]]), base=np.array([[0.9, 0.8, 0.7, 0.6]]),
                price=np.array([[1.0, 4.0, 8.0, 30.0]]), user_avg_price=np.array([[2.0]]),
                segment=np.array([1], np.int8), bought=np.zeros((1, 4), bool),
                days_since=np.full((1, 4), np.nan), cycle_days=np.full((1, 4), np.nan))
    base.update(over)
    return RerankInput(**base)


def off(**over):
    cfg = RerankConfig(segment_filter=False, repurchase_exclusion=False, due_boost=0.0)
    for k, v in over.items():
        setattr(cfg, k, v)
    return cfg


def test_without_knobs_the_order_is_the_blend():
    r = rerank(inp(), off(), CAPS)
    assert r.items[0].tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(r.score, [[0.9, 0.8, 0.7, 0.6]])


def test_price_range_filters():
    r = rerank(inp(), off(), CAPS, price_min=2.0, price_max=10.0)
    kept = r.items[0][np.isfinite(r.score[0])]
    assert sorted(kept.tolist()) == [1, 2]


def test_segment_filter_caps_prices_but_spares_past_purchases():
    bought = np.array([[False, False, False, True]])
    # low-average segment, cap 10: only the unbought 30.0 item would go, but item 3 was bought
    r = rerank(inp(bought=bought), off(segment_filter=True), CAPS)
    assert set(r.items[0][np.isfinite(r.score[0])].tolist()) == {0, 1, 2, 3}
    # small segment, cap 5: the unbought 8.0 item goes, the bought 30.0 item stays
    r = rerank(inp(bought=bought, segment=np.array([0], np.int8)), off(segment_filter=True), CAPS)
    assert set(r.items[0][np.isfinite(r.score[0])].tolist()) == {0, 1, 3}
    assert r.filtered["segment_filter"] == 1


def test_repurchase_exclusion_and_due_boost():
    bought = np.array([[True, True, False, False]])
    days = np.array([[1.0, 20.0, np.nan, np.nan]])
    cycle = np.array([[10.0, 10.0, np.nan, np.nan]])
    r = rerank(inp(bought=bought, days_since=days, cycle_days=cycle),
               off(repurchase_exclusion=True, repurchase_buffer=0.5, due_boost=0.5), CAPS)
    valid = dict(zip(r.items[0].tolist(), r.score[0].tolist()))
    assert valid[0] == -np.inf            # bought a day ago on a 10-day cycle: too soon
    assert valid[1] == pytest.approx(0.8 * 1.5)  # 20 days on a 10-day cycle: due, boosted
    assert r.items[0][0] == 1


def test_upsell_lifts_pricier_items_up_to_the_cap():
    r = rerank(inp(base=np.full((1, 4), 0.5)), off(upsell_factor=1.0, price_boost_weight=1.0, max_price_ratio=3.0), CAPS)
    f = dict(zip(r.items[0].tolist(), r.factors["upsell"][0].tolist()))
    assert f[0] == 1.0                    # cheaper than the user's average: no boost
    assert f[1] == pytest.approx(1.5)     # ratio 2 of max 3 -> half the boost
    assert f[2] == f[3] == pytest.approx(2.0)
    assert r.items[0][0] in (2, 3)


def test_price_sensitivity_penalises_beyond_the_budget():
    r = rerank(inp(base=np.full((1, 4), 0.5)), off(price_sensitivity=1.0, budget_tolerance=1.5), CAPS)
    f = dict(zip(r.items[0].tolist(), r.factors["price_sensitivity"][0].tolist()))
    assert f[0] == 1.0 and f[1] == pytest.approx(np.exp(-(4 / 3 - 1)))
    assert r.items[0][-1] == 3


def test_exclude_purchased():
    bought = np.array([[True, False, True, False]])
    r = rerank(inp(bought=bought), off(), CAPS, exclude_purchased=True)
    assert sorted(r.items[0][np.isfinite(r.score[0])].tolist()) == [1, 3]
    assert r.filtered["exclude_purchased"] == 2
