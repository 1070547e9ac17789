"""A synthetic grocery store in the canonical transaction schema (see :mod:`recsys.io.schema`).

Generative story
----------------
*Catalogue.*  ``n_items`` products are split into taste clusters (categories) of uneven
size.  Each product gets a Zipf-like popularity (a random rank ``r`` weighs
``1 / (r + 30)``), so a few items sell a lot and most sell rarely, and a unit
price drawn from a lognormal fitted to a real store (median 2.98, 75th percentile 4.59)
plus a handful of expensive items, clipped to 0.19..100.  Item ids mix 10-digit
EAN-like numbers (``"7003858505"``), short numeric PLUs and text ids (``"BAK-01234"``).

*Customers.*  Users are either *loyal* (they shop over the whole period) or *new*
(a share ``new_customer_share`` of the users, who only appear in the last 31 days with
1-24 trips).  Every user has a spending level (low / mid / high: the higher, the more
the user leans to pricier items and the bigger the baskets), a preference for 1-3
clusters, a personal basket size (~5-15 lines), an activity level (a lognormal number
of lines, so a long tail of heavy shoppers) and a personal *favourite set*: items drawn
once from the user's clusters and the global popularity, which the user buys again
and again.  The first few favourites are *staples* (milk, bread, ...) each with a
personal cycle of 7, 10, 14, 21 or 30 days.

*Trips.*  A user's trips are spread over their active span, weighted by weekday and
store hours (8:00-21:00, peaks late morning and early evening).  A trip is one
``ticket_id`` at one timestamp.  A staple goes into a trip when the trip opens a new
cycle window of that staple (with jitter and an occasional skip), which gives
repurchase cycles.  The rest of the basket comes from the favourite set (about 45 %),
the user's clusters and the global popularity, all tilted by the spending level.
About 60 % of the distinct items a loyal customer buys in four weeks were bought by
them before.  ``favourite_share`` (default 0.45) lowers that: the favourite share of the
basket, the number of staples and the share of explorations within the user's own clusters
all scale with it (0.12 over 10,000 items and 120 days gives ~14 %, Ta Feng's repeat share).

*Lines.*  Units are mostly 1, sometimes 2-6 and rarely up to 60; a few lines are on
promotion.  For the cleaning code there are non-product lines (item ``"200"`` and
``"OPEN DEPT 1xx"`` at price 0) and a few refund tickets with a negative quantity.
``ticket_amount`` is the basket total; ``ticket_id`` is ``"<till><8-digit number>"``.

Everything is vectorised with numpy (the only loops run over the 3 spending levels and
the at most 6 staples of a user), so 2M lines take about 2 s and 20M lines about 20 s
and 2.4 GiB on 2 cores.  Favourite sets are not stored: the k-th favourite of a user
is drawn from uniforms hashed from (user, k), the same on every call.

The frame returned is chronological.  ``user_id``, ``item_id``, ``ticket_id`` and
``customer_type`` are pandas ``Categorical`` columns with ``str`` categories: they
compare equal to Python ``str`` values (``df.user_id == "40000012345"``) and cost a
fraction of the memory of object columns; call ``.astype(str)`` where plain strings
are needed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recsys.io.schema import (
    CATEGORY,
    CUSTOMER_TYPE,
    CUSTOMER_TYPES,
    ITEM_ID,
    ITEM_NAME,
    PRICE,
    QUANTITY,
    TICKET_AMOUNT,
    TICKET_ID,
    TIMESTAMP,
    USER_ID,
)
from recsys.io.synthetic_names import category_names, non_product_name, product_names

SIZES: dict[str, dict[str, int]] = {
    "S": dict(n_lines=100_000, n_users=10_000, n_items=5_000),
    "M": dict(n_lines=2_000_000, n_users=200_000, n_items=50_000),
    "L": dict(n_lines=20_000_000, n_users=1_000_000, n_items=200_000),
}

NEW_CUSTOMER_DAYS = 31           # new customers only appear in the last 31 days
MAX_NEW_TRIPS = 24
MAX_STAPLES = 6
STAPLE_PERIODS = np.array([7.0, 10.0, 14.0, 21.0, 30.0])
STAPLE_PERIOD_P = np.array([0.35, 0.10, 0.30, 0.10, 0.15])
PRICE_MEDIAN, PRICE_SIGMA = 2.98, 0.64   # ln(4.59 / 2.98) / 0.6745 ~ 0.64
PRICE_MIN, PRICE_MAX = 0.19, 100.0
SPEND_P = np.array([0.35, 0.45, 0.20])        # low / mid / high spenders
SPEND_PRICE_TILT = np.array([-0.7, 0.0, 0.7])  # weight *= (price / median) ** tilt
SPEND_BASKET = np.array([0.85, 1.0, 1.25])
WEEKDAY_P = np.array([0.15, 0.13, 0.14, 0.15, 0.18, 0.20, 0.05])  # Mon..Sun
BAG_ITEM, DEPT_ITEMS = "200", ("OPEN DEPT 101", "OPEN DEPT 102", "OPEN DEPT 105")
BAG_RATE, DEPT_RATE, RETURN_RATE = 0.05, 0.01, 0.002   # per trip
DEFAULT_FAVOURITE_SHARE = 0.45  # mean share of non-staple lines from the favourite set
EXPLORE_IN_CLUSTERS = 0.7       # share of the other lines drawn from the user's own clusters
TEXT_PREFIXES = np.array(["FRU", "VEG", "BAK", "DEL", "CHE", "FIS", "MEA", "PLU"])


@dataclass
class _Catalogue:
    """Products: price, cluster and a popularity sampler per spending level."""

    ids: np.ndarray        # str ids of the products, then the non-product ids
    price: np.ndarray      # float64 unit price per product
    cluster: np.ndarray    # int cluster per product
    n_clusters: int
    cluster_p: np.ndarray  # share of products per cluster
    # sampler: one monotone cumulative array over (level, cluster-sorted products)
    cum: np.ndarray
    order: np.ndarray      # cluster-sorted position -> product index
    lo: np.ndarray         # (levels, clusters + 1) cumulative value at range start
    width: np.ndarray      # (levels, clusters + 1) cumulative width of the range
    first: np.ndarray      # (levels, clusters + 1) first position of the range
    last: np.ndarray       # (levels, clusters + 1) last position of the range
    guide: np.ndarray      # guide[b] = searchsorted(cum, b / guide_scale): O(1) lookups
    guide_scale: float

    @property
    def n_products(self) -> int:
        return len(self.price)

    def draw(self, level: np.ndarray, cluster: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Products drawn by popularity (tilted by ``level``) within ``cluster``
        (``-1`` = the whole catalogue), using the uniforms ``r``."""
        key = level.astype(np.int64) * (self.n_clusters + 1)
        key += np.where(cluster < 0, self.n_clusters, cluster)
        u = self.lo.ravel()[key]
        u += r * self.width.ravel()[key]
        pos = self._search(u)
        del u
        np.clip(pos, self.first.ravel()[key], self.last.ravel()[key], out=pos)
        return self.order[pos % self.n_products]


    def _search(self, u: np.ndarray) -> np.ndarray:
        """``searchsorted(cum, u, "right")`` through the guide table: one lookup, and
        a binary search only for the few values whose bucket holds a boundary."""
        b = (u * self.guide_scale).astype(np.int64)
        np.clip(b, 0, len(self.guide) - 2, out=b)
        pos = self.guide[b].astype(np.int64)
        b += 1
        amb = np.flatnonzero(pos != self.guide[b])
        del b
        pos[amb] = np.searchsorted(self.cum, u[amb], side="right")
        return pos


def _guide(cum: np.ndarray) -> tuple[np.ndarray, float]:
    """A guide table of ~16 buckets per entry of ``cum`` (at most 2**24)."""
    n_buckets = int(min(16 * len(cum), 2**24))
    scale = n_buckets / cum[-1]
    edges = np.arange(n_buckets + 1) / scale
    return np.searchsorted(cum, edges, side="right").astype(np.int32), scale


def _item_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique str ids: ~80 % 10-digit EAN-like, ~5 % 4-5 digit PLUs, ~15 % text."""
    kind = rng.choice(3, size=n, p=[0.80, 0.05, 0.15])
    plu = np.flatnonzero(kind == 1)
    kind[plu[99_000:]] = 2                     # only 99,000 PLUs exist
    ids = np.empty(n, dtype=object)
    ean = np.flatnonzero(kind == 0)
    ean_codes = 7_000_000_000 + np.cumsum(rng.integers(1, 10_000, len(ean)))
    ids[ean] = rng.permutation(ean_codes).astype(str)
    plu = np.flatnonzero(kind == 1)
    ids[plu] = (1000 + rng.choice(99_000, size=len(plu), replace=False)).astype(str)
    text = np.flatnonzero(kind == 2)
    if len(text):
        seq = np.char.zfill((rng.permutation(len(text)) + 1).astype(str), 5)
        prefix = TEXT_PREFIXES[rng.integers(len(TEXT_PREFIXES), size=len(text))]
        ids[text] = np.char.add(np.char.add(prefix, "-"), seq)
    return ids


def _prices(rng: np.random.Generator, n: int) -> np.ndarray:
    """Lognormal unit prices with a few expensive items, rounded to cents."""
    price = np.exp(np.log(PRICE_MEDIAN) + PRICE_SIGMA * rng.standard_normal(n))
    pricey = rng.random(n) < 0.003
    price[pricey] = np.exp(rng.uniform(np.log(25), np.log(PRICE_MAX), pricey.sum()))
    price = np.round(np.clip(price, PRICE_MIN, PRICE_MAX), 2)
    # shelf prices end in .x9 most of the time
    nine = rng.random(n) < 0.6
    price[nine] = np.maximum(np.floor(price[nine] * 10) / 10 + 0.09, PRICE_MIN)
    return np.minimum(price, PRICE_MAX)


def _catalogue(rng: np.random.Generator, n_items: int) -> _Catalogue:
    n_clusters = int(min(n_items, np.clip(n_items // 150, 6, 80)))
    cluster_p = rng.dirichlet(np.full(n_clusters, 2.0))
    cluster = rng.permutation(np.concatenate(
        [np.arange(n_clusters), rng.choice(n_clusters, n_items - n_clusters, p=cluster_p)]))
    cluster_p = np.bincount(cluster, minlength=n_clusters) / n_items
    price = _prices(rng, n_items)
    popularity = 1.0 / (rng.permutation(n_items) + 30.0) ** 1.0
    ids = np.concatenate([_item_ids(rng, n_items), [BAG_ITEM, *DEPT_ITEMS]])

    order = np.argsort(cluster, kind="stable")
    starts = np.searchsorted(cluster[order], np.arange(n_clusters + 1))
    levels = len(SPEND_PRICE_TILT)
    cum = np.empty(levels * n_items)
    shape = (levels, n_clusters + 1)
    lo, width = np.empty(shape), np.empty(shape)
    first, last = np.empty(shape, dtype=np.int64), np.empty(shape, dtype=np.int64)
    offset = 0.0
    for lvl, tilt in enumerate(SPEND_PRICE_TILT):
        w = (popularity * (price / PRICE_MEDIAN) ** tilt)[order]
        c = offset + np.cumsum(w)
        cum[lvl * n_items:(lvl + 1) * n_items] = c
        before = np.concatenate([[offset], c])[starts]     # cumulative value at range start
        lo[lvl, :-1], width[lvl, :-1] = before[:-1], np.diff(before)
        lo[lvl, -1], width[lvl, -1] = offset, c[-1] - offset
        first[lvl, :-1] = lvl * n_items + starts[:-1]
        last[lvl, :-1] = lvl * n_items + starts[1:] - 1
        first[lvl, -1], last[lvl, -1] = lvl * n_items, (lvl + 1) * n_items - 1
        offset = c[-1]
    return _Catalogue(ids, price, cluster, n_clusters, cluster_p,
                      cum, order, lo, width, first, last, *_guide(cum))


@dataclass
class _Users:
    is_new: np.ndarray      # bool
    spend: np.ndarray       # int level 0..2
    clusters: np.ndarray    # (U, 3) preferred clusters
    cluster_cw: np.ndarray  # (U, 3) cumulative preference weights
    p_fav: np.ndarray       # share of non-staple lines taken from the favourite set
    trips: np.ndarray       # int trips per user
    basket: np.ndarray      # mean lines per trip
    first_day: np.ndarray   # float first day of the active span
    n_staples: np.ndarray   # int
    fav_len: np.ndarray     # size of the favourite set; its first n_staples are staples
    fav_salt: np.ndarray    # 3 uint64 salts of the hashed favourite sets
    staple_period: np.ndarray  # (U, MAX_STAPLES) days
    staple_phase: np.ndarray   # (U, MAX_STAPLES) days
    p_cluster: float = EXPLORE_IN_CLUSTERS  # share of exploration lines from the user's clusters


def _user_trips(rng: np.random.Generator, is_new: np.ndarray, basket: np.ndarray,
                product_lines: float) -> np.ndarray:
    """Trips per user so that the lines add up to ``product_lines``; sets the
    basket size of each loyal user (in place) to lines / trips."""
    n_new, n_loyal = int(is_new.sum()), int((~is_new).sum())
    trips = np.zeros(len(is_new), dtype=np.int64)
    per_user = product_lines / max(len(is_new), 1)
    mean_new_trips = float(np.clip(per_user / 18.0, 1.0, 6.0))
    if n_new:
        geo = (rng.geometric(1.0 / mean_new_trips, size=n_new) if mean_new_trips > 1
               else np.ones(n_new))
        trips[is_new] = np.clip(geo, 1, MAX_NEW_TRIPS)
    if n_loyal:
        budget = product_lines - float((trips * basket)[is_new].sum())
        floor = float(np.clip(0.4 * per_user, 1.0, 5.0))
        budget = max(budget, 1.5 * floor * n_loyal)
        w = rng.lognormal(0.0, 1.0, size=n_loyal)
        lines = floor + (budget - floor * n_loyal) * w / w.sum()
        trips[~is_new] = np.maximum(1, np.rint(lines / basket[~is_new]))
        basket[~is_new] = lines / trips[~is_new]
    return trips


def _users(rng: np.random.Generator, cat: _Catalogue, n_users: int, product_lines: float,
           days: int, new_share: float, favourite_share: float = DEFAULT_FAVOURITE_SHARE) -> _Users:
    n_new = int(round(n_users * new_share))
    if 0 < new_share < 1 and n_users >= 2:
        n_new = min(max(n_new, 1), n_users - 1)
    is_new = np.zeros(n_users, dtype=bool)
    is_new[rng.choice(n_users, n_new, replace=False)] = True

    spend = rng.choice(len(SPEND_P), size=n_users, p=SPEND_P)
    clusters = rng.choice(cat.n_clusters, size=(n_users, 3), p=cat.cluster_p)
    n_pref = rng.choice([1, 2, 3], size=n_users, p=[0.3, 0.4, 0.3])
    w = rng.gamma(1.5, 1.0, size=(n_users, 3)) * (np.arange(3) < n_pref[:, None])
    cluster_cw = np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)
    # Beta(10 f, 10 (1 - f)) has mean f; the default f = 0.45 is Beta(4.5, 5.5), the workbook's shape
    f = min(max(favourite_share, 1e-6), 1 - 1e-6)
    p_fav = rng.beta(10.0 * f, 10.0 * (1.0 - f), size=n_users)

    basket = np.clip(rng.lognormal(np.log(9.0), 0.35, size=n_users), 3.0, 25.0)
    basket *= SPEND_BASKET[spend]
    trips = _user_trips(rng, is_new, basket, product_lines)
    first_day = np.where(rng.random(n_users) < 0.3, rng.uniform(0, 0.25 * days, n_users), 0.0)
    first_day = np.where(is_new, rng.uniform(days - NEW_CUSTOMER_DAYS, days - 0.5, n_users),
                         first_day)

    habit = favourite_share / DEFAULT_FAVOURITE_SHARE   # exactly 1 by default: the same draws
    n_staples = np.minimum(MAX_STAPLES, rng.poisson((0.6 + trips / 10.0) * habit))
    lines = trips * basket
    fav_len = np.minimum(n_staples + 4 + np.rint(2.0 * np.sqrt(lines)).astype(np.int64), 120)
    fav_salt = rng.integers(0, 2**63, size=3, dtype=np.uint64)

    staple_period = STAPLE_PERIODS[rng.choice(len(STAPLE_PERIODS), size=(n_users, MAX_STAPLES),
                                              p=STAPLE_PERIOD_P)]
    staple_phase = rng.random((n_users, MAX_STAPLES)) * staple_period
    return _Users(is_new, spend, clusters, cluster_cw, p_fav, trips, basket, first_day,
                  n_staples, fav_len, fav_salt, staple_period, staple_phase,
                  min(EXPLORE_IN_CLUSTERS, EXPLORE_IN_CLUSTERS * habit))


def _draw_for(cat: _Catalogue, users: _Users, user: np.ndarray, p_cluster: float,
              r_source: np.ndarray, r_cluster: np.ndarray, r_item: np.ndarray) -> np.ndarray:
    """One product per entry of ``user`` from the uniforms ``r_*``: from one of the
    user's clusters with probability ``p_cluster``, else from the whole catalogue."""
    cw = users.cluster_cw
    pick = (r_cluster > cw[user, 0]).astype(np.int64)
    pick += r_cluster > cw[user, 1]
    pick += 3 * user
    cl = users.clusters.ravel()[pick]
    cl[r_source >= p_cluster] = -1
    return cat.draw(users.spend[user], cl, r_item)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _hash_uniform(key: np.ndarray, salt: np.uint64) -> np.ndarray:
    """Uniforms in [0, 1) from uint64 keys (splitmix64): a counter-based generator."""
    x = key * _GOLDEN + salt
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)) * (1.0 / 2**53)


def _favourite(cat: _Catalogue, users: _Users, user: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """The ``rank``-th favourite product of each ``user``.  Favourite sets are hashed
    from (user, rank), so they cost nothing to store and are the same on every call."""
    key = user.astype(np.uint64) * np.uint64(1024) + rank.astype(np.uint64)
    r = [_hash_uniform(key, salt) for salt in users.fav_salt]
    return _draw_for(cat, users, user, 0.8, *r)


def _trip_times(rng: np.random.Generator, users: _Users, days: int, start_weekday: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """(user, seconds since start) per trip, sorted by user then time."""
    user = np.repeat(np.arange(len(users.trips), dtype=np.int64), users.trips)
    first = users.first_day[user]
    day = np.floor(first + rng.random(len(user)) * (days - first))
    # move the trip within its week to a weekday drawn from the weekday profile
    weekday = rng.choice(7, size=len(user), p=WEEKDAY_P)
    moved = day - (day + start_weekday) % 7 + weekday
    day = np.where((moved >= np.floor(first)) & (moved < days), moved, day)
    morning = rng.random(len(user)) < 0.55
    hour = np.where(morning, rng.normal(11.0, 1.5, len(user)), rng.normal(17.5, 1.6, len(user)))
    hour = np.clip(hour, 8.0, 20.99)
    sec = (day * 86400 + hour * 3600).astype(np.int64)
    order = np.argsort(user * (days * 86400 + 1) + sec, kind="stable")
    return user[order], sec[order]


def _staples(rng: np.random.Generator, cat: _Catalogue, users: _Users, user: np.ndarray,
             sec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(trip, product) for each staple line; trips sorted by user then time."""
    t = sec / 86400.0
    opens = np.ones(len(user), dtype=bool)
    opens[1:] = user[1:] != user[:-1]
    trips_out, items_out = [], []
    for s in range(MAX_STAPLES):
        has = users.n_staples[user] > s
        period = users.staple_period[user, s]
        jitter = rng.uniform(-0.25, 0.25, len(user)) * period
        window = np.floor((t + jitter - users.staple_phase[user, s]) / period)
        new_window = np.empty(len(user), dtype=bool)
        new_window[0] = True
        new_window[1:] = window[1:] > window[:-1]
        take = has & (new_window | opens) & (rng.random(len(user)) > 0.1)
        idx = np.flatnonzero(take)
        trips_out.append(idx)
        items_out.append(_favourite(cat, users, user[idx], np.full(len(idx), s)))
    return np.concatenate(trips_out), np.concatenate(items_out)


def _stochastic_round(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    base = np.floor(x)
    return (base + (rng.random(len(x)) < x - base)).astype(np.int64)


def _str_index(labels: np.ndarray) -> pd.Index:
    """An Index of ``str`` from ints or str, converted through pyarrow (fast)."""
    arr = pa.array(labels)
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    try:
        return pd.Index(arr, dtype="str")          # pandas >= 3: the str dtype
    except (TypeError, ValueError):               # pandas 2: object of str
        return pd.Index(arr.to_numpy(zero_copy_only=False), dtype=object)


def _categorical(codes: np.ndarray, labels: np.ndarray) -> pd.Categorical:
    """A Categorical of the used ``labels`` only."""
    used = np.bincount(codes, minlength=len(labels)) > 0
    if used.all():
        return pd.Categorical.from_codes(codes.astype(np.int32, copy=False),
                                         categories=_str_index(labels))
    remap = (np.cumsum(used) - 1).astype(np.int32)
    return pd.Categorical.from_codes(remap[codes], categories=_str_index(labels[used]))


def _user_ids(rng: np.random.Generator, is_new: np.ndarray) -> np.ndarray:
    """11-digit numeric ids; loyal ids start with 40-41, new ids with 47-48."""
    ids = np.empty(len(is_new), dtype=np.int64)
    for mask, base in ((~is_new, 40_000_000_000), (is_new, 47_000_000_000)):
        n = int(mask.sum())
        ids[mask] = rng.permutation(base + np.cumsum(rng.integers(1, 1500, size=n)))
    return ids


def _quantities(rng: np.random.Generator, price: np.ndarray) -> np.ndarray:
    """Mostly 1, sometimes 2-6 (more often for cheap items), rarely up to 60."""
    n = len(price)
    r = rng.random(n)
    p_multi = np.where(price < 1.5, 0.25, 0.12)
    q = np.ones(n)
    multi = r < p_multi
    q[multi] = np.minimum(1 + rng.geometric(0.5, multi.sum()), 6)
    bulk = r > 0.997
    q[bulk] = np.rint(np.exp(rng.uniform(np.log(7), np.log(60), bulk.sum())))
    return q


@dataclass
class _Trips:
    """Trips in time order and what goes in them."""

    user: np.ndarray       # user per trip
    sec: np.ndarray        # seconds since the start
    n_staple: np.ndarray   # staple lines
    n_other: np.ndarray    # favourite / exploration lines
    bag: np.ndarray        # bool: an item "200" line
    dept: np.ndarray       # bool: an "OPEN DEPT" line
    is_return: np.ndarray  # bool: a refund ticket of one line
    staple_item: np.ndarray  # product of each staple line, in line order


def _trips(rng: np.random.Generator, cat: _Catalogue, users: _Users, n_lines: int,
           days: int, start_weekday: int) -> _Trips:
    user, sec = _trip_times(rng, users, days, start_weekday)
    n_trips = len(user)
    st_trip, st_item = _staples(rng, cat, users, user, sec)

    is_return = rng.random(n_trips) < RETURN_RATE
    later = np.flatnonzero(~users.is_new[user] & np.r_[False, user[1:] == user[:-1]])
    if len(later):   # a handful of refunds at least
        is_return[rng.choice(later, min(3, len(later)), replace=False)] = True
    keep = ~is_return[st_trip]
    st_trip, st_item = st_trip[keep], st_item[keep]
    n_staple = np.bincount(st_trip, minlength=n_trips)
    size = 1 + rng.poisson(np.maximum(users.basket[user] - 1, 0))
    n_other = np.maximum(size - n_staple, 0)
    bag = (rng.random(n_trips) < BAG_RATE) & ~is_return
    dept = (rng.random(n_trips) < DEPT_RATE) & ~is_return
    n_other[is_return] = 1
    # scale the free lines so that the total lands on n_lines
    fixed = n_staple.sum() + bag.sum() + dept.sum() + is_return.sum()
    free_trips = ~is_return
    free = n_other[free_trips].sum()
    if free > 0:
        factor = max(n_lines - fixed, 0.25 * free) / free
        n_other[free_trips] = _stochastic_round(rng, n_other[free_trips] * factor)
    n_other[(n_staple + n_other) == 0] = 1

    order = np.argsort(sec, kind="stable")
    rank = np.empty(n_trips, dtype=np.int64)
    rank[order] = np.arange(n_trips)
    st_item = st_item[np.argsort(rank[st_trip], kind="stable")]
    return _Trips(user[order], sec[order], n_staple[order], n_other[order], bag[order],
                  dept[order], is_return[order], st_item)


def generate_store(n_users: int = 2000, n_items: int = 3000, n_lines: int = 200_000,
                   seed: int = 0, start: str = "2024-07-01", days: int = 550,
                   new_customer_share: float = 0.3,
                   favourite_share: float = DEFAULT_FAVOURITE_SHARE, names: bool = False) -> pd.DataFrame:
    """A deterministic synthetic store (same arguments -> identical frame).

    Returns the canonical columns of :mod:`recsys.io.schema`, sorted by timestamp, with
    about ``n_lines`` rows (within a few per cent).  ``user_id``, ``item_id``,
    ``ticket_id`` and ``customer_type`` are ``Categorical`` columns with ``str``
    categories.  A share ``new_customer_share`` of the users are new customers.

    ``favourite_share`` sets how much customers rebuy: the mean share of their non-staple lines
    taken from their personal favourite set; their number of staples and the share of their other
    lines drawn from their own taste clusters scale with it (up to the default).  The default
    0.45 gives the workbook's ~60 % repeat share (distinct items of a loyal customer's last four
    weeks bought before); 0.12 with a wide catalogue and short histories gives Ta Feng's ~14 %
    (``benchmarks.datasets.SYNTHETIC_KINDS["lowrepeat"]``).

    ``names=True`` adds ``item_name`` and ``category`` (Categorical): a name per product
    ("Organic yoghurt 500 g") and its taste cluster as the category ("Dairy"); every other column
    is the same as without them (`recsys.io.synthetic_names`).
    """
    if n_users < 1 or n_items < 1 or n_lines < 1 or days < NEW_CUSTOMER_DAYS:
        raise ValueError("need n_users, n_items, n_lines >= 1 and days >= 31")
    if not 0.0 <= new_customer_share <= 1.0:
        raise ValueError("new_customer_share must be within 0..1")
    if not 0.0 <= favourite_share < 1.0:
        raise ValueError("favourite_share must be within 0..1 (1 excluded)")
    rng = np.random.default_rng(seed)
    start_ts = pd.Timestamp(start)
    cat = _catalogue(rng, n_items)
    users = _users(rng, cat, n_users, n_lines, days, new_customer_share, favourite_share)
    trips = _trips(rng, cat, users, n_lines, days, start_ts.weekday())
    n_trips = len(trips.user)

    # lines: per trip its staples, other lines, then the item "200" and the open dept
    segments = np.stack([trips.n_staple, trips.n_other, trips.bag, trips.dept], axis=1)
    kind = np.repeat(np.tile(np.arange(4, dtype=np.int8), n_trips), segments.ravel())
    trip = np.repeat(np.arange(n_trips, dtype=np.int32), segments.sum(axis=1))
    del segments
    line_user = trips.user[trip]

    item = np.empty(len(trip), dtype=np.int32)
    item[kind == 0] = trips.staple_item
    other = kind == 1
    item[other] = _other_items(rng, cat, users, line_user[other])
    del other
    item[kind == 2] = n_items
    dept = kind == 3
    item[dept] = n_items + 1 + rng.integers(len(DEPT_ITEMS), size=int(dept.sum()))
    del dept

    price, quantity = _price_quantity(rng, cat, item, kind >= 2, trips.is_return[trip])
    del kind
    amount = np.round(np.bincount(trip, weights=quantity * price, minlength=n_trips), 2)
    trip_ns = np.datetime64(start_ts.to_datetime64(), "ns").astype(np.int64) + trips.sec * 10**9
    ticket_labels = rng.integers(1, 7, size=n_trips) * 100_000_000 + np.arange(1, n_trips + 1)
    columns = {
        USER_ID: _categorical(line_user, _user_ids(rng, users.is_new)),
        ITEM_ID: _categorical(item, cat.ids),
        TIMESTAMP: trip_ns[trip].view("datetime64[ns]"),
        QUANTITY: quantity,
        PRICE: price,
        TICKET_ID: pd.Categorical.from_codes(trip, categories=_str_index(ticket_labels)),
        CUSTOMER_TYPE: pd.Categorical.from_codes(users.is_new.astype(np.int8)[line_user],
                                                 categories=pd.Index(list(CUSTOMER_TYPES))),
        TICKET_AMOUNT: amount[trip],
    }
    if names:
        columns.update(_name_columns(cat, item, seed))
    return pd.DataFrame(columns, copy=False)


def _name_columns(cat: _Catalogue, item: np.ndarray, seed: int) -> dict[str, pd.Categorical]:
    """item_name and category per line, through per-item codes (no str per line)."""
    extra = [non_product_name(str(i)) for i in cat.ids[cat.n_products:]]
    names = np.r_[product_names(cat.cluster, seed), np.array([e[0] for e in extra], dtype=object)]
    groups = np.r_[category_names(cat.n_clusters)[cat.cluster], np.array([e[1] for e in extra], dtype=object)]
    out = {}
    for column, per_item in ((ITEM_NAME, names), (CATEGORY, groups)):
        codes, labels = pd.factorize(pd.Series(per_item, dtype=object))
        out[column] = _categorical(codes.astype(np.int32)[item], np.asarray(labels, dtype=object))
    return out


def _price_quantity(rng: np.random.Generator, cat: _Catalogue, item: np.ndarray,
                    non_product: np.ndarray, refund: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit price (shelf price, 5 % of lines on promotion, 0 off-product) and units
    (1 off-product, negative on refunds)."""
    price = np.append(cat.price, np.zeros(len(cat.ids) - cat.n_products))[item]
    promo = np.flatnonzero(rng.random(len(item)) < 0.05)
    price[promo] = np.round(price[promo] * 0.75, 2)
    quantity = _quantities(rng, price)
    quantity[non_product] = 1.0
    quantity[refund] = -np.minimum(quantity[refund], 2.0)
    return price, quantity


def _other_items(rng: np.random.Generator, cat: _Catalogue, users: _Users,
                 user: np.ndarray) -> np.ndarray:
    """Non-staple lines: a favourite (skewed to the top of the set) or an exploration."""
    n = len(user)
    fav = rng.random(n) < users.p_fav[user]
    out = np.empty(n, dtype=np.int64)
    u = user[fav]
    k = users.n_staples[u]
    span = users.fav_len[u] - k
    rank = k + (span * rng.random(len(u)) ** 1.2).astype(np.int64)
    out[fav] = _favourite(cat, users, u, rank)
    m = int((~fav).sum())
    out[~fav] = _draw_for(cat, users, user[~fav], users.p_cluster, rng.random(m), rng.random(m), rng.random(m))
    return out


def demo_store(seed: int = 0) -> pd.DataFrame:
    """A small demo store: ~1,500 users (~300 new), ~2,000 items with names and categories, ~120k lines."""
    return generate_store(n_users=1500, n_items=2000, n_lines=120_000, seed=seed,
                          new_customer_share=0.2, names=True)
