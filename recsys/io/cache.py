"""The loader's parsed-file cache: the canonical frame of a file, keyed by the sha256 of its bytes
and of everything that changes how it reads (`RECSYS_CACHE_DIR`, default `.cache/recsys`).

Only valid files are cached; an unreadable entry is ignored and rewritten; a write never fails a
load (a read-only or full disk costs speed, not correctness)."""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import pandas as pd

log = logging.getLogger(__name__)

HASH_CHUNK_BYTES = 1 << 20


def data_hash(path: str | Path) -> str:
    """Sha256 hex digest of the file's bytes, read in chunks; a file unchanged since its last
    hash in this process (same size, times and inode) is not read again (a training run asks twice:
    the loader's cache key and the bundle's metadata)."""
    st = os.stat(path)
    return _hash_of(str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@functools.lru_cache(maxsize=64)
def _hash_of(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """`RECSYS_CACHE_DIR`, else `.cache/recsys` under the current working directory."""
    configured = os.environ.get("RECSYS_CACHE_DIR")
    return Path(configured) if configured else Path.cwd() / ".cache" / "recsys"


def entry_path(path: Path, key: dict[str, Any], cache_dir: str | Path | None) -> Path:
    """The cache file of this file's bytes and a key of what else shapes the frame."""
    material = json.dumps({"data": data_hash(path), **key}, sort_keys=True)
    digest = hashlib.sha256(material.encode()).hexdigest()
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"transactions-{digest}.parquet"


def read_entry(entry: Path, restore: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame | None:
    """The cached frame passed through `restore` (dtypes, column checks: ValueError when wrong),
    or None when absent or unreadable (it is then rewritten)."""
    if not entry.is_file():
        return None
    try:
        frame = pd.read_parquet(entry)
        attrs = frame.attrs
        frame = restore(frame)
        frame.attrs = attrs
        return frame
    except Exception as exc:
        log.warning("ignoring unreadable cache entry %s (%s)", entry, exc)
        return None


def write_entry(frame: pd.DataFrame, entry: Path) -> None:
    """Write the frame atomically (temp file in the same folder, then os.replace); never fails the load."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=entry.parent, prefix=f".{entry.name}.", suffix=".tmp")
        os.close(handle)
        try:
            frame.to_parquet(temp, index=False)
            os.chmod(temp, 0o644)  # mkstemp makes it owner-only; other users of the cache may read it
            os.replace(temp, entry)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except Exception as exc:  # a read-only or full disk costs speed, not correctness
        log.warning("could not write cache entry %s (%s)", entry, exc)
