"""Reading a sales file as it is: which reader a file needs, the raw columns of a CSV or Parquet
file, and the sheets of a workbook (the store's two customer sheets, or any one sheet)."""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recsys.io.columns import POS_NUMBER, TICKET_NUMBER, mapping_or_raise, normalise_header
from recsys.io.problems import Where
from recsys.io.schema import CATEGORY, ITEM_ID, ITEM_NAME, REQUIRED_COLUMNS, TICKET_ID, USER_ID

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED_SUFFIXES = EXCEL_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES

# The store's workbook: sheets and the customer type their lines belong to.
SHEET_CUSTOMER_TYPES = {"Loyal Customers": "loyal", "New Customers": "new"}

ID_LIKE_COLUMNS = (USER_ID, ITEM_ID, TICKET_ID, POS_NUMBER, TICKET_NUMBER, ITEM_NAME, CATEGORY)


def file_suffix(path: Path) -> str:
    """The lower-case suffix that decides the reader ('.csv.gz' counts as one)."""
    name = path.name.lower()
    return next((s for s in SUPPORTED_SUFFIXES if name.endswith(s)), path.suffix.lower())


def is_workbook(path: str | Path) -> bool:
    return file_suffix(Path(path)) in EXCEL_SUFFIXES


def check_file(path: Path) -> None:
    """Raise DataError unless `path` is a non-empty file of a supported type."""
    where = Where(path.name)
    if not path.exists():
        raise where.error(f"file not found: {path}")
    if not path.is_file():
        raise where.error(f"not a file: {path}")
    suffix = file_suffix(path)
    if suffix not in SUPPORTED_SUFFIXES:
        raise where.error(
            f"unsupported file type '{suffix or '(none)'}'; use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not os.access(path, os.R_OK):
        raise where.error(f"cannot read the file (permission denied): {path}")
    if path.stat().st_size == 0:
        raise where.error("the file is empty")


def read_csv_columns(
    path: Path, column_map: dict[str, str] | None, where: Where
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The columns of a CSV (ids read as text) and the target -> header mapping."""
    try:
        header = pd.read_csv(path, nrows=0)
    except pd.errors.EmptyDataError:
        raise where.error("the file is empty") from None
    except Exception as exc:
        raise where.error(f"cannot read the CSV ({type(exc).__name__}: {exc})") from None
    found = [str(c) for c in header.columns]
    mapping = mapping_or_raise(found, column_map, where, REQUIRED_COLUMNS)
    # Ids as text: '007' stays '007' and large codes never pass through float.
    dtype = {mapping[c]: str for c in ID_LIKE_COLUMNS if c in mapping}
    try:
        # Blank lines kept so that positions stay spreadsheet rows (dropped later); all columns
        # read because `usecols` would silently accept lines with too many fields.
        raw = pd.read_csv(path, dtype=dtype, skip_blank_lines=False)
    except pd.errors.ParserError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise where.error(f"cannot parse the CSV ({exc})", row=int(line.group(1)) if line else None) from None
    except Exception as exc:
        raise where.error(f"cannot read the CSV ({type(exc).__name__}: {exc})") from None
    return raw, mapping


def read_parquet_columns(
    path: Path, column_map: dict[str, str] | None, where: Where
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The mapped columns of a Parquet file and the target -> column mapping."""
    import pyarrow.parquet as pq

    try:
        names = [n for n in pq.read_schema(path).names if not n.startswith("__index_level_")]
    except Exception as exc:
        raise where.error(f"cannot read the Parquet file ({type(exc).__name__}: {exc})") from None
    mapping = mapping_or_raise(names, column_map, where, REQUIRED_COLUMNS)
    try:
        raw = pd.read_parquet(path, columns=list(mapping.values()))
    except Exception as exc:
        raise where.error(f"cannot read the Parquet file ({type(exc).__name__}: {exc})") from None
    return raw.reset_index(drop=True), mapping


# ---- workbooks ---------------------------------------------------------------------------

def excel_engine() -> str | None:
    """'calamine' (about 10x faster than openpyxl) when installed, else pandas' default."""
    try:
        import python_calamine  # noqa: F401
    except ImportError:
        return None
    return "calamine"


def open_workbook(path: Path) -> pd.ExcelFile:
    """The workbook, or DataError when it cannot be opened (corrupt zip, encrypted...)."""
    try:
        return pd.ExcelFile(path, engine=excel_engine())
    except Exception as exc:
        raise Where(path.name).error(f"cannot read the workbook ({type(exc).__name__}: {exc})") from None


def workbook_sheets(path: str | Path) -> list[str]:
    """The sheet names of a workbook (remembered while the file is unchanged)."""
    st = os.stat(path)
    return list(_sheet_names(str(Path(path).resolve()), st.st_size, st.st_mtime_ns))


@functools.lru_cache(maxsize=32)
def _sheet_names(path: str, size: int, mtime_ns: int) -> tuple[str, ...]:
    with open_workbook(Path(path)) as book:
        return tuple(str(s) for s in book.sheet_names)


def customer_sheets(sheet_names: list[str]) -> dict[str, str]:
    """Actual sheet name -> customer type of the store's workbook, matching names regardless of
    case, spaces, underscores."""
    wanted = {normalise_header(name): ctype for name, ctype in SHEET_CUSTOMER_TYPES.items()}
    found = {}
    for name in sheet_names:
        ctype = wanted.get(normalise_header(name))
        if ctype is not None and ctype not in found.values():
            found[name] = ctype
    return found


@dataclass(frozen=True)
class SheetPlan:
    """Which sheets of a workbook to read: name -> customer type (None: from a column, else loyal),
    and whether they are the store's customer sheets (which must say where their baskets are)."""

    sheets: dict[str, str | None]
    customer_sheets: bool


def sheets_to_read(path: Path, sheet_names: list[str], sheet: str | None) -> SheetPlan:
    """The named sheet; else the store's customer sheets; else the workbook's only sheet.
    DataError naming the sheets found when none of these applies."""
    where = Where(path.name)
    known = customer_sheets(sheet_names)
    if sheet:
        match = next((s for s in sheet_names if s == sheet), None) or next(
            (s for s in sheet_names if normalise_header(s) == normalise_header(sheet)), None)
        if match is None:
            raise where.error(f"no sheet named '{sheet}'; sheets found: {sheet_names}")
        if match in known:
            return SheetPlan({match: known[match]}, True)
        return SheetPlan({match: None}, False)
    if known:
        return SheetPlan(dict(known), True)
    if len(sheet_names) == 1:
        return SheetPlan({sheet_names[0]: None}, False)
    expected = " or ".join(f"'{s}'" for s in SHEET_CUSTOMER_TYPES)
    raise where.error(
        f"{len(sheet_names)} sheets and none named {expected}: say which one holds the sales lines "
        f"(--sheet NAME on the command line, sheet = \"NAME\" in the mapping file, the sheet in the app's "
        f"form); sheets found: {sheet_names}")


def read_sheet(book: pd.ExcelFile, sheet: str, where: Where) -> pd.DataFrame:
    """One sheet as read by pandas, or DataError."""
    try:
        return pd.read_excel(book, sheet_name=sheet)
    except Exception as exc:
        raise where.error(f"cannot read the sheet ({type(exc).__name__}: {exc})") from None


def sheet_preview(path: Path, sheet: str | None, rows: int) -> pd.DataFrame:
    """The first rows of one sheet (the named one, else the first) as text."""
    with open_workbook(path) as book:
        name = sheet if sheet in book.sheet_names else book.sheet_names[0]
        frame = pd.read_excel(book, sheet_name=name, nrows=rows, dtype=str)
    return frame.fillna("")
