"""Frequently bought together, checked against counts worked out by hand on a tiny store.

Eight baskets (N = 8):
    B1 U1: A B C    B2 U1: A B    B3 U2: A C    B4 U2: B D
    B5 U3: A B D    B6 U3: C D    B7 U4: A A' B (A on two lines: one basket)    B8 U4: E Z
Z is priced 0 (a non-product line: cleaning drops it).
Baskets holding: A 5, B 5, C 3, D 3, E 1.  Together: AB 4, AC 2, AD 1, BC 1, BD 2, CD 1.
"""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from recsys.serving import together as basket

BASKETS = [("U1", 1, "AB C"), ("U1", 2, "AB"), ("U2", 1, "AC"), ("U2", 3, "BD"), ("U3", 1, "ABD"),
           ("U3", 2, "CD"), ("U4", 1, "AAB"), ("U4", 5, "EZ")]
PRICES = {"A": 1.5, "B": 2.0, "C": 3.0, "D": 0.8, "E": 4.0, "Z": 0.0}


def hand_store() -> pd.DataFrame:
    rows = []
    for k, (user, day, items) in enumerate(BASKETS):
        t = pd.Timestamp("2025-03-01 10:00") + pd.Timedelta(days=day)
        for j, item in enumerate(items.replace(" ", "")):
            rows.append({"user_id": user, "item_id": item, "timestamp": t, "quantity": 1.0 + j,
                         "price": PRICES[item], "ticket_id": f"B{k + 1}", "customer_type": "loyal"})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def rec():
    from recsys import TuningConfig, train

    cfg = TuningConfig().replace(als={"factors": 2, "iterations": 2}, repeat={"learned": False})
    return train(hand_store(), config=cfg, calibrate=False)


def test_counts_baskets_not_lines(rec):
    stats = basket.basket_stats(rec)
    by_id = dict(zip(rec.state.item_ids, stats.item_baskets))
    assert stats.baskets == 8
    assert {k: by_id[k] for k in "ABCDE"} == {"A": 5, "B": 5, "C": 3, "D": 3, "E": 1}
    assert "Z" not in by_id  # cleaning removed the zero-priced line
    lines_a = rec.items().set_index("item_id").loc["A", "purchase_count"]
    assert lines_a == 6  # two lines of A in B7: the rules must use 5 baskets, not 6 lines


def test_rules_of_one_item_match_the_hand_counts(rec):
    out = basket.bought_together(rec, "A", min_lift=0.0, min_count=1).set_index("item_id")
    assert list(out.index) == ["B", "C", "D"]  # by lift
    assert out.loc["B", "together"] == 4
    assert out.loc["B", "support"] == pytest.approx(4 / 8)
    assert out.loc["B", "confidence"] == pytest.approx(4 / 5)
    assert out.loc["B", "lift"] == pytest.approx((4 / 5) / (5 / 8))
    assert out.loc["C", "lift"] == pytest.approx((2 / 5) / (3 / 8))
    assert out.loc["D", "confidence"] == pytest.approx(1 / 5)
    assert out.loc["D", "lift"] == pytest.approx((1 / 5) / (3 / 8))
    assert out.loc["B", "item_price"] == pytest.approx(2.0)


def test_thresholds(rec):
    # defaults: lift above 1 (more than chance) and at least 2 baskets together
    assert basket.bought_together(rec, "A")["item_id"].tolist() == ["B", "C"]
    assert basket.bought_together(rec, "A", min_lift=1.1)["item_id"].tolist() == ["B"]
    assert basket.bought_together(rec, "A", min_support=0.3)["item_id"].tolist() == ["B"]
    assert basket.bought_together(rec, "A", n=1)["item_id"].tolist() == ["B"]
    assert basket.bought_together(rec, "E").empty  # bought alone
    with pytest.raises(ValueError, match="sort_by"):
        basket.bought_together(rec, "A", sort_by="price")
    with pytest.raises(ValueError, match="min_support"):
        basket.bought_together(rec, "A", min_support=2)
    with pytest.raises(KeyError, match="'nope'"):
        basket.bought_together(rec, "nope")


def test_complete_a_basket(rec):
    out = basket.complete_basket(rec, ["A", "D"]).set_index("item_id")
    # B goes with A (4 of A's 5 baskets) and with D (2 of 3): both; C only with A (D→C has lift 0.89)
    assert list(out.index) == ["B", "C"]
    assert out.loc["B", "with_items"] == 2 and out.loc["B", "with_item"] == "A"
    assert out.loc["B", "lift"] == pytest.approx((4 / 5) / (5 / 8))
    assert out.loc["C", "with_items"] == 1
    assert out.loc["C", "confidence"] == pytest.approx(2 / 5)
    assert basket.complete_basket(rec, ["A", "B", "C", "D"], min_count=1, min_lift=0).empty  # E: bought alone
    assert not set(basket.complete_basket(rec, ["A", "B"], min_lift=0, min_count=1)["item_id"]) & {"A", "B"}


def test_excluded_items_never_appear(rec):
    items = rec.state.items.assign(excluded=rec.state.items["item_id"] == "C")
    state = dataclasses.replace(rec.state, items=items)
    assert basket.bought_together(state, "A")["item_id"].tolist() == ["B"]
    assert basket.bought_together(state, "C").empty


def test_sort_orders_on_a_synthetic_store(small_rec):
    """Lift ranks rare pairs high; confidence ranks by how often: same rules, different orders."""
    item = str(small_rec.popular_items(1)["item_id"][0])
    by = {k: basket.bought_together(small_rec, item, n=1000, sort_by=k) for k in basket.SORTS}
    assert len(by["lift"]) > 5
    for key, frame in by.items():
        assert frame[key].is_monotonic_decreasing, key
        assert set(frame["item_id"]) == set(by["lift"]["item_id"])
        assert (frame["lift"] > 1).all() and (frame["together"] >= 2).all()
    assert by["lift"]["item_id"].tolist() != by["confidence"]["item_id"].tolist()
    # the API of a basket: its own items never come back, and each row names the basket item it goes with
    basket_ids = by["confidence"]["item_id"].tolist()[:2] + [item]
    out = basket.complete_basket(small_rec, basket_ids, n=50, sort_by="confidence")
    assert len(out) and not set(out["item_id"]) & set(basket_ids)
    assert set(out["with_item"]) <= set(basket_ids)
    assert out["with_items"].is_monotonic_decreasing


def test_cli_together(small_bundle, capsys):
    from recsys import cli

    rec, folder = small_bundle
    item = str(rec.popular_items(1)["item_id"][0])
    assert cli.main(["together", item, "--artifacts", str(folder), "--json", "--n", "4"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["item_id"] == item and 0 < len(out["items"]) <= 4
    assert cli.main(["together", "no-such-item", "--artifacts", str(folder)]) == 2
    assert "no-such-item" in capsys.readouterr().err
