"""The validation window every training run cuts from its own data: the models refitted on
what came before the last `horizon_days`, and what each customer bought after. The hybrid's
fit and the confidence calibration both read it (one refit, shared).

The truth is every distinct item a customer bought in the window, as in the test protocol
(recsys.evaluation): items the refitted models never saw cannot be recommended but still count
in the ideal DCG, so NDCG means the same here and there."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.arrays import gather_ranges
from recsys.bundles.state import TrainedState
from recsys.config import TuningConfig
from recsys.io import schema as S
from recsys.serving.batches import ExtraLines
from recsys.training.fit import fit_state
from recsys.training.repeat_learner import learn_repeat


@dataclass
class Holdout:
    """Models fitted before `cutoff`, and the truth of the window after it."""

    state: TrainedState       # fitted on the lines before the cutoff
    cutoff: int               # seconds: the validation users are asked at this time
    codes: np.ndarray         # (users,) codes in `state` of users who bought on both sides
    truth: np.ndarray         # sorted codes * n_items + item of what they bought in the window (known items)
    unseen: np.ndarray        # (users,) distinct items each bought in the window that `state` never saw

    def truth_of(self, codes: np.ndarray) -> np.ndarray:
        """Sorted row * n_items + item keys of the window's purchases of the (distinct) user
        codes, by their row in `codes`."""
        n = self.state.n_items
        row = pd.Index(codes).get_indexer(self.truth // n)
        ok = row >= 0
        return np.sort(row[ok].astype(np.int64) * n + self.truth[ok] % n)

    @property
    def cutoff_date(self) -> str:
        return str(pd.Timestamp(self.cutoff, unit="s").date())

    def unseen_of(self, codes: np.ndarray) -> np.ndarray:
        """Per code: distinct items bought in the window that the models never saw (never
        recommendable, still part of the truth)."""
        return self.unseen[np.searchsorted(self.codes, codes)]

    def last_baskets(self, codes: np.ndarray) -> ExtraLines:
        """Each user's last basket (shopping day) before the cutoff, as call-time lines by batch row:
        the users as if they were newcomers."""
        st = self.state
        rows, idx = gather_ranges(st.line_ptr[codes], st.line_ptr[codes + 1])
        day = st.line_time[idx] // 86_400
        last = np.full(len(codes), -1, dtype=np.int64)
        np.maximum.at(last, rows, day)
        keep = day == last[rows]
        return ExtraLines(rows[keep].astype(np.int64), st.line_item[idx[keep]].astype(np.int64),
                          st.line_time[idx[keep]], st.line_weight[idx[keep]])


def _unique_ids(col: pd.Series) -> np.ndarray:
    """col.astype(str).unique() (same values, same order of appearance), converting only the
    distinct values to str: a Categorical's millions of codes never become Python str."""
    return np.asarray(pd.Series(col.unique()).astype(str).unique(), dtype=object)


def _ids_isin(col: pd.Series, values: np.ndarray) -> np.ndarray:
    """col.astype(str).isin(values) as a bool array, through the categories of a Categorical."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        hit = np.asarray(pd.Index(col.cat.categories.astype(str)).isin(values))
        return np.where(codes >= 0, hit[np.maximum(codes, 0)], bool(np.isin("nan", values)))
    return col.astype(str).isin(values).to_numpy(dtype=bool)


def _codes_in(col: pd.Series, index: pd.Index) -> np.ndarray:
    """index.get_indexer(col.astype(str)), through the categories of a Categorical."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        mapped = index.get_indexer(col.cat.categories.astype(str))
        return np.where(codes >= 0, mapped[np.maximum(codes, 0)], index.get_indexer(["nan"])[0])
    return index.get_indexer(col.astype(str))


def make_holdout(df: pd.DataFrame, config: TuningConfig, horizon_days: float = 28, max_users: int = 3000,
                 max_lines: int = 2_000_000, seed: int = 0, guests: pd.DataFrame | None = None,
                 offset_days: float = 0.0) -> Holdout | None:
    """Refit the models on the data before the window (the guest lines before it too) and collect
    the window's truth (customers only): the last `horizon_days` of the data, or (`offset_days`)
    the `horizon_days` ending that many days earlier.

    None when the data has too little history on both sides of the cutoff."""
    times = df[S.TIMESTAMP]
    last = times.max()
    cutoff = last - pd.Timedelta(days=horizon_days + offset_days)
    # masks and id columns, not copies of the frame: at 20M lines a copy of the 'before' part and
    # its ids as Python str cost ~2 GiB of peak memory
    in_before = (times < cutoff).to_numpy()
    # the window after the cutoff (in_before may shrink to a sample below); an earlier window ends
    # where the next one starts
    in_window = ~in_before if offset_days <= 0 else ~in_before & (times < last - pd.Timedelta(days=offset_days)).to_numpy()
    user_col = df[S.USER_ID]
    before_users = _unique_ids(user_col[in_before])
    users = np.intersect1d(before_users, _unique_ids(user_col[in_window]))
    if len(users) < 10 or df[S.ITEM_ID][in_before].nunique() < 20:
        return None
    rng = np.random.default_rng(seed)
    if int(in_before.sum()) > max_lines:
        # on big stores a user sample keeps this stage a fraction of the main training
        keep = rng.choice(before_users, size=min(len(before_users), max(max_users * 10, 1000)), replace=False)
        in_before = in_before & _ids_isin(user_col, keep)
        users = np.intersect1d(users, keep)
    before = df[in_before]
    users = np.sort(rng.choice(users, size=min(len(users), max_users), replace=False))
    guests_before = guests[(guests[S.TIMESTAMP] < cutoff).to_numpy()] if guests is not None and len(guests) else None
    sub, data = fit_state(before, config, guests=guests_before)
    if config.repeat.learned and config.repeat.windows > 0:
        # fewer windows than the served model: this only has to rank like it, at a third of the cost
        learn_repeat(sub, data, config.replace(repeat={"windows": min(config.repeat.windows, 4)}),
                     max_precompute_lines=0)
    user_index, item_index = pd.Index(sub.user_ids), pd.Index(sub.item_ids)
    codes = user_index.get_indexer(users).astype(np.int64)
    codes = np.sort(codes[codes >= 0])
    # the window's lines only (not the unsampled customers' earlier ones), through the categories:
    # at 20M lines a str copy of every row's ids cost ~2.4 GiB of peak memory
    u = _codes_in(df[S.USER_ID][in_window], user_index)
    i = _codes_in(df[S.ITEM_ID][in_window], item_index)
    asked = (u >= 0) & np.isin(u, codes)
    ok = asked & (i >= 0)
    truth = np.unique(u[ok].astype(np.int64) * sub.n_items + i[ok])
    new = asked & (i < 0)  # items first sold in the window: their own ids, counted once per customer
    new_items = pd.factorize(df[S.ITEM_ID][in_window].to_numpy()[new])[0].astype(np.int64)
    pairs = np.unique(u[new].astype(np.int64) * (len(new_items) + 1) + new_items)
    unseen = np.bincount(np.searchsorted(codes, pairs // (len(new_items) + 1)), minlength=len(codes))
    cutoff_s = int(pd.Timestamp(cutoff).value // 1_000_000_000)
    return Holdout(state=sub, cutoff=cutoff_s, codes=codes, truth=truth, unseen=unseen)
