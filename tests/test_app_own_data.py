"""The app with a store's own export: upload -> mapping form -> train, the mapping remembered, the
exclusion list, names and categories on the pages (AppTest, small CSVs made here)."""
from __future__ import annotations

import sys
from pathlib import Path

import apptest_helpers  # noqa: E402
import pandas as pd
import pytest
from apptest_helpers import assert_clean, table  # noqa: E402
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
sys.path.insert(0, str(ROOT))
TIMEOUT = 90
ODD = "odd store.csv"


def odd_store_csv() -> bytes:
    """Odd column names, day-first dates that never pass 12 (so the order must be asked), line totals."""
    prices = {"P1": 2.0, "P2": 3.5, "P3": 1.25, "P4": 6.0, "P5": 4.0}
    names = {"P1": "Milk", "P2": "Bread", "P3": "Eggs", "P4": "Coffee", "P5": "Butter"}
    groups = {"P1": "Dairy", "P2": "Bakery", "P3": "Dairy", "P4": "Drinks", "P5": "Dairy"}
    rows = ["When,Client,Product,Product name,Group,Units,Line total"]
    for u in range(30):
        for k in range(6):
            day, month = 1 + (u + 2 * k) % 12, 1 + k % 12
            for item in list(prices)[(u + k) % 5:][:3] or ["P1"]:
                qty = 1 + (u + k) % 3
                rows.append(f"{day:02d}/{month:02d}/2025,C{u:03d},{item},{names[item]},{groups[item]},{qty},"
                            f"{prices[item] * qty:.2f}")
    return ("\n".join(rows) + "\n").encode()


def named_store_csv() -> bytes:
    """30 items in three groups (the knob panel needs more than a handful of items), names given."""
    groups = ("Dairy", "Bakery", "Drinks")
    rows = ["When,Client,Product,Product name,Group,Units,Line total"]
    for u in range(40):
        for k in range(5):
            for j in range(4):
                i = (u * 3 + k * 7 + j * 5) % 30
                rows.append(f"{1 + (u + k) % 28:02d}/{1 + k:02d}/2025,C{u:03d},N{i:02d},Product {i},"
                            f"{groups[i % 3]},1,{1.0 + i / 4:.2f}")
    return ("\n".join(rows) + "\n").encode()


def new_app(page: str | None = None, **query) -> AppTest:
    return apptest_helpers.new_app(page, timeout=TIMEOUT, **query)


def test_upload_map_columns_train_and_the_mapping_is_remembered(app_env, fast_training):
    from recsys import Recommender
    from recsys.io.source_files import read_mapping

    at = new_app("views/data_training.py")
    at.file_uploader(key="upload").upload(ODD, odd_store_csv(), "text/csv").run()
    assert not at.exception
    # the guess cannot place "When": the report names it, the form proposes the rest
    assert table(at, "problem")["column"].str.contains("timestamp").any()
    prefix = "up_map_odd-store-csv"
    assert at.selectbox(key=f"{prefix}_col_1").value == "user_id"        # Client
    assert at.selectbox(key=f"{prefix}_col_2").value == "item_id"        # Product
    assert at.selectbox(key=f"{prefix}_col_6").value == "line_value"     # Line total
    assert table(at, "Product name")["Product"].iloc[0] == "P1"         # the preview of the first rows
    at.selectbox(key=f"{prefix}_col_0").set_value("timestamp")
    at.selectbox(key=f"{prefix}_col_4").set_value("category")
    at.button(key=f"{prefix}_apply").click().run()
    # every date reads both ways: asked, not guessed
    problems = table(at, "problem")
    assert problems["problem"].str.contains("day/month").any() and problems["column"].eq("When").all()
    at.radio(key=f"{prefix}_dates").set_value("dayfirst")
    at.button(key=f"{prefix}_apply").click().run()
    assert_clean(at)
    assert any("is valid" in s.value for s in at.success)
    at.button(key="publish").click().run()
    assert_clean(at)

    data = Path(app_env["RECSYS_DATA_DIR"])
    saved = read_mapping(data / f"{ODD}.mapping.toml")
    assert saved.dates == "dayfirst" and saved.columns["When"] == "timestamp" and saved.columns["Group"] == "category"
    assert at.sidebar.selectbox(key="source").value == "odd-store-csv"
    rec = Recommender.load(Path(app_env["RECSYS_ARTIFACTS"]) / "odd-store-csv")
    items = rec.items().set_index("item_id")
    assert items.loc["P2", "item_name"] == "Bread" and items.loc["P4", "category"] == "Drinks"
    assert items.loc["P2", "price"] == pytest.approx(3.5)  # line total / units
    assert rec.state.data_start == pd.Timestamp("2025-01-01")

    # a new session on the source: the form shows what was saved, and a retrain reuses it
    at = new_app("views/data_training.py", source="odd-store-csv")
    assert_clean(at)
    assert at.selectbox(key="src_map_odd-store-csv_col_0").value == "timestamp"
    assert at.radio(key="src_map_odd-store-csv_dates").value == "dayfirst"
    at.button(key="train").click().run()
    assert_clean(at)
    assert Recommender.load(Path(app_env["RECSYS_ARTIFACTS"]) / "odd-store-csv").state.n_items == 5


def test_the_exclusion_list_is_kept_with_the_source_and_applied_at_training(app_env, fast_training, fast_config):
    from recsys import Recommender, train

    data = Path(app_env["RECSYS_DATA_DIR"])
    path = data / "placeholders.csv"
    from tests.test_own_data import placeholder_store

    placeholder_store().to_csv(path, index=False)
    train(str(path), config=fast_config, out_dir=str(Path(app_env["RECSYS_ARTIFACTS"]) / "placeholders-csv"),
          calibrate=False)
    at = new_app("views/data_training.py", source="placeholders-csv")
    assert_clean(at)
    assert not [t for t in at.dataframe if "evidence" in t.value.columns]  # collapsed: not built
    at.session_state["data_excluded_open"] = True  # the analyst opens "Items left out of training"
    at.run()
    suspects = table(at, "evidence")
    assert suspects["item_id"].tolist() == ["CODE40"] and bool(suspects["excluded"].iloc[0])
    assert at.multiselect(key="excl_pick").value == ["CODE40"]
    at.multiselect(key="excl_pick").set_value([])          # re-include the suspect
    at.text_area(key="excl_others").set_value("EGGS\n")     # and leave another item out
    at.button(key="excl_save").click().run()
    assert_clean(at)
    text = (data / "placeholders.csv.exclude.txt").read_text()
    assert "EGGS" in text.splitlines() and "!CODE40" in text.splitlines()
    at.button(key="train").click().run()
    assert_clean(at)
    items = set(Recommender.load(Path(app_env["RECSYS_ARTIFACTS"]) / "placeholders-csv").items()["item_id"])
    assert items == {"MILK", "BREAD", "CODE40"}


def test_names_and_categories_on_the_pages_and_the_category_filter(app_env, fast_config):
    from recsys import train
    from recsys.io.source_files import SourceMapping, write_mapping

    data = Path(app_env["RECSYS_DATA_DIR"])
    path = data / "named.csv"
    path.write_bytes(named_store_csv())
    write_mapping(path, SourceMapping(columns={"When": "timestamp", "Group": "category"}, dates="dayfirst"))
    train(str(path), config=fast_config, out_dir=str(Path(app_env["RECSYS_ARTIFACTS"]) / "named-csv"), calibrate=False)

    at = new_app("views/popularity.py", source="named-csv")
    assert_clean(at)
    top = table(at, "popularity_score")
    assert top["item_name"].str.startswith("Product ").all()
    cats = table(at, "share")
    assert set(cats["category"]) == {"Dairy", "Bakery", "Drinks"} and cats["lines"].sum() == 40 * 5 * 4

    at.switch_page("views/segments.py").run()
    assert_clean(at)
    by_segment = table(at, "#")
    assert by_segment.iloc[0, 1].split(" · ")[0] in {"Dairy", "Bakery", "Drinks"} and by_segment.iloc[0, 1].endswith("%")

    at.switch_page("views/similar_items.py").run()
    assert_clean(at)
    assert table(at, "co_purchase_count")["item_name"].ne("").all()

    at.switch_page("views/recommendations.py").run()
    assert_clean(at)
    recs = table(at, "recommendation_reason")
    assert recs["item_name"].ne("").all() and "category" in recs.columns
    at.multiselect(key="rec_categories").set_value(["Dairy"]).run()
    assert_clean(at)
    only = table(at, "recommendation_reason")
    assert len(only) and only["category"].eq("Dairy").all()


def test_an_uploaded_catalogue_travels_with_its_file_and_is_no_source_of_its_own(tmp_path):
    from recsys.io.loading import load_transactions
    from ui.settings import Settings
    from ui.sources import list_sources, publish_upload, save_mapping, stage_catalogue, stage_upload

    data = tmp_path / "data"
    staged = stage_upload(ODD, odd_store_csv(), data, "session-1")
    cat = stage_catalogue("products.csv", b"sku,name,price\nP1,Organic milk,2.20\n", staged)
    save_mapping(staged, {"When": "timestamp", "Group": "category"}, "dayfirst", cat)
    target = publish_upload(staged, data)
    assert {p.name for p in data.iterdir() if p.is_file()} == {ODD, f"{ODD}.mapping.toml", f"{ODD}.catalogue.csv"}
    df = load_transactions(target, use_cache=False)
    milk = df[df["item_id"] == "P1"]
    assert milk["item_name"].astype(str).eq("Organic milk").all() and milk["list_price"].eq(2.2).all()
    settings = Settings(artifacts_dir=tmp_path / "art", data_dir=data, cache_dir=tmp_path / "c")
    assert [s.label for s in list_sources(settings) if s.kind == "file"] == [ODD]


def test_a_line_value_read_as_price_is_warned_about_on_upload(app_env):
    rows = ["user_id,item_id,timestamp,quantity,price"]
    for u in range(20):
        for k in range(4):
            qty = 1 + (u + k) % 4
            rows.append(f"U{u},I{k},2025-01-{1 + u:02d} 10:00,{qty},{2.5 * (k + 1) * qty:.2f}")  # line totals
    at = new_app("views/data_training.py")
    at.file_uploader(key="upload").upload("totals.csv", ("\n".join(rows) + "\n").encode(), "text/csv").run()
    assert not at.exception
    assert any("is valid" in s.value for s in at.success)
    assert any("column 'price'" in w.value and "line_value" in w.value for w in at.warning)


def test_a_web_shop_export_with_guests_fees_and_cancellations_trains_from_the_upload(app_env, fast_training):
    """Issue 18: mapped in the form; the report says what the import will do before training; trained."""
    from recsys import Recommender
    from recsys.io.synthetic_export import generate_export

    export, facts = generate_export(n_customers=80, n_items=100, n_lines=4_000, seed=5)
    # names the loader cannot place: the mapping form says which is which
    odd = export.rename(columns={"InvoiceNo": "Beleg", "CustomerID": "Kunde", "InvoiceDate": "Wann"})
    at = new_app("views/data_training.py")
    at.file_uploader(key="upload").upload("shop export.csv", odd.to_csv(index=False).encode(), "text/csv").run()
    assert not at.exception and not any("is valid" in s.value for s in at.success)
    prefix, headers = "up_map_shop-export-csv", list(odd.columns)
    for header, target in (("Beleg", "ticket_id"), ("Kunde", "user_id"), ("Wann", "timestamp")):
        at.selectbox(key=f"{prefix}_col_{headers.index(header)}").set_value(target)
    at.button(key=f"{prefix}_apply").click().run()
    assert_clean(at)
    assert any("is valid" in s.value for s in at.success)
    shown = next(m.value for m in at.markdown if "- **Read**:" in m.value)
    told = dict(line[4:].split("**: ", 1) for line in shown.splitlines())
    assert "Beleg → ticket_id" in told["Columns"] and told["Dates"].startswith("month first")
    guests = int(told["Guest lines"].split(" ")[0].replace(",", ""))
    assert 0.2 * len(export) < guests <= facts.guest_lines and "never as a customer" in told["Guest lines"]
    assert "postage and carriage" in told["Non-product lines"] and "fees and charges" in told["Non-product lines"]
    assert f"{facts.unmatched_cancellation_lines:,} with no earlier sale" in told["Cancellations"]
    steps = table(at, "reason")
    assert steps["reason"].str.startswith("non-product lines by name").any() and (steps["lines"] > 0).all()
    at.button(key="publish").click().run()
    assert_clean(at)
    rec = Recommender.load(Path(app_env["RECSYS_ARTIFACTS"]) / "shop-export-csv")
    banned = set(facts.postage_codes + facts.fee_codes + [facts.shape_code])
    assert not banned & set(rec.state.item_ids)
    assert not rec.recommend_batch(n=10)["item_id"].isin(banned).any()
    assert rec.cleaning_report["guest_lines"] > 0 and rec.cleaning_report["kinds"]["postage and carriage"] > 0


def test_a_one_sheet_workbook_is_mapped_in_the_form(app_env):
    import io

    from recsys.io.synthetic_export import generate_export

    export, _ = generate_export(n_customers=30, n_items=40, n_lines=800, seed=6)
    odd = export.rename(columns={"InvoiceNo": "Beleg", "StockCode": "Artikel", "InvoiceDate": "Wann",
                                 "CustomerID": "Kunde"})
    buffer = io.BytesIO()
    odd.to_excel(buffer, sheet_name="Sheet1", index=False)
    at = new_app("views/data_training.py")
    at.file_uploader(key="upload").upload("orders.xlsx", buffer.getvalue(),
                                          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet").run()
    assert not at.exception
    assert table(at, "problem")["sheet"].eq("Sheet1").any()       # refused until mapped, naming the sheet
    prefix = "up_map_orders-xlsx"
    headers = list(odd.columns)
    for header, target in (("Beleg", "ticket_id"), ("Artikel", "item_id"), ("Wann", "timestamp"), ("Kunde", "user_id")):
        at.selectbox(key=f"{prefix}_col_{headers.index(header)}").set_value(target)
    at.button(key=f"{prefix}_apply").click().run()
    assert_clean(at)
    assert any("is valid" in s.value for s in at.success)
    assert any("- **Read**: orders.xlsx (sheet Sheet1)" in m.value for m in at.markdown)
