"""Small typed inputs for model tests: a TrainingData from a few lines, and a UserBatch from a
history matrix."""
from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from recsys.models import TrainingData, UserBatch


def lines_data(user, item, n_users: int, n_items: int, basket=None, weight=None, time=None, **facts) -> TrainingData:
    """A TrainingData of the given lines (basket: one per line unless given; weight 1; time 0),
    with neutral store facts unless given (`facts`: any TrainingData field)."""
    user, item = np.asarray(user, np.int32), np.asarray(item, np.int32)
    n = len(user)
    data = TrainingData(
        n_users=n_users, n_items=n_items, user=user, item=item,
        time=np.zeros(n, np.int64) if time is None else np.asarray(time, np.int64),
        basket=np.arange(n, dtype=np.int64) if basket is None else np.asarray(basket, np.int64),
        weight=np.ones(n, np.float32) if weight is None else np.asarray(weight, np.float32),
        log_transform=False, user_segment=np.zeros(n_users, np.int8), item_price=np.ones(n_items),
        item_popularity=np.zeros(n_items), item_buyers_share=np.zeros(n_items),
        segment_buyers=np.zeros((4, n_items)), item_repeat_rate=np.zeros(n_items),
        item_cycle=np.full(n_items, np.nan))
    return dataclasses.replace(data, **facts)


def user_items_data(x: sp.csr_matrix) -> TrainingData:
    """One line per non-zero of a user x item matrix, weighted by its value (no damping)."""
    coo = x.tocoo()
    return lines_data(coo.row, coo.col, x.shape[0], x.shape[1], weight=coo.data)


def baskets_data(b: sp.csr_matrix) -> TrainingData:
    """One line per item of each basket (a basket x item 0/1 matrix); basket r bought by user r."""
    coo = b.tocoo()
    return lines_data(coo.row, coo.col, b.shape[0], b.shape[1], basket=coo.row, weight=coo.data)


def batch_of(history: sp.csr_matrix, codes=None, ages=None, avg_price=None, newcomer=None) -> UserBatch:
    """The batch of users with this history (one line per non-zero, of the given ages)."""
    coo = history.tocoo()
    n = history.shape[0]
    return UserBatch(codes=np.asarray(codes if codes is not None else [-1] * n),
                     history=history.tocsr(), segments=np.zeros(n, np.int8),
                     line_row=coo.row.astype(np.int64), line_item=coo.col.astype(np.int64),
                     line_age_days=np.asarray(ages if ages is not None else np.zeros(coo.nnz), dtype=float),
                     avg_price=np.ones(n) if avg_price is None else np.asarray(avg_price, float),
                     newcomer=np.zeros(n, bool) if newcomer is None else np.asarray(newcomer, bool))
