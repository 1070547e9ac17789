"""The canonical frame from a file's columns as read: ids as text, numbers, dates, baskets,
customer types, guest lines and tickets marked as cancelled; every problem found, by row.

A line without a customer id is a *guest line* (`user_id` "", `customer_type` "guest"): a real
sale in an anonymous basket (its ticket, else its timestamp). A ticket marked as cancelled (a 'C'
before an otherwise numeric invoice number, as many web shops write it) turns its lines into
cancellations: negative quantities, netted against the sales they cancel by the cleaning.
What the reading did is kept in `frame.attrs["import"]` (the import report reads it)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.errors import AmbiguousDates, DataError
from recsys.io.columns import POS_NUMBER, TICKET_NUMBER, mapping_or_raise
from recsys.io.dates import AUTO, DAY_FIRST, MONTH_FIRST, READ_AS, read_date_column
from recsys.io.problems import FIRST_DATA_ROW, HEADER_ROW, Where, bad_rows_problem
from recsys.io.schema import (
    CANONICAL_COLUMNS,
    CATEGORY,
    CUSTOMER_TYPE,
    CUSTOMER_TYPES,
    GUEST,
    ITEM_COLUMNS,
    ITEM_ID,
    ITEM_NAME,
    LINE_VALUE,
    LIST_PRICE,
    PRICE,
    QUANTITY,
    TICKET_AMOUNT,
    TICKET_ID,
    TIMESTAMP,
    USER_ID,
)

# Bump whenever the canonical frame built from the same bytes changes, so old cache entries miss.
# 2: non-finite and absurd quantities and prices are refused; 3: mapping files, item columns;
# 4: guest lines, cancelled tickets, any workbook sheet, the import facts
LOADER_VERSION = "4"

# Sanity limits: a line past them is a typo or a unit mix-up (cents, barcodes in the price column),
# refused with its row rather than left to swamp every average and upsell ratio downstream.
MAX_UNITS = 1e6          # units on one line (the workbook's largest is 67)
MAX_PRICE = 1e7          # unit price (the workbook's largest is 100)
VALUE_LIMITS = {QUANTITY: MAX_UNITS, PRICE: MAX_PRICE}

_INTEGRAL_NUMBER = r"^([+-]?\d+)\.0*$"  # '200.0' -> '200': a float-typed id is still an integer id
CANCELLED_TICKET = r"[Cc]\d+"           # 'C536379': the cancellation of an order, beside '536379'
GUEST_BASKET = "guest-"                 # a guest basket without a ticket: its timestamp


def ids_as_text(values: pd.Series) -> pd.Series:
    """Ids as trimmed text; integer-valued numbers without '.0'; blanks as missing."""
    text = values.astype("str").str.strip()
    if not pd.api.types.is_integer_dtype(values):
        # The regex only where a '.' occurs: a literal search is several times cheaper.
        dotted = text.str.contains(".", regex=False).fillna(False).to_numpy(bool)
        if dotted.any():
            text[dotted] = text[dotted].str.replace(_INTEGRAL_NUMBER, r"\1", regex=True)
    return text.mask(values.isna() | (text == ""))


def text_or_missing(values: pd.Series) -> pd.Series:
    """Cells as trimmed text, blanks as missing."""
    text = values.astype("str").str.strip()
    return text.mask(values.isna() | (text == ""))


def as_float(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Float64 values and a mask of cells that hold something that is not a number."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64"), pd.Series(False, index=values.index)
    text = text_or_missing(values)
    numbers = pd.to_numeric(text, errors="coerce").astype("float64")
    return numbers, numbers.isna() & text.notna()


def timestamp_key(timestamps: pd.Series) -> pd.Series:
    """yyyymmddHHMMSS as text (built with integer arithmetic: strftime is slow on 20M rows)."""
    parts = timestamps.dt
    # float64 holds 14 digits exactly and, unlike the int32 parts, takes NaT as NaN.
    key = sum(
        getattr(parts, name).astype("float64") * scale
        for name, scale in (("year", 1e10), ("month", 1e8), ("day", 1e6), ("hour", 1e4), ("minute", 1e2), ("second", 1))
    )
    return key.fillna(0).astype("int64").astype("str")


def _as_timestamps(values: pd.Series, order: str, where: Where, header: str) -> tuple[pd.Series, pd.Series, str]:
    """Naive datetime64[ns] values, a mask of cells that are not dates and how they were read;
    DataError when the day/month order cannot be read from the values and was not given."""
    try:
        return read_date_column(values, order)
    except AmbiguousDates as amb:
        raise where.error(
            f"dates such as {amb.example!r} read both as day/month and as month/day, and no value settles it; "
            f"say which: dates='{DAY_FIRST}' or '{MONTH_FIRST}' (command line: --dayfirst / --monthfirst; "
            "the app: the date order in the mapping form)", column=header) from None


def _out_of_range_problems(
    numbers: pd.Series, values: pd.Series, where: Where, header: str, target: str
) -> list[DataError | None]:
    """Infinite numbers ('inf', '1e400'), and numbers past the column's sanity limit."""
    infinite = pd.Series(np.isinf(numbers.to_numpy("float64", na_value=np.nan)), index=numbers.index)
    problems = [bad_rows_problem(infinite, values, where, header, "not a finite number")]
    limit = VALUE_LIMITS.get(target)
    if limit is not None:
        absurd = (numbers.abs() > limit) & ~infinite
        problems.append(bad_rows_problem(absurd, values, where, header,
                                         f"implausible {target} (beyond ±{limit:,.0f})"))
    return problems


def canonical_from_raw(
    raw: pd.DataFrame,
    where: Where,
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
        # a workbook's customer sheets share one map, so a sheet may lack some of its columns
        mapping = mapping_or_raise(found, column_map, where, required, check_unknown=customer_type is None)
    data = raw[list(mapping.values())].set_axis(list(mapping), axis=1)
    data = data[~data.isna().all(axis=1)]  # blank rows are not lines; labels keep the file row
    if data.empty:
        raise where.error(f"the {what} has no data rows below the header", row=FIRST_DATA_ROW)

    problems: list[DataError] = []

    def note(problem: DataError | None) -> None:
        if problem is not None:
            problems.append(problem)

    user = ids_as_text(data[USER_ID])
    guest = user.isna()
    if guest.all():
        raise where.error(
            f"no customer id in any of the {len(data):,} lines: with only guest sales there is no customer to "
            "recommend to (guest lines count for popularity and bought-together, never as customers); "
            "map the column that holds the customer or loyalty id", column=mapping[USER_ID], row=FIRST_DATA_ROW)
    user = user.fillna("")
    item = ids_as_text(data[ITEM_ID])
    note(bad_rows_problem(item.isna(), item, where, mapping[ITEM_ID], "empty item id", example=False))
    timestamp, bad, read_as = _as_timestamps(data[TIMESTAMP], dates, where, mapping[TIMESTAMP])
    note(bad_rows_problem(bad, data[TIMESTAMP], where, mapping[TIMESTAMP], "not a date"))
    columns = {USER_ID: user, ITEM_ID: item, TIMESTAMP: timestamp}
    for target in (QUANTITY, PRICE, TICKET_AMOUNT, LINE_VALUE):
        if target not in data:
            columns[target] = pd.Series(np.nan, index=data.index)
            continue
        columns[target], bad = as_float(data[target])
        note(bad_rows_problem(bad, data[target], where, mapping[target], "not a number"))
        for problem in _out_of_range_problems(columns[target], data[target], where, mapping[target], target):
            note(problem)
    if LINE_VALUE in data:
        columns[PRICE] = _unit_price(columns.pop(LINE_VALUE), columns[QUANTITY])
    for target in (ITEM_NAME, CATEGORY):
        if target in data:
            columns[target] = text_or_missing(data[target]).fillna("")
    ticket, ticket_problems, cancelled = _ticket_ids(data, user, guest, timestamp, where, mapping)
    problems += ticket_problems
    ctype, ctype_problem = _customer_types(data, customer_type, guest, where, mapping)
    note(ctype_problem)
    if problems:
        problems.sort(key=lambda p: p.row or 0)  # first offending row first; stable keeps column order
        return None, problems
    if cancelled.any():  # a cancelled ticket's lines take back what they name
        columns[QUANTITY] = columns[QUANTITY].where(~cancelled, -columns[QUANTITY].abs())
    columns.update({TICKET_ID: ticket, CUSTOMER_TYPE: ctype})
    present = [c for c in CANONICAL_COLUMNS + ITEM_COLUMNS if c in columns]
    frame = with_item_columns(pd.DataFrame({c: columns[c] for c in present}).reset_index(drop=True))
    frame.attrs = {"source_columns": dict(mapping),
                   "import": _import_facts(where, mapping, read_as, dates, timestamp, guest, ticket, cancelled)}
    return frame, []


def _import_facts(where: Where, mapping: dict[str, str], read_as: str, dates: str, timestamp: pd.Series,
                  guest: pd.Series, ticket: pd.Series, cancelled: pd.Series) -> dict:
    """What reading one file or sheet did, as plain values (kept with the cached frame)."""
    ordered = read_as in (DAY_FIRST, MONTH_FIRST)
    how = READ_AS[read_as] + ((" (as told)" if dates != AUTO else " (read from the values)") if ordered else "")
    valid = timestamp.dropna()
    return {
        "sheets": [where.sheet] if where.sheet else [],
        "lines": int(len(guest)),
        "columns": {header: target for target, header in mapping.items()},
        "dates": how,
        "first_date": str(valid.min()) if len(valid) else "",
        "last_date": str(valid.max()) if len(valid) else "",
        "guest_lines": int(guest.sum()),
        "guest_baskets": int(ticket[guest.to_numpy()].nunique()) if guest.any() else 0,
        "cancelled_ticket_lines": int(cancelled.sum()),
    }


def merge_import_facts(parts: list[dict]) -> dict:
    """The import facts of several sheets read into one frame."""
    if not parts:
        return {}
    out = {"sheets": [s for p in parts for s in p["sheets"]], "columns": {}, "dates": parts[0]["dates"]}
    for p in parts:
        out["columns"].update(p["columns"])
    for key in ("lines", "guest_lines", "guest_baskets", "cancelled_ticket_lines"):
        out[key] = sum(int(p.get(key, 0)) for p in parts)
    firsts = [p["first_date"] for p in parts if p.get("first_date")]
    lasts = [p["last_date"] for p in parts if p.get("last_date")]
    out["first_date"], out["last_date"] = (min(firsts) if firsts else ""), (max(lasts) if lasts else "")
    return out


def _unit_price(value: pd.Series, quantity: pd.Series) -> pd.Series:
    """Unit price = line value / quantity; a line of quantity 0 keeps its value (cleaning drops it)."""
    qty = quantity.to_numpy("float64", na_value=np.nan)
    val = value.to_numpy("float64", na_value=np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        price = np.where(qty != 0, val / qty, val)
    return pd.Series(price, index=value.index)


def with_item_columns(frame: pd.DataFrame) -> pd.DataFrame:
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


def restore_cached(frame: pd.DataFrame) -> pd.DataFrame:
    """A cached canonical frame with its dtypes; ValueError when its columns are not the schema's."""
    columns = tuple(frame.columns)
    if columns[:len(CANONICAL_COLUMNS)] != CANONICAL_COLUMNS or not set(columns[len(CANONICAL_COLUMNS):]) <= set(ITEM_COLUMNS):
        raise ValueError(f"unexpected columns {list(frame.columns)}")
    return with_item_columns(frame)


def _marked_cancelled(ticket: pd.Series) -> pd.Series:
    """Lines on tickets marked as cancelled: 'C' + digits where the other tickets are digits."""
    candidate = ticket.str.startswith(("C", "c")).fillna(False).astype(bool)
    if not candidate.any():
        return candidate
    others = ticket[~candidate].dropna()
    if others.empty or others.head(1000).str.isdigit().mean() < 0.5:
        return pd.Series(False, index=ticket.index)  # letters are part of this store's ticket ids
    marked = pd.Series(False, index=ticket.index)
    marked[candidate] = ticket[candidate].str.fullmatch(CANCELLED_TICKET).fillna(False).astype(bool)
    return marked


def _ticket_ids(
    data: pd.DataFrame, user: pd.Series, guest: pd.Series, timestamp: pd.Series, where: Where,
    mapping: dict[str, str]
) -> tuple[pd.Series, list[DataError], pd.Series]:
    """Basket ids: given, else '{pos}-{ticket}-{yyyymmddHHMMSS}', else '{user}-{yyyymmddHHMMSS}'
    ('guest-{yyyymmddHHMMSS}' for a guest); the problems; the lines on cancelled tickets."""
    none = pd.Series(False, index=data.index)
    if TICKET_ID in data:
        ticket = ids_as_text(data[TICKET_ID])
        problem = bad_rows_problem(ticket.isna(), ticket, where, mapping[TICKET_ID], "empty ticket id", False)
        return ticket, [problem] if problem else [], _marked_cancelled(ticket)
    stamp = timestamp_key(timestamp)
    if TICKET_NUMBER not in data:
        return user.where(~guest, GUEST_BASKET.rstrip("-")) + "-" + stamp, [], none
    # A ticket number is reused across tills and days, so only (pos, number, datetime) is a basket.
    parts, problems = [], []
    for column in (POS_NUMBER, TICKET_NUMBER):
        if column in data:
            part = ids_as_text(data[column])
            problem = bad_rows_problem(part.isna(), part, where, mapping[column], f"empty {column}", False)
            problems += [problem] if problem else []
            parts.append(part)
    cancelled = _marked_cancelled(parts[-1])
    ticket = parts[0] + "-" + parts[1] + "-" + stamp if len(parts) == 2 else parts[0] + "-" + stamp
    return ticket, problems, cancelled


def _customer_types(
    data: pd.DataFrame, sheet_type: str | None, guest: pd.Series, where: Where, mapping: dict[str, str]
) -> tuple[pd.Series, DataError | None]:
    """'loyal'/'new' per line: from the sheet, else the column, else 'loyal'; 'guest' on guest lines."""
    if sheet_type is not None or CUSTOMER_TYPE not in data:
        ctype = pd.Series(sheet_type or "loyal", index=data.index, dtype="str")
        return ctype.mask(guest, GUEST) if guest.any() else ctype, None
    ctype = text_or_missing(data[CUSTOMER_TYPE]).str.lower().fillna("loyal")
    bad = ~ctype.isin(CUSTOMER_TYPES) & ~guest
    description = f"customer type other than {' or '.join(CUSTOMER_TYPES)}"
    problem = bad_rows_problem(bad, data[CUSTOMER_TYPE], where, mapping[CUSTOMER_TYPE], description)
    return ctype.mask(guest, GUEST), problem


def _with_canonical_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with the schema's dtypes."""
    return frame.astype({
        USER_ID: "str", ITEM_ID: "str", TIMESTAMP: "datetime64[ns]", QUANTITY: "float64",
        PRICE: "float64", TICKET_ID: "str", CUSTOMER_TYPE: "str", TICKET_AMOUNT: "float64",
    })
