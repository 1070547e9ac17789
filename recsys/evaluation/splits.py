"""The temporal protocol: who is asked when, and what counts as the truth.

A loyal split cuts the data at `last timestamp - test_days`; a new-customer split keeps each new
customer's first basket as history; rolling windows are earlier loyal splits inside the training
data (for tuning without looking at the test window). See `recsys.evaluation` for the details."""
from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.errors import DataError
from recsys.evaluation.metrics import sets_to_csr
from recsys.io.schema import CUSTOMER_TYPE, ITEM_ID, TICKET_ID, TIMESTAMP, USER_ID

MODES = ("all", "new")
#: (split name, mode) pairs evaluated by `evaluate_all` by default.
DEFAULT_SCENARIOS = (("loyal", "all"), ("loyal", "new"), ("new_customers", "all"))


@dataclass(frozen=True, eq=False)
class ModeView:
    """The test users of a split as seen in one mode ("all" or "new")."""

    users: np.ndarray  # object array of str
    as_of: np.ndarray  # datetime64[ns]
    truth: tuple[frozenset, ...]
    exclude: tuple[frozenset, ...] | None  # items not to recommend (None: nothing excluded)

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True, eq=False)
class Split:
    """A train frame and the test users asked against it.

    ``truth[i]`` is the set of items ``users[i]`` bought in the test period, ``known[i]`` the items
    that user bought before ``as_of[i]`` (their history; excluded in ``"new"`` mode).
    """

    name: str
    train: pd.DataFrame
    users: np.ndarray
    as_of: np.ndarray
    truth: tuple[frozenset, ...]
    known: tuple[frozenset, ...]
    cutoff: pd.Timestamp | None = None
    window_end: pd.Timestamp | None = None
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.users)

    @property
    def catalogue(self) -> pd.Index:
        """Distinct items of the training frame."""
        return pd.Index(pd.unique(self.train[ITEM_ID]))

    @functools.cached_property
    def purchases(self) -> sparse.csr_matrix:
        """(customers x catalogue items) 1 where a customer of the training frame bought the item
        (the beyond-accuracy measures' novelty and co-purchases), computed once per split."""
        items = self.catalogue.get_indexer(self.train[ITEM_ID])
        users = pd.factorize(self.train[USER_ID])[0]
        m = sparse.csr_matrix((np.ones(len(items), dtype=np.int8), (users, items)),
                              shape=(int(users.max()) + 1 if len(users) else 0, len(self.catalogue)))
        m.sum_duplicates()
        m.data[:] = 1
        return m

    def view(self, mode: str = "all") -> ModeView:
        """Users, as-of times, truth and exclusions for ``mode`` ("all" or "new")."""
        if mode == "all":
            return ModeView(self.users, self.as_of, self.truth, None)
        if mode == "new":
            truth = [t - k for t, k in zip(self.truth, self.known)]
            keep = np.array([len(t) > 0 for t in truth], dtype=bool)
            idx = np.flatnonzero(keep)
            return ModeView(
                self.users[idx],
                self.as_of[idx],
                tuple(truth[i] for i in idx),
                tuple(self.known[i] for i in idx),
            )
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    def truth_csr(self, item_index: pd.Index, mode: str = "all") -> sparse.csr_matrix:
        """Ground truth as a (users x items) 0/1 CSR over ``item_index`` (unknown items dropped)."""
        return sets_to_csr(self.view(mode).truth, item_index)


def check_columns(df: pd.DataFrame, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {missing} needed for evaluation")


def baskets_of(df: pd.DataFrame) -> pd.Series:
    """The basket key of each line: ticket_id if present, else (user, timestamp)."""
    if TICKET_ID in df.columns and df[TICKET_ID].notna().all():
        return df[TICKET_ID].astype(str)
    return df[USER_ID].astype(str) + "|" + df[TIMESTAMP].astype(str)


def _loyal_users(df: pd.DataFrame) -> np.ndarray:
    if CUSTOMER_TYPE not in df.columns:
        return pd.unique(df[USER_ID])
    return pd.unique(df.loc[df[CUSTOMER_TYPE] == "loyal", USER_ID])


def _item_sets(df: pd.DataFrame, users: np.ndarray) -> tuple[frozenset, ...]:
    groups = df.groupby(USER_ID, sort=False)[ITEM_ID].unique()
    empty: frozenset = frozenset()
    return tuple(frozenset(groups[u]) if u in groups.index else empty for u in users)


def make_loyal_split(
    df: pd.DataFrame,
    test_days: float = 28,
    *,
    cutoff: pd.Timestamp | str | None = None,
    window_end: pd.Timestamp | str | None = None,
    name: str = "loyal",
) -> Split:
    """The loyal-customer split: train before the cutoff, truth at/after it.

    ``cutoff`` defaults to the last timestamp of ``df`` minus ``test_days`` days.  ``window_end``
    (exclusive) bounds the truth window; by default it is open (every later line counts), which is
    the test protocol.  :func:`rolling_windows` sets it for earlier validation windows.
    """
    check_columns(df, (USER_ID, ITEM_ID, TIMESTAMP))
    ts = df[TIMESTAMP]
    if cutoff is None:
        if len(df) == 0:
            raise DataError("cannot split an empty frame")
        cutoff = ts.max() - pd.Timedelta(days=test_days)
    cutoff = pd.Timestamp(cutoff)
    window_end = None if window_end is None else pd.Timestamp(window_end)

    before = (ts < cutoff).to_numpy()
    after = (ts >= cutoff).to_numpy().copy()
    if window_end is not None:
        after &= (ts < window_end).to_numpy()
    train = df.loc[before].reset_index(drop=True)
    test = df.loc[after]

    loyal = _loyal_users(df)
    on_both = set(pd.unique(train[USER_ID])) & set(pd.unique(test[USER_ID]))
    users = np.array(sorted(u for u in loyal if u in on_both), dtype=object)

    return Split(
        name=name,
        train=train,
        users=users,
        as_of=np.full(len(users), cutoff.to_datetime64(), dtype="datetime64[ns]"),
        truth=_item_sets(test[test[USER_ID].isin(users)], users),
        known=_item_sets(train[train[USER_ID].isin(users)], users),
        cutoff=cutoff,
        window_end=window_end,
        info={"test_days": test_days},
    )


def make_new_customer_split(df: pd.DataFrame, *, min_baskets: int = 2, name: str = "new_customers") -> Split:
    """The new-customer split: first basket as history, later baskets as truth.

    Test users are customers of type ``"new"`` who are not also loyal users and have at least
    ``min_baskets`` baskets.  The first basket is the one with the earliest timestamp (ties broken
    by basket id).  Training frame: every loyal line plus the test users' first baskets.
    """
    check_columns(df, (USER_ID, ITEM_ID, TIMESTAMP, CUSTOMER_TYPE))
    ctype = df[CUSTOMER_TYPE]
    loyal_mask = (ctype == "loyal").to_numpy()
    loyal_users = set(pd.unique(df.loc[loyal_mask, USER_ID]))
    new = df.loc[(ctype == "new").to_numpy() & ~df[USER_ID].isin(loyal_users).to_numpy()].copy()
    new["_basket"] = baskets_of(new).to_numpy()

    baskets = (
        new.groupby([USER_ID, "_basket"], sort=False)[TIMESTAMP].min().reset_index()
        .sort_values([USER_ID, TIMESTAMP, "_basket"], kind="mergesort")
    )
    n_baskets = baskets.groupby(USER_ID, sort=False).size()
    eligible = n_baskets.index[n_baskets >= min_baskets]
    first = baskets[baskets[USER_ID].isin(eligible)].drop_duplicates(USER_ID, keep="first")
    first = first.set_index(USER_ID)
    users = np.array(sorted(first.index), dtype=object)

    new = new[new[USER_ID].isin(users)]
    is_first = new["_basket"].to_numpy() == first["_basket"].reindex(new[USER_ID]).to_numpy()
    history = new.loc[is_first].drop(columns="_basket")
    later = new.loc[~is_first]

    train = pd.concat([df.loc[loyal_mask], history], ignore_index=True)
    as_of = first[TIMESTAMP].reindex(users).to_numpy().astype("datetime64[ns]")
    return Split(
        name=name,
        train=train,
        users=users,
        as_of=as_of,
        truth=_item_sets(later, users),
        known=_item_sets(history, users),
        info={"min_baskets": min_baskets, "first_basket": dict(zip(users, first["_basket"].reindex(users)))},
    )


def rolling_windows(df: pd.DataFrame, n_windows: int = 4, test_days: float = 28) -> Iterator[Split]:
    """Earlier loyal validation splits inside the training data of the test split.

    ``df`` is the full cleaned frame (the one given to :func:`make_loyal_split`).  With ``last`` its
    last timestamp, window ``i`` (1..n_windows) has cutoff ``last - (i + 1) * test_days`` and a truth
    window that ends (exclusive) at ``last - i * test_days``: window 1 ends exactly at the test
    cutoff, so no window ever sees a test-period line.  Windows are yielded most recent first;
    windows with no test user are skipped.
    """
    check_columns(df, (USER_ID, ITEM_ID, TIMESTAMP))
    last = df[TIMESTAMP].max()
    for i in range(1, n_windows + 1):
        end = last - pd.Timedelta(days=test_days * i)
        cutoff = last - pd.Timedelta(days=test_days * (i + 1))
        split = make_loyal_split(
            df[df[TIMESTAMP] < end], test_days, cutoff=cutoff, window_end=end, name=f"window-{i}"
        )
        if len(split):
            yield split
