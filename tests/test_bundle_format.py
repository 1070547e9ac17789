"""The pickle-free encoding alone: every supported kind of value reads back equal, the rest is refused."""
import dataclasses
import datetime
import json
import re

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.bundles import format as bf
from recsys.errors import BundleError


@dataclasses.dataclass
class Part:
    weights: np.ndarray
    label: str = "part"
    tags: list = dataclasses.field(default_factory=list)


class Learner:
    """A model object: learned attributes end in `_`; reading one back must not call __init__."""

    inits = 0

    def __init__(self, k: int = 3) -> None:
        Learner.inits += 1
        self.k = k


@pytest.fixture(autouse=True)
def allow_test_classes(monkeypatch):
    monkeypatch.setattr(bf, "ALLOWED_CLASSES", set(bf.ALLOWED_CLASSES))
    bf.register(Part)
    bf.register(Learner)


def round_trip(value, tmp_path, mmap=True):
    tree, files = bf.write_tree(value, tmp_path, root="v")
    tree = json.loads(json.dumps(tree, allow_nan=False))  # what the manifest holds: plain JSON
    return bf.read_tree(tree, tmp_path, set(files), mmap=mmap, root="v"), tree, files


def same(a, b):
    assert type(a) is type(b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b)
    elif sp.issparse(a):
        assert a.format == b.format and a.dtype == b.dtype and a.shape == b.shape and (a != b).nnz == 0
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif hasattr(a, "__dict__"):
        same(vars(a), vars(b))
    elif a is pd.NaT:
        assert b is pd.NaT
    elif isinstance(a, float) and a != a:
        assert b != b
    else:
        assert a == b
        if isinstance(a, pd.Timestamp):
            assert a.unit == b.unit and str(a.tz) == str(b.tz)


PLAIN = {
    "none": None, "bool": True, "int": -(2**70), "float": 0.1, "nan": float("nan"), "inf": float("-inf"),
    "str": "é∑ x", "list": [1, "a", [2.5, None]], "tuple": (1, ("x", 2)), "int keys": {1: "a", 2: (3,)},
    "np": [np.float32(1.5), np.int64(-3), np.bool_(True), np.uint8(7), np.float64("nan"), np.datetime64("2024-01-02")],
    "times": [pd.Timestamp("2024-03-01 12:00:01.5"), pd.Timestamp("2024-03-01", tz="UTC"),
              pd.Timestamp("2024-03-01 10:00", tz="Europe/London"), pd.Timestamp("2024-01-01").as_unit("s"),
              pd.Timestamp("2024-01-01", tz=datetime.timezone(datetime.timedelta(hours=1))),
              pd.NaT, pd.Timedelta(days=3, seconds=1)],
}


def test_plain_values_read_back_equal(tmp_path):
    back, _, files = round_trip(PLAIN, tmp_path)
    same(PLAIN, back)
    assert len(files) == 1  # only the datetime64 scalar needed a file


ARRAYS = {
    "f32 2d": np.arange(12, dtype=np.float32).reshape(3, 4), "fortran": np.asfortranarray(np.ones((3, 2))),
    "bool": np.array([True, False]), "i8": np.array([-1, 2], dtype=np.int8), "u16": np.arange(5, dtype=np.uint16),
    "empty": np.zeros(0, dtype=np.int32), "empty 2d": np.zeros((0, 3)), "0-d": np.array(4.5),
    "unicode": np.array(["a", "éé", ""]), "bytes": np.array([b"ab", b"c"]),
    "datetime": np.array(["2024-01-01", "NaT"], dtype="datetime64[s]"), "complex": np.array([1 + 2j]),
    "object str": np.array(["u1", "u-22", "é"], dtype=object), "object empty": np.array([], dtype=object),
    "object str 2d": np.array([["a", "b"], ["c", "d"]], dtype=object),
    "non-contiguous": np.arange(20)[::3],
}


@pytest.mark.parametrize("mmap", [True, False])
def test_arrays_read_back_equal_and_memory_mapped(tmp_path, mmap):
    back, _, _ = round_trip(ARRAYS, tmp_path, mmap=mmap)
    same(ARRAYS, back)
    assert back["f32 2d"].flags.writeable is not mmap and type(back["f32 2d"]) is np.ndarray


def test_one_long_string_does_not_blow_up_a_string_array(tmp_path):
    ids = np.array([f"u{i}" for i in range(20_000)] + ["x" * 5000], dtype=object)
    back, tree, files = round_trip({"ids": ids}, tmp_path)
    same({"ids": ids}, back)
    assert tree["items"]["ids"]["as"] == "utf8"  # fixed width would be 20k x 5000 x 4 bytes = 400 MB
    assert sum((tmp_path / f).stat().st_size for f in files) < 2_000_000


def test_a_shared_array_is_stored_once_and_stays_shared(tmp_path):
    a = np.arange(1000.0)
    back, _, files = round_trip({"x": a, "y": [a], "z": Part(weights=a)}, tmp_path)
    assert len(files) == 1 and back["x"] is back["y"][0] is back["z"].weights


def test_sparse_matrices_read_back_equal(tmp_path):
    m = sp.random(30, 20, density=0.2, format="csr", dtype=np.float32, random_state=0)
    value = {"csr": m, "csc": m.tocsc(), "coo": m.tocoo(), "csr array": sp.csr_array(m),
             "empty": sp.csr_matrix((5, 0), dtype=np.float64), "int64 idx": sp.csr_matrix(
                 (m.data, m.indices.astype(np.int64), m.indptr.astype(np.int64)), shape=m.shape)}
    back, _, _ = round_trip(value, tmp_path)
    same({k: v for k, v in value.items() if k != "int64 idx"}, {k: v for k, v in back.items() if k != "int64 idx"})
    assert (back["int64 idx"] != m).nnz == 0


def test_frames_and_series_read_back_equal(tmp_path):
    df = pd.DataFrame({"user": pd.Series(["a", "b", None], dtype="str"), "n": [1, 2, 3],
                       "x": np.float32([0.5, np.nan, 2]), "seg": pd.Categorical(["lo", "hi", "lo"]),
                       "when": pd.to_datetime(["2024-01-01", "2024-02-01", None]), "ok": [True, False, True]},
                      index=pd.Index([10, 20, 30], name="code"))
    value = {"frame": df, "empty": pd.DataFrame({"a": pd.Series([], dtype="float64")}),
             "series": pd.Series([1.5, 2.5], index=["p", "q"], name="price"), "unnamed": pd.Series([1, 2])}
    back, _, _ = round_trip(value, tmp_path)
    same(value, back)


def test_objects_are_rebuilt_without_init(tmp_path):
    learner = Learner(k=5)
    learner.factors_ = np.ones((2, 2))
    learner.part_ = Part(weights=np.zeros(3), tags=["a"])
    inits = Learner.inits
    back, tree, _ = round_trip({"model": learner}, tmp_path)
    same({"model": learner}, back)
    assert Learner.inits == inits  # __init__ never ran
    assert tree["items"]["model"]["class"] == f"{__name__}.Learner"


def test_a_dataclass_field_added_since_the_bundle_gets_its_default(tmp_path):
    tree, files = bf.write_tree(Part(weights=np.ones(2), label="old", tags=["t"]), tmp_path)
    del tree["fields"]["label"], tree["fields"]["tags"]  # written before these fields existed
    back = bf.read_tree(tree, tmp_path, set(files))
    assert back.label == "part" and back.tags == []
    del tree["fields"]["weights"]  # no default: cannot be made up
    with pytest.raises(BundleError, match="no field 'weights' of .*Part.*retrain"):
        bf.read_tree(tree, tmp_path, set(files))


def test_a_lightgbm_booster_reads_back_with_the_same_predictions(tmp_path):
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    x, y = rng.random((300, 4)), rng.random(300) > 0.5
    train, valid = lgb.Dataset(x[:200], y[:200]), lgb.Dataset(x[200:], y[200:])
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4}, train, num_boost_round=40,
                        valid_sets=[valid], callbacks=[lgb.early_stopping(3, verbose=False)])
    assert 0 < booster.best_iteration < 40
    back, _, _ = round_trip({"b": booster}, tmp_path)
    assert back["b"].best_iteration == booster.best_iteration
    np.testing.assert_array_equal(back["b"].predict(x), booster.predict(x))


class Unregistered:
    pass


@pytest.mark.parametrize("value, where, what", [
    ({"a": {"b": {1, 2}}}, r"v\['a'\]\['b'\]", "builtins.set"),
    ({"f": lambda: 1}, r"v\['f'\]", "function"),
    ([Unregistered()], r"v\[0\]", "Unregistered"),
    ({"ids": np.array(["a", 1], dtype=object)}, r"v\['ids'\]", "object array"),
    ({"df": pd.DataFrame({0: [1]})}, r"v\['df'\]", "columns must be unique str"),
    ({"df": pd.DataFrame({"a": [object()]})}, r"v\['df'\]", "cannot be written as Parquet"),
    ({"m": sp.lil_matrix((2, 2))}, r"v\['m'\]", "lil sparse matrix"),
    ({(1, 2.5): "tuple key ok", frozenset(): 1}, r"v", "dict key"),
])
def test_what_cannot_be_saved_is_a_type_error_naming_its_path(tmp_path, value, where, what):
    with pytest.raises(TypeError) as info:
        bf.write_tree(value, tmp_path, root="v")
    assert re.match(where + ": ", str(info.value)) and what in str(info.value), str(info.value)


def test_a_cycle_is_a_type_error(tmp_path):
    a: list = []
    a.append(a)
    with pytest.raises(TypeError, match=r"v\[0\]: refers back to itself"):
        bf.write_tree(a, tmp_path, root="v")


def test_a_manifest_naming_a_file_it_does_not_list_or_outside_is_refused(tmp_path):
    tree, files = bf.write_tree({"a": np.arange(3)}, tmp_path)
    with pytest.raises(BundleError, match="is not one the bundle lists"):
        bf.read_tree(tree, tmp_path, set())
    np.save(tmp_path.parent / "outside.npy", np.arange(3))
    tree["items"]["a"]["file"] = "../outside.npy"
    with pytest.raises(BundleError, match="is not one the bundle lists"):
        bf.read_tree(tree, tmp_path, {"../outside.npy"})


@pytest.mark.parametrize("bad", [{"$t": "pickle", "data": "..."}, {"$t": "dict"}, {"no": "tag"},
                                 {"$t": "object", "class": "recsys.bundles.state.TrainedState", "fields": {"__class__": 1}},
                                 {"$t": "npscalar", "dtype": "|O", "value": 1},
                                 {"$t": "ndarray", "file": "0000-a.npy", "dtype": "<f8", "shape": [3]}])
def test_a_malformed_manifest_is_a_bundle_error(tmp_path, bad):
    _, files = bf.write_tree({"a": np.arange(3)}, tmp_path)  # 0000-a.npy holds int64, not float64
    with pytest.raises(BundleError):
        bf.read_tree(bad, tmp_path, set(files))


def test_classes_outside_the_allowlist_are_refused_by_name():
    assert bf.resolve_class("recsys.models.als.ALSModel").__name__ == "ALSModel"
    for name in ("os.system", "builtins.object", "recsys.serving.service.Recommender", "recsys.models.als.np", None, 3):
        with pytest.raises(BundleError, match="is not one a bundle may hold"):
            bf.resolve_class(name)
