"""The saved model bundle: data files named by a JSON manifest, plus metadata.json, written atomically.

Layout of an artifacts folder:
    CURRENT                 name of the live bundle (replaced atomically)
    bundle-<stamp>/         metadata.json   format, version, sha256 of manifest.json, what training noted
                            manifest.json   the state's tree (recsys.bundle_format) + size and sha256 of each file
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
from pathlib import Path
from typing import Any

from recsys.bundle_format import BundleError, read_tree, write_tree

FORMAT = "recsys-bundle"
FORMAT_VERSION = 3  # 3: manifest + .npy/Parquet/LightGBM text (2 was one joblib pickle)
MANIFEST_FILE = "manifest.json"
META_FILE = "metadata.json"
SEAL_FILE = "seal.json"  # stamps of the files when last hashed (not part of the manifest)
POINTER = "CURRENT"
BUNDLE_NAME = re.compile(r"bundle-[0-9A-Za-z-]+")
BUNDLE_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # flat names inside a bundle folder

__all__ = ["BundleError", "FORMAT", "FORMAT_VERSION", "atomic_write_bytes", "atomic_write_text",
           "current_bundle", "has_bundle", "load_bundle", "read_metadata", "save_bundle"]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_bundle(out_dir: str | Path, payload: dict[str, Any], metadata: dict[str, Any], keep: int = 2) -> Path:
    """Write a new bundle next to the old ones, then switch CURRENT to it."""
    from recsys import __version__

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


def current_bundle(out_dir: str | Path) -> Path:
    """The folder CURRENT points at; BundleError when there is none."""
    out = Path(out_dir)
    pointer = out / POINTER
    if not pointer.exists():
        raise BundleError(f"no trained models in '{out}': run `python -m recsys train` first")
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"{pointer} is unreadable ({exc}); retrain") from exc
    # only a bare bundle name: never a path out of the folder ('../x', '/etc', 'a/b')
    if not BUNDLE_NAME.fullmatch(name):
        raise BundleError(f"{pointer} names {name[:80]!r}, not a bundle of this folder; retrain")
    path = out / name
    if not (path / META_FILE).is_file():
        raise BundleError(f"bundle '{path}' named in {pointer} is missing or incomplete; retrain")
    return path


def has_bundle(out_dir: str | Path) -> bool:
    try:
        current_bundle(out_dir)
        return True
    except BundleError:
        return False


def read_metadata(out_dir: str | Path) -> dict[str, Any]:
    path = current_bundle(out_dir)
    try:
        meta = json.loads((path / META_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f"metadata of bundle '{path}' is unreadable: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise BundleError(f"'{path}' is not a bundle written by recsys")
    if meta.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"bundle '{path}' has format version {meta.get('format_version')} (written by recsys "
            f"{meta.get('library_version')}); this recsys reads version {FORMAT_VERSION}: retrain the models")
    return meta


def load_bundle(out_dir: str | Path, mmap: bool = True, verify: str = "sealed") -> tuple[dict[str, Any], dict[str, Any]]:
    """(payload, metadata) of the current bundle, after checking its format and files.

    mmap: arrays are memory-mapped read-only (read on first touch, shared between processes).
    verify: "full" checks every file's sha256 (reads every byte: ~0.6 s for 300 MB here);
    "sealed" checks the sha256 only of files changed since the seal, i.e. whose size, mtime,
    ctime or inode differ from when the seal was written (a copied, restored, edited or replaced
    file), and the size of every file. The sha256 check guards against accidents; safety from a
    hostile bundle comes from the format itself (nothing in it can run code).
    """
    if verify not in ("sealed", "full"):
        raise ValueError(f"verify must be 'sealed' or 'full', not {verify!r}")
    meta = read_metadata(out_dir)
    path = current_bundle(out_dir)
    manifest_file = path / MANIFEST_FILE
    try:
        raw = manifest_file.read_bytes()
    except OSError as exc:
        raise BundleError(f"'{manifest_file}' is unreadable ({exc}); retrain") from exc
    if hashlib.sha256(raw).hexdigest() != meta.get("manifest_sha256"):
        raise BundleError(f"'{manifest_file}' does not match its metadata (damaged or replaced); retrain")
    try:
        manifest = json.loads(raw)
        files, tree = manifest["files"], manifest["tree"]
        _check_files(path, files, _read_seal(path) if verify == "sealed" else {})
    except BundleError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BundleError(f"'{manifest_file}' is malformed ({exc}); retrain") from exc
    payload = read_tree(tree, path, set(files), mmap=mmap, root="payload")
    if not isinstance(payload, dict):
        raise BundleError(f"bundle '{path}' holds no payload; retrain")
    return payload, meta


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
            raise BundleError(f"'{target}' does not match its metadata (missing, truncated or replaced); retrain")
        if seal.get(name) == _file_stamp(target):
            continue
        if file_sha256(target) != entry["sha256"]:
            raise BundleError(f"'{target}' does not match its metadata (damaged or replaced); retrain")
        hashed = True
    if hashed:
        try:  # the next load need not hash them again (a read-only folder: it will)
            _write_seal(folder, files)
        except OSError:
            pass
