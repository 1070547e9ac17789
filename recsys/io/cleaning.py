"""Clean a canonical frame: remove incomplete lines, returns, non-product items, listed and suspect
codes, and account for every line in a `CleaningReport` (flags count what is kept but odd)."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from recsys.errors import DataError
from recsys.io.cleaning_checks import (
    SuspectRules,
    non_product_suspects,
    on_placeholder_price,
    placeholder_prices,
    price_quantity_warning,
)
from recsys.io.schema import (
    CUSTOMER_TYPE,
    ITEM_ID,
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


@dataclass
class CleaningStep:
    """One cleaning rule: how many lines, items and users it removed or flagged."""

    action: str  # "removed" | "flagged"
    reason: str
    lines: int
    items: int
    users: int
    examples: list[str] = field(default_factory=list)


@dataclass
class CleaningReport:
    """What `clean_transactions` did; lines_in - removed lines == lines_out."""

    lines_in: int
    lines_out: int
    steps: list[CleaningStep] = field(default_factory=list)
    non_product_items: list[str] = field(default_factory=list)
    # suspect non-product codes: item_id, lines, strong, excluded, evidence
    suspects: list[dict] = field(default_factory=list)
    placeholder_prices: list[dict] = field(default_factory=list)  # price, lines, items, evidence
    excluded_items: list[str] = field(default_factory=list)  # the analyst's exclusion list, as applied
    warnings: list[str] = field(default_factory=list)

    @property
    def lines_removed(self) -> int:
        """Lines removed by all steps together."""
        return sum(s.lines for s in self.steps if s.action == "removed")

    def to_dict(self) -> dict:
        """Plain dict (JSON-serialisable) of the report."""
        return {**asdict(self), "lines_removed": self.lines_removed}

    def to_frame(self) -> pd.DataFrame:
        """One row per step, for display."""
        rows = [{**asdict(s), "examples": ", ".join(s.examples)} for s in self.steps]
        return pd.DataFrame(rows, columns=["action", "reason", "lines", "items", "users", "examples"])

    def summary(self) -> str:
        """Human text: totals, then one line per step."""
        lines = [f"{self.lines_in:,} lines in, {self.lines_removed:,} removed, {self.lines_out:,} out"]
        for step in self.steps:
            examples = f" (e.g. {', '.join(step.examples[:3])})" if step.examples and step.lines else ""
            lines.append(
                f"- {step.action} {step.lines:,} lines ({step.items:,} items, {step.users:,} users): "
                f"{step.reason}{examples}"
            )
        if self.non_product_items:
            lines.append(f"non-product items ({len(self.non_product_items)}): {', '.join(self.non_product_items)}")
        for p in self.placeholder_prices:
            lines.append(f"placeholder price {p['price']:.2f} (lines removed): {p['evidence']}")
        for s in self.suspects:
            verdict = "excluded" if s["excluded"] else "kept"
            lines.append(f"suspect non-product {s['item_id']} ({s['lines']:,} lines, {verdict}): {s['evidence']}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def clean_transactions(
    df: pd.DataFrame,
    zero_price_is_non_product: bool = True,
    non_product_patterns: tuple[str, ...] = ("OPEN DEPT",),
    extreme_quantity: float = 50.0,
    exclude_items: Exclusions | str | Path | Iterable[str] | None = None,
    exclude_suspects: bool = True,
    suspect_rules: SuspectRules = SuspectRules(),
) -> tuple[pd.DataFrame, CleaningReport]:
    """Remove incomplete lines, returns and non-product items; flag the suspicious rest.

    Non-product items are those whose mean price over the whole frame is 0 (with
    `zero_price_is_non_product=False` only those that also match a pattern). Pattern items with a
    real price ('OPEN DEPT TOL0043') are kept and flagged.
    `exclude_items`: ids to leave out (a list, or an exclusion file; `!id` keeps a suspect).
    Suspect non-product codes with strong evidence (`recsys.io.cleaning_checks`) are removed too
    unless `exclude_suspects=False` or kept by `!id`; weaker suspects are only flagged.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"clean_transactions needs columns {', '.join(missing)}; got {list(df.columns)}")
    item_codes, items = pd.factorize(df[ITEM_ID])
    zero_mean = _zero_mean_price_items(item_codes, len(items), df[PRICE].to_numpy("float64", na_value=np.nan))
    patterned = _items_matching(items, non_product_patterns)
    non_product = zero_mean if zero_price_is_non_product else zero_mean & patterned

    removals = [
        ("lines with a missing value", _lines_with_missing_values(df), False),
        ("returns (quantity <= 0)", (df[QUANTITY] <= 0).to_numpy(), False),
        ("non-product items (average price 0)", _per_line(non_product, item_codes), True),
    ]
    steps, keep = [], np.ones(len(df), dtype=bool)
    for reason, mask, by_item in removals:
        hit = mask & keep  # each line is counted by the first rule that removes it
        steps.append(_cleaning_step("removed", reason, df, hit, by_item))
        keep &= ~hit
    exclusions = Exclusions.coerce(exclude_items)
    suspects = non_product_suspects(df, suspect_rules, mask=keep)
    dropped = set(suspects.loc[suspects["strong"], "item_id"]) - exclusions.keep if exclude_suspects else set()
    listed = np.asarray(pd.Index(items).astype("str").isin(sorted(exclusions.exclude)))
    suspect = np.asarray(pd.Index(items).astype("str").isin(sorted(dropped))) & ~listed
    for reason, per_item in (("items on the exclusion list", listed),
                             ("suspect non-product codes (strong evidence; excluded by default, '!id' in the "
                              "exclusion list keeps one)", suspect)):
        hit = _per_line(per_item, item_codes) & keep
        steps.append(_cleaning_step("removed", reason, df, hit, True))
        keep &= ~hit
    placeholders = placeholder_prices(df, suspect_rules, mask=keep) if exclude_suspects else placeholder_prices(df.iloc[:0])
    hit = on_placeholder_price(df, placeholders) & keep
    steps.append(_cleaning_step("removed", "lines at a placeholder price (a price on many codes, worth more than "
                                "the whole ticket; the sale's real price is unknown)", df, hit, True))
    keep &= ~hit
    clean = df[keep].reset_index(drop=True)
    weak = set(suspects["item_id"]) - dropped - set(exclusions.exclude)
    flagged_weak = np.asarray(pd.Index(items).astype("str").isin(sorted(weak)))
    steps += _flag_steps(clean, item_codes[keep], patterned & ~non_product, extreme_quantity)
    steps.append(_cleaning_step("flagged", "suspect non-product codes (kept: weaker evidence or kept by '!id')",
                                clean, _per_line(flagged_weak, item_codes[keep]), True))

    found = df.attrs.get("warnings")
    report = CleaningReport(
        lines_in=len(df), lines_out=len(clean), steps=steps,
        non_product_items=sorted(str(i) for i in items[non_product]),
        suspects=[{"item_id": str(r["item_id"]), "lines": int(r["lines"]), "strong": bool(r["strong"]),
                   "excluded": r["item_id"] in dropped or r["item_id"] in exclusions.exclude,
                   "evidence": str(r["evidence"])} for r in suspects.to_dict("records")],
        excluded_items=sorted(exclusions.exclude),
        placeholder_prices=[{"price": float(r["price"]), "lines": int(r["lines"]), "items": int(r["items"]),
                             "evidence": str(r["evidence"])} for r in placeholders.to_dict("records")],
        warnings=list(found) if found is not None else
        [w for w in [price_quantity_warning(clean, df.attrs.get("source_columns"))] if w],
    )
    if report.lines_in - report.lines_removed != report.lines_out:  # never drop a line unaccounted
        raise RuntimeError(f"cleaning lost lines: {report.to_dict()}")
    return clean, report


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
    """Lines missing a required value or the ticket id."""
    columns = [c for c in REQUIRED_COLUMNS + (TICKET_ID,) if c in df.columns]
    return df[columns].isna().any(axis=1).to_numpy()


def _flag_steps(
    clean: pd.DataFrame, item_codes: np.ndarray, priced_pattern_items: np.ndarray, extreme_quantity: float
) -> list[CleaningStep]:
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
    return [_cleaning_step("flagged", reason, clean, mask, by_item) for reason, mask, by_item in flags]


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


def _cleaning_step(action: str, reason: str, df: pd.DataFrame, mask: np.ndarray, by_item: bool) -> CleaningStep:
    """Counts and a few examples of the lines in `mask`."""
    hit = df[mask]
    return CleaningStep(
        action=action, reason=reason, lines=int(mask.sum()),
        items=int(hit[ITEM_ID].nunique()), users=int(hit[USER_ID].nunique()),
        examples=_item_examples(hit) if by_item else _line_examples(hit),
    )


def _item_examples(hit: pd.DataFrame) -> list[str]:
    """The most frequent items of the lines, with their line counts."""
    counts = hit[ITEM_ID].value_counts().head(EXAMPLES_PER_STEP)
    return [f"{item} ({n} lines)" for item, n in counts.items()]


def _line_examples(hit: pd.DataFrame) -> list[str]:
    """The first lines, described in words."""
    return [
        f"user {row[USER_ID]}, item {row[ITEM_ID]}, qty {row[QUANTITY]:g}, price {row[PRICE]:g}, "
        f"ticket {row.get(TICKET_ID, '?')}"
        # records, not iterrows: iterrows turns each Categorical's categories into objects (1 s at 2M lines)
        for row in hit.head(EXAMPLES_PER_STEP).to_dict("records")
    ]
