import numpy as np
import pytest

from recsys.config import RerankConfig
from recsys.serving.ranking import CandidateFacts, HardFilters, filter_candidates, rerank

CAPS = np.array([5.0, 10.0, 20.0, np.inf])
BASE = np.array([[0.9, 0.8, 0.7, 0.6]])


def facts(**over):
    base = dict(items=np.array([[0, 1, 2, 3]]), price=np.array([[1.0, 4.0, 8.0, 30.0]]),
                user_avg_price=np.array([[2.0]]), segment=np.array([1], np.int8), count=np.zeros((1, 4)),
                days_since=np.full((1, 4), np.nan), cycle_days=np.full((1, 4), np.nan))
    base.update(over)
    return CandidateFacts(**base)


def off(**over):
    cfg = RerankConfig(segment_filter=False, repurchase_exclusion=False, due_boost=0.0)
    for k, v in over.items():
        setattr(cfg, k, v)
    return cfg


def run(f, cfg, hard=HardFilters(), base=BASE):
    keep, removed = filter_candidates(f, cfg, hard, CAPS)
    r = rerank(base, keep, f, cfg)
    items = np.take_along_axis(f.items, r.order, axis=1)
    return items, r, removed


def kept(items, r):
    return sorted(items[0][np.isfinite(r.score[0])].tolist())


def test_without_knobs_the_order_is_the_blend():
    items, r, removed = run(facts(), off())
    assert items[0].tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(r.score, BASE)
    assert removed == {}


def test_price_range_filters_and_counts_once():
    items, r, removed = run(facts(), off(), HardFilters(price_min=2.0, price_max=10.0))
    assert kept(items, r) == [1, 2]
    assert removed == {"price_range": 2}


def test_padding_is_never_kept_nor_counted():
    f = facts(items=np.array([[0, 1, -1, -1]]))
    items, r, removed = run(f, off(), HardFilters(price_max=100.0))
    assert kept(items, r) == [0, 1] and removed == {"price_range": 0}


def test_segment_filter_caps_prices_but_spares_past_purchases():
    count = np.array([[0, 0, 0, 1.0]])
    # low-average segment, cap 10: only the unbought 30.0 item would go, but item 3 was bought
    items, r, _ = run(facts(count=count), off(segment_filter=True))
    assert kept(items, r) == [0, 1, 2, 3]
    # small segment, cap 5: the unbought 8.0 item goes, the bought 30.0 item stays
    items, r, removed = run(facts(count=count, segment=np.array([0], np.int8)), off(segment_filter=True))
    assert kept(items, r) == [0, 1, 3]
    assert removed["segment_filter"] == 1


def test_repurchase_exclusion_due_boost_and_lapsed():
    count = np.array([[1.0, 1.0, 1.0, 0]])
    days = np.array([[1.0, 15.0, 45.0, np.nan]])
    cycle = np.array([[10.0, 10.0, 10.0, np.nan]])
    f = facts(count=count, days_since=days, cycle_days=cycle)
    assert f.due()[0].tolist() == [False, True, False, False]
    assert f.lapsed()[0].tolist() == [False, False, True, False]  # 4.5 cycles ago: lapsed, not due
    items, r, removed = run(f, off(repurchase_exclusion=True, repurchase_buffer=0.5, due_boost=0.5))
    score = dict(zip(items[0].tolist(), r.score[0].tolist()))
    assert score[0] == -np.inf                       # bought a day ago on a 10-day cycle: too soon
    assert score[1] == pytest.approx(0.8 * 1.5)      # 15 days on a 10-day cycle: due, boosted
    assert score[2] == pytest.approx(0.7)            # lapsed: no boost
    assert items[0][0] == 1 and removed["repurchase_too_recent"] == 1


def test_upsell_lifts_pricier_items_up_to_the_cap():
    cfg = off(upsell_factor=1.0, price_boost_weight=1.0, max_price_ratio=3.0)
    items, r, _ = run(facts(), cfg, base=np.full((1, 4), 0.5))
    f = dict(zip(items[0].tolist(), r.factors["upsell"][0].tolist()))
    assert f[0] == 1.0                    # cheaper than the user's average: no boost
    assert f[1] == pytest.approx(1.5)     # ratio 2 of max 3 -> half the boost
    assert f[2] == f[3] == pytest.approx(2.0)
    assert items[0][0] in (2, 3)
    # relevance is the score over the largest lift: in [0, 1], never clipped
    np.testing.assert_allclose(r.relevance, r.score / 2.0)


def test_price_sensitivity_penalises_beyond_the_budget():
    items, r, _ = run(facts(), off(price_sensitivity=1.0, budget_tolerance=1.5), base=np.full((1, 4), 0.5))
    f = dict(zip(items[0].tolist(), r.factors["price_sensitivity"][0].tolist()))
    assert f[0] == 1.0 and f[1] == pytest.approx(np.exp(-(4 / 3 - 1)))
    assert items[0][-1] == 3


def test_exclude_purchased():
    items, r, removed = run(facts(count=np.array([[2.0, 0, 1.0, 0]])), off(), HardFilters(exclude_purchased=True))
    assert kept(items, r) == [1, 3]
    assert removed["exclude_purchased"] == 2
