"""Checks of the cleaning that look for things a file gets wrong silently (all vectorised).

- `price_quantity_warning`: a "unit price" that rises with the quantity within items is the line's
  value (or the other way round), which would make every price and segment wrong.
- `non_product_suspects`: codes that are not products though they carry a price: a placeholder
  price that is the same on most lines, often 0, and worth more than the whole ticket it is on
  (the workbook's 40.00 codes in baskets of 15-35).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.arrays import unique_sorted
from recsys.io.schema import (
    ITEM_ID,
    LINE_VALUE,
    PRICE,
    QUANTITY,
    TICKET_AMOUNT,
    TICKET_ID,
    USER_ID,
)

PRICE_QTY_R = 0.5        # |within-item correlation| of price and quantity that is not a coincidence
MIN_VARYING_LINES = 30   # lines whose quantity differs from their item's mean, for the check to speak


def within_item_correlation(item_codes: np.ndarray, price: np.ndarray, quantity: np.ndarray) -> tuple[float, int]:
    """Pearson r of log price and log quantity after removing each item's means, and the lines that vary.

    Logs, because a line value is price x quantity: its log rises one for one with log quantity
    (r near +1), while a real unit price barely moves (r near 0); raw values let a few bulk lines
    decide (Ta Feng: r = 0.47 raw, 0.96 in logs)."""
    ok = (item_codes >= 0) & np.isfinite(price) & np.isfinite(quantity) & (price > 0) & (quantity > 0)
    codes, p, q = item_codes[ok], np.log(price[ok].astype(np.float64)), np.log(quantity[ok].astype(np.float64))
    if len(codes) == 0:
        return 0.0, 0
    n = int(codes.max()) + 1
    counts = np.maximum(np.bincount(codes, minlength=n), 1)
    dp = p - (np.bincount(codes, weights=p, minlength=n) / counts)[codes]
    dq = q - (np.bincount(codes, weights=q, minlength=n) / counts)[codes]
    varying = int((np.abs(dq) > 1e-9).sum())
    denom = np.sqrt((dp * dp).sum() * (dq * dq).sum())
    return (float((dp * dq).sum() / denom) if denom > 0 else 0.0), varying


def price_quantity_warning(df: pd.DataFrame, source_columns: dict[str, str] | None = None) -> str | None:
    """A warning naming the column when price looks like a line value (or line_value like a price)."""
    if df.empty or PRICE not in df or QUANTITY not in df:
        return None
    codes = pd.factorize(df[ITEM_ID])[0]
    r, varying = within_item_correlation(codes, df[PRICE].to_numpy("float64", na_value=np.nan),
                                         df[QUANTITY].to_numpy("float64", na_value=np.nan))
    if varying < MIN_VARYING_LINES:
        return None
    source_columns = source_columns or {}
    if LINE_VALUE in source_columns and r <= -PRICE_QTY_R:
        column = source_columns[LINE_VALUE]
        return (f"column '{column}' is mapped to line_value, but the unit prices derived from it fall as the "
                f"quantity rises within items (r = {r:+.2f} over {varying:,} lines): it looks like a unit price; "
                f"map it to price ({column}=price)")
    if LINE_VALUE not in source_columns and r >= PRICE_QTY_R:
        column = source_columns.get(PRICE, PRICE)
        return (f"column '{column}' is read as the unit price, but within items it rises with the quantity "
                f"(r = {r:+.2f} over {varying:,} lines): it looks like the line's value; if so, map it to "
                f"line_value ({column}=line_value) so that price = value / quantity")
    return None


@dataclass(frozen=True)
class SuspectRules:
    """When an item looks like a non-product code (defaults measured on the workbook)."""

    min_lines: int = 10            # fewer lines say too little
    constant_share: float = 0.5    # share of its priced lines at its most common price
    over_ticket_share: float = 0.25  # share of its priced lines worth more than the whole ticket
    zero_share: float = 0.2        # share of its lines at price 0 (flagged, not excluded)
    # a price the till puts on lines of many codes (the workbook's 40.00 on variable-weight codes)
    placeholder_items: int = 10
    placeholder_lines: int = 50
    placeholder_over_share: float = 0.4  # workbook: 40.00 at 67%; the next price 16%; all lines 3%


def non_product_suspects(df: pd.DataFrame, rules: SuspectRules = SuspectRules(),
                         mask: np.ndarray | None = None) -> pd.DataFrame:
    """One row per suspect item: the evidence, and `strong` when it is enough to exclude by default.

    Strong: most priced lines at one price, that price above the median ticket amount of the
    baskets the item is in, and the line alone worth more than its whole ticket in a quarter of
    its lines. Weak (flagged only): one price on most lines and many lines at 0. `mask`: the lines
    to look at (all by default), so that the caller need not copy the frame.
    """
    columns = ["item_id", "lines", "modal_price", "modal_share", "zero_share", "over_ticket_share",
               "median_ticket", "basket_share", "customer_share", "strong", "evidence"]
    mask = np.ones(len(df), dtype=bool) if mask is None else mask
    if not mask.any():
        return pd.DataFrame(columns=columns)

    def column(name: str) -> pd.Series:
        return df[name][mask] if not mask.all() else df[name]

    codes, items = pd.factorize(column(ITEM_ID))
    n = len(items)
    price = column(PRICE).to_numpy("float64", na_value=np.nan)
    qty = column(QUANTITY).to_numpy("float64", na_value=np.nan)
    lines = np.bincount(codes, minlength=n)
    priced = price > 0
    n_priced = np.bincount(codes[priced], minlength=n)
    zero_share = np.bincount(codes[price == 0], minlength=n) / np.maximum(lines, 1)
    modal_price, modal_count = _modal_prices(codes[priced], price[priced], n)
    modal_share = modal_count / np.maximum(n_priced, 1)
    has_amount = TICKET_AMOUNT in df and bool(df[TICKET_AMOUNT].notna().any())
    if has_amount:
        amount = column(TICKET_AMOUNT).to_numpy("float64", na_value=np.nan)
        over = priced & (price * qty > amount + 0.005)
        over_share = np.bincount(codes[over], minlength=n) / np.maximum(n_priced, 1)
        median_ticket = pd.Series(amount).groupby(codes).median().reindex(range(n)).to_numpy("float64")
    else:  # without ticket totals there is no "worth more than the ticket" evidence
        over_share, median_ticket = np.zeros(n), np.full(n, np.nan)
    baskets = column(TICKET_ID) if TICKET_ID in df else column(USER_ID)
    basket_share = _distinct_share(codes, pd.factorize(baskets)[0], n)
    customer_share = _distinct_share(codes, pd.factorize(column(USER_ID))[0], n)

    enough, constant = lines >= rules.min_lines, modal_share >= rules.constant_share
    strong = enough & constant & (modal_price > median_ticket) & (over_share >= rules.over_ticket_share)
    weak = enough & constant & (zero_share >= rules.zero_share) & ~strong
    pick = np.flatnonzero(strong | weak)
    out = pd.DataFrame({
        "item_id": np.asarray(items, dtype=object)[pick].astype(str), "lines": lines[pick],
        "modal_price": modal_price[pick], "modal_share": modal_share[pick], "zero_share": zero_share[pick],
        "over_ticket_share": over_share[pick], "median_ticket": median_ticket[pick],
        "basket_share": basket_share[pick], "customer_share": customer_share[pick], "strong": strong[pick],
    })
    out["evidence"] = [_evidence(row) for row in out.to_dict("records")]
    return out.sort_values(["strong", "lines"], ascending=[False, False]).reset_index(drop=True)[columns]


def placeholder_prices(df: pd.DataFrame, rules: SuspectRules = SuspectRules(),
                       mask: np.ndarray | None = None) -> pd.DataFrame:
    """Prices that are not prices: one value on the lines of many codes whose line alone is worth
    more than its whole ticket far more often than other lines (needs ticket amounts)."""
    columns = ["price", "lines", "items", "over_ticket_share", "evidence"]
    if TICKET_AMOUNT not in df or df.empty:
        return pd.DataFrame(columns=columns)
    mask = np.ones(len(df), dtype=bool) if mask is None else mask
    price = df[PRICE].to_numpy("float64", na_value=np.nan)
    qty = df[QUANTITY].to_numpy("float64", na_value=np.nan)
    amount = df[TICKET_AMOUNT].to_numpy("float64", na_value=np.nan)
    priced = mask & (price > 0) & np.isfinite(amount)
    if not priced.any():
        return pd.DataFrame(columns=columns)
    lines = pd.DataFrame({"price": np.round(price[priced], 2), "item": pd.factorize(df[ITEM_ID][priced])[0],
                          "over": price[priced] * qty[priced] > amount[priced] + 0.005})
    stats = lines.groupby("price").agg(lines=("item", "size"), items=("item", "nunique"), over_ticket_share=("over", "mean"))
    pick = stats[(stats["items"] >= rules.placeholder_items) & (stats["lines"] >= rules.placeholder_lines)
                 & (stats["over_ticket_share"] >= rules.placeholder_over_share)].reset_index()
    overall = float(lines["over"].mean())
    pick["evidence"] = [f"{r.lines:,} lines of {r.items:,} codes at {r.price:.2f}; the line alone is worth more than "
                        f"its whole ticket in {r.over_ticket_share:.0%} of them (all priced lines: {overall:.0%})"
                        for r in pick.itertuples()]
    return pick[columns]


def on_placeholder_price(df: pd.DataFrame, prices: pd.DataFrame) -> np.ndarray:
    """Per line: True when its price is one of the placeholder prices."""
    if prices.empty:
        return np.zeros(len(df), dtype=bool)
    return np.isin(np.round(df[PRICE].to_numpy("float64", na_value=np.nan), 2), prices["price"].to_numpy("float64"))


def _modal_prices(codes: np.ndarray, prices: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per item: its most common price (lowest on ties) and how many lines have it."""
    modal, count = np.full(n, np.nan), np.zeros(n)
    if len(codes):
        counts = pd.DataFrame({"c": codes, "p": np.round(prices, 4)}).value_counts().reset_index(name="k")
        best = counts.sort_values(["c", "k", "p"], ascending=[True, False, True]).drop_duplicates("c")
        modal[best["c"].to_numpy()] = best["p"].to_numpy()
        count[best["c"].to_numpy()] = best["k"].to_numpy()
    return modal, count


def _distinct_share(codes: np.ndarray, group: np.ndarray, n: int) -> np.ndarray:
    """Per item: the share of all distinct groups (baskets, customers) it appears in."""
    total = int(group.max()) + 1 if len(group) else 1
    pairs = unique_sorted(codes.astype(np.int64) * total + group)
    return np.bincount(pairs // total, minlength=n) / total


def _evidence(row: dict) -> str:
    """The evidence of one suspect in words."""
    parts = [f"{row['modal_share']:.0%} of its priced lines at {row['modal_price']:.2f}"]
    if row["zero_share"] > 0:
        parts.append(f"{row['zero_share']:.0%} of its lines at 0.00")
    if row["over_ticket_share"] > 0:
        parts.append(f"the line alone is worth more than its whole ticket in {row['over_ticket_share']:.0%} "
                     f"of its priced lines (median ticket {row['median_ticket']:.2f})")
    parts.append(f"in {row['basket_share']:.1%} of baskets, bought by {row['customer_share']:.0%} of customers")
    return "; ".join(parts)
