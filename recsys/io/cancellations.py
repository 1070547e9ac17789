"""Cancellations netted against the sales they cancel (vectorised, no loop over lines or customers).

A cancellation is a line with a negative quantity: a return at the till, or a line of an order
cancelled afterwards (the loader turns the lines of a ticket marked as cancelled, 'C536379',
into negative quantities). It cancels sales of the **same customer and item, made earlier**
(at the same time or before), the latest first, for **up to its own quantity**: a sale it
covers leaves the training data with it; a sale it covers in part stays with the units left;
what it cannot cover (nothing bought before, or less than it takes back) is reported as not
matched. Guests have no customer id: their cancellations net only within the same basket.

Walking a customer-item's lines from the latest back, the units waiting to be netted follow
W = max(0, W + cancelled - sold), a clipped running sum: W_k = S_k - min(0, min_j<=k S_j) with
S the running sum (Lindley's formula), computed for every pair at once with grouped cumsum and
cummin; a sale gives up W_(k-1) - W_k units.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.io.schema import ITEM_ID, QUANTITY, TICKET_ID, TIMESTAMP, USER_ID

UNIT_TOLERANCE = 1e-9


@dataclass
class Netting:
    """Per line of the frame: what netting the cancellations did."""

    cancellation: np.ndarray     # bool: a cancellation (always leaves the training data)
    unmatched: np.ndarray        # bool: a cancellation not (fully) matched by earlier sales
    sale_cancelled: np.ndarray   # bool: a sale fully cancelled (leaves with its cancellation)
    sale_reduced: np.ndarray     # bool: a sale cancelled in part (stays with the units left)
    units_left: np.ndarray       # float: the units each line keeps (only read where sale_reduced)
    unmatched_units: float       # units taken back that no earlier sale covered

    @property
    def matched(self) -> np.ndarray:
        return self.cancellation & ~self.unmatched


def _grouped(values: np.ndarray, groups: np.ndarray, how: str) -> np.ndarray:
    """cumsum / cummin / cummax of values within contiguous groups."""
    return getattr(pd.Series(values).groupby(groups, sort=False), how)().to_numpy()


def _buyer_codes(df: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """A code per line of `rows`: its customer, or (a guest) its basket."""
    user = df[USER_ID].to_numpy()[rows].astype(str) if len(rows) else np.empty(0, dtype=str)
    guest = (user == "") | (user == "nan")
    if TICKET_ID in df and guest.any():
        ticket = df[TICKET_ID].to_numpy()[rows].astype(str)
        user = np.where(guest, np.char.add("\x00guest:", ticket), user)
    return pd.factorize(user)[0].astype(np.int64)


def net_cancellations(df: pd.DataFrame, keep: np.ndarray) -> Netting:
    """Net the cancellations among the `keep` lines against the earlier sales they cancel."""
    n = len(df)
    qty = df[QUANTITY].to_numpy("float64", na_value=np.nan)
    cancellation = keep & (qty < 0)
    none = np.zeros(n, dtype=bool)
    if not cancellation.any():
        return Netting(cancellation, none, none, none.copy(), qty, 0.0)
    sale = keep & (qty > 0)
    # only the customer-item pairs that have a cancellation: a few per cent of the lines at most
    item = pd.factorize(df[ITEM_ID])[0].astype(np.int64)
    candidates = np.flatnonzero(cancellation | (sale & np.isin(item, item[cancellation])))
    buyer = _buyer_codes(df, candidates)
    pair = buyer * (int(item.max()) + 1) + item[candidates]
    involved = np.isin(pair, pair[cancellation[candidates]])
    rows, pair = candidates[involved], pair[involved]
    time = df[TIMESTAMP].to_numpy("datetime64[ns]")[rows].astype(np.int64)
    is_sale = sale[rows]
    # latest first; at one instant the cancellation first, so a sale at that instant is "earlier"
    order = np.lexsort((is_sale, -time, pair))
    rows, pair, is_sale = rows[order], pair[order], is_sale[order]
    step = -qty[rows]  # + units taken back by a cancellation, - units sold by a sale
    running = _grouped(step, pair, "cumsum")
    waiting = running - np.minimum(_grouped(running, pair, "cummin"), 0.0)
    start = np.r_[True, pair[1:] != pair[:-1]]
    before = np.where(start, 0.0, np.r_[0.0, waiting[:-1]])
    given = np.where(is_sale, before - waiting, 0.0)
    units_left = qty.copy()
    units_left[rows] = np.where(is_sale, qty[rows] - given, qty[rows])
    sale_cancelled, sale_reduced = none.copy(), none.copy()
    sale_cancelled[rows] = is_sale & (given > 0) & (units_left[rows] <= UNIT_TOLERANCE)
    sale_reduced[rows] = is_sale & (given > 0) & (units_left[rows] > UNIT_TOLERANCE)
    # a cancellation is matched when the units waiting drain to 0 at or after it (earlier in time)
    drained_later = _grouped((waiting <= UNIT_TOLERANCE)[::-1].astype(np.int8), pair[::-1], "cummax")[::-1] > 0
    unmatched = none.copy()
    unmatched[rows] = ~is_sale & ~drained_later
    end = np.r_[pair[1:] != pair[:-1], True]
    return Netting(cancellation, unmatched, sale_cancelled, sale_reduced, units_left,
                   float(waiting[end].sum()))
