import numpy as np
import pandas as pd
import pytest

from recsys.config import SegmentConfig, SignalConfig
from recsys.training import features as F


def frame(rows):
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "quantity", "price", "ticket_id"])
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    df["customer_type"] = "loyal"
    return df


@pytest.fixture
def tiny():
    return frame([
        ("u1", "milk", "2025-01-01", 1, 1.0, "t1"),
        ("u1", "bread", "2025-01-01", 2, 3.0, "t1"),
        ("u1", "milk", "2025-01-08", 1, 1.0, "t2"),
        ("u1", "milk", "2025-01-15", 1, 1.0, "t3"),
        ("u2", "milk", "2025-01-02", 3, 1.0, "t4"),
        ("u2", "wine", "2025-01-02", 1, 20.0, "t4"),
    ])


def test_signals_are_the_documented_ratios(tiny):
    enc = F.encode(tiny)
    spending, qty, weight = F.line_signals(enc, SignalConfig(spending_weight=1.0, quantity_weight=0.0, clip_max=100))
    lines = pd.DataFrame({"u": enc.user_ids[enc.user], "i": enc.item_ids[enc.item], "s": spending, "q": qty})
    # u1 average item price = (1 + 3 + 1 + 1) / 4 = 1.5, so bread's spending ratio is 3 / 1.5
    assert lines.query("u == 'u1' and i == 'bread'")["s"].iloc[0] == pytest.approx(2.0)
    # milk averages (1 + 1 + 1 + 3) / 4 = 1.5 units, so u2's 3 units give a quantity ratio of 2
    assert lines.query("u == 'u2' and i == 'milk'")["q"].iloc[0] == pytest.approx(2.0)
    np.testing.assert_allclose(weight, np.clip(spending, 0.1, 100), rtol=1e-6)


def test_profiles_and_segments(tiny):
    prof = F.user_profiles(F.encode(tiny), SegmentConfig()).set_index("user_id")
    assert prof.loc["u1", "total_purchases"] == 4
    assert prof.loc["u1", "tickets"] == 3
    assert prof.loc["u1", "unique_items"] == 2
    assert prof.loc["u2", "total_spend"] == pytest.approx(3 * 1.0 + 20.0)
    assert prof.loc["u1", "last_purchase"] == pd.Timestamp("2025-01-15")
    # u2 buys pricier items on average, so sits in a higher segment than u1
    order = ["small", "low_average", "average", "high"]
    assert order.index(prof.loc["u2", "spending_segment"]) > order.index(prof.loc["u1", "spending_segment"])


def test_segments_split_users_by_percentile():
    seg, cuts = F.segment_codes(np.arange(1, 101, dtype=float), (0.25, 0.5, 0.75))
    assert np.bincount(seg).tolist() == [25, 25, 25, 25]
    assert cuts == pytest.approx([25.75, 50.5, 75.25])


def test_popularity_components_count_buyers_once(tiny):
    enc = F.encode(tiny)
    parts = F.popularity_components(enc)
    milk = list(enc.item_ids).index("milk")
    assert parts["purchase_count"][milk] == 4
    assert parts["unique_buyers"][milk] == 2
    assert parts["total_quantity"][milk] == 6
    score = F.popularity_score(parts, 0.4, 0.4, 0.2)
    assert score[milk] == pytest.approx(1.0) and score.max() == pytest.approx(1.0)


def test_repurchase_cycles_per_item_and_pair(tiny):
    enc = F.encode(tiny)
    cyc = F.repurchase_cycles(enc, min_gaps=2)
    milk = list(enc.item_ids).index("milk")
    u1 = list(enc.user_ids).index("u1")
    assert cyc.item_days[milk] == pytest.approx(7.0)
    assert cyc.user_item_days[u1, milk] == pytest.approx(7.0)
    assert np.isnan(cyc.item_days[list(enc.item_ids).index("wine")])
    assert cyc.item_repeat_rate[milk] == pytest.approx(0.5)  # u1 rebuys it, u2 does not


def test_distinct_count_is_a_vectorised_nunique():
    g = np.array([0, 0, 0, 1, 1, 2])
    o = np.array([5, 5, 6, 1, 2, 9])
    assert F.distinct_count(g, o, 4).tolist() == [2, 2, 1, 0]


def test_interaction_matrix_sums_then_damps(tiny):
    import dataclasses

    from recsys import TuningConfig
    from recsys.training.fit import encode_store

    store = encode_store(tiny, TuningConfig())
    enc = store.enc
    w = np.ones(enc.n_lines, dtype=np.float32)
    m = dataclasses.replace(store.data, weight=w, log_transform=True).user_items()
    u1, milk = list(enc.user_ids).index("u1"), list(enc.item_ids).index("milk")
    assert m[u1, milk] == pytest.approx(np.log1p(3.0))
