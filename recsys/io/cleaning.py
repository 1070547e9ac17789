"""Clean a canonical frame: remove incomplete lines, returns and cancellations (netted against the
sales they cancel), non-product items (by price, by name, by the shape of their code), listed and
suspect codes; account for every line in a `CleaningReport` (flags count what is kept but odd).

Guest lines (no customer id) go through every rule like the others and come out apart
(`clean_sales(...).guests`): anonymous baskets that count for popularity, bought together, prices
and the catalogue, never as a customer. `clean_transactions` returns the customers' lines."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from recsys.errors import DataError
from recsys.io.cancellations import Netting, net_cancellations
from recsys.io.catalogue import per_item_text
from recsys.io.cleaning_checks import (
    SuspectRules,
    non_product_suspects,
    on_placeholder_price,
    placeholder_prices,
    price_quantity_warning,
)
from recsys.io.cleaning_report import CleaningReport, CleaningStep
from recsys.io.non_products import KINDS, non_product_items
from recsys.io.schema import (
    CUSTOMER_TYPE,
    ITEM_ID,
    ITEM_NAME,
    PRICE,
    QUANTITY,
    REQUIRED_COLUMNS,
    TICKET_AMOUNT,
    TICKET_ID,
    TIMESTAMP,
    USER_ID,
)
from recsys.io.source_files import Exclusions

EXAMPLES_PER_STEP = 5
KEEP_HINT = "excluded by default, '!id' in the exclusion list keeps one"

__all__ = ["CleaningReport", "CleaningStep", "Cleaned", "clean_sales", "clean_transactions", "guest_lines"]


@dataclass
class Cleaned:
    """The cleaned lines: the customers' (what every model learns from), the guests' (anonymous
    baskets) and the report."""

    customers: pd.DataFrame
    guests: pd.DataFrame
    report: CleaningReport


def guest_lines(df: pd.DataFrame) -> np.ndarray:
    """Per line: True when it has no customer id (empty or missing user_id)."""
    user = df[USER_ID]
    if isinstance(user.dtype, pd.CategoricalDtype):  # through the categories: no str per line
        empty = np.asarray(pd.Index(user.cat.categories.astype(str)).isin(["", "nan"]))
        codes = user.cat.codes.to_numpy()
        return np.where(codes >= 0, empty[np.maximum(codes, 0)], True)
    return (user.isna() | (user.astype("str") == "")).to_numpy(bool)


def clean_transactions(
    df: pd.DataFrame,
    zero_price_is_non_product: bool = True,
    non_product_patterns: tuple[str, ...] = ("OPEN DEPT",),
    extreme_quantity: float = 50.0,
    exclude_items: Exclusions | str | Path | Iterable[str] | None = None,
    exclude_suspects: bool = True,
    suspect_rules: SuspectRules = SuspectRules(),
) -> tuple[pd.DataFrame, CleaningReport]:
    """The customers' cleaned lines and the report (`clean_sales` says what each option does;
    the guest lines it keeps apart are counted in the report)."""
    cleaned = clean_sales(df, zero_price_is_non_product, non_product_patterns, extreme_quantity, exclude_items,
                          exclude_suspects, suspect_rules)
    return cleaned.customers, cleaned.report


def clean_sales(
    df: pd.DataFrame,
    zero_price_is_non_product: bool = True,
    non_product_patterns: tuple[str, ...] = ("OPEN DEPT",),
    extreme_quantity: float = 50.0,
    exclude_items: Exclusions | str | Path | Iterable[str] | None = None,
    exclude_suspects: bool = True,
    suspect_rules: SuspectRules = SuspectRules(),
) -> Cleaned:
    """Remove incomplete lines, returns and cancellations with the sales they cancel, and
    non-product items; flag the suspicious rest; keep guest lines apart.

    Non-product items are those whose mean price over the whole frame is 0 (with
    `zero_price_is_non_product=False` only those that also match a pattern of ids). Pattern items
    with a real price ('OPEN DEPT TOL0043') are kept and flagged. Lines named as non-products
    (fees, postage, deposits, bags, gift cards, discounts, adjustments: `recsys.io.non_products`)
    and codes unlike the store's products are removed, as are suspect codes with strong price
    evidence (`recsys.io.cleaning_checks`), unless `exclude_suspects=False` or kept by `!id` in
    `exclude_items` (a list, or an exclusion file); weaker suspects are only flagged.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"clean_transactions needs columns {', '.join(missing)}; got {list(df.columns)}")
    guest = guest_lines(df)
    item_codes, items = pd.factorize(df[ITEM_ID])
    item_index = pd.Index(items).astype("str")
    zero_mean = _zero_mean_price_items(item_codes, len(items), df[PRICE].to_numpy("float64", na_value=np.nan))
    patterned = _items_matching(items, non_product_patterns)
    non_product = zero_mean if zero_price_is_non_product else zero_mean & patterned
    exclusions = Exclusions.coerce(exclude_items)

    steps, keep = [], np.ones(len(df), dtype=bool)

    def remove(reason: str, mask: np.ndarray, by_item: bool) -> None:
        hit = mask & keep  # each line is counted by the first rule that removes it
        steps.append(_cleaning_step("removed", reason, df, hit, by_item, guest))
        keep[hit] = False

    remove("lines with a missing value", _lines_with_missing_values(df), False)
    netting = net_cancellations(df, keep)
    remove(f"returns and cancellations (quantity <= 0): {int(netting.matched.sum()):,} netted against earlier "
           f"sales, {int(netting.unmatched.sum()):,} with no earlier sale to net", (df[QUANTITY] <= 0).to_numpy(), False)
    remove("sales cancelled by a later return or cancellation (same customer and item, up to its quantity)",
           netting.sale_cancelled, False)
    remove("non-product items (average price 0)", _per_line(non_product, item_codes), True)
    found = _found_non_products(df, item_index, item_codes, keep, exclusions)
    named = _per_line(found.excluded_by("name") if exclude_suspects else found.none, item_codes)
    shaped = _per_line(found.excluded_by("shape") if exclude_suspects else found.none, item_codes)
    remove(f"non-product lines by name: fees, postage, deposits, bags, gift cards, discounts, adjustments "
           f"({KEEP_HINT})", named, True)
    remove(f"non-product codes by shape: no digit in a catalogue of numeric codes ({KEEP_HINT})", shaped, True)
    suspects = non_product_suspects(df, suspect_rules, mask=keep)
    dropped = set(suspects.loc[suspects["strong"], "item_id"]) - exclusions.keep if exclude_suspects else set()
    listed = np.asarray(item_index.isin(sorted(exclusions.exclude)))
    remove("items on the exclusion list", _per_line(listed, item_codes), True)
    suspect = np.asarray(item_index.isin(sorted(dropped))) & ~listed
    remove(f"suspect non-product codes (strong evidence; {KEEP_HINT})", _per_line(suspect, item_codes), True)
    placeholders = placeholder_prices(df, suspect_rules, mask=keep) if exclude_suspects else placeholder_prices(df.iloc[:0])
    remove("lines at a placeholder price (a price on many codes, worth more than the whole ticket; the sale's "
           "real price is unknown)", on_placeholder_price(df, placeholders), True)

    clean = df[keep].reset_index(drop=True)
    reduced = netting.sale_reduced[keep]
    if reduced.any():  # a sale cancelled in part keeps the units left
        clean[QUANTITY] = np.where(reduced, netting.units_left[keep], clean[QUANTITY].to_numpy("float64"))
    kept_codes, kept_guest = item_codes[keep], guest[keep]
    weak = set(suspects["item_id"]) - dropped - set(exclusions.exclude)
    flagged_weak = np.asarray(item_index.isin(sorted(weak)))
    steps += _flag_steps(clean, kept_codes, patterned & ~non_product, extreme_quantity, reduced, kept_guest)
    steps.append(_cleaning_step("flagged", "suspect non-product codes (kept: weaker evidence or kept by '!id')",
                                clean, _per_line(flagged_weak, kept_codes), True, kept_guest))

    warnings = df.attrs.get("warnings")
    report = CleaningReport(
        lines_in=len(df), lines_out=len(clean), steps=steps,
        non_product_items=sorted(str(i) for i in items[non_product]),
        suspects=found.records(exclude_suspects) + [
            {"item_id": str(r["item_id"]), "lines": int(r["lines"]), "strong": bool(r["strong"]),
             "excluded": r["item_id"] in dropped or r["item_id"] in exclusions.exclude,
             "evidence": str(r["evidence"]), "rule": "price", "kind": "placeholder price"}
            for r in suspects.to_dict("records")],
        excluded_items=sorted(exclusions.exclude),
        placeholder_prices=[{"price": float(r["price"]), "lines": int(r["lines"]), "items": int(r["items"]),
                             "evidence": str(r["evidence"])} for r in placeholders.to_dict("records")],
        warnings=list(warnings) if warnings is not None else
        [w for w in [price_quantity_warning(clean, df.attrs.get("source_columns"))] if w],
        source=dict(df.attrs.get("import") or {}),
        guest_lines=int(kept_guest.sum()), guest_baskets=_guest_baskets(clean, kept_guest),
        cancellations=_cancellation_counts(netting, keep), kinds=found.kinds,
    )
    if report.lines_in - report.lines_removed != report.lines_out:  # never drop a line unaccounted
        raise RuntimeError(f"cleaning lost lines: {report.to_dict()}")
    customers = clean[~kept_guest].reset_index(drop=True) if kept_guest.any() else clean
    guests = clean[kept_guest].reset_index(drop=True)
    return Cleaned(customers, guests, report)


@dataclass
class _Found:
    """Items found as non-products by name or shape, with their lines among those still kept."""

    table: pd.DataFrame  # position, item_id, kind, rule, evidence, lines, kept_by_user
    n_items: int

    @property
    def none(self) -> np.ndarray:
        return np.zeros(self.n_items, dtype=bool)

    def excluded_by(self, rule: str) -> np.ndarray:
        """Per item: found by `rule` and not kept by '!id'."""
        out = self.none
        pick = self.table[(self.table["rule"] == rule) & ~self.table["kept_by_user"]]
        out[pick["position"].to_numpy(np.int64)] = True
        return out

    @property
    def kinds(self) -> dict[str, int]:
        """Lines per kind (in the order of `KINDS`)."""
        per_kind = self.table.groupby("kind")["lines"].sum()
        return {KINDS[k]: int(per_kind[k]) for k in KINDS if k in per_kind.index and per_kind[k] > 0}

    def records(self, excluding: bool) -> list[dict]:
        """As the report's suspects (the app's exclusion editor lists them)."""
        return [{"item_id": r["item_id"], "lines": int(r["lines"]), "strong": True,
                 "excluded": excluding and not r["kept_by_user"], "evidence": r["evidence"], "rule": r["rule"],
                 "kind": KINDS[r["kind"]]}
                for r in self.table.sort_values("lines", ascending=False).to_dict("records") if r["lines"] > 0]


def _found_non_products(df: pd.DataFrame, item_index: pd.Index, item_codes: np.ndarray, keep: np.ndarray,
                        exclusions: Exclusions) -> _Found:
    """Non-products by name and shape among the items, with their kept lines (one pass per item)."""
    names = None
    if ITEM_NAME in df.columns:
        names = pd.Series(per_item_text(df[ITEM_NAME], item_codes, len(item_index)))
    table = non_product_items(item_index, names)
    lines = np.bincount(item_codes[keep & (item_codes >= 0)], minlength=len(item_index))
    table["lines"] = lines[table["position"].to_numpy(np.int64)] if len(table) else []
    table["kept_by_user"] = table["item_id"].isin(sorted(exclusions.keep))
    return _Found(table, len(item_index))


def _cancellation_counts(netting: Netting, keep: np.ndarray) -> dict:
    return {"lines": int(netting.cancellation.sum()), "matched": int(netting.matched.sum()),
            "unmatched": int(netting.unmatched.sum()), "unmatched_units": netting.unmatched_units,
            "sales_cancelled": int(netting.sale_cancelled.sum()),
            "sales_reduced": int((netting.sale_reduced & keep).sum())}


def _guest_baskets(clean: pd.DataFrame, guest: np.ndarray) -> int:
    if not guest.any():
        return 0
    column = clean[TICKET_ID] if TICKET_ID in clean else clean[TIMESTAMP]
    return int(column[guest].nunique())


def _zero_mean_price_items(codes: np.ndarray, n_items: int, prices: np.ndarray) -> np.ndarray:
    """Per item: True when its mean price over all lines with a price is exactly 0."""
    priced = (codes >= 0) & ~np.isnan(prices)
    sums = np.bincount(codes[priced], weights=prices[priced], minlength=n_items)
    counts = np.bincount(codes[priced], minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (counts > 0) & (sums / counts == 0)


def _items_matching(items: pd.Index, patterns: tuple[str, ...]) -> np.ndarray:
    """Per item: True when its id contains one of the patterns (case-insensitive, literal)."""
    if not patterns or len(items) == 0:
        return np.zeros(len(items), dtype=bool)
    regex = "|".join(re.escape(p) for p in patterns)
    return pd.Series(items, dtype="str").str.contains(regex, case=False, regex=True).fillna(False).to_numpy(bool)


def _per_line(per_item: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per-item flags spread to lines (lines without an item get False)."""
    if len(per_item) == 0:
        return np.zeros(len(codes), dtype=bool)
    return np.where(codes >= 0, per_item[np.maximum(codes, 0)], False)


def _lines_with_missing_values(df: pd.DataFrame) -> np.ndarray:
    """Lines missing a required value or the ticket id (a missing customer id is a guest line)."""
    columns = [c for c in REQUIRED_COLUMNS + (TICKET_ID,) if c in df.columns and c != USER_ID]
    return df[columns].isna().any(axis=1).to_numpy()


def _flag_steps(clean: pd.DataFrame, item_codes: np.ndarray, priced_pattern_items: np.ndarray,
                extreme_quantity: float, reduced: np.ndarray, guest: np.ndarray) -> list[CleaningStep]:
    """Flags on the kept lines: counted, not removed."""
    same_but_type, exact_duplicate = _duplicate_lines(clean, item_codes)
    flags = [
        ("zero-price lines of kept items", (clean[PRICE] == 0).to_numpy(), False),
        ("exact duplicate lines", exact_duplicate, False),
        (f"extreme quantities (> {extreme_quantity:g} units)", (clean[QUANTITY] > extreme_quantity).to_numpy(), False),
        ("priced items matching a non-product pattern (kept)", _per_line(priced_pattern_items, item_codes), True),
    ]
    if TICKET_AMOUNT in clean:
        flags.insert(0, ("refund tickets (negative ticket amount)", (clean[TICKET_AMOUNT] < 0).to_numpy(), False))
    if CUSTOMER_TYPE in clean:
        # The workbook lists some baskets of the users in both sheets once per sheet.
        flags.append(("lines repeated under the other customer type", same_but_type & ~exact_duplicate, False))
    if reduced.any():
        flags.append(("sales cancelled in part (kept with the units left)", reduced, False))
    return [_cleaning_step("flagged", reason, clean, mask, by_item, guest) for reason, mask, by_item in flags]


def _duplicate_lines(df: pd.DataFrame, item_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lines equal to an earlier one in all columns but customer_type, and in all columns."""
    all_but_type = [c for c in df.columns if c != CUSTOMER_TYPE]
    # Hashing the numeric columns and the item codes narrows the search to candidate lines
    # (string hashing or a factorisation per column is ~5x slower on millions of lines); the exact
    # check then runs on the candidates only, so a hash collision cannot produce a false flag.
    numeric = {c: df[c] for c in (TIMESTAMP, QUANTITY, PRICE)}
    row_hash = pd.util.hash_pandas_object(pd.DataFrame({"item": item_codes, **numeric}), index=False)
    candidate = row_hash.duplicated(keep=False).to_numpy()
    same_but_type = np.zeros(len(df), dtype=bool)
    exact = np.zeros(len(df), dtype=bool)
    if candidate.any():
        subset = df[candidate]
        same_but_type[candidate] = subset.duplicated(subset=all_but_type, keep="first").to_numpy()
        exact[candidate] = subset.duplicated(keep="first").to_numpy()
    return same_but_type, exact


def _cleaning_step(action: str, reason: str, df: pd.DataFrame, mask: np.ndarray, by_item: bool,
                   guest: np.ndarray) -> CleaningStep:
    """Counts and a few examples of the lines in `mask` (guests are no customers)."""
    hit = df[mask]
    return CleaningStep(
        action=action, reason=reason, lines=int(mask.sum()),
        items=int(hit[ITEM_ID].nunique()), users=int(df[USER_ID][mask & ~guest].nunique()),
        examples=_item_examples(hit) if by_item else _line_examples(hit),
    )


def _item_examples(hit: pd.DataFrame) -> list[str]:
    """The most frequent items of the lines, with their line counts."""
    counts = hit[ITEM_ID].value_counts().head(EXAMPLES_PER_STEP)
    return [f"{item} ({n:,} lines)" for item, n in counts.items()]


def _line_examples(hit: pd.DataFrame) -> list[str]:
    """The first lines, described in words."""
    return [
        f"{'user ' + str(row[USER_ID]) if str(row[USER_ID]) not in ('', 'nan') else 'a guest'}, item {row[ITEM_ID]}, "
        f"qty {row[QUANTITY]:g}, price {row[PRICE]:g}, ticket {row.get(TICKET_ID, '?')}"
        # records, not iterrows: iterrows turns each Categorical's categories into objects (1 s at 2M lines)
        for row in hit.head(EXAMPLES_PER_STEP).to_dict("records")
    ]
