"""The saved model bundle: joblib arrays plus metadata.json, written atomically.

Layout of an artifacts folder:
    CURRENT                 name of the live bundle (replaced atomically)
    bundle-<stamp>/         model.joblib + metadata.json (the sha256 of model.joblib inside)
A crash while saving leaves CURRENT pointing at the previous, complete bundle. Only a bundle
whose metadata names this program's format and whose file hash matches is ever unpickled.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import joblib

FORMAT = "recsys-bundle"
FORMAT_VERSION = 2
MODEL_FILE = "model.joblib"
META_FILE = "metadata.json"
POINTER = "CURRENT"


class BundleError(RuntimeError):
    """A bundle is missing, damaged or from an incompatible version."""


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
        # uncompressed: compressed joblib loads ~40x slower and the app loads on every start
        joblib.dump(payload, staging / MODEL_FILE, compress=0)
        meta = dict(metadata)
        meta.update(format=FORMAT, format_version=FORMAT_VERSION, library_version=__version__,
                    model_sha256=file_sha256(staging / MODEL_FILE),
                    bundle_bytes=(staging / MODEL_FILE).stat().st_size)
        meta.setdefault("timings_s", {})["save"] = round(time.perf_counter() - t0, 4)
        (staging / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
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
    path = out / pointer.read_text().strip()
    if not (path / META_FILE).exists():
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


def load_bundle(out_dir: str | Path, mmap: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """(payload, metadata) of the current bundle, after checking format and file hash."""
    meta = read_metadata(out_dir)
    path = current_bundle(out_dir)
    model_file = path / MODEL_FILE
    if not model_file.exists() or file_sha256(model_file) != meta.get("model_sha256"):
        raise BundleError(f"'{model_file}' does not match its metadata (damaged or replaced); retrain")
    payload = joblib.load(model_file, mmap_mode="r" if mmap else None)
    return payload, meta
