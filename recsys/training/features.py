"""Signals learned from a cleaned transaction frame: all vectorised, no per-user loops.

Everything here works on integer codes: `encode` factorises users and items once and the rest
of the pipeline only sees positions into `user_ids` / `item_ids`.

Guest lines (sales without a customer id, `recsys.io.cleaning.clean_sales(...).guests`) are
encoded apart (`GuestLines`, anonymous baskets on the same item codes): they count for the items'
popularity (each basket one buyer), their prices, the catalogue and the baskets item-CF and
"bought together" learn from; never for a customer's profile, segment or history.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.arrays import (
    distinct_count,
    group_mean,
    group_median,
    order_by,
    unique_inverse_counts,
    unique_sorted,
)
from recsys.config import SEGMENTS, SegmentConfig, SignalConfig, TuningConfig
from recsys.io import schema as S
from recsys.io.dates import to_seconds
from recsys.models.data import TrainingData
from recsys.models.popularity import popularity_score


@dataclass
class GuestLines:
    """Guest lines as integer codes: anonymous baskets, each a buyer of its own."""

    item: np.ndarray          # (n,) int32 item code (into Encoded.item_ids)
    basket: np.ndarray        # (n,) int64 basket code, 0 .. n_baskets - 1
    time: np.ndarray          # (n,) int64 seconds
    quantity: np.ndarray      # (n,) float32
    price: np.ndarray         # (n,) float32

    @property
    def n_lines(self) -> int:
        return len(self.item)

    @property
    def n_baskets(self) -> int:
        return int(self.basket.max()) + 1 if len(self.basket) else 0

    @classmethod
    def empty(cls) -> "GuestLines":
        return cls(np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32),
                   np.empty(0, np.float32))


@dataclass
class Encoded:
    """A transaction frame as integer codes, lines sorted by (user, time)."""

    user_ids: np.ndarray      # (n_users,) str
    item_ids: np.ndarray      # (n_items,) str
    user: np.ndarray          # (n_lines,) int32 user code
    item: np.ndarray          # (n_lines,) int32 item code
    time: np.ndarray          # (n_lines,) int64 seconds since epoch
    quantity: np.ndarray      # (n_lines,) float32
    price: np.ndarray         # (n_lines,) float32
    basket: np.ndarray        # (n_lines,) int64 basket code
    user_type: np.ndarray     # (n_users,) str: loyal / new
    # (n_items,) each: item_name and category ('' = unknown), list_price (the catalogue's; nan = none)
    item_info: dict[str, np.ndarray] | None = None
    guests: GuestLines = field(default_factory=GuestLines.empty)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_lines(self) -> int:
        return len(self.user)

    @property
    def user_ptr(self) -> np.ndarray:
        """CSR-style offsets: the lines of user u are [ptr[u], ptr[u+1])."""
        return np.searchsorted(self.user, np.arange(self.n_users + 1)).astype(np.int64)


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int32), np.asarray(uniques.astype(str), dtype=object)


def encode(df: pd.DataFrame, guests: pd.DataFrame | None = None) -> Encoded:
    """Factorise a cleaned canonical frame into integer codes sorted by user then time; `guests`
    (guest lines, cleaned) on the same item codes, sorted by basket then time."""
    user, user_ids = _codes(df[S.USER_ID])
    has_guests = guests is not None and len(guests) > 0
    if has_guests:  # the customers' items first: the same codes as without guests
        both, item_ids = _codes(pd.concat([df[S.ITEM_ID].astype(str), guests[S.ITEM_ID].astype(str)],
                                          ignore_index=True))
        item, guest_item = both[:len(df)], both[len(df):]
    else:
        item, item_ids = _codes(df[S.ITEM_ID])
    time = to_seconds(df[S.TIMESTAMP])
    if S.TICKET_ID in df.columns:
        basket = pd.factorize(df[S.TICKET_ID])[0].astype(np.int64)
    else:
        basket = pd.factorize(pd.Series(user).astype(np.int64) * 10**10 + time)[0]
    order = order_by(user, time)
    if S.CUSTOMER_TYPE in df.columns:
        # compared as the column is (codes of a Categorical, Arrow strings): no object array of 20M str
        loyal_line = (df[S.CUSTOMER_TYPE] == "loyal").to_numpy(dtype=bool, na_value=False)
    else:
        loyal_line = np.ones(len(df), dtype=bool)
    # a user seen as loyal anywhere is loyal; 'new' only when every line says new
    is_loyal = np.zeros(len(user_ids), dtype=bool)
    is_loyal[user[loyal_line]] = True
    user_type = np.where(is_loyal, "loyal", "new").astype(object)
    enc = Encoded(
        user_ids=user_ids, item_ids=item_ids, user=user[order], item=item[order], time=time[order],
        quantity=np.asarray(df[S.QUANTITY], dtype=np.float32)[order],
        price=np.asarray(df[S.PRICE], dtype=np.float32)[order],
        basket=basket[order], user_type=user_type, item_info=item_info(df, item, time, len(item_ids)),
    )
    if has_guests:
        guest_time = to_seconds(guests[S.TIMESTAMP])
        enc.guests = _guest_lines(guests, guest_item, guest_time)
        # names and categories from every line, the guests' too (an item only guests buy has one)
        enc.item_info = item_info(_item_columns(df, guests), np.r_[item, guest_item], np.r_[time, guest_time],
                                  len(item_ids))
    return enc


def _guest_lines(guests: pd.DataFrame, item: np.ndarray, time: np.ndarray) -> GuestLines:
    """Guest lines as codes, sorted by basket (its ticket, else its timestamp) then time."""
    by = guests[S.TICKET_ID] if S.TICKET_ID in guests.columns else pd.Series(time)
    basket = pd.factorize(by)[0].astype(np.int64)
    order = order_by(basket, time)
    return GuestLines(item=item[order].astype(np.int32), basket=basket[order], time=time[order],
                      quantity=np.asarray(guests[S.QUANTITY], dtype=np.float32)[order],
                      price=np.asarray(guests[S.PRICE], dtype=np.float32)[order])


def _item_columns(df: pd.DataFrame, guests: pd.DataFrame) -> pd.DataFrame:
    """The item columns (name, category, catalogue price) of the customers' lines, then the guests'."""
    columns = [c for c in (S.ITEM_NAME, S.CATEGORY, S.LIST_PRICE) if c in df.columns or c in guests.columns]
    parts = [frame.reindex(columns=columns) for frame in (df, guests)]
    for part in parts:
        for c in (S.ITEM_NAME, S.CATEGORY):
            if c in part.columns:
                part[c] = part[c].astype("str").where(part[c].notna(), "")
    return pd.concat(parts, ignore_index=True)


def item_info(df: pd.DataFrame, item: np.ndarray, time: np.ndarray, n_items: int) -> dict[str, np.ndarray]:
    """Per item code: the latest non-empty name and category ('' when none), the catalogue price (nan)."""
    out = {}
    for column in (S.ITEM_NAME, S.CATEGORY):
        values = np.full(n_items, "", dtype=object)
        if column in df.columns:
            cat = df[column].astype("category")
            labels = np.asarray(cat.cat.categories.astype(str), dtype=object)
            codes = cat.cat.codes.to_numpy()
            has = codes >= 0
            if len(labels):
                has &= labels[np.maximum(codes, 0)] != ""
            last = _latest_line(item[has], time[has], n_items)
            found = last >= 0
            values[found] = labels[codes[has][last[found]]]
        out[column] = values
    price = np.full(n_items, np.nan)
    if S.LIST_PRICE in df.columns:
        lp = df[S.LIST_PRICE].to_numpy("float64", na_value=np.nan)
        has = np.isfinite(lp)
        last = _latest_line(item[has], time[has], n_items)
        price[last >= 0] = lp[has][last[last >= 0]]
    out[S.LIST_PRICE] = price
    return out


def _latest_line(item: np.ndarray, time: np.ndarray, n_items: int) -> np.ndarray:
    """Per item code: the position (into these arrays) of its latest line, -1 when it has none."""
    out = np.full(n_items, -1, dtype=np.int64)
    if len(item):
        order = order_by(item.astype(np.int64), time)
        last = np.r_[item[order][1:] != item[order][:-1], True]
        out[item[order][last]] = order[last]
    return out


def line_signals(enc: Encoded, cfg: SignalConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per line: spending ratio, quantity ratio and the combined confidence weight."""
    return _signals(enc.user, enc.n_users, enc.item, enc.n_items, enc.price, enc.quantity, cfg)


def guest_line_weights(enc: Encoded, cfg: SignalConfig) -> np.ndarray:
    """Per guest line: its confidence weight, each basket standing for its buyer (the spending
    ratio against the basket's average price; units against the item's average on guest lines)."""
    g = enc.guests
    return _signals(g.basket, g.n_baskets, g.item, enc.n_items, g.price, g.quantity, cfg)[2]


def _signals(buyer: np.ndarray, n_buyers: int, item: np.ndarray, n_items: int, price: np.ndarray,
             quantity: np.ndarray, cfg: SignalConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    buyer_avg_price = group_mean(buyer, price, n_buyers)
    item_avg_units = group_mean(item, quantity, n_items)
    spending = price / np.where(buyer_avg_price > 0, buyer_avg_price, 1.0)[buyer]
    qty = quantity / np.where(item_avg_units > 0, item_avg_units, 1.0)[item]
    weight = cfg.spending_weight * spending + cfg.quantity_weight * qty
    weight = np.clip(weight, cfg.clip_min, cfg.clip_max)
    return spending.astype(np.float32), qty.astype(np.float32), weight.astype(np.float32)


def segment_codes(avg_price: np.ndarray, thresholds: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Segment code per user (0=small .. 3=high) and the price cut points used."""
    cuts = np.quantile(avg_price, thresholds) if len(avg_price) else np.zeros(3)
    return np.searchsorted(cuts, avg_price, side="right").astype(np.int8), cuts


def user_profiles(enc: Encoded, seg_cfg: SegmentConfig) -> pd.DataFrame:
    """One row per user code: type, volume, spend, dates and spending segment."""
    n = enc.n_users
    spend = enc.price.astype(np.float64) * enc.quantity
    lines = np.bincount(enc.user, minlength=n)
    avg_price = group_mean(enc.user, enc.price.astype(np.float64), n)
    ptr = enc.user_ptr
    has = lines > 0
    first = np.where(has, enc.time[np.minimum(ptr[:-1], max(enc.n_lines - 1, 0))], 0)
    last = np.where(has, enc.time[np.maximum(ptr[1:] - 1, 0)], 0)
    seg, _ = segment_codes(avg_price, seg_cfg.thresholds)
    return pd.DataFrame({
        "user_id": enc.user_ids,
        "user_type": enc.user_type,
        "total_purchases": lines,
        "tickets": distinct_count(enc.user, enc.basket, n),
        "unique_items": distinct_count(enc.user, enc.item, n),
        "avg_item_price": avg_price,
        "total_spend": np.bincount(enc.user, weights=spend, minlength=n),
        "first_purchase": pd.to_datetime(first, unit="s"),
        "last_purchase": pd.to_datetime(last, unit="s"),
        "spending_segment": np.asarray(SEGMENTS, dtype=object)[seg],
        "segment_code": seg,
    })


def popularity_components(enc: Encoded) -> dict[str, np.ndarray]:
    """Per item: purchase count (lines), distinct buyers (customers, and each guest basket as one
    anonymous buyer), units sold; guest lines count in all three."""
    n, g = enc.n_items, enc.guests
    return {
        "purchase_count": (np.bincount(enc.item, minlength=n) + np.bincount(g.item, minlength=n)).astype(np.float64),
        "unique_buyers": (distinct_count(enc.item, enc.user, n) + distinct_count(g.item, g.basket, n)).astype(np.float64),
        "total_quantity": np.bincount(enc.item, weights=enc.quantity, minlength=n)
        + np.bincount(g.item, weights=g.quantity, minlength=n),
    }


def segment_buyers(enc: Encoded, user_segment: np.ndarray) -> np.ndarray:
    """(4, n_items): distinct buyers of each item within each spending segment."""
    ui = unique_sorted(enc.user.astype(np.int64) * enc.n_items + enc.item)
    users = ui // enc.n_items
    items = ui % enc.n_items
    key = user_segment[users].astype(np.int64) * enc.n_items + items
    return np.bincount(key, minlength=len(SEGMENTS) * enc.n_items).reshape(len(SEGMENTS), enc.n_items).astype(np.float64)


LATEST_SALES = 5  # the item's price is the median of its last few priced sales


def item_prices(enc: Encoded, latest: int = LATEST_SALES) -> np.ndarray:
    """Current unit price of each item: the catalogue's where given, else the median of its last
    `latest` sales with a price, guests' sales included (a price change shows at once; one odd
    line does not)."""
    price = np.full(enc.n_items, np.nan)
    g = enc.guests
    all_item, all_time, all_price = ((np.r_[enc.item, g.item], np.r_[enc.time, g.time], np.r_[enc.price, g.price])
                                     if g.n_lines else (enc.item, enc.time, enc.price))
    priced = all_price > 0
    if priced.any():
        item, time, p = all_item[priced].astype(np.int64), all_time[priced], all_price[priced].astype(np.float64)
        order = order_by(item, time)
        item, p = item[order], p[order]
        end = np.searchsorted(item, np.arange(enc.n_items), side="right")
        start = np.maximum(np.searchsorted(item, np.arange(enc.n_items)), end - latest)
        # (n_items, latest) window of each item's last sales, nan-padded: a vectorised median
        idx = start[:, None] + np.arange(latest)[None, :]
        window = np.where(idx < end[:, None], p[np.minimum(idx, len(p) - 1)], np.nan)
        has = end > start
        price[has] = np.nanmedian(window[has], axis=1)
    price[np.isnan(price)] = 0.0  # never sold at a price
    if enc.item_info is not None:
        listed = enc.item_info[S.LIST_PRICE]
        price = np.where(np.isfinite(listed), listed, price)
    return price


def median_item_prices(enc: Encoded) -> np.ndarray:
    """Typical (median) unit price of each item over its whole history."""
    if enc.price.dtype == np.float32 and (len(enc.price) == 0 or not np.signbit(enc.price).any()):
        # one int64 sort of (item | price bits): the bits of a non-negative float32 order like it
        key = np.sort((enc.item.astype(np.int64) << 32) | enc.price.view(np.int32).astype(np.int64))
        items, prices = (key >> 32).astype(enc.item.dtype), (key & 0xFFFFFFFF).astype(np.int32).view(np.float32)
    else:
        order = np.lexsort((enc.price, enc.item))
        items, prices = enc.item[order], enc.price[order]
    start = np.searchsorted(items, np.arange(enc.n_items))
    end = np.searchsorted(items, np.arange(enc.n_items), side="right")
    lo = prices[np.minimum((start + end - 1) // 2, len(prices) - 1)]
    hi = prices[np.minimum((start + end) // 2, len(prices) - 1)]
    return ((lo + hi) / 2).astype(np.float64)


def segment_price_caps(enc: Encoded, user_segment: np.ndarray, quantile: float) -> np.ndarray:
    """Per segment: the price quantile of what that segment buys (the segment filter's cap)."""
    seg_of_line = user_segment[enc.user]
    caps = np.full(len(SEGMENTS), np.inf)
    for s in range(len(SEGMENTS)):  # four segments, not a loop over data
        prices = enc.price[seg_of_line == s]
        if len(prices):
            caps[s] = float(np.quantile(prices, quantile))
    return caps


@dataclass
class Cycles:
    """Repurchase cycles in days: per item, and per user-item where history allows."""

    item_days: np.ndarray           # (n_items,) median gap between repeat purchases; nan = unknown
    item_repeat_rate: np.ndarray    # (n_items,) share of buyers who bought it on 2+ days
    user_item_days: sp.csr_matrix   # (n_users, n_items) median gap for pairs with >= min_gaps gaps


def repurchase_cycles(enc: Encoded, min_gaps: int = 2) -> Cycles:
    """Median days between repeat purchases, from distinct (user, item, day) events."""
    day = (enc.time // 86_400).astype(np.int64)
    key = (enc.user.astype(np.int64) * enc.n_items + enc.item) * 100_000 + (day - day.min() if len(day) else day)
    key = unique_sorted(key)
    pair = key // 100_000
    d = key % 100_000
    same = np.r_[False, pair[1:] == pair[:-1]]
    gaps = np.diff(d, prepend=0)[same].astype(np.float64)
    gap_pair = pair[same]
    item = (gap_pair % enc.n_items).astype(np.int64)

    item_days = group_median(item, gaps, enc.n_items)
    buyers = np.bincount((unique_sorted(pair) % enc.n_items).astype(np.int64), minlength=enc.n_items)
    repeaters = np.bincount((unique_sorted(gap_pair) % enc.n_items).astype(np.int64), minlength=enc.n_items)
    repeat_rate = repeaters / np.maximum(buyers, 1)

    upairs, inverse, counts = unique_inverse_counts(gap_pair)
    med = group_median(inverse, gaps, len(upairs))
    keep = counts >= min_gaps
    ui = sp.csr_matrix((med[keep].astype(np.float32), ((upairs[keep] // enc.n_items), (upairs[keep] % enc.n_items))),
                       shape=(enc.n_users, enc.n_items))
    return Cycles(item_days=item_days, item_repeat_rate=repeat_rate, user_item_days=ui)


def training_data(enc: Encoded, weight: np.ndarray, user_segment: np.ndarray, prices: np.ndarray,
                  parts: dict[str, np.ndarray], seg_buyers: np.ndarray, config: TuningConfig) -> TrainingData:
    """The one input every model fits on, from the encoded lines and the store-wide facts
    (repurchase cycles join later, once computed: `dataclasses.replace`)."""
    p = config.popularity
    buyers_share = parts["unique_buyers"] / max(parts["unique_buyers"].max(), 1) if len(parts["unique_buyers"]) \
        else parts["unique_buyers"]
    ranked_by = popularity_score(parts, p.purchase_weight, p.buyers_weight, p.quantity_weight) \
        if p.model_by == "weighted" else buyers_share
    g = enc.guests
    return TrainingData(
        n_users=enc.n_users, n_items=enc.n_items, user=enc.user, item=enc.item, time=enc.time, basket=enc.basket,
        weight=weight, log_transform=config.signals.log_transform, user_segment=np.asarray(user_segment, np.int8),
        item_price=prices, item_popularity=ranked_by, item_buyers_share=buyers_share, segment_buyers=seg_buyers,
        guest_item=g.item, guest_basket=g.basket, guest_weight=guest_line_weights(enc, config.signals))
