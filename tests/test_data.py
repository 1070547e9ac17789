"""Tests of recsys.io.loading: loading, validation, cache and cleaning."""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.errors import DataError
from recsys.io import loading as data_module
from recsys.io.cache import data_hash, default_cache_dir
from recsys.io.cleaning import CleaningReport, clean_transactions
from recsys.io.loading import cache_entry_path, load_transactions, validate_transactions
from recsys.io.schema import CANONICAL_COLUMNS

REAL_WORKBOOK = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "Data Science - Assignment.xlsx"

LOYAL_HEADERS = ["Pos Number", "Ticket Number", "Ticket Datetime", "Ticket Amount", "User ID", "Item Id",
                 "Units Sold", "Item Price"]
NEW_HEADERS = ["ticket_number", "pos_number", "ticket_datetime", "ticket_amount", "loyalty_id", "plu",
               "units_sold", "item_price"]


# ------------------------------------------------------------------------------------------
# Fixture builders
# ------------------------------------------------------------------------------------------

def loyal_sheet() -> pd.DataFrame:
    """A small 'Loyal Customers' sheet: the same ticket number on two tills and two days."""
    return pd.DataFrame({
        "Pos Number": [1, 1, 2, 1],
        "Ticket Number": [19, 19, 19, 19],
        "Ticket Datetime": pd.to_datetime(
            ["2024-07-01 09:13", "2024-07-01 09:13", "2024-07-01 09:13", "2024-07-02 10:00"]),
        "Ticket Amount": [5.0, 5.0, 3.0, -0.03],
        "User ID": [41786230378, 41786230378, 41786230379, 41786230378],
        "Item Id": [7003858505, 200, "OPEN DEPT 101", 7003858505],
        "Units Sold": [2, 1, 1, 1],
        "Item Price": [1.99, 0.0, 0.0, 1.99],
    })


def new_sheet() -> pd.DataFrame:
    """A small 'New Customers' sheet with the snake_case headers of the real file."""
    return pd.DataFrame({
        "ticket_number": [155, 155],
        "pos_number": [1, 1],
        "ticket_datetime": pd.to_datetime(["2025-12-01 08:00", "2025-12-01 08:00"]),
        "ticket_amount": [10.58, 10.58],
        "loyalty_id": [51, 51],
        "plu": [4011, "OPEN DEPT TOL0043"],
        "units_sold": [1, 3],
        "item_price": [3.29, 0.99],
    })


def write_workbook(path: Path, sheets: dict[str, pd.DataFrame]) -> Path:
    """Write sheets to an .xlsx with openpyxl and return the path."""
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return path


def write_csv(path: Path, text: str) -> Path:
    """Write CSV text and return the path."""
    path.write_text(text)
    return path


GOOD_CSV = (
    "user_id,item_id,timestamp,quantity,price\n"
    "u1,200,2024-01-01 10:00,1,2.5\n"
    "u1,OPEN DEPT 101,2024-01-01 10:00,2,0\n"
    "u2,7003858505,2024-01-02 11:30,1,3.0\n"
)


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    """A workbook with both customer sheets."""
    return write_workbook(tmp_path / "store.xlsx", {"Loyal Customers": loyal_sheet(), "New Customers": new_sheet()})


def load(path: Path, **kwargs) -> pd.DataFrame:
    """load_transactions without the cache."""
    return load_transactions(path, use_cache=False, **kwargs)


def load_error(path: Path, **kwargs) -> DataError:
    """The DataError raised by loading `path`."""
    with pytest.raises(DataError) as info:
        load(path, **kwargs)
    return info.value


# ------------------------------------------------------------------------------------------
# Loading good input
# ------------------------------------------------------------------------------------------

def test_workbook_gives_canonical_frame(workbook: Path) -> None:
    frame = load(workbook)
    assert tuple(frame.columns) == CANONICAL_COLUMNS
    assert len(frame) == 6
    for column in ("user_id", "item_id", "ticket_id", "customer_type"):
        assert pd.api.types.is_string_dtype(frame[column]), column
    assert frame["timestamp"].dtype == "datetime64[ns]"
    for column in ("quantity", "price", "ticket_amount"):
        assert frame[column].dtype == "float64", column
    assert frame["customer_type"].tolist() == ["loyal"] * 4 + ["new"] * 2
    assert frame["user_id"].iloc[0] == "41786230378"


def test_mixed_item_ids_stay_strings(workbook: Path) -> None:
    items = load(workbook)["item_id"].tolist()
    assert items == ["7003858505", "200", "OPEN DEPT 101", "7003858505", "4011", "OPEN DEPT TOL0043"]
    assert not any(i.endswith(".0") for i in items)


def test_float_typed_ids_lose_their_decimal_point(tmp_path: Path) -> None:
    # A numeric id column with a gap is float in pandas: 200 -> 200.0, which must read back as '200'.
    frame = pd.DataFrame({
        "user_id": [1.0, 2.0], "item_id": [200.0, 7003858505.0], "timestamp": pd.to_datetime(["2024-01-01"] * 2),
        "quantity": [1, 1], "price": [1.0, 2.0],
    })
    frame.to_parquet(tmp_path / "f.parquet")
    write_csv(tmp_path / "f.csv",
              "user_id,item_id,timestamp,quantity,price\n1,200.0,2024-01-01,1,1\n1,007,2024-01-01,1,1\n")
    assert load(tmp_path / "f.parquet")["item_id"].tolist() == ["200", "7003858505"]
    assert load(tmp_path / "f.parquet")["user_id"].tolist() == ["1", "2"]
    assert load(tmp_path / "f.csv")["item_id"].tolist() == ["200", "007"]  # text ids kept as written


def test_ticket_id_is_pos_ticket_and_datetime(workbook: Path) -> None:
    tickets = load(workbook)["ticket_id"].tolist()
    assert tickets[0] == "1-19-20240701091300"
    assert tickets[0] == tickets[1]                     # same basket
    assert len({tickets[0], tickets[2], tickets[3]}) == 3  # same number, other till / other day
    assert tickets[4] == "1-155-20251201080000"


def test_workbook_with_one_sheet_loads(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "new.xlsx", {"New Customers": new_sheet(), "Notes": pd.DataFrame({"x": [1]})})
    frame = load(path)
    assert frame["customer_type"].unique().tolist() == ["new"]


def test_sheet_and_header_names_are_matched_loosely(tmp_path: Path) -> None:
    sheet = loyal_sheet().rename(columns=lambda c: c.upper().replace(" ", "_"))
    path = write_workbook(tmp_path / "loose.xlsx", {"loyal_customers": sheet})
    assert len(load(path)) == 4


def test_csv_aliases_and_defaults(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "Customer,PLU,Date,Units Sold,Unit Price\nu1,200,2024-01-01 10:00,1,2.5\n"
                                         "u1,201,2024-01-01 10:00,2,1.0\nu2,200,2024-01-02 10:00,1,2.5\n")
    frame = load(path)
    assert tuple(frame.columns) == CANONICAL_COLUMNS
    assert frame["item_id"].tolist() == ["200", "201", "200"]
    assert frame["customer_type"].unique().tolist() == ["loyal"]
    assert frame["ticket_id"].tolist() == ["u1-20240101100000"] * 2 + ["u2-20240102100000"]
    assert frame["ticket_amount"].isna().all()


def test_csv_optional_columns_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "a.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("user_id,item_id,timestamp,quantity,price,ticket_id,customer_type,ticket_amount\n"
                     "1,2,2024-01-01,1,1.5,T1,New,1.5\n3,4,2024-02-02,2,1,T2,,2\n")
    frame = load(path)
    assert frame["ticket_id"].tolist() == ["T1", "T2"]
    assert frame["customer_type"].tolist() == ["new", "loyal"]
    assert frame["ticket_amount"].tolist() == [1.5, 2.0]


def test_parquet_loads(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    load(write_csv(tmp_path / "a.csv", GOOD_CSV)).to_parquet(path)
    assert load(path).equals(load(tmp_path / "a.csv"))


def test_column_map_renames_other_spellings(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "kunde,artikel,zeit,menge,preis\nk1,200,2024-01-01,1,2\n")
    column_map = {"kunde": "user_id", "artikel": "item_id", "zeit": "timestamp", "menge": "quantity",
                  "preis": "price"}
    frame = load(path, column_map=column_map)
    assert frame[["user_id", "item_id", "quantity"]].iloc[0].tolist() == ["k1", "200", 1.0]


def test_column_map_with_unknown_target_is_an_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "kunde,item_id,timestamp,quantity,price\nk1,200,2024-01-01,1,2\n")
    err = load_error(path, column_map={"kunde": "user"})
    assert err.column == "kunde" and "user_id" in str(err)


def test_empty_cells_in_values_load_as_missing(tmp_path: Path) -> None:
    # Blank quantity/price/date are left for clean_transactions ("lines with a missing value").
    path = write_csv(tmp_path / "a.csv", "user_id,item_id,timestamp,quantity,price\nu1,1,,1,2\nu1,2,2024-01-01,,2\n")
    frame = load(path)
    assert frame["timestamp"].isna().tolist() == [True, False]
    assert frame["quantity"].isna().tolist() == [False, True]


# ------------------------------------------------------------------------------------------
# Bad input: each gives a located DataError
# ------------------------------------------------------------------------------------------

def test_missing_column_names_missing_found_and_closest(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", "user_id,item_id,timestamp,quantty,prise\nu1,1,2024-01-01,1,2\n")
    err = load_error(path)
    text = str(err)
    assert err.file == "bad.csv" and err.row == 1
    assert err.column == "quantity, price"
    assert "quantty" in text and "prise" in text and "columns found" in text
    assert "'quantty' for quantity" in text and "'prise' for price" in text


def test_missing_column_in_workbook_names_sheet(tmp_path: Path) -> None:
    sheet = loyal_sheet().rename(columns={"Units Sold": "Unit Sld"})
    path = write_workbook(tmp_path / "bad.xlsx", {"Loyal Customers": sheet})
    err = load_error(path)
    assert (err.file, err.sheet, err.column, err.row) == ("bad.xlsx", "Loyal Customers", "quantity", 1)
    assert "'Unit Sld' for quantity" in str(err)


def test_workbook_needs_the_ticket_columns(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "bad.xlsx", {"New Customers": new_sheet().drop(columns="pos_number")})
    err = load_error(path)
    assert err.sheet == "New Customers" and "pos_number" in err.column


def test_unparseable_date_names_cell_and_count(tmp_path: Path) -> None:
    sheet = loyal_sheet().astype({"Ticket Datetime": object})
    sheet.loc[2, "Ticket Datetime"] = "yesterday"
    sheet.loc[3, "Ticket Datetime"] = "31/31/2024"
    path = write_workbook(tmp_path / "bad.xlsx", {"Loyal Customers": sheet, "New Customers": new_sheet()})
    err = load_error(path)
    assert (err.sheet, err.column, err.row) == ("Loyal Customers", "Ticket Datetime", 4)
    assert "not a date in 2 rows" in str(err) and "yesterday" in str(err)
    assert "sheet 'Loyal Customers', column 'Ticket Datetime', row 4" in str(err)


def test_non_numeric_quantity_and_price(tmp_path: Path) -> None:
    sheet = new_sheet().astype({"units_sold": object})
    sheet.loc[1, "units_sold"] = "three"
    path = write_workbook(tmp_path / "bad.xlsx", {"New Customers": sheet})
    err = load_error(path)
    assert (err.sheet, err.column, err.row) == ("New Customers", "units_sold", 3)
    assert "not a number in 1 row" in str(err)
    csv = write_csv(tmp_path / "bad.csv", "user_id,item_id,timestamp,quantity,price\nu,1,2024-01-01,1,2\n"
                                          "u,1,2024-01-01,1,2,5\nu,1,2024-01-01,1,abc\nu,1,2024-01-01,1,n/a\n")
    err = load_error(csv)
    assert err.row == 3 and "Expected 5 fields" in str(err)  # a line with a decimal comma: too many fields
    csv = write_csv(tmp_path / "bad.csv", "user_id,item_id,timestamp,quantity,price\nu,1,2024-01-01,1,2\n"
                                          "u,1,2024-01-01,1,abc\nu,1,2024-01-01,1,2.5.1\nu,1,2024-01-01,1,n/a\n")
    err = load_error(csv)
    assert (err.column, err.row) == ("price", 3) and "not a number in 2 rows (first: 'abc')" in str(err)


@pytest.mark.parametrize("column, cell, message", [
    ("quantity", "inf", "not a finite number in 1 row (first: inf)"),
    ("price", "1e400", "not a finite number in 1 row (first: inf)"),
    ("price", "-inf", "not a finite number"),
    ("quantity", "2000000", "implausible quantity (beyond ±1,000,000) in 1 row (first: 2000000"),
    ("price", "12345678.9", "implausible price (beyond ±10,000,000) in 1 row"),
])
def test_infinite_and_absurd_values_are_refused_with_file_column_and_row(tmp_path: Path, column, cell,
                                                                         message) -> None:
    from recsys.io.canonical import MAX_PRICE, MAX_UNITS

    assert MAX_UNITS == 1e6 and MAX_PRICE == 1e7
    rows = {"quantity": "1", "price": "2.5"}
    lines = ["user_id,item_id,timestamp,quantity,price", "u1,1,2024-01-01,1,2.5", "u2,2,2024-01-02,3,4.0"]
    rows[column] = cell
    lines.append(f"u3,3,2024-01-03,{rows['quantity']},{rows['price']}")
    path = write_csv(tmp_path / "odd.csv", "\n".join(lines) + "\n")
    err = load_error(path)
    assert (err.file, err.column, err.row) == ("odd.csv", column, 4)
    assert message in str(err)
    report = validate_transactions(path)
    assert not report.ok and report.problems[0].row == 4


def test_values_at_the_limits_load(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "big.csv", "user_id,item_id,timestamp,quantity,price\n"
                                           "u1,1,2024-01-01,1000000,10000000\n")
    frame = load_transactions(path)
    assert frame["quantity"].iloc[0] == 1e6 and frame["price"].iloc[0] == 1e7


def test_an_empty_item_id_is_a_problem_and_an_empty_user_id_a_guest_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", "user_id,item_id,timestamp,quantity,price\nu1,1,2024-01-01,1,2\n"
                                           "u1, ,2024-01-01,1,2\n,2,2024-01-01,1,2\n")
    report = validate_transactions(path, use_cache=False)
    assert [(p.column, p.row) for p in report.problems] == [("item_id", 3)]
    assert "empty item id" in report.problems[0].message
    assert load_error(path).column == "item_id"
    path.write_text("user_id,item_id,timestamp,quantity,price\nu1,1,2024-01-01,1,2\n,2,2024-01-01 10:00,1,2\n")
    frame = load_transactions(path, use_cache=False)
    assert frame["user_id"].tolist() == ["u1", ""] and frame["customer_type"].tolist() == ["loyal", "guest"]
    assert frame["ticket_id"].iloc[1] == "guest-20240101100000"  # no ticket column: its timestamp
    assert frame.attrs["import"]["guest_lines"] == 1


def test_a_customer_column_empty_in_every_row_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "guests.csv", "user_id,item_id,timestamp,quantity,price\n,1,2024-01-01,1,2\n"
                                              ",2,2024-01-01,1,2\n")
    err = load_error(path)
    assert err.column == "user_id" and err.row == 2
    assert "no customer id in any of the 2 lines" in err.message and "map the column" in err.message


def test_blank_lines_keep_row_numbers(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", "user_id,item_id,timestamp,quantity,price\nu1,1,2024-01-01,1,2\n\n"
                                           "u1,1,2024-01-01,x,2\n")
    assert load_error(path).row == 4


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    err = load_error(write_csv(tmp_path / "empty.csv", ""))
    assert err.file == "empty.csv" and "empty" in str(err)
    err = load_error(write_csv(tmp_path / "header.csv", "user_id,item_id,timestamp,quantity,price\n"))
    assert "no data rows" in str(err) and err.row == 2


def test_sheet_without_rows(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "bad.xlsx", {"Loyal Customers": loyal_sheet().iloc[:0],
                                                  "New Customers": new_sheet()})
    err = load_error(path)
    assert err.sheet == "Loyal Customers" and "no data rows" in str(err)


def test_workbook_without_customer_sheets_lists_sheets(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "bad.xlsx", {"Sheet1": loyal_sheet(), "Summary": pd.DataFrame({"a": [1]})})
    err = load_error(path)
    assert err.file == "bad.xlsx"
    assert "Loyal Customers" in str(err) and "'Sheet1'" in str(err) and "'Summary'" in str(err)


def test_unsupported_extension(tmp_path: Path) -> None:
    err = load_error(write_csv(tmp_path / "data.txt", GOOD_CSV))
    assert err.file == "data.txt" and "unsupported" in str(err) and ".csv" in str(err)


@pytest.mark.parametrize("name", ["broken.xlsx", "broken.parquet", "broken.csv.gz", "broken.xls"])
def test_corrupt_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"this is not what the extension says \x00\x01\x02")
    err = load_error(path)
    assert err.file == name and "cannot read" in str(err)


def test_nonexistent_file(tmp_path: Path) -> None:
    err = load_error(tmp_path / "missing.xlsx")
    assert err.file == "missing.xlsx" and "not found" in str(err)


def test_header_must_be_in_row_one(tmp_path: Path) -> None:
    path = tmp_path / "shifted.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        loyal_sheet().to_excel(writer, sheet_name="Loyal Customers", index=False, startrow=2)
    err = load_error(path)
    assert (err.sheet, err.row) == ("Loyal Customers", 1) and "header" in str(err)


def test_bad_customer_type(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", "user_id,item_id,timestamp,quantity,price,customer_type\n"
                                         "u,1,2024-01-01,1,2,loyal\nu,1,2024-01-01,1,2,vip\n")
    err = load_error(path)
    assert (err.column, err.row) == ("customer_type", 3) and "vip" in str(err)


def test_validate_collects_all_problems(tmp_path: Path) -> None:
    loyal = loyal_sheet().astype({"Units Sold": object, "Item Price": object})
    loyal.loc[0, "Units Sold"] = "two"
    loyal.loc[3, "Item Price"] = "free"
    new = new_sheet().rename(columns={"plu": "pluu"})
    path = write_workbook(tmp_path / "bad.xlsx", {"Loyal Customers": loyal, "New Customers": new})
    report = validate_transactions(path, use_cache=False)
    assert not report.ok
    located = [(p.sheet, p.column, p.row) for p in report.problems]
    assert located == [("Loyal Customers", "Units Sold", 2), ("Loyal Customers", "Item Price", 5),
                       ("New Customers", "item_id", 1)]
    assert list(report.to_frame().columns) == ["file", "sheet", "column", "row", "problem"]
    assert "3 problem(s)" in report.summary()
    # load raises the first and attaches the rest as notes
    err = load_error(path)
    assert err.column == "Units Sold" and "2 more problem(s)" in err.__notes__[0]


def test_validate_ok_file(tmp_path: Path, workbook: Path) -> None:
    report = validate_transactions(workbook, cache_dir=tmp_path / "cache")
    assert report.ok and report.lines == 6 and report.problems == []
    assert "OK" in report.summary()
    missing = validate_transactions(tmp_path / "nope.csv", use_cache=False)
    assert not missing.ok and "not found" in str(missing.problems[0])


# ------------------------------------------------------------------------------------------
# Cache
# ------------------------------------------------------------------------------------------

def test_data_hash_is_sha256_of_bytes(workbook: Path) -> None:
    assert data_hash(workbook) == hashlib.sha256(workbook.read_bytes()).hexdigest()


def test_cache_hit_returns_equal_frame_without_parsing(tmp_path: Path, workbook: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    first = load_transactions(workbook, cache_dir=cache)
    entry = cache_entry_path(workbook, None, cache)
    assert entry.is_file() and [p.name for p in cache.iterdir()] == [entry.name]  # no temp files left

    def fail(*args, **kwargs):
        raise AssertionError("parsed the file although it is cached")

    monkeypatch.setattr(data_module, "_read_canonical", fail)
    second = load_transactions(workbook, cache_dir=cache)
    pd.testing.assert_frame_equal(first, second)


def test_cache_key_depends_on_bytes_and_column_map(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", GOOD_CSV)
    base = cache_entry_path(path, None, tmp_path)
    assert cache_entry_path(path, {"x": "user_id"}, tmp_path) != base
    write_csv(path, GOOD_CSV + "u3,9,2024-01-03 10:00,1,1\n")
    assert cache_entry_path(path, None, tmp_path) != base


def test_changed_file_is_reloaded(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", GOOD_CSV)
    assert len(load_transactions(path, cache_dir=tmp_path / "c")) == 3
    write_csv(path, GOOD_CSV + "u3,9,2024-01-03 10:00,1,1\n")
    assert len(load_transactions(path, cache_dir=tmp_path / "c")) == 4


def test_corrupt_cache_entry_is_ignored_and_rewritten(tmp_path: Path, workbook: Path) -> None:
    cache = tmp_path / "cache"
    entry = cache_entry_path(workbook, None, cache)
    cache.mkdir()
    entry.write_bytes(b"not parquet")
    frame = load_transactions(workbook, cache_dir=cache)
    assert len(frame) == 6
    pd.testing.assert_frame_equal(pd.read_parquet(entry), frame)


def test_use_cache_false_writes_nothing(tmp_path: Path, workbook: Path) -> None:
    load_transactions(workbook, cache_dir=tmp_path / "cache", use_cache=False)
    assert not (tmp_path / "cache").exists()


def test_default_cache_dir_from_env(tmp_path: Path, workbook: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path / "env-cache"))
    load_transactions(workbook)
    assert len(list((tmp_path / "env-cache").glob("*.parquet"))) == 1
    monkeypatch.delenv("RECSYS_CACHE_DIR")
    monkeypatch.chdir(tmp_path)
    assert default_cache_dir() == tmp_path / ".cache" / "recsys"


def test_invalid_file_is_not_cached(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", "user_id,item_id,timestamp,quantity,price\nu,1,2024-01-01,x,2\n")
    with pytest.raises(DataError):
        load_transactions(path, cache_dir=tmp_path / "cache")
    assert not list(tmp_path.glob("cache/*.parquet"))


# ------------------------------------------------------------------------------------------
# Cleaning
# ------------------------------------------------------------------------------------------

def canonical(rows: list[tuple]) -> pd.DataFrame:
    """A canonical frame from (user, item, quantity, price, ticket_amount) rows."""
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "quantity", "price", "ticket_amount"])
    frame["timestamp"] = pd.Timestamp("2024-01-01 10:00")
    frame["ticket_id"] = frame["user_id"] + "-t"
    frame["customer_type"] = "loyal"
    return frame[list(CANONICAL_COLUMNS)].astype({"quantity": "float64", "price": "float64"})


def step(report: CleaningReport, reason_start: str):
    """The report step whose reason starts with `reason_start`."""
    return next(s for s in report.steps if s.reason.startswith(reason_start))


@pytest.fixture
def dirty() -> pd.DataFrame:
    """Lines exercising every cleaning rule."""
    return canonical([
        ("u1", "A", 1, 2.0, 10.0),
        ("u1", "A", 1, 2.0, 10.0),            # exact duplicate (flag)
        ("u1", "A", 1, 0.0, 10.0),            # zero price of a priced item (flag)
        ("u1", "B", -1, 3.0, -3.0),           # return (remove) on a refund ticket
        ("u2", "B", 80, 3.0, -1.0),           # extreme quantity and refund ticket (flags)
        ("u2", "200", 1, 0.0, 5.0),           # zero mean price (remove)
        ("u3", "OPEN DEPT 101", 1, 0.0, 5.0),  # zero mean price (remove)
        ("u3", "OPEN DEPT TOL0043", 1, 0.99, 5.0),  # pattern but priced (flag, keep)
        ("u3", "C", 1, np.nan, 5.0),          # missing price (remove)
    ])


def test_cleaning_removes_and_flags(dirty: pd.DataFrame) -> None:
    clean, report = clean_transactions(dirty)
    assert report.lines_in == 9 and report.lines_out == len(clean) == 5
    assert report.lines_in - sum(s.lines for s in report.steps if s.action == "removed") == report.lines_out
    assert step(report, "lines with a missing value").lines == 1
    assert step(report, "returns").lines == 1
    assert step(report, "non-product").lines == 2 and step(report, "non-product").items == 2
    assert report.non_product_items == ["200", "OPEN DEPT 101"]
    assert step(report, "refund").lines == 1             # the return on -3.0 is already removed
    assert step(report, "zero-price").lines == 1
    assert step(report, "exact duplicate").lines == 1
    assert step(report, "extreme").lines == 1
    assert step(report, "priced items matching").lines == 1
    assert "OPEN DEPT TOL0043" in clean["item_id"].tolist()
    assert (clean["quantity"] > 0).all() and not clean.isna().any().any()
    assert tuple(clean.columns) == CANONICAL_COLUMNS


def test_pattern_rule_only_removes_zero_priced_items(dirty: pd.DataFrame) -> None:
    _, report = clean_transactions(dirty, zero_price_is_non_product=False)
    assert report.non_product_items == ["OPEN DEPT 101"]  # '200' kept: no pattern
    _, report = clean_transactions(dirty, non_product_patterns=())
    assert report.non_product_items == ["200", "OPEN DEPT 101"]


def test_mean_price_uses_all_customer_types() -> None:
    # Free for new customers only: the average over both sheets is not 0, so the item stays.
    frame = canonical([("u1", "X", 1, 0.0, 1.0), ("u2", "X", 1, 1.0, 1.0)])
    frame.loc[0, "customer_type"] = "new"
    _, report = clean_transactions(frame)
    assert report.non_product_items == [] and report.lines_out == 2


def test_lines_listed_under_both_customer_types_are_flagged() -> None:
    frame = canonical([("u1", "A", 1, 2.0, 2.0), ("u1", "A", 1, 2.0, 2.0), ("u1", "B", 1, 1.0, 1.0)])
    frame.loc[1, "customer_type"] = "new"
    clean, report = clean_transactions(frame)
    assert step(report, "lines repeated under the other customer type").lines == 1
    assert step(report, "exact duplicate").lines == 0 and len(clean) == 3


def test_cleaning_report_outputs(dirty: pd.DataFrame) -> None:
    _, report = clean_transactions(dirty)
    as_dict = report.to_dict()
    assert as_dict["lines_in"] == 9 and as_dict["lines_removed"] == 4 and len(as_dict["steps"]) == len(report.steps)
    table = report.to_frame()
    assert list(table.columns) == ["action", "reason", "lines", "items", "users", "examples"]
    assert set(table["action"]) == {"removed", "flagged"}
    text = report.summary()
    assert "9 lines in, 4 removed, 5 out" in text and "200" in text


def test_cleaning_needs_required_columns() -> None:
    with pytest.raises(DataError):
        clean_transactions(pd.DataFrame({"user_id": ["u"]}))


def test_cleaning_empty_frame() -> None:
    clean, report = clean_transactions(canonical([]))
    assert report.lines_in == report.lines_out == 0 and clean.empty


# ------------------------------------------------------------------------------------------
# The real workbook (skipped when the shared data folder is absent)
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder shared by the real-workbook tests."""
    return tmp_path_factory.mktemp("real-cache")


@pytest.fixture(scope="module")
def real(real_cache: Path) -> pd.DataFrame:
    """The real workbook, loaded once."""
    if not REAL_WORKBOOK.is_file():
        pytest.skip("real workbook not available")
    return load_transactions(REAL_WORKBOOK, cache_dir=real_cache)


def test_real_workbook_facts(real: pd.DataFrame) -> None:
    counts = real["customer_type"].value_counts()
    assert (counts["loyal"], counts["new"]) == (74_164, 3_628)
    users = real.groupby("customer_type")["user_id"].nunique()
    assert (users["loyal"], users["new"]) == (70, 50)
    assert (real["quantity"] < 0).sum() == 3
    assert (real["ticket_amount"] < 0).sum() == 18
    assert {"200", "7003858505", "OPEN DEPT 101"} <= set(real["item_id"])
    assert not real["item_id"].str.endswith(".0").any()
    assert real["ticket_id"].nunique() > 15_000  # 680 ticket numbers alone would be ~680 baskets


def test_real_workbook_cleaning(real: pd.DataFrame) -> None:
    clean, report = clean_transactions(real)
    assert len(report.non_product_items) == 26
    assert {"200", "OPEN DEPT 101"} <= set(report.non_product_items)
    assert not any("TOL" in item for item in report.non_product_items)
    assert step(report, "returns").lines == 3
    assert report.lines_in - report.lines_removed == report.lines_out == len(clean)
    assert not clean["item_id"].isin(report.non_product_items).any()


def test_real_workbook_cached_load_reads_the_cache_not_the_workbook(
        real: pd.DataFrame, real_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second load comes from the cache, equal, without parsing the workbook again. How fast
    that is (~0.03-0.1 s) is a benchmark's figure, not a test's: `python -m benchmarks.run --sizes
    workbook`, the "train: load" row (warm cache) beside "train: load, cold loader cache"."""
    monkeypatch.setattr(data_module, "_read_canonical",
                        lambda *a, **k: pytest.fail("the cached load parsed the workbook again"))
    cached = load_transactions(REAL_WORKBOOK, cache_dir=real_cache)
    pd.testing.assert_frame_equal(cached, real)


def test_a_file_is_hashed_once_per_training_run(tmp_path, monkeypatch):
    """The loader's cache key and the bundle's metadata both need the file's hash: one read."""
    import hashlib

    from recsys.io import cache as D
    from recsys.io.synthetic import generate_store

    path = tmp_path / "store.csv"
    generate_store(n_users=60, n_items=80, n_lines=3_000, seed=1).to_csv(path, index=False)
    calls = []
    real = hashlib.sha256

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    D._hash_of.cache_clear()
    monkeypatch.setattr(D.hashlib, "sha256", counting)
    first = D.data_hash(path)
    assert D.data_hash(path) == first and len(calls) == 1
    path.write_text(path.read_text() + "\n")  # a changed file is hashed again
    assert D.data_hash(path) != first and len(calls) == 2
