"""A product catalogue (item id, name, category, current price) joined onto the sales lines by item id."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys.errors import DataError
from recsys.io.schema import CATEGORY, ITEM_ID, ITEM_NAME, LIST_PRICE

CATALOGUE_PRICE = "price"
CATALOGUE_ALIASES: dict[str, tuple[str, ...]] = {
    ITEM_ID: ("itemid", "item", "plu", "productid", "product", "sku", "articleid", "article", "code"),
    ITEM_NAME: ("itemname", "name", "productname", "description", "itemdescription", "title", "label"),
    CATEGORY: ("category", "department", "dept", "productsubclass", "subclass", "family", "group", "class"),
    CATALOGUE_PRICE: ("price", "currentprice", "unitprice", "listprice", "itemprice", "retailprice"),
}
FIRST_DATA_ROW = 2


def _normal(name: object) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def _read_table(path: Path) -> pd.DataFrame:
    """The catalogue as text columns (ids and names stay as written); DataError when unreadable."""
    name = path.name
    if not path.is_file():
        raise DataError(f"catalogue file not found: {path}", file=name)
    lower = name.lower()
    try:
        if lower.endswith((".xlsx", ".xlsm", ".xls")):
            return pd.read_excel(path, dtype=str)
        if lower.endswith((".parquet", ".pq")):
            return pd.read_parquet(path).astype("str").where(lambda f: f != "None")
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:
        raise DataError(f"cannot read the catalogue ({type(exc).__name__}: {exc})", file=name) from None


def catalogue_mapping(headers: list[str], column_map: dict[str, str] | None = None) -> dict[str, str]:
    """Target (item_id, item_name, category, price) -> catalogue header: the map first, then aliases."""
    by_normal = {}
    for h in headers:
        by_normal.setdefault(_normal(h), h)
    mapping = {t: s for s, t in (column_map or {}).items() if s in headers}
    used = set(mapping.values())
    for target, aliases in CATALOGUE_ALIASES.items():
        if target not in mapping:
            hit = next((by_normal[a] for a in aliases if a in by_normal and by_normal[a] not in used), None)
            if hit is not None:
                mapping[target] = hit
                used.add(hit)
    return mapping


def read_catalogue(path: str | Path, column_map: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per item id: item_id, item_name, category, list_price (NaN when not given)."""
    path = Path(path).expanduser()
    raw = _read_table(path)
    headers = [str(c) for c in raw.columns]
    raw.columns = headers
    for source, target in (column_map or {}).items():
        if target not in CATALOGUE_ALIASES:
            raise DataError(f"catalogue_columns maps '{source}' to '{target}'; targets: "
                            f"{', '.join(CATALOGUE_ALIASES)}", file=path.name, column=source)
        if source not in headers:
            raise DataError(f"catalogue_columns names '{source}', which is not a column; columns found: {headers}",
                            file=path.name, column=source)
    mapping = catalogue_mapping(headers, column_map)
    if ITEM_ID not in mapping:
        raise DataError(f"no item id column; columns found: {headers} (name one item_id, or map it in "
                        "[catalogue_columns])", file=path.name, row=1)
    if len(mapping) == 1:
        raise DataError(f"no name, category or price column next to the item id; columns found: {headers}",
                        file=path.name, row=1)
    ids = raw[mapping[ITEM_ID]].astype("str").str.strip().mask(raw[mapping[ITEM_ID]].isna())
    ids = ids.str.replace(r"^([+-]?\d+)\.0*$", r"\1", regex=True)
    _first_bad(ids.isna() | (ids == ""), path, mapping[ITEM_ID], "empty item id")
    _first_bad(ids.duplicated(), path, mapping[ITEM_ID], "item id listed twice", ids)
    out = pd.DataFrame({ITEM_ID: ids.to_numpy(dtype=object)})
    for target in (ITEM_NAME, CATEGORY):
        col = raw[mapping[target]] if target in mapping else pd.Series("", index=raw.index)
        out[target] = col.fillna("").astype("str").str.strip().to_numpy(dtype=object)
    if CATALOGUE_PRICE in mapping:
        text = raw[mapping[CATALOGUE_PRICE]].astype("str").str.strip().mask(raw[mapping[CATALOGUE_PRICE]].isna())
        price = pd.to_numeric(text, errors="coerce")
        _first_bad((price.isna() & text.notna() & (text != "")) | (price < 0), path, mapping[CATALOGUE_PRICE],
                   "not a price (a number >= 0)", text)
        out[LIST_PRICE] = price.to_numpy("float64")
    else:
        out[LIST_PRICE] = np.nan
    return out


def _first_bad(bad: pd.Series, path: Path, column: str, what: str, values: pd.Series | None = None) -> None:
    """Raise DataError at the first bad row (spreadsheet numbering) with the count."""
    count = int(bad.sum())
    if count:
        pos = int(np.flatnonzero(bad.to_numpy(bool))[0])
        shown = f" (first: {values.iloc[pos]!r})" if values is not None else ""
        raise DataError(f"{what} in {count:,} row(s){shown}", file=path.name, column=column, row=pos + FIRST_DATA_ROW)


def join_catalogue(frame: pd.DataFrame, catalogue: pd.DataFrame) -> pd.DataFrame:
    """The lines with item_name, category (the catalogue's where it has them) and list_price."""
    cat = catalogue.set_index(ITEM_ID)
    # one lookup per distinct item, then spread by code: never a string join over every line
    codes, uniques = pd.factorize(frame[ITEM_ID])
    pos = cat.index.get_indexer(pd.Index(uniques).astype("str"))
    found = pos >= 0
    out = frame.copy()
    for column in (ITEM_NAME, CATEGORY):
        per_item = np.where(found, cat[column].to_numpy(dtype=object)[np.maximum(pos, 0)], "")
        if column in frame:  # the sales file's own value where the catalogue says nothing
            own = per_item_text(frame[column], codes, len(uniques))
            per_item = np.where(per_item == "", own, per_item)
        out[column] = pd.Categorical.from_codes(*_as_codes(per_item, codes))
    list_price = np.where(found, cat[LIST_PRICE].to_numpy("float64")[np.maximum(pos, 0)], np.nan)
    out[LIST_PRICE] = list_price[codes].astype("float64")
    return out


def per_item_text(values: pd.Series, codes: np.ndarray, n: int) -> np.ndarray:
    """The first non-empty value of each item code ('' when none)."""
    text = values.astype("str").fillna("").to_numpy(dtype=object)
    out = np.full(n, "", dtype=object)
    has = np.flatnonzero((text != "") & (text != "nan"))
    first = pd.Series(has).groupby(codes[has]).first()
    out[first.index.to_numpy()] = text[first.to_numpy()]
    return out


def _as_codes(per_item: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """(line codes into the categories, categories) of a per-item text array spread to lines."""
    value_codes, categories = pd.factorize(pd.Series(per_item, dtype="str"))
    return value_codes[codes].astype(np.int32), pd.Index(categories, dtype="str")
