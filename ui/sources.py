"""Data sources: the synthetic demo store, the files in the data folder, and a bundle the CLI
wrote into the artifacts root. Each source has its own bundle folder under the artifacts root.

No Streamlit here: listing, slugs, uploads and validation are plain functions (tested as such).
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recsys.atomic import atomic_write_bytes
from recsys.bundles.store import has_bundle
from recsys.errors import DataError
from recsys.io.columns import IGNORE, MAPPABLE_COLUMNS, propose_mapping
from recsys.io.loading import ValidationReport, validate_transactions
from recsys.io.readers import (
    CSV_SUFFIXES,
    SUPPORTED_SUFFIXES,
    customer_sheets,
    is_workbook,
    sheet_preview,
    workbook_sheets,
)
from recsys.io.source_files import (
    Exclusions,
    SourceMapping,
    exclusions_path,
    mapping_path,
    source_exclusions,
    source_mapping,
    write_exclusions,
    write_mapping,
)
from ui.settings import DEMO_KEY, Settings

CLI_KEY = "artifacts"
RESERVED_KEYS = (DEMO_KEY, CLI_KEY)
MODEL_SUFFIXES = (".joblib", ".pkl", ".pickle", ".npz", ".npy", ".pt", ".onnx")


@dataclass(frozen=True)
class Source:
    """One data source the analyst can pick."""

    key: str            # stable slug, shown in the URL (?source=...)
    label: str
    kind: str           # "demo" | "file" | "bundle"
    bundle_dir: Path    # where its trained models live
    path: Path | None = None  # the data file (kind "file")

    @property
    def trainable(self) -> bool:
        return self.kind in ("demo", "file")

    @property
    def trained(self) -> bool:
        return has_bundle(self.bundle_dir)


def slugify(name: str) -> str:
    """'Data Science - Assignment.xlsx' -> 'data-science-assignment-xlsx'."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "data"


def is_data_file(path: Path) -> bool:
    name = path.name
    return (path.is_file() and not name.startswith((".", "~$")) and f"{CATALOGUE_TAG}." not in name
            and name.lower().endswith(SUPPORTED_SUFFIXES))  # a file's catalogue is not a source of its own


def list_sources(settings: Settings) -> list[Source]:
    """The demo store first, then every data file in the data folder, then a CLI bundle."""
    root = settings.artifacts_dir
    sources = [Source(DEMO_KEY, "Demo store (synthetic)", "demo", root / DEMO_KEY)]
    taken = set(RESERVED_KEYS)
    files = sorted(p for p in settings.data_dir.glob("*") if is_data_file(p)) if settings.data_dir.is_dir() else []
    for path in files:
        key = base = slugify(path.name)
        i = 2
        while key in taken:
            key, i = f"{base}-{i}", i + 1
        taken.add(key)
        sources.append(Source(key, path.name, "file", root / key, path))
    if has_bundle(root):
        sources.append(Source(CLI_KEY, f"Models in {root.name}/ (trained with the CLI)", "bundle", root))
    return sources


def safe_upload_name(name: str) -> str:
    """The file name an upload is saved under; ValueError for anything but a data file."""
    base = Path(name.replace("\\", "/")).name
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", base).strip(" .")
    lower = base.lower()
    if lower.endswith(MODEL_SUFFIXES):
        raise ValueError(f"'{name}' looks like a model file: uploads are data only "
                         f"(a workbook, CSV or Parquet file); models are trained here")
    if not base or not lower.endswith(SUPPORTED_SUFFIXES):
        raise ValueError(f"'{name}' is not a workbook, CSV or Parquet file "
                         f"(accepted: {', '.join(SUPPORTED_SUFFIXES)})")
    return base


UPLOADS = ".uploads"  # staging folder inside the data folder (hidden from the source list)
STALE_STAGING_S = 24 * 3600  # a session's staging folder left this long is someone's closed tab
_SESSION_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def staging_dir(data_dir: Path, session: str) -> Path:
    """The staging folder of one browser session: a session never sees or replaces another's upload."""
    if not _SESSION_TOKEN.match(session):
        raise ValueError(f"not a session token: {session!r}")
    return Path(data_dir) / UPLOADS / session


def stage_upload(name: str, data: bytes, data_dir: Path, session: str) -> Path:
    """Write an uploaded file into this session's staging folder atomically; it becomes a data
    source only once it validates (`publish_upload`)."""
    folder = staging_dir(data_dir, session)
    target = folder / safe_upload_name(name)
    if not data:
        raise ValueError(f"'{name}' is empty")
    for old in folder.glob("*") if folder.is_dir() else []:
        if old.is_file() and not old.name.startswith((target.name, ".")):
            old.unlink(missing_ok=True)  # only this session's latest upload (and its mapping) waits here
    _drop_stale_staging(folder.parent, keep=folder)
    atomic_write_bytes(target, data)
    published = Path(data_dir) / target.name
    for side in (mapping_path(published), exclusions_path(published), catalogue_of(published)):
        # a new export of a known file: start from what was decided for it
        if side is not None and side.is_file() and not (target.parent / side.name).exists():
            atomic_write_bytes(target.parent / side.name, side.read_bytes())
    return target


def _drop_stale_staging(root: Path, keep: Path) -> None:
    """Remove the staging folders of sessions gone for a day (their uploads were never published)."""
    now = time.time()
    for folder in root.glob("*") if root.is_dir() else []:
        try:
            if folder.is_dir() and folder != keep and now - folder.stat().st_mtime > STALE_STAGING_S:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # another session removed it first
            continue


def _numbered(name: str, i: int) -> str:
    """'store.csv', 2 -> 'store (2).csv' (the whole data suffix kept: 'a.csv.gz' -> 'a (2).csv.gz')."""
    lower = name.lower()
    suffix = next((s for s in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True) if lower.endswith(s)), "")
    stem = name[: len(name) - len(suffix)]
    return f"{stem} ({i}){name[len(stem):]}"


def publish_upload(staged: Path, data_dir: Path) -> Path:
    """Move a validated upload into the data folder under its name, or 'name (2).csv' ... when a file
    of that name is there: an upload never replaces an existing data file (a hard link claims the
    name atomically, so two sessions publishing the same name at once both keep their file). What
    was decided about it (its mapping, exclusions and catalogue) moves with it, renamed along."""
    staged, folder = Path(staged), Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 1000):
        target = folder / (staged.name if i == 1 else _numbered(staged.name, i))
        try:
            os.link(staged, target)
        except FileExistsError:
            continue
        except OSError:  # no hard links on this file system: check, then move (not race-free)
            if target.exists():
                continue
            _move_decisions(staged, target)
            os.replace(staged, target)
            return target
        _move_decisions(staged, target)
        staged.unlink(missing_ok=True)
        return target
    raise OSError(f"too many files named like '{staged.name}' in the data folder")


def _move_decisions(staged: Path, target: Path) -> None:
    """The staged file's mapping, exclusions and catalogue, moved beside `target` under its name
    (left-overs of an earlier file of that name are dropped: they were decided for other data)."""
    for old in (mapping_path(target), exclusions_path(target), catalogue_of(target)):
        if old is not None:
            old.unlink(missing_ok=True)
    cat = catalogue_of(staged)
    mapping = source_mapping(staged) if mapping_path(staged).is_file() else None
    if cat is not None:
        moved = target.with_name(target.name + cat.name[len(staged.name):])
        os.replace(cat, moved)
        mapping = dataclasses.replace(mapping, catalogue=moved.name) if mapping else None
    if mapping is not None:
        write_mapping(target, mapping)
        mapping_path(staged).unlink(missing_ok=True)
    if exclusions_path(staged).is_file():
        os.replace(exclusions_path(staged), exclusions_path(target))


def source_for(sources: list[Source], path: Path) -> Source | None:
    path = Path(path).resolve()
    return next((s for s in sources if s.path is not None and s.path.resolve() == path), None)


def validate(path: Path, progress=None) -> ValidationReport:
    """Every problem of a data file, never an exception: unexpected failures become problems too."""
    try:
        return validate_transactions(path, progress=progress)
    except DataError as err:
        return ValidationReport(file=Path(path).name, problems=[err])
    except Exception as exc:  # a reader failing in a way the library did not foresee
        return ValidationReport(file=Path(path).name,
                                problems=[DataError(f"the file could not be read: {exc}", file=Path(path).name)])


# ---- column mapping, catalogue and exclusions of one data file -------------------------------

TARGETS = (IGNORE,) + MAPPABLE_COLUMNS  # what the mapping form offers for each column
PREVIEW_ROWS = 8
CATALOGUE_TAG = ".catalogue"  # '<file>.catalogue.csv' beside the data file


def can_map(path: Path) -> bool:
    """CSV and Parquet files and workbooks of any sheets have free column names; the store's
    workbook (sheets 'Loyal Customers' / 'New Customers') is read by its sheets' names."""
    if not is_workbook(path):
        return True
    try:
        return not customer_sheets(workbook_sheets(path))
    except (DataError, OSError):
        return True  # unreadable: the form says why when it reads the first rows


def sheets_of(path: Path) -> list[str]:
    """The sheets a mapping can name (none for CSV and Parquet files)."""
    if not is_workbook(path):
        return []
    try:
        return workbook_sheets(path)
    except (DataError, OSError):
        return []


def saved_sheet(path: Path) -> str | None:
    """The sheet the file's saved mapping reads (None when it names none)."""
    try:
        saved = source_mapping(path)
    except DataError:
        return None
    return saved.sheet if saved else None


def preview(path: Path, rows: int = PREVIEW_ROWS, sheet: str | None = None) -> pd.DataFrame:
    """The first rows as written (text), for the mapping form (a workbook's `sheet`, else its
    first); DataError when unreadable."""
    path = Path(path)
    try:
        if is_workbook(path):
            return sheet_preview(path, sheet, rows)
        if path.name.lower().endswith(CSV_SUFFIXES):
            return pd.read_csv(path, nrows=rows, dtype=str, keep_default_na=False)
        import pyarrow.parquet as pq

        batch = next(pq.ParquetFile(path).iter_batches(batch_size=rows), None)
        return batch.to_pandas().astype(str) if batch is not None else pd.DataFrame()
    except Exception as exc:
        raise DataError(f"cannot read the first rows ({type(exc).__name__}: {exc})", file=path.name) from None


def proposed_mapping(path: Path, headers: list[str]) -> tuple[dict[str, str], str]:
    """(header -> target, date order): the saved mapping of this file, else the loader's guess."""
    saved = source_mapping(path)
    return propose_mapping(headers, saved.columns if saved else None), saved.dates if saved else "auto"


def save_mapping(path: Path, columns: dict[str, str], dates: str, catalogue: Path | None = None,
                 sheet: str | None = None) -> Path:
    """Write `<file>.mapping.toml`: every column's target ('ignore' kept so a name is not re-guessed),
    the date order, the catalogue and the sheet of a workbook."""
    old = source_mapping(path)
    cat = catalogue.name if catalogue is not None else (old.catalogue if old else None)
    return write_mapping(path, SourceMapping(columns=dict(columns), dates=dates, catalogue=cat,
                                             catalogue_columns=old.catalogue_columns if old else {}, sheet=sheet))


def stage_catalogue(name: str, data: bytes, data_path: Path) -> Path:
    """Save an uploaded catalogue beside the data file as '<file>.catalogue.<ext>' (atomic)."""
    base = safe_upload_name(name)
    ext = next(s for s in SUPPORTED_SUFFIXES if base.lower().endswith(s))
    if not data:
        raise ValueError(f"'{name}' is empty")
    for old in Path(data_path).parent.glob(f"{Path(data_path).name}{CATALOGUE_TAG}.*"):
        old.unlink(missing_ok=True)
    target = Path(data_path).with_name(f"{Path(data_path).name}{CATALOGUE_TAG}{ext}")
    atomic_write_bytes(target, data)
    return target


def catalogue_of(path: Path) -> Path | None:
    """The catalogue the file's mapping names, if it exists."""
    try:
        saved = source_mapping(path)
    except DataError:
        return None
    found = saved.catalogue_path(Path(path).parent) if saved else None
    return found if found is not None and found.is_file() else None


def exclusions_of(path: Path) -> Exclusions:
    """The saved exclusions of a data file (none when missing or unreadable)."""
    try:
        return source_exclusions(path)
    except DataError:
        return Exclusions()


def save_exclusions(path: Path, exclude: list[str], keep: list[str]) -> Path:
    """Write `<file>.exclude.txt`: ids to leave out, `!id` for suspects to keep."""
    exclude_set = {str(i).strip() for i in exclude if str(i).strip()}
    keep_set = {str(i).strip() for i in keep if str(i).strip()} - exclude_set
    return write_exclusions(path, Exclusions(frozenset(exclude_set), frozenset(keep_set)))
