"""A pickle-free encoding of the trained state: a JSON tree that names data files.

`write_tree(obj, folder)` walks `obj` and writes each big value to a file of its own:
    numpy arrays        .npy (never object dtype: arrays of str become fixed-width unicode, or
                        utf-8 bytes plus offsets when one long string would blow the width up)
    scipy sparse        their component arrays (data/indices/indptr or row/col/data) and shape
    pandas DataFrame    .parquet (pyarrow); a Series as a one-column frame
    LightGBM Booster    its text model
Everything else is in the tree itself: None, bool, int, float, str, lists, tuples, dicts, numpy
scalars, pandas Timestamps, and objects of the allowlisted recsys classes as
{"$t": "object", "class": "<module>.<qualname>", "fields": {...}}.

`read_tree(tree, folder, files)` rebuilds it without running code from the bundle: arrays load
with allow_pickle=False (read-only, the big ones memory-mapped, by default), objects are only made of allowlisted
classes, by `cls.__new__(cls)` and filling `__dict__` (no __init__, no property setters), and only
files named in `files` are opened. A value of any other type is a TypeError at save time that
names its attribute path, so a new field that cannot be stored is found when it is added.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import math
import re
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.errors import BundleError

# Classes whose objects a bundle may hold: "<module>.<qualname>". Extend with `register`.
ALLOWED_CLASSES: set[str] = {
    "recsys.bundles.state.TrainedState",
    "recsys.models.als.ALSModel",
    "recsys.models.item_index.ItemIndex",
    "recsys.models.item_cf.ItemCFModel",
    "recsys.models.neighbours.NeighbourModel",
    "recsys.serving.ranker.LearnedRanker",
    "recsys.models.popularity.PopularityModel",
    "recsys.models.repeat.RepeatModel",
    "recsys.serving.confidence.Calibrator",
}
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SPARSE_PARTS = {"csr": ("data", "indices", "indptr"), "csc": ("data", "indices", "indptr"),
                 "coo": ("data", "row", "col")}
# fixed-width unicode costs 4 bytes per character of the longest string, for every string
_MAX_WIDTH_OVERHEAD = 4
_SMALL_BYTES = 1 << 20
# smaller array files are read into memory: each map holds a file descriptor open
MMAP_MIN_BYTES = 1 << 20


def class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(cls: type) -> type:
    """Allow objects of `cls` in bundles (usable as a class decorator)."""
    ALLOWED_CLASSES.add(class_name(cls))
    return cls


def _safe_name(path: str) -> str:
    path = re.sub(r"\[['\"]?|['\"]?\]", ".", path)  # payload['state'].als -> payload.state..als
    return re.sub(r"[^A-Za-z0-9_-]+", ".", path).strip("._")[-80:].lstrip("._") or "value"


def _exact(obj: Any, *types: type) -> bool:
    return type(obj) in types


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

class _Writer:
    """Walks a value, writing its big parts into `folder`; `files` lists what it wrote."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[str] = []
        self._arrays: dict[int, tuple[np.ndarray, dict]] = {}  # id -> (array kept alive, node): shared arrays once
        self._open: set[int] = set()  # containers being walked: a cycle is an error, not a hang

    def encode(self, obj: Any, path: str) -> Any:
        if obj is None or _exact(obj, bool, int, str):
            return obj
        if _exact(obj, float):
            return obj if math.isfinite(obj) else {"$t": "float", "value": repr(obj)}
        if isinstance(obj, np.generic):
            return self._scalar(obj, path)
        if isinstance(obj, np.ndarray):
            return self._array(obj, path)
        if sp.issparse(obj):
            return self._sparse(obj, path)
        if _exact(obj, pd.DataFrame):
            return self._frame(obj, path)
        if _exact(obj, pd.Series):
            return self._series(obj, path)
        if obj is pd.NaT:
            return {"$t": "nat"}
        if _exact(obj, pd.Timestamp):
            return self._checked({"$t": "timestamp", "ns": int(obj.value), "unit": obj.unit,
                                  "tz": None if obj.tz is None else str(obj.tz)}, obj, path)
        if _exact(obj, pd.Timedelta):
            return {"$t": "timedelta", "ns": int(obj.value), "unit": obj.unit}
        if _is_booster(obj):
            return self._booster(obj, path)
        if _exact(obj, list, tuple, dict) or class_name(type(obj)) in ALLOWED_CLASSES:
            return self._container(obj, path)
        raise TypeError(f"{path}: a {class_name(type(obj))} cannot be saved in a model bundle; store "
                        "arrays, DataFrames, sparse matrices, plain values or an allowlisted recsys "
                        "class (recsys.bundles.format.register)")

    def _container(self, obj: Any, path: str) -> Any:
        if id(obj) in self._open:
            raise TypeError(f"{path}: refers back to itself; a bundle stores trees, not cycles")
        self._open.add(id(obj))
        try:
            if isinstance(obj, list):
                return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]
            if isinstance(obj, tuple):
                return {"$t": "tuple", "items": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
            if isinstance(obj, dict):
                return self._dict(obj, path)
            return self._object(obj, path)
        finally:
            self._open.discard(id(obj))

    def _dict(self, obj: dict, path: str) -> dict:
        if all(_exact(k, str) for k in obj):
            return {"$t": "dict", "items": {k: self.encode(v, f"{path}[{k!r}]") for k, v in obj.items()}}
        keys = []
        for k in obj:
            if not (k is None or _exact(k, bool, int, float, str, tuple)):
                raise TypeError(f"{path}: dict key {k!r} ({type(k).__name__}) cannot be saved; use str or int keys")
            keys.append(self.encode(k, f"{path}.<key>"))
        return {"$t": "dict", "keys": keys, "values": [self.encode(v, f"{path}[{k!r}]") for k, v in obj.items()]}

    def _object(self, obj: Any, path: str) -> dict:
        if not hasattr(obj, "__dict__") or getattr(type(obj), "__slots__", None):
            raise TypeError(f"{path}: {class_name(type(obj))} uses __slots__; bundles store objects by their __dict__")
        fields = {k: self.encode(v, f"{path}.{k}") for k, v in vars(obj).items()}
        return {"$t": "object", "class": class_name(type(obj)), "fields": fields}

    def _scalar(self, obj: np.generic, path: str) -> dict:
        if obj.dtype.kind in "biuf":
            return {"$t": "npscalar", "dtype": obj.dtype.str, "value": self.encode(obj.item(), path)}
        return {"$t": "npscalar", "array": self._array(np.asarray(obj), path)}

    def _new_file(self, path: str, suffix: str) -> tuple[str, Path]:
        name = f"{len(self.files):04d}-{_safe_name(path)}{suffix}"
        self.files.append(name)
        return name, self.folder / name

    def _npy(self, arr: np.ndarray, path: str) -> str:
        name, target = self._new_file(path, ".npy")
        np.save(target, arr, allow_pickle=False)
        return name

    def _array(self, arr: np.ndarray, path: str) -> dict:
        seen = self._arrays.get(id(arr))
        if seen is not None:
            return seen[1]
        node: dict[str, Any] = {"$t": "ndarray", "dtype": arr.dtype.str, "shape": list(arr.shape)}
        if arr.dtype.hasobject:
            node.update(self._object_strings(arr, path))
        else:
            node["file"] = self._npy(arr, path)
        self._arrays[id(arr)] = (arr, node)
        return node

    def _object_strings(self, arr: np.ndarray, path: str) -> dict:
        """An object array of str as fixed-width unicode, or utf-8 bytes + offsets when wide."""
        flat = arr.ravel()
        if arr.dtype != object or pd.api.types.infer_dtype(flat, skipna=False) not in ("string", "empty"):
            raise TypeError(f"{path}: an object array can be saved only when every element is a str "
                            f"(found {pd.api.types.infer_dtype(flat, skipna=False)}); convert it to a numeric dtype")
        fixed = flat.astype(str) if len(flat) else np.zeros(0, dtype="<U1")
        chars = int(np.char.str_len(fixed).sum()) if len(flat) else 0
        if fixed.nbytes <= _SMALL_BYTES or fixed.nbytes <= _MAX_WIDTH_OVERHEAD * 4 * chars:
            return {"as": "object_str", "file": self._npy(fixed.reshape(arr.shape), path)}
        encoded = [s.encode("utf-8") for s in flat]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return {"as": "utf8", "file": self._npy(np.frombuffer(b"".join(encoded), dtype=np.uint8), path),
                "offsets": self._npy(offsets, path + ".offsets")}

    def _sparse(self, obj: Any, path: str) -> dict:
        if obj.format not in _SPARSE_PARTS:
            raise TypeError(f"{path}: a {obj.format} sparse matrix cannot be saved; convert it to csr, csc or coo")
        parts = {p: self._array(getattr(obj, p), f"{path}.{p}") for p in _SPARSE_PARTS[obj.format]}
        return {"$t": "sparse", "format": obj.format, "matrix": isinstance(obj, sp.spmatrix),
                "shape": [int(n) for n in obj.shape], "parts": parts}

    def _frame(self, df: pd.DataFrame, path: str) -> dict:
        bad = [c for c in df.columns if not _exact(c, str)]
        if bad or df.columns.has_duplicates:
            raise TypeError(f"{path}: DataFrame columns must be unique str names to be saved (got {list(df.columns)[:5]})")
        name, target = self._new_file(path, ".parquet")
        try:
            df.to_parquet(target, engine="pyarrow")
        except (ValueError, TypeError, ImportError) as exc:  # pyarrow's errors subclass these
            raise TypeError(f"{path}: the DataFrame cannot be written as Parquet: {exc}") from exc
        return {"$t": "dataframe", "file": name, "shape": list(df.shape)}

    def _series(self, s: pd.Series, path: str) -> dict:
        node = self._frame(s.to_frame(name="values"), path)
        return {"$t": "series", "frame": node, "name": self.encode(s.name, f"{path}.name")}

    def _booster(self, booster: Any, path: str) -> dict:
        name, target = self._new_file(path, ".txt")
        target.write_text(booster.model_to_string(num_iteration=-1), encoding="utf-8")
        return {"$t": "lgb_booster", "file": name, "best_iteration": int(booster.best_iteration)}

    def _checked(self, node: dict, obj: Any, path: str) -> dict:
        """A scalar node that must read back equal (a time zone pandas cannot rebuild by name)."""
        try:
            back = _Reader(self.folder, set(), False).decode(node, path)
        except Exception as exc:  # noqa: BLE001 - reported as the save-time error below
            back = exc
        if not (isinstance(back, type(obj)) and back == obj and str(getattr(back, "tz", "")) == str(getattr(obj, "tz", ""))):
            raise TypeError(f"{path}: {obj!r} does not survive the bundle format; store it in UTC or naive")
        return node


def _is_booster(obj: Any) -> bool:
    lgb = sys.modules.get("lightgbm")
    return lgb is not None and isinstance(obj, lgb.Booster)


def write_tree(obj: Any, folder: Path, root: str = "bundle") -> tuple[Any, list[str]]:
    """(JSON-able tree, names of the files written into `folder`) for `obj`."""
    writer = _Writer(Path(folder))
    tree = writer.encode(obj, root)
    json.dumps(tree, allow_nan=False)  # the tree must be plain JSON; fails here, not at load
    return tree, writer.files


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def resolve_class(name: Any) -> type:
    """The allowlisted class called `name`; BundleError for any other name."""
    if not isinstance(name, str) or name not in ALLOWED_CLASSES:
        raise BundleError(f"class {name!r} is not one a bundle may hold")
    module, _, qualname = name.rpartition(".")
    while module and module not in sys.modules:
        try:
            importlib.import_module(module)  # only names in the allowlist get here
            break
        except ImportError:  # a nested qualname: "module.Outer.Inner"
            module, _, outer = module.rpartition(".")
            qualname = f"{outer}.{qualname}"
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not isinstance(obj, type) or class_name(obj) != name:
        raise BundleError(f"class {name!r} named in the bundle no longer exists in this recsys; retrain")
    return obj


class _Reader:
    """Rebuilds values from a tree; opens only the files in `files`."""

    def __init__(self, folder: Path, files: set[str], mmap: bool) -> None:
        self.folder, self.files, self.mmap = folder, files, mmap
        self._arrays: dict[str, np.ndarray] = {}
        self._decoders: dict[str, Callable[[dict, str], Any]] = {
            "float": lambda n, p: float(n["value"]), "nat": lambda n, p: pd.NaT,
            "tuple": lambda n, p: tuple(self.decode(v, f"{p}[{i}]") for i, v in enumerate(n["items"])),
            "dict": self._dict, "object": self._object, "npscalar": self._scalar, "ndarray": self._array,
            "sparse": self._sparse, "dataframe": self._frame, "series": self._series,
            "timestamp": self._timestamp, "timedelta": lambda n, p: pd.Timedelta(int(n["ns"]), unit="ns").as_unit(n["unit"]),
            "lgb_booster": self._booster,
        }

    def decode(self, node: Any, path: str) -> Any:
        if node is None or _exact(node, bool, int, float, str):
            return node
        if isinstance(node, list):
            return [self.decode(v, f"{path}[{i}]") for i, v in enumerate(node)]
        decoder = self._decoders.get(node.get("$t")) if isinstance(node, dict) else None
        if decoder is None:
            raise BundleError(f"{path}: unknown entry {str(node)[:80]!r} in the bundle manifest")
        return decoder(node, path)

    def _file(self, name: Any, path: str) -> Path:
        if not isinstance(name, str) or not _FILE_NAME.fullmatch(name) or name not in self.files:
            raise BundleError(f"{path}: file {name!r} is not one the bundle lists")
        return self.folder / name

    def _dict(self, node: dict, path: str) -> dict:
        if "items" in node:
            return {str(k): self.decode(v, f"{path}[{k!r}]") for k, v in node["items"].items()}
        keys = [self.decode(k, f"{path}.<key>") for k in node["keys"]]
        return {k: self.decode(v, f"{path}[{k!r}]") for k, v in zip(keys, node["values"], strict=True)}

    def _object(self, node: dict, path: str) -> Any:
        cls = resolve_class(node.get("class"))
        fields = node["fields"]
        if any(not isinstance(k, str) or not k.isidentifier() or k.startswith("__") for k in fields):
            raise BundleError(f"{path}: bad attribute names in the bundle manifest")
        obj = cls.__new__(cls)
        obj.__dict__.update({k: self.decode(v, f"{path}.{k}") for k, v in fields.items()})
        if dataclasses.is_dataclass(cls):
            self._fill_defaults(obj, cls, path)
        return obj

    @staticmethod
    def _fill_defaults(obj: Any, cls: type, path: str) -> None:
        """Fields added to a dataclass since the bundle was written get their defaults."""
        for f in dataclasses.fields(cls):
            if f.name in obj.__dict__:
                continue
            if f.default is not dataclasses.MISSING:
                obj.__dict__[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                obj.__dict__[f.name] = f.default_factory()
            else:
                raise BundleError(f"{path}: the bundle has no field {f.name!r} of {class_name(cls)} "
                                  "(written by another version); retrain the models")

    def _scalar(self, node: dict, path: str) -> Any:
        if "array" in node:
            return self._array(node["array"], path)[()]
        dtype = np.dtype(node["dtype"])
        if dtype.kind not in "biuf":
            raise BundleError(f"{path}: bad scalar dtype {node['dtype']!r}")
        return dtype.type(self.decode(node["value"], path))

    def _npy(self, name: Any, path: str) -> np.ndarray:
        target = self._file(name, path)
        if name in self._arrays:
            return self._arrays[name]
        big = self.mmap and target.stat().st_size >= MMAP_MIN_BYTES
        try:
            arr = np.load(target, mmap_mode="r" if big else None, allow_pickle=False)
        except ValueError as exc:
            raise BundleError(f"{path}: '{name}' is not a plain array file ({exc}); retrain") from None
        if isinstance(arr, np.memmap):  # a plain ndarray view; the map stays open through .base
            arr = arr.view(np.ndarray)
        elif self.mmap:
            arr.flags.writeable = False  # read-only like the mapped ones: one behaviour to rely on
        self._arrays[name] = arr
        return arr

    def _array(self, node: dict, path: str) -> np.ndarray:
        arr = self._npy(node["file"], path)
        kind = node.get("as")
        if kind == "object_str":
            arr = arr.astype(object)
        elif kind == "utf8":
            offsets = self._npy(node["offsets"], path)
            raw = arr.tobytes()
            arr = np.array([raw[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])], dtype=object)
        if arr.dtype.str != node["dtype"] or list(arr.shape) != list(node["shape"]):
            raise BundleError(f"{path}: array file '{node['file']}' holds {arr.dtype.str}{list(arr.shape)}, "
                              f"the manifest says {node['dtype']}{node['shape']}; retrain")
        return arr

    def _sparse(self, node: dict, path: str) -> Any:
        fmt, shape = node["format"], tuple(int(n) for n in node["shape"])
        if fmt not in _SPARSE_PARTS:
            raise BundleError(f"{path}: unknown sparse format {fmt!r}")
        parts = {p: self._array(node["parts"][p], f"{path}.{p}") for p in _SPARSE_PARTS[fmt]}
        cls = {"csr": (sp.csr_matrix, sp.csr_array), "csc": (sp.csc_matrix, sp.csc_array),
               "coo": (sp.coo_matrix, sp.coo_array)}[fmt][0 if node["matrix"] else 1]
        if fmt == "coo":
            return cls((parts["data"], (parts["row"], parts["col"])), shape=shape, copy=False)
        return cls((parts["data"], parts["indices"], parts["indptr"]), shape=shape, copy=False)

    def _frame(self, node: dict, path: str) -> pd.DataFrame:
        # one thread: the frames are small and a thread pool costs more than it saves here
        df = pd.read_parquet(self._file(node["file"], path), engine="pyarrow", use_threads=False)
        if list(df.shape) != list(node["shape"]):
            raise BundleError(f"{path}: '{node['file']}' holds a {df.shape} frame, the manifest says {node['shape']}")
        return df

    def _series(self, node: dict, path: str) -> pd.Series:
        return self._frame(node["frame"], path)["values"].rename(self.decode(node["name"], path))

    @staticmethod
    def _timestamp(node: dict, path: str) -> pd.Timestamp:
        ts = pd.Timestamp(int(node["ns"]), unit="ns")
        if node["tz"] is not None:
            ts = ts.tz_localize("UTC").tz_convert(node["tz"])
        return ts.as_unit(node["unit"])

    def _booster(self, node: dict, path: str) -> Any:
        import lightgbm as lgb

        booster = lgb.Booster(model_str=self._file(node["file"], path).read_text(encoding="utf-8"))
        booster.best_iteration = int(node["best_iteration"])
        return booster


def read_tree(tree: Any, folder: Path, files: set[str], mmap: bool = True, root: str = "bundle") -> Any:
    """The value `write_tree` encoded as `tree`; BundleError when the tree or a file is bad."""
    try:
        return _Reader(Path(folder), set(files), mmap).decode(tree, root)
    except BundleError:
        raise
    except OSError as exc:  # its message would name a server path
        raise BundleError(f"a file of the bundle is unreadable ({exc.strerror or type(exc).__name__}); retrain") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"the bundle manifest is malformed ({type(exc).__name__}: {exc}); retrain") from None
