"""The saved model bundle: data files named by a JSON manifest, plus metadata.json, written atomically.

Layout of an artifacts folder:
    CURRENT                 name of the live bundle (replaced atomically)
    bundle-<stamp>/         metadata.json   format, version, sha256 of manifest.json, what training noted
                            manifest.json   the state's tree (recsys.bundles.format) + size and sha256 of each file
                            0000-*.npy ...  arrays, Parquet frames, LightGBM text models
                            seal.json       size/mtime/ctime/inode of each file when last hashed
A crash while saving leaves CURRENT pointing at the previous, complete bundle. Loading never runs
code from the bundle: no pickle anywhere (arrays load with allow_pickle=False), only files the
manifest lists are opened, each checked against its size and (unless the seal shows it unchanged
since it was hashed) its sha256 first, and objects are only rebuilt for allowlisted recsys classes.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys.atomic import atomic_write_text, file_sha256
from recsys.bundles.format import read_tree, write_tree
from recsys.errors import BundleError
from recsys.version import __version__

FORMAT = "recsys-bundle"
# 4: the library in subpackages (class names), the repeat model keeps its default probabilities,
# the ALS item index is an object of its own; 3: manifest + .npy/Parquet/LightGBM text; 2: one pickle
FORMAT_VERSION = 4
MANIFEST_FILE = "manifest.json"
META_FILE = "metadata.json"
SEAL_FILE = "seal.json"  # stamps of the files when last hashed (not part of the manifest)
POINTER = "CURRENT"
BUNDLE_NAME = re.compile(r"bundle-[0-9A-Za-z-]+")
BUNDLE_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # flat names inside a bundle folder
POINTER_BYTES = 256  # a bundle name is ~60 bytes: anything longer is not a pointer

__all__ = ["FORMAT", "FORMAT_VERSION", "LoadedBundle", "current_bundle", "has_bundle", "load_bundle",
           "read_metadata", "save_bundle"]


@dataclass
class LoadedBundle:
    """What `load_bundle` read: the payload, the metadata and the name of the bundle they came from
    (CURRENT is read once, so all three belong to the same bundle even if it moves meanwhile)."""

    payload: dict[str, Any]
    metadata: dict[str, Any]
    name: str


def save_bundle(out_dir: str | Path, payload: dict[str, Any], metadata: dict[str, Any], keep: int = 2) -> Path:
    """Write a new bundle next to the old ones, then switch CURRENT to it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # names sort in the order bundles were written (pruning keeps the newest by name)
    name = f"bundle-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns():020d}-{os.getpid()}"
    staging = Path(tempfile.mkdtemp(dir=out, prefix=".staging-"))
    try:
        t0 = time.perf_counter()
        tree, names = write_tree(payload, staging, root="payload")
        files = {n: {"bytes": (staging / n).stat().st_size, "sha256": file_sha256(staging / n)} for n in names}
        manifest = json.dumps({"tree": tree, "files": files}, allow_nan=False).encode("utf-8")
        (staging / MANIFEST_FILE).write_bytes(manifest)
        meta = dict(metadata)
        meta.update(format=FORMAT, format_version=FORMAT_VERSION, library_version=__version__,
                    manifest_sha256=hashlib.sha256(manifest).hexdigest(), bundle_files=len(files),
                    bundle_bytes=len(manifest) + sum(f["bytes"] for f in files.values()))
        meta.setdefault("timings_s", {})["save"] = round(time.perf_counter() - t0, 4)
        (staging / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
        _write_seal(staging, names)  # the files as written: a later change shows in their stamps
        os.replace(staging, out / name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    atomic_write_text(out / POINTER, name + "\n")
    _prune(out, keep=keep, current=name)
    return out / name


def _prune(out: Path, keep: int, current: str) -> None:
    bundles = sorted((p for p in out.glob("bundle-*") if p.is_dir()), key=lambda p: p.name)
    for old in bundles[:-keep]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)


def read_pointer(out_dir: str | Path) -> str | None:
    """The bundle name CURRENT holds, as written (None when there is no pointer); BundleError when
    it is not a bundle name of this folder. Errors name the bundle, never a server path."""
    pointer = Path(out_dir) / POINTER
    try:
        with open(pointer, "rb") as fh:
            raw = fh.read(POINTER_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BundleError(f"the pointer to the live bundle (CURRENT) is unreadable ({exc.strerror}); retrain") from None
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BundleError("the pointer to the live bundle (CURRENT) is not text; retrain") from None
    # only a bare bundle name: never a path out of the folder ('../x', '/etc', 'a/b')
    if len(raw) > POINTER_BYTES or not BUNDLE_NAME.fullmatch(name):
        raise BundleError(f"the pointer to the live bundle (CURRENT) names {name[:60]!r}, not a bundle of this "
                          "folder; retrain")
    return name


def current_bundle(out_dir: str | Path) -> Path:
    """The folder CURRENT points at (CURRENT read once); BundleError when there is none."""
    out = Path(out_dir)
    name = read_pointer(out)
    if name is None:
        raise BundleError(f"no trained models in '{out}': run `python -m recsys train` first")
    path = out / name
    if not (path / META_FILE).is_file():
        raise BundleError(f"bundle '{name}' named by CURRENT is missing or incomplete; retrain")
    return path


def has_bundle(out_dir: str | Path) -> bool:
    try:
        current_bundle(out_dir)
        return True
    except BundleError:
        return False


def read_metadata(out_dir: str | Path) -> dict[str, Any]:
    """The metadata of the live bundle (CURRENT read once)."""
    return _metadata_of(current_bundle(out_dir))


def _metadata_of(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads((path / META_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"the metadata of bundle '{path.name}' is unreadable ({type(exc).__name__}); retrain") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"'{path.name}' is not a bundle written by recsys")
    if meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"bundle '{path.name}' has format version {meta.get('format_version')} (written by recsys "
            f"{meta.get('library_version')}); this recsys reads version {FORMAT_VERSION}: retrain the models")
    return meta


def load_bundle(out_dir: str | Path, mmap: bool = True, verify: str = "sealed") -> LoadedBundle:
    """The payload and metadata of the current bundle, after checking its format and files.

    CURRENT is read once: a pointer that moves while this runs never mixes two bundles.
    mmap: arrays are memory-mapped read-only (read on first touch, shared between processes).
    verify: "full" checks every file's sha256 (reads every byte: ~0.6 s for 300 MB here);
    "sealed" checks the sha256 only of files changed since the seal, i.e. whose size, mtime,
    ctime or inode differ from when the seal was written (a copied, restored, edited or replaced
    file), and the size of every file. The sha256 check guards against accidents; safety from a
    hostile bundle comes from the format itself (nothing in it can run code).
    """
    if verify not in ("sealed", "full"):
        raise ValueError(f"verify must be 'sealed' or 'full', not {verify!r}")
    path = current_bundle(out_dir)
    meta = _metadata_of(path)
    try:
        raw = (path / MANIFEST_FILE).read_bytes()
    except OSError as exc:
        raise BundleError(f"bundle '{path.name}': '{MANIFEST_FILE}' is unreadable ({exc.strerror}); retrain") from None
    if hashlib.sha256(raw).hexdigest() != meta.get("manifest_sha256"):
        raise BundleError(f"bundle '{path.name}': '{MANIFEST_FILE}' does not match its metadata (damaged or replaced); "
                          "retrain")
    try:
        manifest = json.loads(raw)
        files, tree = manifest["files"], manifest["tree"]
        _check_files(path, files, _read_seal(path) if verify == "sealed" else {})
    except BundleError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BundleError(f"bundle '{path.name}': '{MANIFEST_FILE}' is malformed ({type(exc).__name__}); retrain") from None
    try:
        payload = read_tree(tree, path, set(files), mmap=mmap, root="payload")
    except BundleError as exc:
        raise BundleError(f"bundle '{path.name}': {exc}") from None
    if not isinstance(payload, dict):
        raise BundleError(f"bundle '{path.name}' holds no payload; retrain")
    return LoadedBundle(payload, meta, path.name)


def _file_stamp(path: Path) -> list[int]:
    """What changes when a file is written, replaced or copied: size, mtime, ctime, inode."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _write_seal(folder: Path, names: Any) -> None:
    atomic_write_text(folder / SEAL_FILE, json.dumps({n: _file_stamp(folder / n) for n in names}))


def _read_seal(folder: Path) -> dict[str, Any]:
    try:
        seal = json.loads((folder / SEAL_FILE).read_text())
        return seal if isinstance(seal, dict) else {}
    except (OSError, ValueError):
        return {}  # no seal: every file is hashed


def _check_files(folder: Path, files: dict[str, Any], seal: dict[str, Any]) -> None:
    """BundleError unless every listed file is in the folder with its recorded size and hash."""
    hashed = False
    for name, entry in files.items():
        target = folder / name
        if not BUNDLE_FILE.fullmatch(name) or not target.is_file() or target.stat().st_size != entry["bytes"]:
            raise BundleError(f"bundle '{folder.name}': file '{name[:80]}' does not match its metadata (missing, "
                              "truncated or replaced); retrain")
        if seal.get(name) == _file_stamp(target):
            continue
        if file_sha256(target) != entry["sha256"]:
            raise BundleError(f"bundle '{folder.name}': file '{name}' does not match its metadata (damaged or "
                              "replaced); retrain")
        hashed = True
    if hashed:
        try:  # the next load need not hash them again (a read-only folder: it will)
            _write_seal(folder, files)
        except OSError:
            pass
