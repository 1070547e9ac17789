"""Bring your own store: column mapping (API, files, CLI), line values, date orders, catalogues,
suspect non-product codes and exclusion lists. Small CSVs made in tmp_path; no downloads."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.cli import main
from recsys.errors import DataError
from recsys.io.cleaning import clean_transactions
from recsys.io.columns import propose_mapping
from recsys.io.loading import load_transactions, validate_transactions
from recsys.io.source_files import (
    Exclusions,
    SourceMapping,
    parse_columns_option,
    read_mapping,
    write_exclusions,
    write_mapping,
)

# Ta Feng's header and shape: m/d/Y dates, zero-padded customers, SALES_PRICE is the line's value
TA_FENG_HEADER = '\ufeff"TRANSACTION_DT","CUSTOMER_ID","AGE_GROUP","PIN_CODE","PRODUCT_SUBCLASS","PRODUCT_ID","AMOUNT","ASSET","SALES_PRICE"\n'
TA_FENG_MAP = {"TRANSACTION_DT": "timestamp", "CUSTOMER_ID": "user_id", "PRODUCT_ID": "item_id",
               "AMOUNT": "quantity", "SALES_PRICE": "line_value", "PRODUCT_SUBCLASS": "category"}
TA_FENG_COLUMNS = ",".join(f"{k}={v}" for k, v in TA_FENG_MAP.items())


def ta_feng_like(path: Path, n_users: int = 30, days: int = 20, seed: int = 0) -> Path:
    """A small file shaped like Ta Feng: several lines per customer-day, unit prices fixed per item."""
    rng = np.random.default_rng(seed)
    prices = {f"47101{i:05d}": float(10 + 5 * i) for i in range(12)}
    rows = []
    for u in range(n_users):
        for d in rng.choice(days, size=4, replace=False):
            day = pd.Timestamp("2000-11-01") + pd.Timedelta(days=int(d))
            for item in rng.choice(list(prices), size=3, replace=False):
                qty = int(rng.integers(1, 5))
                rows.append(f'"{day.month}/{day.day}/{day.year}","{u:08d}","30-34","115","1{item[-2:]}",'
                            f'"{item}","{qty}","1","{prices[item] * qty:g}"')
    path.write_text(TA_FENG_HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


# ---- mapping ---------------------------------------------------------------------------------

def test_ta_feng_like_file_loads_with_a_mapping(tmp_path):
    path = ta_feng_like(tmp_path / "ta_feng.csv")
    with pytest.raises(DataError) as err:
        load_transactions(path, use_cache=False)
    assert "'AMOUNT' for quantity" in str(err.value) and "--columns" in str(err.value)
    ignored = {"AGE_GROUP": "ignore", "PIN_CODE": "ignore", "ASSET": "ignore"}  # what the app's form saves
    df = load_transactions(path, {**TA_FENG_MAP, **ignored}, use_cache=False)
    raw = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    assert df["user_id"].iloc[0] == raw["CUSTOMER_ID"].iloc[0] and df["user_id"].str.len().eq(8).all()
    # unit price = line value / quantity: every item has one unit price
    assert df.groupby("item_id")["price"].nunique().eq(1).all()
    assert np.allclose(df["price"] * df["quantity"], raw["SALES_PRICE"].astype(float))
    # a basket is a customer's day
    assert df.groupby("ticket_id")[["user_id"]].nunique().eq(1).all().all()
    assert df.groupby("ticket_id")["timestamp"].nunique().eq(1).all()
    assert df["ticket_id"].nunique() == df[["user_id", "timestamp"]].drop_duplicates().shape[0]
    assert set(df["category"].astype(str)) == set(raw["PRODUCT_SUBCLASS"])


def test_mapping_file_beside_the_data_is_used_and_an_argument_wins(tmp_path):
    path = ta_feng_like(tmp_path / "store.csv")
    write_mapping(path, SourceMapping(columns=TA_FENG_MAP, dates="monthfirst"))
    assert (tmp_path / "store.csv.mapping.toml").is_file()
    df = load_transactions(path, cache_dir=tmp_path / "c")
    assert len(df) == 30 * 4 * 3 and df["timestamp"].min() == pd.Timestamp("2000-11-01")
    # explicit argument beats the saved map: SALES_PRICE as a unit price gives other prices
    as_price = load_transactions(path, {**TA_FENG_MAP, "SALES_PRICE": "price"}, cache_dir=tmp_path / "c")
    assert not np.allclose(as_price["price"], df["price"])


def test_mapping_parsers_and_their_errors(tmp_path):
    assert parse_columns_option("A=timestamp, B = user_id").columns == {"A": "timestamp", "B": "user_id"}
    with pytest.raises(DataError, match=r"item 2 \('B'\) is not SOURCE=target"):
        parse_columns_option("A=timestamp,B")
    toml = tmp_path / "m.toml"
    toml.write_text('dates = "dayfirst"\ncatalogue = "products.csv"\n[columns]\nWhen = "timestamp"\n')
    m = read_mapping(toml)
    assert m.columns == {"When": "timestamp"} and m.dates == "dayfirst"
    assert m.catalogue_path(tmp_path) == tmp_path / "products.csv"
    toml.write_text("[columns]\nWhen = 3\n")
    with pytest.raises(DataError) as err:
        read_mapping(toml)
    assert err.value.file == "m.toml" and err.value.column == "columns.When"
    toml.write_text('dates = "sideways"\n')
    with pytest.raises(DataError, match="unknown date order 'sideways'"):
        read_mapping(toml)
    toml.write_text("[columns\n")
    with pytest.raises(DataError, match="not valid TOML"):
        read_mapping(toml)


@pytest.mark.parametrize("column_map, message, column", [
    ({"SALES_PRICE": "prize"}, "did you mean 'price'", "SALES_PRICE"),
    ({"NOPE": "ticket_id"}, "not column(s) of the file", "NOPE"),
    ({"SALES_PRICE": "price", "ASSET": "line_value"}, "both a unit price and a line value", "SALES_PRICE, ASSET"),
    ({"AMOUNT": "quantity", "ASSET": "quantity"}, "all to 'quantity'", "AMOUNT, ASSET"),
])
def test_bad_mappings_name_the_file_and_column(tmp_path, column_map, message, column):
    path = ta_feng_like(tmp_path / "ta.csv")
    report = validate_transactions(path, {**TA_FENG_MAP, **column_map}, use_cache=False)
    assert not report.ok
    problem = report.problems[0]
    assert message in problem.message and problem.file == "ta.csv" and problem.column == column


def test_propose_mapping_guesses_ta_feng(tmp_path):
    headers = ["TRANSACTION_DT", "CUSTOMER_ID", "AGE_GROUP", "PIN_CODE", "PRODUCT_SUBCLASS", "PRODUCT_ID",
               "AMOUNT", "ASSET", "SALES_PRICE"]
    proposed = propose_mapping(headers)
    assert proposed["TRANSACTION_DT"] == "timestamp" and proposed["CUSTOMER_ID"] == "user_id"
    assert proposed["PRODUCT_ID"] == "item_id" and proposed["PRODUCT_SUBCLASS"] == "category"
    assert proposed["AMOUNT"] == "quantity" and proposed["SALES_PRICE"] == "price"
    assert proposed["AGE_GROUP"] == "ignore"
    # an explicit 'ignore' keeps a column out that its name would map
    assert propose_mapping(["date", "timestamp"], {"date": "ignore"}) == {"date": "ignore", "timestamp": "timestamp"}


# ---- prices ----------------------------------------------------------------------------------

def test_line_value_mapped_as_price_is_flagged_naming_the_column(tmp_path):
    path = ta_feng_like(tmp_path / "ta.csv", n_users=40)
    wrong = validate_transactions(path, {**TA_FENG_MAP, "SALES_PRICE": "price"}, use_cache=False)
    assert wrong.ok and len(wrong.warnings) == 1
    assert "'SALES_PRICE'" in wrong.warnings[0] and "line_value" in wrong.warnings[0]
    right = validate_transactions(path, TA_FENG_MAP, use_cache=False)
    assert right.ok and right.warnings == []
    # the cleaning report carries it too (for the CLI and the app's Overview)
    _, report = clean_transactions(load_transactions(path, {**TA_FENG_MAP, "SALES_PRICE": "price"}, use_cache=False))
    assert any("SALES_PRICE" in w for w in report.warnings)


def test_a_unit_price_mapped_as_line_value_is_flagged(tmp_path):
    path = ta_feng_like(tmp_path / "ta.csv", n_users=40)
    raw = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    raw["SALES_PRICE"] = (raw["SALES_PRICE"].astype(float) / raw["AMOUNT"].astype(float)).map("{:g}".format)
    raw.to_csv(path, index=False)
    report = validate_transactions(path, TA_FENG_MAP, use_cache=False)
    assert report.ok and "looks like a unit price" in report.warnings[0] and "SALES_PRICE=price" in report.warnings[0]


def test_bad_line_values_name_the_row(tmp_path):
    path = ta_feng_like(tmp_path / "ta.csv", n_users=3)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].rsplit(",", 1)[0] + ',"abc"'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = validate_transactions(path, TA_FENG_MAP, use_cache=False)
    p = report.problems[0]
    assert (p.file, p.column, p.row) == ("ta.csv", "SALES_PRICE", 5) and "not a number" in p.message


# ---- dates -----------------------------------------------------------------------------------

def _dates_csv(path: Path, dates: list[str]) -> Path:
    rows = [f"{d},U{i % 3},I{i % 4},1,2.0" for i, d in enumerate(dates)]
    path.write_text("timestamp,user_id,item_id,quantity,price\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("dates, expected", [
    (["11/1/2000", "11/2/2000", "11/15/2000"], "2000-11-01"),      # month-first, told by the last value
    (["1/11/2000", "2/11/2000", "15/11/2000"], "2000-11-01"),      # day-first
    (["2000-11-01", "2000-11-02 10:15", "2000-11-15"], "2000-11-01"),  # ISO
    (["36831", "36832", "36845.5"], "2000-11-01"),                 # Excel serials
    (["01.11.2000", "02.11.2000", "25.11.2000"], "2000-11-01"),    # dotted day-first
])
def test_date_forms(tmp_path, dates, expected):
    df = load_transactions(_dates_csv(tmp_path / "d.csv", dates), use_cache=False)
    assert df["timestamp"].min() == pd.Timestamp(expected)
    assert df["timestamp"].max().day == 15 or df["timestamp"].max().day == 25


def test_month_first_is_read_from_all_values_not_the_first_ones(tmp_path):
    # 300 lines readable both ways, then one that settles it
    dates = [f"{1 + i % 12}/{1 + (5 * i) % 12}/2000" for i in range(300)] + ["11/30/2000"]
    df = load_transactions(_dates_csv(tmp_path / "d.csv", dates), use_cache=False)
    assert df["timestamp"].iloc[-1] == pd.Timestamp("2000-11-30")
    assert (df["timestamp"].dt.month.iloc[:300] == [1 + i % 12 for i in range(300)]).all()


def test_ambiguous_dates_are_asked_not_guessed(tmp_path):
    path = _dates_csv(tmp_path / "d.csv", ["11/1/2000", "12/2/2000", "3/4/2000"])
    report = validate_transactions(path, use_cache=False)
    p = report.problems[0]
    assert p.file == "d.csv" and p.column == "timestamp" and "--dayfirst" in p.message and "11/1/2000" in p.message
    assert load_transactions(path, dates="monthfirst", use_cache=False)["timestamp"].iloc[0] == pd.Timestamp("2000-11-01")
    assert load_transactions(path, dates="dayfirst", use_cache=False)["timestamp"].iloc[0] == pd.Timestamp("2000-01-11")
    # a value impossible under the chosen order is a bad row, named
    bad = _dates_csv(tmp_path / "e.csv", ["11/1/2000", "12/25/2000"])
    p = validate_transactions(bad, dates="dayfirst", use_cache=False).problems[0]
    assert (p.column, p.row) == ("timestamp", 3) and "not a date" in p.message


def test_numbers_outside_the_excel_serial_range_are_not_dates(tmp_path):
    p = validate_transactions(_dates_csv(tmp_path / "d.csv", ["36831", "1700000000"]), use_cache=False).problems[0]
    assert (p.column, p.row) == ("timestamp", 3) and "not a date" in p.message


# ---- catalogue -------------------------------------------------------------------------------

def _catalogue(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_catalogue_join_gives_names_categories_and_current_prices(tmp_path):
    path = ta_feng_like(tmp_path / "ta.csv")
    items = sorted(pd.read_csv(path, dtype=str, encoding="utf-8-sig")["PRODUCT_ID"].unique())
    cat = _catalogue(tmp_path / "products.csv", "sku,name,department,price\n"
                     f"{items[0]},Green tea,Drinks,99.5\n{items[1]},Rice,Grocery,\n")
    df = load_transactions(path, TA_FENG_MAP, catalogue=cat, use_cache=False)
    first = df[df["item_id"] == items[0]]
    assert first["item_name"].astype(str).eq("Green tea").all() and first["category"].astype(str).eq("Drinks").all()
    assert first["list_price"].eq(99.5).all()
    second = df[df["item_id"] == items[1]]
    assert second["list_price"].isna().all() and second["item_name"].astype(str).eq("Rice").all()
    other = df[~df["item_id"].isin(items[:2])]
    assert other["item_name"].astype(str).eq("").all()
    assert other["category"].astype(str).str.startswith("1").all()  # the sales file's own category stays


@pytest.mark.parametrize("text, column, row, message", [
    ("sku,name\nA,x\nA,y\n", "sku", 3, "listed twice"),
    ("sku,name,price\nA,x,1\nB,y,cheap\n", "price", 3, "not a price"),
    ("sku,name\nA,x\n,y\n", "sku", 3, "empty item id"),
    ("code_x,name\nA,x\n", None, 1, "no item id column"),
])
def test_bad_catalogues_name_file_column_and_row(tmp_path, text, column, row, message):
    path = ta_feng_like(tmp_path / "ta.csv", n_users=2)
    cat = _catalogue(tmp_path / "cat.csv", text)
    p = validate_transactions(path, TA_FENG_MAP, catalogue=cat, use_cache=False).problems[0]
    assert p.file == "cat.csv" and p.column == column and p.row == row and message in p.message


def test_names_categories_and_latest_prices_reach_the_trained_items(tmp_path, fast_config):
    from recsys import train

    path = ta_feng_like(tmp_path / "ta.csv")
    items = sorted(pd.read_csv(path, dtype=str, encoding="utf-8-sig")["PRODUCT_ID"].unique())
    cat = _catalogue(tmp_path / "products.csv", f"sku,name,price\n{items[0]},Green tea,7.25\n")
    rec = train(str(path), config=fast_config, calibrate=False,
                column_map=TA_FENG_MAP, catalogue=cat)
    table = rec.items().set_index("item_id")
    assert {"item_name", "category"} <= set(table.columns)
    assert table.loc[items[0], "item_name"] == "Green tea" and table.loc[items[0], "price"] == 7.25
    assert table.loc[items[1], "item_name"] == "" and table.loc[items[1], "category"] == "1" + items[1][-2:]
    assert table.loc[items[1], "price"] == pytest.approx(10 + 5 * int(items[1][-5:]))  # value / quantity


def test_the_workbook_still_loads_without_a_mapping(real_path):
    df = load_transactions(real_path)
    assert len(df) == 77_792 and "item_name" not in df.columns


# ---- suspects and exclusions -----------------------------------------------------------------

def placeholder_store() -> pd.DataFrame:
    """40 baskets of real items; CODE40 at a constant 40.00 (often 0.00) in baskets worth ~20."""
    rows = []
    for b in range(40):
        t = pd.Timestamp("2025-01-01") + pd.Timedelta(days=b)
        basket = [("MILK", 1.0, 2.0), ("BREAD", 1.0, 3.0), ("EGGS", 2.0, 4.0)]
        basket.append(("CODE40", 1.0, 0.0 if b % 3 == 0 else 40.0))
        amount = sum(q * p for _, q, p in basket[:3])
        for item, qty, price in basket:
            rows.append({"user_id": f"U{b % 7}", "item_id": item, "timestamp": t, "quantity": qty, "price": price,
                         "ticket_id": f"T{b}", "customer_type": "loyal", "ticket_amount": amount})
    return pd.DataFrame(rows)


def test_suspect_non_product_codes_are_excluded_by_default_with_the_evidence():
    clean, report = clean_transactions(placeholder_store())
    assert "CODE40" not in set(clean["item_id"]) and {"MILK", "BREAD", "EGGS"} <= set(clean["item_id"])
    suspect = report.suspects[0]
    assert suspect["item_id"] == "CODE40" and suspect["strong"] and suspect["excluded"]
    assert "at 40.00" in suspect["evidence"] and "more than its whole ticket" in suspect["evidence"]
    step = next(s for s in report.steps if s.reason.startswith("suspect non-product codes (strong"))
    assert step.lines == 40 and step.action == "removed"
    assert report.lines_in - report.lines_removed == report.lines_out


def test_an_exclusion_list_removes_items_and_bang_keeps_a_suspect(tmp_path):
    df = placeholder_store()
    kept, report = clean_transactions(df, exclude_items=["!CODE40", "EGGS"])
    assert "CODE40" in set(kept["item_id"]) and "EGGS" not in set(kept["item_id"])
    assert report.excluded_items == ["EGGS"]
    assert next(s for s in report.steps if s.reason == "items on the exclusion list").lines == 40
    assert not report.suspects[0]["excluded"]
    # the same from a file, and the suspects stay in when switched off
    listing = tmp_path / "x.exclude.txt"
    listing.write_text("# analyst's list\nEGGS   # not a product here\n\n")
    assert Exclusions.read(listing) == Exclusions(frozenset({"EGGS"}))
    assert "CODE40" in set(clean_transactions(df, exclude_suspects=False)[0]["item_id"])
    with pytest.raises(DataError) as err:
        clean_transactions(df, exclude_items=tmp_path / "missing.txt")
    assert err.value.file == "missing.txt"


def test_exclusions_saved_beside_the_file_apply_at_training(tmp_path, fast_config):
    from recsys import train

    path = tmp_path / "store.csv"
    placeholder_store().to_csv(path, index=False)
    write_exclusions(path, Exclusions(frozenset({"EGGS"})))
    rec = train(str(path), config=fast_config, calibrate=False)
    assert set(rec.items()["item_id"]) == {"MILK", "BREAD"}
    assert rec.cleaning_report["excluded_items"] == ["EGGS"]
    assert any(s["item_id"] == "CODE40" and s["excluded"] for s in rec.cleaning_report["suspects"])


def test_workbook_placeholder_codes_are_excluded(real_path):
    _, report = clean_transactions(load_transactions(real_path))
    excluded = {s["item_id"] for s in report.suspects if s["excluded"]}
    assert {"20098100000", "20098900000", "20009400000"} <= excluded
    assert "7003858505" not in excluded


# ---- command line ----------------------------------------------------------------------------

def test_cli_trains_ta_feng_like_data_with_columns_and_shows_unit_prices(tmp_path, capsys):
    path = ta_feng_like(tmp_path / "ta.csv")
    out = tmp_path / "art"
    assert main(["train", "--data", str(path), "--out", str(out), "--columns", TA_FENG_COLUMNS]) == 0
    capsys.readouterr()
    assert main(["recommend", "00000001", "--json", "--artifacts", str(out)]) == 0
    recs = json.loads(capsys.readouterr().out)["recommendations"]
    unit = {f"47101{i:05d}": float(10 + 5 * i) for i in range(12)}
    assert recs and all(r["item_price"] == pytest.approx(unit[r["item_id"]]) for r in recs)


def test_cli_mapping_file_dates_and_errors(tmp_path, capsys):
    path = _dates_csv(tmp_path / "d.csv", ["11/1/2000", "12/2/2000", "3/4/2000", "3/5/2000"])
    out = str(tmp_path / "art")
    assert main(["train", "--data", str(path), "--out", out]) == 2
    err = capsys.readouterr().err
    assert "d.csv" in err and "timestamp" in err and "--dayfirst" in err and "Traceback" not in err
    assert main(["train", "--data", str(path), "--out", out, "--monthfirst"]) == 0
    capsys.readouterr()
    toml = tmp_path / "map.toml"
    toml.write_text('dates = "dayfirst"\n[columns]\ntimestamp = "timestamp"\n')
    assert main(["train", "--data", str(path), "--out", out, "--columns", str(toml)]) == 0
    capsys.readouterr()
    assert main(["train", "--data", str(path), "--out", out, "--columns", "timestamp"]) == 2
    assert "not SOURCE=target" in capsys.readouterr().err
    assert main(["train", "--data", str(path), "--out", out, "--monthfirst",
                 "--exclude-items", str(tmp_path / "none.txt")]) == 2
    assert "none.txt" in capsys.readouterr().err
    assert main(["train", "--out", out, "--monthfirst"]) == 2
    assert "need --data" in capsys.readouterr().err


def test_cli_catalogue_and_exclusions(tmp_path, capsys):
    path = tmp_path / "store.csv"
    placeholder_store().to_csv(path, index=False)
    cat = _catalogue(tmp_path / "cat.csv", "item_id,item_name,category\nMILK,Whole milk,Dairy\n")
    listing = tmp_path / "ex.txt"
    listing.write_text("BREAD\n")
    out = tmp_path / "art"
    assert main(["train", "--data", str(path), "--out", str(out), "--catalogue", str(cat),
                 "--exclude-items", str(listing)]) == 0
    err = capsys.readouterr().err
    assert "CODE40 (excluded" in err and "at 40.00" in err
    from recsys import Recommender

    items = Recommender.load(out).items().set_index("item_id")
    assert list(items.index.sort_values()) == ["EGGS", "MILK"]
    assert items.loc["MILK", "item_name"] == "Whole milk" and items.loc["EGGS", "category"] == ""


# ---- current prices --------------------------------------------------------------------------

def test_item_price_is_the_latest_not_the_median_of_all_history():
    from recsys.training.features import encode, item_prices

    t0 = pd.Timestamp("2025-01-01")
    rows = [("U1", "A", t0 + pd.Timedelta(days=d), 3.99) for d in range(10)]        # long at 3.99
    rows += [("U2", "A", t0 + pd.Timedelta(days=20 + d), 2.99) for d in range(5)]  # then 2.99
    rows += [("U1", "B", t0 + pd.Timedelta(days=d), p) for d, p in enumerate([1.0, 5.0, 0.0])]  # a free line
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "price"]).assign(quantity=1.0)
    prices = dict(zip(*(lambda e: (e.item_ids, item_prices(e)))(encode(df))))
    assert prices["A"] == pytest.approx(2.99)   # the median of all 15 sales would say 3.99
    assert prices["B"] == pytest.approx(3.0)    # median of the priced sales; a 0.00 line is not a price


def test_workbook_item_shows_its_latest_price(real_bundle):
    rec, _ = real_bundle
    items = rec.items().set_index("item_id")
    assert items.loc["7003858505", "price"] == pytest.approx(2.99)   # its last five sales; the median was 3.99
    assert items["item_name"].eq("").all() and items["category"].eq("").all()
    assert not {"20098100000", "20098900000", "20009400000"} & set(items.index)


def test_a_placeholder_price_on_many_codes_is_removed_line_by_line():
    """12 codes sold at real prices, and now and then at 40.00 in tickets worth ~10: only those lines go."""
    rows = []
    for b in range(120):
        t = pd.Timestamp("2025-01-01") + pd.Timedelta(hours=b)
        code = f"W{(b // 2) % 12:02d}"  # every code twice in a row: once at 40.00, once at its price
        price = 40.0 if b % 2 == 0 else 4.0 + ((b // 2) % 12) / 10
        for item, p in (("MILK", 2.0), (code, price)):
            rows.append({"user_id": f"U{b % 9}", "item_id": item, "timestamp": t, "quantity": 1.0, "price": p,
                         "ticket_id": f"T{b}", "customer_type": "loyal", "ticket_amount": 2.0 + (4.5 if price == 40 else price)})
    df = pd.DataFrame(rows)
    clean, report = clean_transactions(df)
    assert not (clean["price"] == 40.0).any() and len(clean) == len(df) - 60
    assert set(clean["item_id"]) == set(df["item_id"])  # the codes stay, with their real prices
    [found] = report.placeholder_prices
    assert found["price"] == 40.0 and found["lines"] == 60 and found["items"] == 12 and "100% of them" in found["evidence"]
    kept, off = clean_transactions(df, exclude_suspects=False)
    assert (kept["price"] == 40.0).sum() == 60 and off.placeholder_prices == []
