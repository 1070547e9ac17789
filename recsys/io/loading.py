"""Load point-of-sale lines into the canonical frame, validate them, cache them and clean them.

`load_transactions` reads the store's workbook (sheets `Loyal Customers` / `New Customers`), a CSV
or a Parquet file and returns the frame described in `recsys.io.schema`, not yet cleaned. A column
map (`column_map`, or `<file>.mapping.toml` beside the file; `recsys.io.source_files`) says which
column is which; `line_value` gives price = value / quantity; dates are read by `recsys.io.dates`;
a catalogue (`recsys.io.catalogue`) adds item_name, category and list_price.
`validate_transactions` collects every problem instead of stopping at the first one.
`clean_transactions` (in `recsys.io.cleaning`) removes returns, non-product items
and incomplete lines and accounts for every line it drops in a `CleaningReport`.
"""
from __future__ import annotations

import difflib
import functools
import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from recsys.errors import AmbiguousDates, DataError
from recsys.io.catalogue import join_catalogue, read_catalogue
from recsys.io.cleaning_checks import price_quantity_warning
from recsys.io.dates import AUTO, DAY_FIRST, MONTH_FIRST, check_order, parse_date_column
from recsys.io.schema import (
    CANONICAL_COLUMNS,
    CATEGORY,
    CUSTOMER_TYPE,
    CUSTOMER_TYPES,
    ITEM_COLUMNS,
    ITEM_ID,
    ITEM_NAME,
    LINE_VALUE,
    LIST_PRICE,
    PRICE,
    QUANTITY,
    REQUIRED_COLUMNS,
    TICKET_AMOUNT,
    TICKET_ID,
    TIMESTAMP,
    USER_ID,
)
from recsys.io.source_files import SourceMapping, source_mapping

log = logging.getLogger(__name__)

# Bump whenever the canonical frame built from the same bytes changes, so old cache entries miss.
LOADER_VERSION = "3"  # 2: non-finite and absurd quantities and prices are refused; 3: mapping files, item columns

EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED_SUFFIXES = EXCEL_SUFFIXES + CSV_SUFFIXES + PARQUET_SUFFIXES

# Workbook sheets and the customer type their lines belong to.
SHEET_CUSTOMER_TYPES = {"Loyal Customers": "loyal", "New Customers": "new"}

# Source columns that are not canonical but build the ticket id: a basket is (pos, ticket, datetime).
POS_NUMBER = "pos_number"
TICKET_NUMBER = "ticket_number"
MAPPABLE_COLUMNS = CANONICAL_COLUMNS + (LINE_VALUE, ITEM_NAME, CATEGORY, POS_NUMBER, TICKET_NUMBER)

# Accepted spellings per target column, compared after `_normalise_header`; earlier ones win.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    USER_ID: ("userid", "user", "customerid", "customer", "loyaltyid", "loyalty", "clientid",
              "client", "memberid"),
    ITEM_ID: ("itemid", "item", "plu", "productid", "product", "sku", "articleid", "article"),
    TIMESTAMP: ("timestamp", "ticketdatetime", "datetime", "date", "transactiondatetime",
                "transactiondate", "transactiondt", "orderdate", "time", "ts"),
    QUANTITY: ("quantity", "unitssold", "units", "qty", "count"),
    PRICE: ("price", "itemprice", "unitprice"),
    TICKET_ID: ("ticketid", "basketid", "basket", "orderid", "transactionid", "receiptid"),
    CUSTOMER_TYPE: ("customertype", "usertype"),
    TICKET_AMOUNT: ("ticketamount", "tickettotal", "baskettotal", "ordertotal"),
    POS_NUMBER: ("posnumber", "pos", "posid", "register"),
    TICKET_NUMBER: ("ticketnumber", "ticketno", "receiptnumber"),
    LINE_VALUE: ("linevalue", "linetotal", "lineamount"),
    ITEM_NAME: ("itemname", "productname", "itemdescription", "description"),
    CATEGORY: ("category", "productcategory", "department", "dept", "productsubclass"),
}

# A workbook sheet must say where its baskets are; a CSV may leave the ticket out.
WORKBOOK_REQUIRED = REQUIRED_COLUMNS + (POS_NUMBER, TICKET_NUMBER)
ID_LIKE_COLUMNS = (USER_ID, ITEM_ID, TICKET_ID, POS_NUMBER, TICKET_NUMBER, ITEM_NAME, CATEGORY)

IGNORE = "ignore"       # a column_map target: leave this column out, whatever its name suggests

# Sanity limits: a line past them is a typo or a unit mix-up (cents, barcodes in the price column),
# refused with its row rather than left to swamp every average and upsell ratio downstream.
MAX_UNITS = 1e6          # units on one line (the workbook's largest is 67)
MAX_PRICE = 1e7          # unit price (the workbook's largest is 100)
VALUE_LIMITS = {QUANTITY: MAX_UNITS, PRICE: MAX_PRICE}

HEADER_ROW = 1          # spreadsheet row of the header
FIRST_DATA_ROW = 2      # spreadsheet row of the first line, i.e. row = position + FIRST_DATA_ROW
HASH_CHUNK_BYTES = 1 << 20


# --------------------------------------------------------------------------------------------
# Public API: loading and validation
# --------------------------------------------------------------------------------------------

@dataclass
class ValidationReport:
    """Every problem found in one file; `ok` when there are none. Warnings do not stop training."""

    file: str
    problems: list[DataError] = field(default_factory=list)
    lines: int = 0  # lines that would be loaded (0 when the file could not be read)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file loads without error."""
        return not self.problems

    def to_frame(self) -> pd.DataFrame:
        """One row per problem, for display."""
        rows = [
            {"file": p.file, "sheet": p.sheet, "column": p.column, "row": p.row, "problem": p.message}
            for p in self.problems
        ]
        return pd.DataFrame(rows, columns=["file", "sheet", "column", "row", "problem"])

    def summary(self) -> str:
        """Human text: OK with the line count, or one line per problem; then the warnings."""
        if self.ok:
            head = [f"{self.file}: OK, {self.lines:,} lines"]
        else:
            head = [f"{self.file}: {len(self.problems)} problem(s)"] + [f"- {p}" for p in self.problems]
        return "\n".join(head + [f"warning: {w}" for w in self.warnings])


# progress(fraction done, message) of reading one file
ReadProgress = Callable[[float, str], None]


@dataclass(frozen=True)
class ReadOptions:
    """How to read one file: the explicit arguments, else what is saved beside it (`source_files`)."""

    column_map: dict[str, str] | None = None
    dates: str = AUTO
    catalogue: Path | None = None
    catalogue_columns: dict[str, str] = field(default_factory=dict)

    def cache_key(self) -> dict:
        """What of these options changes the frame (the catalogue by its bytes)."""
        return {"column_map": self.column_map or {}, "dates": self.dates,
                "catalogue": data_hash(self.catalogue) if self.catalogue and self.catalogue.is_file() else None,
                "catalogue_columns": self.catalogue_columns}


def read_options(
    path: str | Path,
    column_map: dict[str, str] | None = None,
    dates: str | None = None,
    catalogue: str | Path | None = None,
    catalogue_columns: dict[str, str] | None = None,
) -> ReadOptions:
    """The options for `path`: each explicit argument, else the file's saved `.mapping.toml`."""
    saved = source_mapping(path) or SourceMapping()
    try:
        order = check_order(dates if dates is not None else saved.dates)
    except ValueError as exc:
        raise DataError(str(exc), file=Path(path).name) from None
    cat = Path(catalogue).expanduser() if catalogue is not None else saved.catalogue_path(Path(path).parent)
    return ReadOptions(
        column_map=column_map if column_map is not None else (saved.columns or None),
        dates=order, catalogue=cat,
        catalogue_columns=catalogue_columns if catalogue_columns is not None else saved.catalogue_columns,
    )


def load_transactions(
    path: str | Path,
    column_map: dict[str, str] | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    *,
    dates: str | None = None,
    catalogue: str | Path | None = None,
    catalogue_columns: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Read a workbook, CSV or Parquet file into the canonical (not yet cleaned) frame.

    `column_map` ({'<your column>': '<canonical name>'}), `dates` ('auto', 'dayfirst',
    'monthfirst') and `catalogue` (a file of item id, name, category, price) default to what is
    saved beside the file in `<file>.mapping.toml` (see `recsys.io.source_files`)."""
    path = Path(path).expanduser()
    _check_file(path)
    options = read_options(path, column_map, dates, catalogue, catalogue_columns)
    entry = _cache_entry(path, options, cache_dir) if use_cache else None
    if entry is not None:
        cached = _read_cache_entry(entry)
        if cached is not None:
            return cached
    frame, problems, _ = _read_canonical(path, options)
    if problems:
        raise _first_problem_with_notes(problems)
    for warning in frame.attrs.get("warnings", []):
        log.warning("%s: %s", path.name, warning)
    if entry is not None:
        _write_cache_entry(frame, entry)
    return frame


def validate_transactions(
    path: str | Path,
    column_map: dict[str, str] | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    *,
    dates: str | None = None,
    catalogue: str | Path | None = None,
    catalogue_columns: dict[str, str] | None = None,
    progress: ReadProgress | None = None,
) -> ValidationReport:
    """Collect all problems of a file instead of raising on the first; a clean file is cached."""
    path = Path(path).expanduser()
    report = ValidationReport(file=path.name)
    progress = progress or (lambda fraction, message: None)
    try:
        _check_file(path)
        options = read_options(path, column_map, dates, catalogue, catalogue_columns)
    except DataError as err:
        report.problems.append(err)
        return report
    entry = _cache_entry(path, options, cache_dir) if use_cache else None
    cached = _read_cache_entry(entry) if entry is not None else None
    if cached is not None:  # only valid files are ever cached
        report.lines, report.warnings = len(cached), list(cached.attrs.get("warnings", []))
        progress(1.0, "checked before (cached)")
        return report
    frame, report.problems, report.warnings = _read_canonical(path, options, progress)
    if frame is not None and not report.problems:
        report.lines = len(frame)
        if entry is not None:
            # Validation already paid for parsing; the load that usually follows is then instant.
            _write_cache_entry(frame, entry)
    progress(1.0, "checked")
    return report


def data_hash(path: str | Path) -> str:
    """Sha256 hex digest of the file's bytes, read in chunks; a file unchanged since its last
    hash in this process (same size, times and inode) is not read again (a training run asks twice:
    the loader's cache key and the bundle's metadata)."""
    st = os.stat(path)
    return _hash_of(str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@functools.lru_cache(maxsize=64)
def _hash_of(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """`RECSYS_CACHE_DIR`, else `.cache/recsys` under the current working directory."""
    configured = os.environ.get("RECSYS_CACHE_DIR")
    return Path(configured) if configured else Path.cwd() / ".cache" / "recsys"


def cache_entry_path(
    path: str | Path, column_map: dict[str, str] | None = None, cache_dir: str | Path | None = None,
    *, dates: str | None = None, catalogue: str | Path | None = None,
) -> Path:
    """Cache file for this file's bytes, its read options and the loader version."""
    return _cache_entry(Path(path), read_options(path, column_map, dates, catalogue), cache_dir)


def _cache_entry(path: Path, options: ReadOptions, cache_dir: str | Path | None) -> Path:
    key_material = json.dumps({"data": data_hash(path), **options.cache_key(), "loader": LOADER_VERSION},
                              sort_keys=True)
    key = hashlib.sha256(key_material.encode()).hexdigest()
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"transactions-{key}.parquet"


# --------------------------------------------------------------------------------------------
# Reading the file
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Where:
    """Where a problem is: the file and, in a workbook, the sheet."""

    file: str
    sheet: str | None = None

    def error(self, message: str, column: str | None = None, row: int | None = None) -> DataError:
        """A DataError located here."""
        return DataError(message, file=self.file, sheet=self.sheet, column=column, row=row)


def _file_suffix(path: Path) -> str:
    """The lower-case suffix that decides the reader ('.csv.gz' counts as one)."""
    name = path.name.lower()
    return next((s for s in SUPPORTED_SUFFIXES if name.endswith(s)), path.suffix.lower())


def _check_file(path: Path) -> None:
    """Raise DataError unless `path` is a non-empty file of a supported type."""
    where = _Where(path.name)
    if not path.exists():
        raise where.error(f"file not found: {path}")
    if not path.is_file():
        raise where.error(f"not a file: {path}")
    suffix = _file_suffix(path)
    if suffix not in SUPPORTED_SUFFIXES:
        raise where.error(
            f"unsupported file type '{suffix or '(none)'}'; use one of {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not os.access(path, os.R_OK):
        raise where.error(f"cannot read the file (permission denied): {path}")
    if path.stat().st_size == 0:
        raise where.error("the file is empty")


def _read_canonical(
    path: Path, options: ReadOptions, progress: ReadProgress | None = None
) -> tuple[pd.DataFrame | None, list[DataError], list[str]]:
    """The canonical frame, every problem found (frame is None when there are problems) and warnings."""
    progress = progress or (lambda fraction, message: None)
    where = _Where(path.name)
    column_map = options.column_map
    problems = _column_map_problems(column_map, where)
    if problems:
        return None, problems, []
    progress(0.05, f"reading {path.name}")
    try:
        suffix = _file_suffix(path)
        if suffix in EXCEL_SUFFIXES:
            frame, problems = _read_workbook(path, column_map, options.dates)
        else:
            if suffix in CSV_SUFFIXES:
                raw, mapping = _read_csv_columns(path, column_map, where)
            else:
                raw, mapping = _read_parquet_columns(path, column_map, where)
            progress(0.5, f"checking {len(raw):,} lines")
            frame, problems = _canonical_from_raw(raw, where, column_map, REQUIRED_COLUMNS, mapping=mapping,
                                                  dates=options.dates)
        if frame is not None and options.catalogue is not None:
            progress(0.85, f"joining the catalogue {options.catalogue.name}")
            frame = _with_item_columns(join_catalogue(frame, read_catalogue(options.catalogue,
                                                                              options.catalogue_columns)))
    except DataError as err:
        return None, [err], []
    if frame is None:
        return None, problems, []
    found = price_quantity_warning(frame, frame.attrs.get("source_columns", {}))
    frame.attrs["warnings"] = [found] if found else []
    return frame, [], list(frame.attrs["warnings"])


def _column_map_problems(column_map: dict[str, str] | None, where: _Where) -> list[DataError]:
    """Problems with a column_map whose targets are not canonical column names."""
    problems = []
    for source, target in (column_map or {}).items():
        if target not in MAPPABLE_COLUMNS and target != IGNORE:
            close = difflib.get_close_matches(str(target), MAPPABLE_COLUMNS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(where.error(
                f"column_map maps '{source}' to '{target}', which is not a canonical column{hint}; "
                f"targets: {', '.join(MAPPABLE_COLUMNS)} (or '{IGNORE}')",
                column=str(source),
            ))
    targets = list((column_map or {}).values())
    for target in set(targets) - {IGNORE}:
        if targets.count(target) > 1:
            sources = [s for s, t in column_map.items() if t == target]
            problems.append(where.error(f"column_map maps {sources} all to '{target}'; map one column to it",
                                        column=", ".join(map(str, sources))))
    if PRICE in targets and LINE_VALUE in targets:
        both = [s for s, t in column_map.items() if t in (PRICE, LINE_VALUE)]
        problems.append(where.error(
            f"column_map maps both a unit price and a line value ({both}); map the one the file has: "
            "price when the column is the price of one unit, line_value when it is the line's total",
            column=", ".join(map(str, both))))
    return problems


def _excel_engine() -> str | None:
    """'calamine' (about 10x faster than openpyxl) when installed, else pandas' default."""
    try:
        import python_calamine  # noqa: F401
    except ImportError:
        return None
    return "calamine"


def _read_workbook(
    path: Path, column_map: dict[str, str] | None, dates: str = AUTO
) -> tuple[pd.DataFrame | None, list[DataError]]:
    """Canonical frame of the customer sheets of a workbook, and the problems found."""
    where = _Where(path.name)
    try:
        book = pd.ExcelFile(path, engine=_excel_engine())
    except Exception as exc:  # corrupt zip, not a workbook, encrypted...: all unreadable
        return None, [where.error(f"cannot read the workbook ({type(exc).__name__}: {exc})")]
    with book:
        sheets = _customer_sheets(book.sheet_names)
        if not sheets:
            expected = " or ".join(f"'{s}'" for s in SHEET_CUSTOMER_TYPES)
            return None, [where.error(f"no sheet named {expected}; sheets found: {book.sheet_names}")]
        frames, problems = [], []
        for sheet, customer_type in sheets.items():
            sheet_where = _Where(path.name, sheet)
            try:
                raw = pd.read_excel(book, sheet_name=sheet)
            except Exception as exc:
                problems.append(sheet_where.error(f"cannot read the sheet ({type(exc).__name__}: {exc})"))
                continue
            try:
                frame, sheet_problems = _canonical_from_raw(
                    raw, sheet_where, column_map, WORKBOOK_REQUIRED, customer_type=customer_type, dates=dates
                )
            except DataError as err:
                frame, sheet_problems = None, [err]
            problems += sheet_problems
            if frame is not None:
                frames.append(frame)
    if problems:
        return None, problems
    frame = _with_item_columns(pd.concat(frames, ignore_index=True))
    frame.attrs = {"source_columns": {}}  # the sheets name their columns differently
    return frame, []


def _customer_sheets(sheet_names: list[str]) -> dict[str, str]:
    """Actual sheet name -> customer type, matching names regardless of case, spaces, underscores."""
    wanted = {_normalise_header(name): ctype for name, ctype in SHEET_CUSTOMER_TYPES.items()}
    found = {}
    for name in sheet_names:
        ctype = wanted.get(_normalise_header(name))
        if ctype is not None and ctype not in found.values():
            found[name] = ctype
    return found


def _read_csv_columns(
    path: Path, column_map: dict[str, str] | None, where: _Where
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The mapped columns of a CSV (ids read as text) and the target -> header mapping."""
    try:
        header = pd.read_csv(path, nrows=0)
    except pd.errors.EmptyDataError:
        raise where.error("the file is empty") from None
    except Exception as exc:
        raise where.error(f"cannot read the CSV ({type(exc).__name__}: {exc})") from None
    found = [str(c) for c in header.columns]
    mapping = _mapping_or_raise(found, column_map, where, REQUIRED_COLUMNS)
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


def _read_parquet_columns(
    path: Path, column_map: dict[str, str] | None, where: _Where
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The mapped columns of a Parquet file and the target -> column mapping."""
    import pyarrow.parquet as pq

    try:
        names = [n for n in pq.read_schema(path).names if not n.startswith("__index_level_")]
    except Exception as exc:
        raise where.error(f"cannot read the Parquet file ({type(exc).__name__}: {exc})") from None
    mapping = _mapping_or_raise(names, column_map, where, REQUIRED_COLUMNS)
    try:
        raw = pd.read_parquet(path, columns=list(mapping.values()))
    except Exception as exc:
        raise where.error(f"cannot read the Parquet file ({type(exc).__name__}: {exc})") from None
    return raw.reset_index(drop=True), mapping


# --------------------------------------------------------------------------------------------
# Column names
# --------------------------------------------------------------------------------------------

def _normalise_header(name: object) -> str:
    """Header compared without case, spaces, underscores or punctuation."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _resolve_columns(found: list[str], column_map: dict[str, str] | None) -> dict[str, str]:
    """Target column -> header in the file, from column_map first and then the known aliases."""
    by_normal: dict[str, str] = {}
    for header in found:
        by_normal.setdefault(_normalise_header(header), header)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for source, target in (column_map or {}).items():
        header = source if source in found else by_normal.get(_normalise_header(source))
        if header is not None and target == IGNORE:
            used.add(header)  # the analyst said: not this column, whatever its name suggests
        elif header is not None and target not in mapping:
            mapping[target] = header
    used |= set(mapping.values())
    # a unit price and a line value are two readings of one fact: an explicit one rules out the other
    skip = {LINE_VALUE} if PRICE in mapping else {PRICE} if LINE_VALUE in mapping else set()
    for target, aliases in COLUMN_ALIASES.items():
        if target in mapping or target in skip:
            continue
        header = next((by_normal[a] for a in aliases if a in by_normal and by_normal[a] not in used), None)
        if header is not None:
            mapping[target] = header
            used.add(header)
    if PRICE in mapping and LINE_VALUE in mapping:  # both found by name: the unit price is the price
        del mapping[LINE_VALUE]
    return mapping


def propose_mapping(found: list[str], column_map: dict[str, str] | None = None) -> dict[str, str]:
    """Header -> canonical name for every header: the map, the known names, then close guesses
    for the required columns still missing ('ignore' for the rest). What the app's form proposes."""
    mapping = _resolve_columns(found, column_map)
    for target in REQUIRED_COLUMNS:
        if target in mapping or (target == PRICE and LINE_VALUE in mapping):
            continue
        guess = _closest_header(target, [h for h in found if h not in mapping.values()])
        if guess is not None:
            mapping[target] = guess
    by_header = {header: target for target, header in mapping.items()}
    return {h: by_header.get(h, IGNORE) for h in found}


def _mapping_or_raise(
    found: list[str], column_map: dict[str, str] | None, where: _Where, required: tuple[str, ...]
) -> dict[str, str]:
    """The column mapping, or DataError naming the missing columns and the closest headers."""
    if where.sheet is None:  # a workbook's sheets share one map, so a sheet may lack some of its columns
        by_normal = {_normalise_header(h) for h in found}
        unknown = [s for s in (column_map or {}) if s not in found and _normalise_header(s) not in by_normal]
        if unknown:
            raise where.error(f"column_map names {unknown}, not column(s) of the file; columns found: {found}",
                              column=", ".join(map(str, unknown)), row=HEADER_ROW)
    mapping = _resolve_columns(found, column_map)
    missing = [c for c in required if c not in mapping and not (c == PRICE and LINE_VALUE in mapping)]
    if missing:
        raise _missing_columns_error(missing, found, mapping, where)
    return mapping


def _missing_columns_error(
    missing: list[str], found: list[str], mapping: dict[str, str], where: _Where
) -> DataError:
    """DataError listing missing columns, the columns found and a guess for each missing one."""
    unused = [h for h in found if h not in mapping.values()]
    hints = []
    for target in missing:
        guess = _closest_header(target, unused)
        if guess is not None:
            hints.append(f"'{guess}' for {target}")
    accepted = "; ".join(f"{t}: {', '.join(COLUMN_ALIASES[t][:4])}" for t in missing)
    message = (
        f"missing required column(s) {', '.join(missing)}; columns found: {found}"
        + (f"; did you mean {', '.join(hints)}?" if hints else "")
        + f" (accepted names, ignoring case/spaces/underscores: {accepted};"
        + " or map them: --columns '<your column>=<canonical name>,...' or a mapping file on the command line,"
        + " the mapping form in the app, column_map={'<your column>': '<canonical name>'} in Python)"
    )
    return where.error(message, column=", ".join(missing), row=HEADER_ROW)


def _closest_header(target: str, headers: list[str], cutoff: float = 0.6) -> str | None:
    """The header that looks most like one of the target's accepted names, if any is close."""
    best, best_score = None, cutoff
    for header in headers:
        normal = _normalise_header(header)
        score = max(difflib.SequenceMatcher(None, normal, alias).ratio() for alias in COLUMN_ALIASES[target])
        if score >= best_score:
            best, best_score = header, score
    return best


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

_INTEGRAL_NUMBER = r"^([+-]?\d+)\.0*$"  # '200.0' -> '200': a float-typed id is still an integer id


def _ids_as_text(values: pd.Series) -> pd.Series:
    """Ids as trimmed text; integer-valued numbers without '.0'; blanks as missing."""
    text = values.astype("str").str.strip()
    if not pd.api.types.is_integer_dtype(values):
        # The regex only where a '.' occurs: a literal search is several times cheaper.
        dotted = text.str.contains(".", regex=False).fillna(False).to_numpy(bool)
        if dotted.any():
            text[dotted] = text[dotted].str.replace(_INTEGRAL_NUMBER, r"\1", regex=True)
    return text.mask(values.isna() | (text == ""))


def _text_or_missing(values: pd.Series) -> pd.Series:
    """Cells as trimmed text, blanks as missing."""
    text = values.astype("str").str.strip()
    return text.mask(values.isna() | (text == ""))


def _as_float(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Float64 values and a mask of cells that hold something that is not a number."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64"), pd.Series(False, index=values.index)
    text = _text_or_missing(values)
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    return numbers, numbers.isna() & text.notna()


def _as_timestamps(
    values: pd.Series, order: str, where: _Where, header: str
) -> tuple[pd.Series, pd.Series]:
    """Naive datetime64[ns] values and a mask of cells that are not dates; DataError when the
    day/month order cannot be read from the values and was not given."""
    try:
        return parse_date_column(values, order)
    except AmbiguousDates as amb:
        raise where.error(
            f"dates such as {amb.example!r} read both as day/month and as month/day, and no value settles it; "
            f"say which: dates='{DAY_FIRST}' or '{MONTH_FIRST}' (command line: --dayfirst / --monthfirst; "
            "the app: the date order in the mapping form)", column=header) from None


def _timestamp_key(timestamps: pd.Series) -> pd.Series:
    """yyyymmddHHMMSS as text (built with integer arithmetic: strftime is slow on 20M rows)."""
    parts = timestamps.dt
    # float64 holds 14 digits exactly and, unlike the int32 parts, takes NaT as NaN.
    key = sum(
        getattr(parts, name).astype("float64") * scale
        for name, scale in (("year", 1e10), ("month", 1e8), ("day", 1e6), ("hour", 1e4), ("minute", 1e2), ("second", 1))
    )
    return key.fillna(0).astype("int64").astype("str")


def _bad_rows_problem(
    bad: pd.Series, values: pd.Series, where: _Where, header: str, description: str, example: bool = True
) -> DataError | None:
    """DataError at the first bad row with the number of bad rows, or None when none is bad."""
    count = int(bad.sum())
    if count == 0:
        return None
    first = bad.idxmax()  # index labels are positions in the file, so this is the first bad row
    value = values.loc[first]
    value = value.item() if isinstance(value, np.generic) else value  # 'inf', not 'np.float64(inf)'
    shown = f" (first: {value!r})" if example else ""
    rows = "row" if count == 1 else "rows"
    return where.error(f"{description} in {count:,} {rows}{shown}", column=header, row=int(first) + FIRST_DATA_ROW)


def _out_of_range_problems(
    numbers: pd.Series, values: pd.Series, where: _Where, header: str, target: str
) -> list[DataError | None]:
    """Infinite numbers ('inf', '1e400'), and numbers past the column's sanity limit."""
    infinite = pd.Series(np.isinf(numbers.to_numpy("float64", na_value=np.nan)), index=numbers.index)
    problems = [_bad_rows_problem(infinite, values, where, header, "not a finite number")]
    limit = VALUE_LIMITS.get(target)
    if limit is not None:
        absurd = (numbers.abs() > limit) & ~infinite
        problems.append(_bad_rows_problem(absurd, values, where, header,
                                          f"implausible {target} (beyond ±{limit:,.0f})"))
    return problems


# --------------------------------------------------------------------------------------------
# Building the canonical frame
# --------------------------------------------------------------------------------------------

def _canonical_from_raw(
    raw: pd.DataFrame,
    where: _Where,
    column_map: dict[str, str] | None,
    required: tuple[str, ...],
    customer_type: str | None = None,
    mapping: dict[str, str] | None = None,
    dates: str = AUTO,
) -> tuple[pd.DataFrame | None, list[DataError]]:
    """Canonical frame from the columns as read, and every problem found in them."""
    raw.columns = [str(c) for c in raw.columns]
    found = list(raw.columns)
    what = "sheet" if where.sheet else "file"
    if not found:
        raise where.error(f"the {what} is empty")
    if mapping is None:
        if all(h.startswith("Unnamed:") for h in found):
            raise where.error("row 1 holds no column names; the header must be in row 1", row=HEADER_ROW)
        mapping = _mapping_or_raise(found, column_map, where, required)
    data = raw[list(mapping.values())].set_axis(list(mapping), axis=1)
    data = data[~data.isna().all(axis=1)]  # blank rows are not lines; labels keep the file row
    if data.empty:
        raise where.error(f"the {what} has no data rows below the header", row=FIRST_DATA_ROW)

    problems: list[DataError] = []

    def note(problem: DataError | None) -> None:
        if problem is not None:
            problems.append(problem)

    user = _ids_as_text(data[USER_ID])
    note(_bad_rows_problem(user.isna(), user, where, mapping[USER_ID], "empty user id", example=False))
    item = _ids_as_text(data[ITEM_ID])
    note(_bad_rows_problem(item.isna(), item, where, mapping[ITEM_ID], "empty item id", example=False))
    timestamp, bad = _as_timestamps(data[TIMESTAMP], dates, where, mapping[TIMESTAMP])
    note(_bad_rows_problem(bad, data[TIMESTAMP], where, mapping[TIMESTAMP], "not a date"))
    columns = {USER_ID: user, ITEM_ID: item, TIMESTAMP: timestamp}
    for target in (QUANTITY, PRICE, TICKET_AMOUNT, LINE_VALUE):
        if target not in data:
            columns[target] = pd.Series(np.nan, index=data.index)
            continue
        columns[target], bad = _as_float(data[target])
        note(_bad_rows_problem(bad, data[target], where, mapping[target], "not a number"))
        for problem in _out_of_range_problems(columns[target], data[target], where, mapping[target], target):
            note(problem)
    if LINE_VALUE in data:
        columns[PRICE] = _unit_price(columns.pop(LINE_VALUE), columns[QUANTITY])
    for target in (ITEM_NAME, CATEGORY):
        if target in data:
            columns[target] = _text_or_missing(data[target]).fillna("")
    ticket, ticket_problems = _ticket_ids(data, user, timestamp, where, mapping)
    problems += ticket_problems
    ctype, ctype_problem = _customer_types(data, customer_type, where, mapping)
    note(ctype_problem)
    if problems:
        problems.sort(key=lambda p: p.row or 0)  # first offending row first; stable keeps column order
        return None, problems
    columns.update({TICKET_ID: ticket, CUSTOMER_TYPE: ctype})
    present = [c for c in CANONICAL_COLUMNS + ITEM_COLUMNS if c in columns]
    frame = _with_item_columns(pd.DataFrame({c: columns[c] for c in present}).reset_index(drop=True))
    frame.attrs = {"source_columns": dict(mapping)}
    return frame, []


def _unit_price(value: pd.Series, quantity: pd.Series) -> pd.Series:
    """Unit price = line value / quantity; a line of quantity 0 keeps its value (cleaning drops it)."""
    qty = quantity.to_numpy("float64", na_value=np.nan)
    val = value.to_numpy("float64", na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        price = np.where(qty != 0, val / qty, val)
    return pd.Series(price, index=value.index)


def _with_item_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The schema's dtypes, with item_name and category as categoricals ('' where unknown)."""
    frame = _with_canonical_dtypes(frame)
    for column in (ITEM_NAME, CATEGORY):
        if column in frame:
            text = frame[column].astype("str").where(frame[column].notna(), "")
            frame[column] = text.astype("category")
    if LIST_PRICE in frame:
        frame[LIST_PRICE] = frame[LIST_PRICE].astype("float64")
    order = [c for c in CANONICAL_COLUMNS + ITEM_COLUMNS if c in frame]
    return frame[order + [c for c in frame.columns if c not in order]]


def _ticket_ids(
    data: pd.DataFrame, user: pd.Series, timestamp: pd.Series, where: _Where, mapping: dict[str, str]
) -> tuple[pd.Series, list[DataError]]:
    """Basket ids: given, else '{pos}-{ticket}-{yyyymmddHHMMSS}', else '{user}-{yyyymmddHHMMSS}'."""
    if TICKET_ID in data:
        ticket = _ids_as_text(data[TICKET_ID])
        problem = _bad_rows_problem(ticket.isna(), ticket, where, mapping[TICKET_ID], "empty ticket id", False)
        return ticket, [problem] if problem else []
    stamp = _timestamp_key(timestamp)
    if TICKET_NUMBER not in data:
        return user + "-" + stamp, []
    # A ticket number is reused across tills and days, so only (pos, number, datetime) is a basket.
    parts, problems = [], []
    for column in (POS_NUMBER, TICKET_NUMBER):
        if column in data:
            part = _ids_as_text(data[column])
            problem = _bad_rows_problem(part.isna(), part, where, mapping[column], f"empty {column}", False)
            problems += [problem] if problem else []
            parts.append(part + "-")
    ticket = parts[0] + parts[1] + stamp if len(parts) == 2 else parts[0] + stamp
    return ticket, problems


def _customer_types(
    data: pd.DataFrame, sheet_type: str | None, where: _Where, mapping: dict[str, str]
) -> tuple[pd.Series, DataError | None]:
    """'loyal'/'new' per line: from the sheet, else the column, else 'loyal'."""
    if sheet_type is not None or CUSTOMER_TYPE not in data:
        return pd.Series(sheet_type or "loyal", index=data.index, dtype="str"), None
    ctype = _text_or_missing(data[CUSTOMER_TYPE]).str.lower().fillna("loyal")
    bad = ~ctype.isin(CUSTOMER_TYPES)
    description = f"customer type other than {' or '.join(CUSTOMER_TYPES)}"
    return ctype, _bad_rows_problem(bad, data[CUSTOMER_TYPE], where, mapping[CUSTOMER_TYPE], description)


def _with_canonical_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with the schema's dtypes."""
    return frame.astype({
        USER_ID: "str", ITEM_ID: "str", TIMESTAMP: "datetime64[ns]", QUANTITY: "float64",
        PRICE: "float64", TICKET_ID: "str", CUSTOMER_TYPE: "str", TICKET_AMOUNT: "float64",
    })


def _first_problem_with_notes(problems: list[DataError]) -> DataError:
    """The first problem, with the others attached as notes (shown in the traceback)."""
    first = problems[0]
    if len(problems) > 1:
        more = "\n".join(f"  {p}" for p in problems[1:11])
        first.add_note(f"{len(problems) - 1} more problem(s) (validate_transactions lists all):\n{more}")
    return first


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------

def _read_cache_entry(entry: Path) -> pd.DataFrame | None:
    """The cached canonical frame, or None when absent or unreadable (it is then rewritten)."""
    if not entry.is_file():
        return None
    try:
        frame = pd.read_parquet(entry)
        columns = tuple(frame.columns)
        if columns[:len(CANONICAL_COLUMNS)] != CANONICAL_COLUMNS or not set(columns[len(CANONICAL_COLUMNS):]) <= set(ITEM_COLUMNS):
            raise ValueError(f"unexpected columns {list(frame.columns)}")
        attrs = frame.attrs
        frame = _with_item_columns(frame)
        frame.attrs = attrs
        return frame
    except Exception as exc:
        log.warning("ignoring unreadable cache entry %s (%s)", entry, exc)
        return None


def _write_cache_entry(frame: pd.DataFrame, entry: Path) -> None:
    """Write the frame atomically (temp file in the same folder, then os.replace); never fails the load."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=entry.parent, prefix=f".{entry.name}.", suffix=".tmp")
        os.close(handle)
        try:
            frame.to_parquet(temp, index=False)
            os.chmod(temp, 0o644)  # mkstemp makes it owner-only; other users of the cache may read it
            os.replace(temp, entry)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except Exception as exc:  # a read-only or full disk costs speed, not correctness
        log.warning("could not write cache entry %s (%s)", entry, exc)
