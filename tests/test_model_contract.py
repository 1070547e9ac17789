"""One contract, every model (as implicit's tests do): a mixin of checks run against each.

A model is configured in its constructor (which only stores its parameters), `fit(data)` on the
one typed input returns the model with learned attributes ending in `_`; `candidates(batch, k,
banned)` and `score(batch, candidates, config)` behave the same for all: distinct allowed items,
at most k, scores of the pool's shape with zeros in padding, no dependence on what ran before, and
per-request knobs that never change the model."""
from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest
import scipy.sparse as sp

from recsys import TuningConfig
from recsys.models import (PAD, ALSModel, ItemCFModel, NeighbourModel, PopularityModel, RepeatModel, Scorer,
                           TrainingData, UserBatch)
from recsys.training import features as F
from recsys.training.fit import encode_store, with_cycles


@pytest.fixture(scope="module")
def contract_data(small_store) -> TrainingData:
    store = encode_store(small_store, TuningConfig())
    return with_cycles(store.data, F.repurchase_cycles(store.enc))


def batch_for(data: TrainingData, users: np.ndarray, newcomer_lines: int = 3) -> UserBatch:
    """Known users with every line of theirs, plus one user the models never saw (a few lines)."""
    as_of = int(data.time.max()) + 1
    mask = np.isin(data.user, users)
    rows = np.searchsorted(users, data.user[mask])
    items, times, weights = data.item[mask].astype(np.int64), data.time[mask], data.weight[mask]
    extra = np.flatnonzero(data.user == users[0])[:newcomer_lines]  # the unknown one bought these
    rows = np.r_[rows, np.full(len(extra), len(users))]
    items, times = np.r_[items, data.item[extra]], np.r_[times, data.time[extra]]
    weights = np.r_[weights, data.weight[extra]]
    n = len(users) + 1
    history = sp.csr_matrix((weights, (rows, items)), shape=(n, data.n_items))
    history.sum_duplicates()
    history.data = np.log1p(history.data)
    return UserBatch(codes=np.r_[users, -1].astype(np.int64), history=history,
                     segments=np.r_[data.user_segment[users], 0].astype(np.int8), line_row=rows.astype(np.int64),
                     line_item=items, line_age_days=(as_of - times) / 86_400.0, avg_price=np.full(n, 3.0),
                     newcomer=np.r_[np.zeros(len(users), bool), True])


def _state(model: Scorer) -> dict:
    """What a model holds, comparable: arrays by value, the rest as is."""
    out = {}
    for k, v in vars(model).items():
        if isinstance(v, np.ndarray):
            out[k] = v.copy()
        elif sp.issparse(v):
            out[k] = v.toarray()
        elif hasattr(v, "__dict__") and not isinstance(v, type):
            out[k] = _state(v) if not hasattr(v, "model_to_string") else v.model_to_string()
        else:
            out[k] = copy.copy(v)
    return out


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, dict):
            if not _same(x, y):
                return False
        elif isinstance(x, np.ndarray):
            if not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                return False
        elif x != y and not (isinstance(x, float) and np.isnan(x) and np.isnan(y)):
            return False
    return True


class ModelContract:
    """The checks; a subclass names the model and its parameters."""

    model_class: type[Scorer]
    params: dict = {}
    k = 8

    def make(self) -> Scorer:
        return self.model_class(**self.params)

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, contract_data) -> Scorer:
        return cls.model_class(**cls.params).fit(contract_data)

    @pytest.fixture()
    def batch(self, contract_data) -> UserBatch:
        busy = np.argsort(-np.bincount(contract_data.user, minlength=contract_data.n_users), kind="stable")
        return batch_for(contract_data, np.sort(busy[[0, 5, 50, 100]]))

    def test_the_constructor_only_stores_its_parameters(self):
        model = self.make()
        names = list(inspect.signature(self.model_class.__init__).parameters)[1:]
        assert set(vars(model)) == set(names), "the constructor stores its parameters and nothing else"
        assert not [a for a in vars(model) if a.endswith("_")]

    def test_fit_returns_the_model_with_learned_attributes(self, contract_data):
        model = self.make()
        assert model.fit(contract_data) is model
        learned = [a for a in vars(model) if a.endswith("_")]
        assert learned, "fit learns attributes ending in _"
        assert set(vars(model)) - set(learned) == set(vars(self.make()))

    def test_candidates_are_distinct_allowed_items_at_most_k_per_user(self, fitted, batch, contract_data):
        rows, items = fitted.candidates(batch, self.k)
        assert rows.dtype.kind == "i" and items.dtype.kind == "i" and len(rows) == len(items) > 0
        assert ((rows >= 0) & (rows < len(batch))).all() and ((items >= 0) & (items < contract_data.n_items)).all()
        assert len(set(zip(rows.tolist(), items.tolist()))) == len(rows)
        assert np.bincount(rows, minlength=len(batch)).max() <= self.k
        banned = np.zeros(contract_data.n_items, bool)
        banned[items[:len(items) // 2]] = True
        r2, i2 = fitted.candidates(batch, self.k, banned)
        assert len(i2) and not banned[i2].any()

    def test_scores_have_the_pools_shape_and_zeros_in_padding(self, fitted, batch):
        rows, items = fitted.candidates(batch, self.k)
        pool = np.full((len(batch), self.k + 1), PAD, dtype=np.int64)
        for r in range(len(batch)):
            mine = items[rows == r]
            pool[r, :len(mine)] = mine
        s = fitted.score(batch, pool, None)
        assert s.shape == pool.shape and np.isfinite(s).all()
        assert (s[pool == PAD] == 0).all()

    def test_scores_do_not_depend_on_what_ran_before(self, fitted, contract_data):
        users = np.array([1, 2, 3])
        pool = np.tile(np.arange(min(30, contract_data.n_items)), (4, 1))
        fresh = fitted.score(batch_for(contract_data, users), pool, None)
        after = batch_for(contract_data, users)
        fitted.candidates(after, self.k)
        fitted.candidates(after, self.k, np.zeros(contract_data.n_items, bool))
        np.testing.assert_allclose(fitted.score(after, pool, None), fresh, rtol=1e-6, atol=1e-7)

    def test_per_request_knobs_never_change_the_model(self, fitted, batch):
        before = _state(fitted)
        knobs = TuningConfig().replace(repeat={"learned": False, "half_life_days": 3.0})
        rows, items = fitted.candidates(batch, self.k)
        pool = np.full((len(batch), 1), PAD, dtype=np.int64)
        pool[rows[:len(batch)], 0] = items[:len(batch)]
        fitted.score(batch, pool, knobs)
        assert _same(_state(fitted), before)

    def test_fit_is_deterministic(self, contract_data, batch):
        pool = np.tile(np.arange(min(30, contract_data.n_items)), (len(batch), 1))
        a = self.make().fit(contract_data).score(batch, pool, None)
        b = self.make().fit(contract_data).score(batch, pool, None)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class TestALS(ModelContract):
    model_class = ALSModel
    params = {"factors": 16, "iterations": 3, "num_threads": 1}


class TestItemCF(ModelContract):
    model_class = ItemCFModel
    params = {"top_k": 20}


class TestPopularity(ModelContract):
    model_class = PopularityModel
    params = {"segment_share": 0.5}


class TestNeighbours(ModelContract):
    model_class = NeighbourModel
    params = {"k": 20, "reference_users": 100}


class TestRepeat(ModelContract):
    model_class = RepeatModel
    params = {"learned": False}


def test_every_model_is_covered():
    covered = {c.model_class for c in ModelContract.__subclasses__()}
    assert covered == {ALSModel, ItemCFModel, NeighbourModel, PopularityModel, RepeatModel}
