"""Files added to a published bundle afterwards (the precomputed default lists): a folder inside
the bundle folder with a JSON manifest that names its .npy files (size and sha256 of each) and
the bundle they belong to.

Written atomically: the arrays go into a staging folder (big ones straight to disk through
`np.lib.format.open_memmap`, so memory stays bounded), the manifest last, then one rename puts
the folder in place; a reader sees the old folder or the new one, never half of one. Read
memory-mapped (every process serving the bundle shares the pages) with allow_pickle=False; a
sidecar whose bundle, files or format do not match is refused with the reason, never half-used.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsys.atomic import file_sha256
from recsys.bundles.format import MMAP_MIN_BYTES
from recsys.bundles.store import BUNDLE_FILE, _file_stamp, _metadata_of

SIDECAR_FORMAT = 1
MANIFEST = "manifest.json"


def sidecar_dir(bundle_dir: str | Path, name: str) -> Path:
    return Path(bundle_dir) / name


class SidecarWriter:
    """Arrays into a staging folder inside the bundle, then `commit` renames it into place."""

    def __init__(self, bundle_dir: str | Path, name: str) -> None:
        self.bundle_dir = Path(bundle_dir)
        self.name = name
        self.meta = _metadata_of(self.bundle_dir)  # the bundle must be a complete one
        self.staging = Path(tempfile.mkdtemp(dir=self.bundle_dir, prefix=f".staging-{name}-"))
        self.arrays: dict[str, np.ndarray] = {}

    def empty(self, key: str, shape: tuple[int, ...], dtype: Any, fill: Any = 0) -> np.ndarray:
        """A writable array backed by its file in the staging folder."""
        if int(np.prod(shape)) == 0:  # nothing to map
            arr = np.full(shape, fill, dtype=dtype)
            self.put(key, arr)
            return arr
        arr = np.lib.format.open_memmap(self._file(key), mode="w+", dtype=dtype, shape=shape)
        arr[...] = fill
        self.arrays[key] = arr
        return arr

    def put(self, key: str, values: np.ndarray) -> None:
        np.save(self._file(key), np.ascontiguousarray(values), allow_pickle=False)
        self.arrays[key] = values

    def _file(self, key: str) -> Path:
        if not BUNDLE_FILE.fullmatch(key + ".npy"):
            raise ValueError(f"bad sidecar array name {key!r}")
        return self.staging / f"{key}.npy"

    def commit(self, meta: dict[str, Any]) -> Path:
        """Write the manifest and move the folder into place (replacing an older one)."""
        for arr in self.arrays.values():
            if isinstance(arr, np.memmap):
                arr.flush()
        self.arrays.clear()  # close the maps before the rename
        files = {p.name: {"bytes": p.stat().st_size, "sha256": file_sha256(p)} for p in self.staging.glob("*.npy")}
        manifest = {"format": SIDECAR_FORMAT, "bundle_manifest_sha256": self.meta.get("manifest_sha256"),
                    "files": files, "stamps": {n: _file_stamp(self.staging / n) for n in files}, "meta": meta}
        (self.staging / MANIFEST).write_text(json.dumps(manifest, allow_nan=False))
        target = sidecar_dir(self.bundle_dir, self.name)
        if target.exists():  # a recompute: the old folder goes aside first, then away
            old = target.with_name(f".old-{self.name}-{os.getpid()}")
            os.replace(target, old)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(self.staging, target)
        return target

    def abort(self) -> None:
        self.arrays.clear()
        shutil.rmtree(self.staging, ignore_errors=True)


@dataclass
class Sidecar:
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]


class SidecarRefused(Exception):
    """A sidecar is there but cannot be used (the message says why)."""


def read_sidecar(bundle_dir: str | Path, name: str) -> Sidecar | None:
    """The sidecar `name` of a bundle, arrays memory-mapped read-only; None when there is none;
    SidecarRefused when it belongs to another bundle or its files do not match its manifest."""
    folder = sidecar_dir(bundle_dir, name)
    try:
        raw = (folder / MANIFEST).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SidecarRefused(f"its manifest is unreadable ({exc.strerror})") from None
    try:
        manifest = json.loads(raw)
        files, stamps = manifest["files"], manifest.get("stamps", {})
        fmt, owner = manifest["format"], manifest["bundle_manifest_sha256"]
    except (ValueError, KeyError, TypeError):
        raise SidecarRefused("its manifest is malformed") from None
    if fmt != SIDECAR_FORMAT:
        raise SidecarRefused(f"format {fmt!r}, this recsys reads {SIDECAR_FORMAT}")
    if owner != _metadata_of(Path(bundle_dir)).get("manifest_sha256"):
        raise SidecarRefused("it was computed for another bundle")
    arrays = {}
    for fname, entry in files.items():
        target = folder / fname
        if not BUNDLE_FILE.fullmatch(fname) or not fname.endswith(".npy") or not target.is_file() \
                or target.stat().st_size != entry["bytes"]:
            raise SidecarRefused(f"file '{fname[:80]}' is missing or truncated")
        if stamps.get(fname) != _file_stamp(target) and file_sha256(target) != entry["sha256"]:
            raise SidecarRefused(f"file '{fname}' does not match its manifest (damaged or replaced)")
        try:  # small files are read: each map holds a file descriptor open
            arr = np.load(target, mmap_mode="r" if entry["bytes"] >= MMAP_MIN_BYTES else None, allow_pickle=False)
        except ValueError as exc:
            raise SidecarRefused(f"file '{fname}' is not a plain array ({exc})") from None
        if isinstance(arr, np.memmap):
            arr = arr.view(np.ndarray)
        arr.flags.writeable = False
        arrays[fname[:-4]] = arr
    return Sidecar(manifest.get("meta", {}), arrays)
