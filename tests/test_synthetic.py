"""The synthetic store: deterministic, canonical, and shaped like a real grocery store."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.io.schema import (
    CANONICAL_COLUMNS,
    CUSTOMER_TYPE,
    ITEM_ID,
    PRICE,
    QUANTITY,
    TICKET_AMOUNT,
    TICKET_ID,
    TIMESTAMP,
    USER_ID,
)
from recsys.io.synthetic import SIZES, demo_store, generate_store

SMALL = dict(n_users=600, n_items=800, n_lines=40_000)


@pytest.fixture(scope="module")
def store() -> pd.DataFrame:
    return generate_store(seed=7)


def products(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df[PRICE] > 0) & (df[QUANTITY] > 0)]


def test_same_seed_same_frame():
    a, b = generate_store(seed=3, **SMALL), generate_store(seed=3, **SMALL)
    assert a.equals(b)      # values, dtypes and categories (assert_frame_equal is slow here)
    assert all(a[c].dtype == b[c].dtype for c in a.columns)


def test_other_seed_other_frame():
    a, b = generate_store(seed=1, **SMALL), generate_store(seed=2, **SMALL)
    assert not (len(a) == len(b) and a[ITEM_ID].astype(str).equals(b[ITEM_ID].astype(str)))


def test_canonical_columns_and_dtypes(store):
    assert tuple(store.columns) == CANONICAL_COLUMNS
    assert store[TIMESTAMP].dtype == "datetime64[ns]"
    for col in (QUANTITY, PRICE, TICKET_AMOUNT):
        assert store[col].dtype == np.float64
    for col in (USER_ID, ITEM_ID, TICKET_ID, CUSTOMER_TYPE):
        assert all(isinstance(v, str) for v in store[col].iloc[:1000])
        assert not store[col].isna().any()
    assert set(store[CUSTOMER_TYPE].unique()) == {"loyal", "new"}
    first = store[USER_ID].iloc[0]
    assert (store[USER_ID] == first).sum() >= 1        # compares equal to a plain str
    assert store[TIMESTAMP].is_monotonic_increasing


def test_ids_look_real(store):
    users = store[USER_ID].astype(str).unique()
    assert all(len(u) == 11 and u.isdigit() for u in users)
    items = pd.Series(store[ITEM_ID].astype(str).unique())
    numeric = items.str.fullmatch(r"\d+")
    assert numeric.mean() > 0.5 and (~numeric).sum() > 10    # numeric and text ids mix
    kinds = store.groupby(USER_ID, observed=True)[CUSTOMER_TYPE].nunique()
    assert (kinds == 1).all()                                # loyal and new ids are disjoint


def test_new_customers_only_in_last_31_days(store):
    start = pd.Timestamp("2024-07-01")
    end = start + pd.Timedelta(days=550)
    new = store[store[CUSTOMER_TYPE] == "new"]
    loyal = store[store[CUSTOMER_TYPE] == "loyal"]
    assert new[TIMESTAMP].min() >= end - pd.Timedelta(days=31)
    assert store[TIMESTAMP].max() < end and store[TIMESTAMP].min() >= start
    assert loyal[TIMESTAMP].min() < start + pd.Timedelta(days=31)   # loyal span the period
    trips = new.groupby(USER_ID, observed=True)[TICKET_ID].nunique()
    assert trips.min() >= 1 and trips.max() <= 24
    share = new[USER_ID].nunique() / store[USER_ID].nunique()
    assert 0.25 < share < 0.35


def test_store_hours_and_baskets(store):
    hours = store[TIMESTAMP].dt.hour
    assert hours.min() >= 8 and hours.max() <= 20
    per_ticket = store.groupby(TICKET_ID, observed=True).agg(
        users=(USER_ID, "nunique"), times=(TIMESTAMP, "nunique"), lines=(ITEM_ID, "size"))
    assert (per_ticket.users == 1).all() and (per_ticket.times == 1).all()
    assert 5 <= per_ticket.lines.median() <= 15


def test_ticket_amount_is_basket_total(store):
    total = (store[QUANTITY] * store[PRICE]).groupby(store[TICKET_ID], observed=True).sum()
    amount = store.groupby(TICKET_ID, observed=True)[TICKET_AMOUNT].first()
    assert np.allclose(total.sort_index(), amount.sort_index(), atol=0.011)


def test_prices_and_units(store):
    prod = products(store)
    assert (prod[PRICE] > 0).all()
    assert 2.0 <= prod[PRICE].median() <= 4.5
    assert prod[PRICE].max() <= 100
    assert prod[PRICE].quantile(0.99) > 2 * prod[PRICE].median()      # a right tail
    units = prod[QUANTITY]
    assert (units == units.round()).all()
    assert 0.75 < (units == 1).mean() < 0.95
    assert units.between(2, 6).mean() > 0.03
    assert units.max() <= 60


def test_spending_segments_exist(store):
    spend = products(store).groupby(USER_ID, observed=True)[PRICE].median()
    assert spend.quantile(0.9) > 1.5 * spend.quantile(0.1)


def test_long_tail_of_item_popularity(store):
    counts = products(store)[ITEM_ID].value_counts()
    counts = counts[counts > 0]
    top = counts.iloc[: max(1, len(counts) // 10)].sum()
    assert top / counts.sum() > 0.35


def test_personal_repeat_behaviour(store):
    prod = products(store)
    loyal = prod[prod[CUSTOMER_TYPE] == "loyal"][[USER_ID, ITEM_ID, TIMESTAMP]]
    cut = loyal[TIMESTAMP].max() - pd.Timedelta(days=28)
    recent = loyal[loyal[TIMESTAMP] > cut][[USER_ID, ITEM_ID]].drop_duplicates()
    before = loyal[loyal[TIMESTAMP] <= cut][[USER_ID, ITEM_ID]].drop_duplicates()
    seen = recent.merge(before, how="left", indicator=True)["_merge"] == "both"
    assert 0.45 < seen.mean() < 0.8


def test_lines_per_user_have_a_long_tail(store):
    lines = store.groupby(USER_ID, observed=True).size()
    assert lines.max() > 10 * lines.median()


def test_non_product_lines_and_returns(store):
    zero = store[store[PRICE] == 0]
    ids = set(zero[ITEM_ID].astype(str))
    assert "200" in ids
    assert any(i.startswith("OPEN DEPT") for i in ids)
    assert set(store.loc[store[ITEM_ID] == "200", PRICE]) == {0.0}
    returns = store[store[QUANTITY] < 0]
    assert 3 <= len(returns) < 0.01 * len(store)
    assert (returns[TICKET_AMOUNT] < 0).all()


@pytest.mark.parametrize("kwargs", [
    dict(n_users=2000, n_items=3000, n_lines=200_000),
    dict(n_users=5000, n_items=2000, n_lines=50_000),
    dict(n_users=300, n_items=5000, n_lines=60_000, new_customer_share=0.1),
])
def test_size_roughly_matches(kwargs):
    df = generate_store(seed=5, **kwargs)
    assert abs(len(df) - kwargs["n_lines"]) <= 0.1 * kwargs["n_lines"]
    assert df[USER_ID].nunique() == kwargs["n_users"]
    assert df[ITEM_ID].nunique() <= kwargs["n_items"] + 4


def test_demo_store():
    df = demo_store()
    assert 100_000 <= len(df) <= 140_000
    assert df[USER_ID].nunique() == 1500
    assert df.loc[df[CUSTOMER_TYPE] == "new", USER_ID].nunique() == 300
    assert 1500 <= df[ITEM_ID].nunique() <= 2004


def test_sizes():
    assert set(SIZES) == {"S", "M", "L"}
    assert SIZES["L"] == dict(n_lines=20_000_000, n_users=1_000_000, n_items=200_000)


def test_bad_arguments():
    with pytest.raises(ValueError):
        generate_store(n_users=0)
    with pytest.raises(ValueError):
        generate_store(new_customer_share=1.5)


def _repeat_share(df: pd.DataFrame, days: int = 28) -> float:
    """Share of the distinct items of a loyal customer's last ``days`` bought by them before."""
    loyal = products(df)
    loyal = loyal[loyal[CUSTOMER_TYPE] == "loyal"][[USER_ID, ITEM_ID, TIMESTAMP]]
    cut = loyal[TIMESTAMP].max() - pd.Timedelta(days=days)
    recent = loyal[loyal[TIMESTAMP] > cut][[USER_ID, ITEM_ID]].drop_duplicates()
    before = loyal[loyal[TIMESTAMP] <= cut][[USER_ID, ITEM_ID]].drop_duplicates()
    return float((recent.merge(before, how="left", indicator=True)["_merge"] == "both").mean())


LOW_REPEAT = dict(n_users=800, n_items=4000, n_lines=40_000, days=120, new_customer_share=0.2)


def test_favourite_share_sets_how_much_customers_rebuy():
    default = _repeat_share(generate_store(seed=2, **LOW_REPEAT))
    low = _repeat_share(generate_store(seed=2, favourite_share=0.12, **LOW_REPEAT))
    none = _repeat_share(generate_store(seed=2, favourite_share=0.0, **LOW_REPEAT))
    assert default > 0.4                 # the default store: customers rebuy a lot
    assert low < 0.25 and low < default - 0.2
    assert none <= low + 0.02            # monotone, up to noise


def test_favourite_share_keeps_the_store_shape():
    df = generate_store(seed=2, favourite_share=0.12, **LOW_REPEAT)
    assert abs(len(df) - LOW_REPEAT["n_lines"]) <= 0.1 * LOW_REPEAT["n_lines"]
    assert df[USER_ID].nunique() == LOW_REPEAT["n_users"]
    assert set(df[CUSTOMER_TYPE].unique()) == {"loyal", "new"}


def test_default_favourite_share_is_the_old_store():
    # the knob must not move the default stores: a fingerprint taken before the knob existed
    a = generate_store(seed=3, **SMALL)
    assert len(a) == 40007
    assert round(float(a[PRICE].sum()), 2) == 155000.14 and float(a[QUANTITY].sum()) == 54387.0
    assert list(a[ITEM_ID].astype(str).iloc[[0, 1000, 20000, -1]]) == [
        "7002736745", "7002635099", "7001915439", "7000206365"]
    assert a[USER_ID].iloc[-1] == "40000089183"
    assert a.equals(generate_store(seed=3, favourite_share=0.45, **SMALL))


@pytest.mark.parametrize("share", [-0.1, 1.0, 2.0])
def test_bad_favourite_share(share):
    with pytest.raises(ValueError, match="favourite_share"):
        generate_store(favourite_share=share, **SMALL)


def test_the_demo_store_names_its_products_and_nothing_else_changes():
    from recsys.io.non_products import non_product_items

    small = generate_store(seed=3, **SMALL)
    named = generate_store(seed=3, names=True, **SMALL)
    assert named.drop(columns=["item_name", "category"]).equals(small)  # the same store, with names
    per_item = named.drop_duplicates(ITEM_ID)
    products_only = per_item[~per_item[ITEM_ID].astype(str).isin(["200", "OPEN DEPT 101", "OPEN DEPT 102",
                                                                   "OPEN DEPT 105"])]
    assert products_only["item_name"].astype(str).str.match(r"^\w+ [\w -]+ \d").all()  # "Organic yoghurt 500 g"
    assert products_only["category"].astype(str).ne("").all() and products_only["category"].nunique() > 5
    # no product reads as a fee, postage, a deposit...: the cleaning would drop it
    found = non_product_items(pd.Index(per_item[ITEM_ID].astype(str)),
                              per_item["item_name"].astype(str).reset_index(drop=True))
    assert found["item_id"].tolist() == ["200"]  # 'Carrier bag' at price 0, a till key
    demo = demo_store()
    assert {"item_name", "category"} <= set(demo.columns)
