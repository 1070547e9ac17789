"""Real exports as they come (issue 18): any workbook sheet, guest lines kept as anonymous baskets,
non-product lines by name (five languages) and by shape, cancellations netted against the sales
they cancel, and the import report; a synthetic web-shop export trained from the command line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.cli import main
from recsys.errors import DataError
from recsys.io.cleaning import clean_sales, clean_transactions
from recsys.io.loading import load_transactions, validate_transactions
from recsys.io.non_products import non_product_items
from recsys.io.synthetic_export import EXPORT_MAPPING, generate_export

COLUMNS = ",".join(f"{k}={v}" for k, v in EXPORT_MAPPING.items())


def frame(rows: list[tuple], names: bool = True) -> pd.DataFrame:
    """A canonical frame from (user, item, name, day, quantity, price, ticket) rows."""
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "item_name", "day", "quantity", "price", "ticket_id"])
    df["timestamp"] = pd.Timestamp("2025-01-01 10:00") + pd.to_timedelta(df.pop("day"), unit="D")
    df["customer_type"] = np.where(df["user_id"] == "", "guest", "loyal")
    df["ticket_amount"] = np.nan
    df = df.astype({"quantity": "float64", "price": "float64"})
    return df if names else df.drop(columns="item_name")


# ---- any workbook ----------------------------------------------------------------------------

def _export_xlsx(path: Path, sheets: dict[str, pd.DataFrame]) -> Path:
    with pd.ExcelWriter(path) as writer:
        for name, data in sheets.items():
            data.to_excel(writer, sheet_name=name, index=False)
    return path


def test_a_one_sheet_workbook_is_read_and_several_sheets_ask_which(tmp_path):
    export, _ = generate_export(n_customers=30, n_items=40, n_lines=800, seed=1)
    one = _export_xlsx(tmp_path / "one.xlsx", {"Sheet1": export})
    df = load_transactions(one, EXPORT_MAPPING, use_cache=False)
    assert len(df) == len(export) and df.attrs["import"]["sheets"] == ["Sheet1"]
    assert (df["user_id"] == "").sum() == export["CustomerID"].isna().sum()  # guests, not an error
    two = _export_xlsx(tmp_path / "two.xlsx", {"Notes": pd.DataFrame({"a": [1]}), "Orders": export})
    with pytest.raises(DataError) as err:
        load_transactions(two, EXPORT_MAPPING, use_cache=False)
    assert "2 sheets" in str(err.value) and "--sheet" in str(err.value) and "'Orders'" in str(err.value)
    assert len(load_transactions(two, EXPORT_MAPPING, use_cache=False, sheet="Orders")) == len(export)
    with pytest.raises(DataError, match="no sheet named 'Sales'"):
        load_transactions(two, EXPORT_MAPPING, use_cache=False, sheet="Sales")


def test_c_prefixed_invoices_are_cancellations(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n"
                    "536365,85123,6,12/1/2010 8:26,2.55,17850\n536366,71053,2,12/1/2010 8:28,3.39,17850\n"
                    "C536379,85123,6,12/13/2010 9:41,2.55,17850\n")
    df = load_transactions(path, use_cache=False)
    assert df["quantity"].tolist() == [6, 2, -6] and df.attrs["import"]["cancelled_ticket_lines"] == 1
    assert df.attrs["import"]["dates"] == "month first (read from the values)"
    clean, report = clean_transactions(df)
    assert clean["item_id"].tolist() == ["71053"]  # the sale of 85123 was cancelled: both left
    assert report.cancellations == {"lines": 1, "matched": 1, "unmatched": 0, "unmatched_units": 0.0,
                                    "sales_cancelled": 1, "sales_reduced": 0}


# ---- guest lines -----------------------------------------------------------------------------

def test_guest_lines_are_kept_apart_and_counted():
    df = frame([("u1", "A", "Milk", 0, 1, 2.0, "t1"), ("", "A", "Milk", 0, 1, 2.0, "g1"),
                ("", "B", "Bread", 0, 2, 1.0, "g1"), ("", "B", "Bread", 1, 1, 1.0, "g2"), ("u2", "B", "Bread", 1, 1, 1.0, "t2")])
    cleaned = clean_sales(df)
    assert cleaned.customers["user_id"].tolist() == ["u1", "u2"]
    assert len(cleaned.guests) == 3 and (cleaned.guests["user_id"] == "").all()
    r = cleaned.report
    assert (r.guest_lines, r.guest_baskets, r.lines_out) == (3, 2, 5)
    assert "3 of them guest lines in 2 anonymous baskets" in r.summary()


# ---- non-product lines -----------------------------------------------------------------------

PRODUCTS = [("1001", "Milk"), ("1002", "Bread"), ("1003", "Eggs"), ("1004", "Coffee")]
NAMED = {  # language -> (postage, fee, deposit, voucher, discount)
    "en": ("Postage & packing", "Bank charges", "Bottle deposit", "Gift voucher", "Coupon"),
    "es": ("Gastos de envío", "Comisión", "Envase retornable", "Tarjeta regalo", "Descuento"),
    "de": ("Versandkosten", "Bearbeitungsgebühr", "Flaschenpfand", "Gutschein", "Rabatt"),
    "fr": ("Frais de port", "Frais bancaires", "Consigne", "Carte cadeau", "Remise"),
    "zh": ("运费", "手续费", "瓶押金", "礼品卡", "优惠券"),
}
KIND_OF = ("postage and carriage", "fees and charges", "deposits and bottle returns", "gift cards and vouchers",
           "discounts and coupons")


@pytest.mark.parametrize("language", list(NAMED))
def test_non_product_lines_are_found_by_name_in_each_language(language):
    rows = []
    for b in range(12):
        rows += [(f"u{b % 4}", code, name, b, 1, 2.0, f"t{b}") for code, name in PRODUCTS]
        rows.append((f"u{b % 4}", f"90{b % 5}", NAMED[language][b % 5], b, 1, 4.95, f"t{b}"))
    clean, report = clean_transactions(frame(rows))
    assert set(clean["item_id"]) == {code for code, _ in PRODUCTS}
    assert report.kinds == {kind: (3 if i < 2 else 2) for i, kind in enumerate(KIND_OF)}
    found = {s["item_id"]: s for s in report.suspects}
    assert all(s["rule"] == "name" and s["excluded"] for s in found.values()) and len(found) == 5
    assert found["900"]["evidence"].startswith(f"name '{NAMED[language][0]}' says postage and carriage")


def test_words_that_name_products_are_not_taken_for_fees():
    names = ["Portobello mushrooms", "Porto Tawny", "Baby carriage", "Manual can opener", "Noise reduction earbuds",
             "Fromage frais", "Lunch bag red", "Coffee beans", "可调整书架", "Korrektur-Roller", "Pantalón ajuste slim"]
    ids = pd.Index([f"{i}01" for i in range(len(names))])
    assert non_product_items(ids, pd.Series(names)).empty
    whole = non_product_items(pd.Index(["1", "2", "3"]), pd.Series(["Manual", "CARRIAGE", "Porto"]))
    assert whole["kind"].tolist() == ["adjustment", "postage", "postage"]


def test_codes_unlike_the_catalogue_are_found_by_shape_and_bang_id_keeps_one():
    rows = [(f"u{b % 3}", f"{10000 + i}", "", b, 1, 2.0, f"t{b}") for b in range(5) for i in range(60)]
    rows += [("u1", "PADS", "", 2, 1, 0.5, "t2"), ("u2", "DOT", "", 3, 1, 7.0, "t3")]
    df = frame(rows)
    clean, report = clean_transactions(df)
    assert not clean["item_id"].isin(["PADS", "DOT"]).any()
    assert report.kinds == {"codes unlike the store's products": 2}
    assert "code 'PADS' has no digit, while 96.8% of the store's 62 codes have digits" in report.summary()
    kept, report = clean_transactions(df, exclude_items=["!PADS"])
    assert "PADS" in set(kept["item_id"]) and "DOT" not in set(kept["item_id"])
    assert {s["item_id"]: s["excluded"] for s in report.suspects} == {"PADS": False, "DOT": True}
    # a catalogue of text codes: letters say nothing
    text = frame([(f"u{i % 3}", f"SKU-{chr(65 + i)}", "", i, 1, 2.0, f"t{i}") for i in range(26)])
    assert clean_transactions(text)[1].kinds == {}


# ---- cancellations ---------------------------------------------------------------------------

def test_cancellations_net_against_the_latest_earlier_sales_up_to_their_quantity():
    rows = [("u1", "A", "", 0, 5, 1.0, "t1"), ("u1", "A", "", 1, 3, 1.0, "t2"), ("u1", "A", "", 2, -3, 1.0, "c1"),
            ("u1", "A", "", 3, 2, 1.0, "t3"), ("u1", "A", "", 4, -4, 1.0, "c2"),
            ("u2", "B", "", 0, 12, 1.0, "t4"), ("u2", "B", "", 1, -5, 1.0, "c3"),
            ("u3", "C", "", 1, -1, 1.0, "c4"), ("u3", "C", "", 2, 1, 1.0, "t5"),   # before the sale: unmatched
            ("u4", "A", "", 0, 1, 1.0, "t6"), ("u4", "A", "", 1, -3, 1.0, "c5")]   # more than was bought
    clean, report = clean_transactions(frame(rows, names=False))
    left = clean.groupby(["user_id", "ticket_id"])["quantity"].sum().to_dict()
    assert left == {("u1", "t1"): 3.0, ("u2", "t4"): 7.0, ("u3", "t5"): 1.0}
    assert report.cancellations == {"lines": 5, "matched": 3, "unmatched": 2, "unmatched_units": 3.0,
                                    "sales_cancelled": 3, "sales_reduced": 2}
    assert next(s for s in report.steps if s.reason.startswith("sales cancelled by")).lines == 3


# ---- the synthetic export, trained from the command line ---------------------------------------

@pytest.fixture(scope="module")
def trained_export(tmp_path_factory):
    """(export facts, Recommender, what `train` printed) of a small export trained by the CLI."""
    import contextlib
    import io

    from recsys import Recommender, TuningConfig

    work = tmp_path_factory.mktemp("export")
    export, facts = generate_export(n_customers=150, n_items=200, n_lines=9_000, seed=4)
    export.to_csv(work / "export.csv", index=False)
    TuningConfig().replace(repeat={"learned": False}).save(work / "fast.toml")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["train", "--data", str(work / "export.csv"), "--columns", COLUMNS, "--artifacts",
                     str(work / "art"), "--config", str(work / "fast.toml")])
    assert code == 0, err.getvalue()
    return facts, Recommender.load(work / "art"), out.getvalue(), work


def test_the_export_has_what_the_issue_describes():
    export, facts = generate_export(n_customers=150, n_items=200, n_lines=9_000, seed=4)
    assert 0.22 <= facts.guest_lines / facts.lines <= 0.32
    assert export["InvoiceNo"].str.startswith("C").sum() == facts.cancellation_lines > facts.unmatched_cancellation_lines > 0
    named = export[export["StockCode"].isin(facts.postage_codes + facts.fee_codes)]["Description"].unique()
    assert {"POSTAGE", "Versandkosten", "Frais de port", "Bank Charges", "Bearbeitungsgebühr", "Frais de service"} <= set(named)


def test_train_prints_what_the_import_did_before_training(trained_export):
    facts, rec, printed, _ = trained_export
    before_models = printed.split("trained on")[0]
    for text in ("read export.csv", "InvoiceNo -> ticket_id", "dates: month first (read from the values)",
                 "guest lines (no customer id)", "non-product lines by kind: postage and carriage",
                 "fees and charges", "codes unlike the store's products", "cancellations and returns:",
                 f"{facts.unmatched_cancellation_lines} with no earlier sale to net"):
        assert text in before_models, text
    report = rec.cleaning_report
    assert report["guest_lines"] > 0.2 * report["lines_out"] and report["source"]["guest_lines"] > 0
    assert report["cancellations"]["unmatched"] == facts.unmatched_cancellation_lines
    assert set(report["kinds"]) == {"postage and carriage", "fees and charges", "codes unlike the store's products"}
    assert "guest lines" in printed.split("trained on")[1]


def test_no_fee_or_postage_code_is_in_any_list(trained_export):
    facts, rec, _, _ = trained_export
    banned = set(facts.postage_codes + facts.fee_codes + [facts.shape_code])
    assert not banned & set(rec.state.item_ids)
    for model in ("hybrid", "popularity", "item_cf", "als"):
        lists = rec.recommend_batch(n=10, model=model, with_confidence=False, with_reasons=False)
        assert not lists["item_id"].isin(banned).any(), model
    assert rec.state.n_users == len(rec.users()) and "" not in set(rec.state.user_ids)  # no guest customer


def test_an_item_bought_only_by_guests_is_popular_and_bought_together(trained_export):
    facts, rec, _, work = trained_export
    assert facts.guest_only_item in set(rec.popular_items(10)["item_id"])
    together = rec.bought_together(facts.partner_item, n=5)
    assert together["item_id"].iloc[0] == facts.guest_only_item and together["lift"].iloc[0] > 1
    assert together["item_name"].iloc[0] == "Guest favourite tea towel"
    trend, items = rec.state.weekly_item_sales, rec.items().set_index("item_id")  # the Popularity page's charts
    assert trend.loc[trend["item_id"] == facts.guest_only_item, "lines"].sum() == items.loc[facts.guest_only_item,
                                                                                             "purchase_count"]
    assert "guest" in set(rec.state.weekly_sales["customer_type"])  # the Overview's sales per week
    # and the command line shows the names beside the ids, as `recommend` does
    for command in ("similar", "together"):
        code = main([command, facts.partner_item, "--artifacts", str(work / "art"), "--json"])
        assert code == 0


def test_similar_and_together_print_names(trained_export, capsys):
    facts, _, _, work = trained_export
    capsys.readouterr()
    assert main(["together", facts.partner_item, "--artifacts", str(work / "art"), "--n", "3"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"item {facts.partner_item} (") and "Guest favourite tea towel" in out
    assert main(["similar", facts.partner_item, "--artifacts", str(work / "art"), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)["similar_items"][0]
    assert first["item_id"] == facts.guest_only_item and first["item_name"] == "Guest favourite tea towel"


def test_train_takes_out_as_the_old_name_of_artifacts(tmp_path, capsys):
    export, _ = generate_export(n_customers=40, n_items=60, n_lines=2_000, seed=2)
    export.to_csv(tmp_path / "e.csv", index=False)
    assert main(["train", "--data", str(tmp_path / "e.csv"), "--out", str(tmp_path / "old")]) == 0
    assert (tmp_path / "old" / "CURRENT").is_file()
    report = validate_transactions(tmp_path / "e.csv", use_cache=False)  # the names map themselves
    assert report.ok and report.cleaning.guest_lines > 0
