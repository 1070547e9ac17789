"""Dates of a sales file: ISO, day-first, month-first and Excel serial numbers.

The order of `d/m/y`-style dates is read from all values, never from the first few: `11/1/2000`
is only known to be month-first once some line says `11/15/2000`. When every value reads both
ways the caller must say which (`DATE_ORDERS`); the loader raises a DataError asking for it.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from recsys.errors import AmbiguousDates

AUTO, DAY_FIRST, MONTH_FIRST = "auto", "dayfirst", "monthfirst"
DATE_ORDERS = (AUTO, DAY_FIRST, MONTH_FIRST)

# Excel serial days of 1954-10-03 .. 2119-01-06: far from epoch seconds (~1e9) or yyyymmdd numbers.
EXCEL_SERIAL_RANGE = (20_000.0, 80_000.0)
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
# Leading "a<sep>b<sep>year": the two fields whose order is in question.
_SLASHED = r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})(?!\d)"


def check_order(order: str | None) -> str:
    """The date order, 'auto' for None; ValueError for anything else."""
    order = AUTO if order is None else str(order).lower().replace("-", "").replace("_", "")
    if order not in DATE_ORDERS:
        raise ValueError(f"unknown date order {order!r}; use one of {', '.join(DATE_ORDERS)}")
    return order


# How a date column was read, in words (the import report says it)
READ_AS = {"datetime": "date-time cells", "serial": "Excel serial day numbers", "iso": "year first (ISO)",
           DAY_FIRST: "day first", MONTH_FIRST: "month first", "text": "text dates"}


def parse_date_column(values: pd.Series, order: str = AUTO) -> tuple[pd.Series, pd.Series]:
    """Naive datetime64[ns] values and a mask of cells that hold something that is not a date.

    Raises AmbiguousDates when `order` is 'auto' and the d/m order cannot be read from the values.
    """
    parsed, bad, _ = read_date_column(values, order)
    return parsed, bad


def read_date_column(values: pd.Series, order: str = AUTO) -> tuple[pd.Series, pd.Series, str]:
    """`parse_date_column`, and how the values were read (a key of READ_AS)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return naive_ns(values), pd.Series(False, index=values.index), "datetime"
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return (*_excel_serials(values.astype("float64")), "serial")
    text = values.astype("str").str.strip().mask(values.isna())
    text = text.mask(text == "")
    numbers = pd.to_numeric(text, errors="coerce")
    if text.notna().any() and numbers.notna().sum() == text.notna().sum():
        return (*_excel_serials(numbers.astype("float64")), "serial")  # serials exported as text
    parsed, resolved = _parse_text(text, order)
    form = resolved or ("iso" if text.dropna().head(50).str.match(r"^\s*\d{4}[-/.]\d").any() else "text")
    return parsed, parsed.isna() & text.notna(), form


def resolve_order(text: pd.Series, order: str = AUTO) -> str | None:
    """'dayfirst' / 'monthfirst' for d/m/y-style values (None for other forms), from all values."""
    sample = text.dropna().head(50)
    if sample.empty or not sample.str.match(_SLASHED).any():
        return None
    fields = text.str.extract(_SLASHED).iloc[:, :2].apply(pd.to_numeric, errors="coerce")
    first_over, second_over = bool((fields[0] > 12).any()), bool((fields[1] > 12).any())
    if order != AUTO:
        return order
    if first_over and not second_over:
        return DAY_FIRST
    if second_over and not first_over:
        return MONTH_FIRST
    if not first_over and not second_over:
        raise AmbiguousDates(str(sample.iloc[0]))
    return DAY_FIRST  # both fields exceed 12 somewhere: mixed forms; the bad rows are reported


def _parse_text(text: pd.Series, order: str) -> tuple[pd.Series, str | None]:
    """Dates parsed with one format guessed under the resolved order (odd rows one by one), and
    that order (None for forms without one)."""
    from pandas.tseries.api import guess_datetime_format

    resolved = resolve_order(text, order)
    dayfirst = resolved == DAY_FIRST
    sample = text.dropna().iloc[:20]
    fmt = next((f for f in (guess_datetime_format(v, dayfirst=dayfirst) for v in sample) if f), None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format": handled below
        parsed = _to_naive(text, fmt, dayfirst)
        retry = parsed.isna() & text.notna()
        if resolved is not None:  # a d/m value the order rules out stays bad ('mixed' would flip it)
            retry &= ~text.str.match(_SLASHED).fillna(False).astype(bool)
        if retry.any():  # a different format on some rows (rare): slow element-wise parse
            parsed[retry] = _to_naive(text[retry], "mixed", dayfirst)
    return parsed, resolved


def _to_naive(text: pd.Series, fmt: str | None, dayfirst: bool) -> pd.Series:
    """Text to naive datetime64[ns]; unparseable cells become NaT."""
    try:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce", dayfirst=dayfirst)
    except ValueError:  # mixed UTC offsets: compare them in UTC
        parsed = pd.to_datetime(text, format=fmt, errors="coerce", dayfirst=dayfirst, utc=True)
    return naive_ns(parsed)


def _excel_serials(numbers: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Excel serial day numbers (fractions are the time of day); others are not dates."""
    lo, hi = EXCEL_SERIAL_RANGE
    ok = numbers.between(lo, hi)
    days = numbers.where(ok)
    parsed = EXCEL_EPOCH + pd.to_timedelta(np.round(days.to_numpy("float64") * 86_400.0), unit="s")
    return pd.Series(parsed, index=numbers.index).astype("datetime64[ns]"), numbers.notna() & ~ok


def naive_ns(values: pd.Series) -> pd.Series:
    """Datetimes without time zone (wall-clock time kept) at nanosecond resolution."""
    if getattr(values.dtype, "tz", None) is not None:
        values = values.dt.tz_localize(None)
    return values.astype("datetime64[ns]")


SECONDS_PER_DAY = 86_400.0


def to_seconds(ts: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Datetimes as int64 seconds since the epoch, whatever the datetime unit."""
    return np.asarray(pd.to_datetime(ts).astype("datetime64[s]").astype(np.int64))


def timestamp_seconds(value: object) -> int:
    """One date or datetime (a string, a datetime, a numpy or pandas timestamp) as int64 seconds
    since the epoch. Any date of years 1-9999 works; anything else is a ValueError naming it."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"timestamp {value!r} is not a date or datetime") from exc
    if stamp is pd.NaT:
        raise ValueError(f"timestamp {value!r} is not a date or datetime")
    if stamp.tzinfo is not None:  # the store's times are naive local times
        stamp = stamp.tz_localize(None)
    return int(np.datetime64(stamp.to_datetime64(), "s").astype(np.int64))
