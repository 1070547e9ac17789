"""Load point-of-sale lines into the canonical frame, validate them, cache them.

`load_transactions` reads the store's workbook (sheets `Loyal Customers` / `New Customers`), any
other workbook (its only sheet, or the one named), a CSV or a Parquet file and returns the frame
described in `recsys.io.schema`, not yet cleaned. A column map (`column_map`, or
`<file>.mapping.toml` beside the file; `recsys.io.source_files`) says which column is which
(`recsys.io.columns`); the values become the canonical frame in `recsys.io.canonical` (dates by
`recsys.io.dates`, guest lines, cancelled tickets); a catalogue (`recsys.io.catalogue`) adds
item_name, category and list_price; a valid file's frame is cached (`recsys.io.cache`).
`validate_transactions` collects every problem instead of stopping at the first one, and says
what the import and the cleaning would do (`recsys.io.cleaning`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from recsys.errors import DataError
from recsys.io import cache
from recsys.io.canonical import (
    LOADER_VERSION,
    canonical_from_raw,
    merge_import_facts,
    restore_cached,
    with_item_columns,
)
from recsys.io.catalogue import join_catalogue, read_catalogue
from recsys.io.cleaning import CleaningReport, clean_transactions
from recsys.io.cleaning_checks import price_quantity_warning
from recsys.io.columns import POS_NUMBER, TICKET_NUMBER, column_map_problems
from recsys.io.dates import AUTO, check_order
from recsys.io.problems import Where, first_problem_with_notes
from recsys.io.readers import (
    CSV_SUFFIXES,
    EXCEL_SUFFIXES,
    check_file,
    file_suffix,
    open_workbook,
    read_csv_columns,
    read_parquet_columns,
    read_sheet,
    sheets_to_read,
)
from recsys.io.schema import REQUIRED_COLUMNS
from recsys.io.source_files import SourceMapping, source_exclusions, source_mapping

log = logging.getLogger(__name__)

# A workbook's customer sheets must say where their baskets are; other files may leave the ticket out.
WORKBOOK_REQUIRED = REQUIRED_COLUMNS + (POS_NUMBER, TICKET_NUMBER)

# progress(fraction done, message) of reading one file
ReadProgress = Callable[[float, str], None]


@dataclass
class ValidationReport:
    """Every problem found in one file; `ok` when there are none. Warnings do not stop training.
    `cleaning`: what the cleaning would do with the file's lines (with the import facts), when valid."""

    file: str
    problems: list[DataError] = field(default_factory=list)
    lines: int = 0  # lines that would be loaded (0 when the file could not be read)
    warnings: list[str] = field(default_factory=list)
    cleaning: CleaningReport | None = None

    @property
    def ok(self) -> bool:
        """True when the file loads without error."""
        return not self.problems

    def to_frame(self) -> pd.DataFrame:
        """One row per problem, for display."""
        rows = [
            {"file": p.file, "sheet": p.sheet, "column": p.column, "row": p.row, "problem": p.message}
            for p in self.problems
        ]
        return pd.DataFrame(rows, columns=["file", "sheet", "column", "row", "problem"])

    def summary(self) -> str:
        """Human text: OK with the line count and what the import would do, or one line per
        problem; then the warnings."""
        if self.ok:
            head = [f"{self.file}: OK, {self.lines:,} lines"]
            if self.cleaning is not None:
                head.append(self.cleaning.summary())
                return "\n".join(head)  # the cleaning report carries the warnings
        else:
            head = [f"{self.file}: {len(self.problems)} problem(s)"] + [f"- {p}" for p in self.problems]
        return "\n".join(head + [f"warning: {w}" for w in self.warnings])


@dataclass(frozen=True)
class ReadOptions:
    """How to read one file: the explicit arguments, else what is saved beside it (`source_files`)."""

    column_map: dict[str, str] | None = None
    dates: str = AUTO
    catalogue: Path | None = None
    catalogue_columns: dict[str, str] = field(default_factory=dict)
    sheet: str | None = None

    def cache_key(self) -> dict:
        """What of these options changes the frame (the catalogue by its bytes)."""
        return {"column_map": self.column_map or {}, "dates": self.dates,
                "catalogue": cache.data_hash(self.catalogue) if self.catalogue and self.catalogue.is_file() else None,
                "catalogue_columns": self.catalogue_columns, "sheet": self.sheet, "loader": LOADER_VERSION}


def read_options(
    path: str | Path,
    column_map: dict[str, str] | None = None,
    dates: str | None = None,
    catalogue: str | Path | None = None,
    catalogue_columns: dict[str, str] | None = None,
    sheet: str | None = None,
) -> ReadOptions:
    """The options for `path`: each explicit argument, else the file's saved `.mapping.toml`."""
    saved = source_mapping(path) or SourceMapping()
    try:
        order = check_order(dates if dates is not None else saved.dates)
    except ValueError as exc:
        raise DataError(str(exc), file=Path(path).name) from None
    cat = Path(catalogue).expanduser() if catalogue is not None else saved.catalogue_path(Path(path).parent)
    return ReadOptions(
        column_map=column_map if column_map is not None else (saved.columns or None),
        dates=order, catalogue=cat,
        catalogue_columns=catalogue_columns if catalogue_columns is not None else saved.catalogue_columns,
        sheet=sheet if sheet is not None else saved.sheet,
    )


def load_transactions(
    path: str | Path,
    column_map: dict[str, str] | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    *,
    dates: str | None = None,
    catalogue: str | Path | None = None,
    catalogue_columns: dict[str, str] | None = None,
    sheet: str | None = None,
) -> pd.DataFrame:
    """Read a workbook, CSV or Parquet file into the canonical (not yet cleaned) frame.

    `column_map` ({'<your column>': '<canonical name>'}), `dates` ('auto', 'dayfirst',
    'monthfirst'), `catalogue` (a file of item id, name, category, price) and `sheet` (of a
    workbook) default to what is saved beside the file in `<file>.mapping.toml` (see
    `recsys.io.source_files`)."""
    path = Path(path).expanduser()
    check_file(path)
    options = read_options(path, column_map, dates, catalogue, catalogue_columns, sheet)
    entry = cache.entry_path(path, options.cache_key(), cache_dir) if use_cache else None
    if entry is not None:
        cached = cache.read_entry(entry, restore_cached)
        if cached is not None:
            return cached
    frame, problems, _ = _read_canonical(path, options)
    if problems:
        raise first_problem_with_notes(problems)
    for warning in frame.attrs.get("warnings", []):
        log.warning("%s: %s", path.name, warning)
    if entry is not None:
        cache.write_entry(frame, entry)
    return frame


def validate_transactions(
    path: str | Path,
    column_map: dict[str, str] | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    *,
    dates: str | None = None,
    catalogue: str | Path | None = None,
    catalogue_columns: dict[str, str] | None = None,
    sheet: str | None = None,
    exclude_items: Any = None,
    progress: ReadProgress | None = None,
) -> ValidationReport:
    """Collect all problems of a file instead of raising on the first; for a valid file, what
    the cleaning would do (with `exclude_items`, default the file's saved exclusion list). A valid
    file is cached."""
    path = Path(path).expanduser()
    report = ValidationReport(file=path.name)
    progress = progress or (lambda fraction, message: None)
    try:
        check_file(path)
        options = read_options(path, column_map, dates, catalogue, catalogue_columns, sheet)
        exclusions = source_exclusions(path) if exclude_items is None else exclude_items
    except DataError as err:
        report.problems.append(err)
        return report
    entry = cache.entry_path(path, options.cache_key(), cache_dir) if use_cache else None
    frame = cache.read_entry(entry, restore_cached) if entry is not None else None
    if frame is not None:  # only valid files are ever cached
        progress(0.7, "read before (cached)")
    else:
        frame, report.problems, _ = _read_canonical(path, options, progress)
        if frame is not None and not report.problems and entry is not None:
            # Validation already paid for parsing; the load that usually follows is then instant.
            cache.write_entry(frame, entry)
    if frame is not None and not report.problems:
        report.lines, report.warnings = len(frame), list(frame.attrs.get("warnings", []))
        progress(0.9, f"cleaning preview of {len(frame):,} lines")
        report.cleaning = clean_transactions(frame, exclude_items=exclusions)[1]
    progress(1.0, "checked")
    return report


def cache_entry_path(
    path: str | Path, column_map: dict[str, str] | None = None, cache_dir: str | Path | None = None,
    *, dates: str | None = None, catalogue: str | Path | None = None, sheet: str | None = None,
) -> Path:
    """Cache file for this file's bytes, its read options and the loader version."""
    options = read_options(path, column_map, dates, catalogue, sheet=sheet)
    return cache.entry_path(Path(path), options.cache_key(), cache_dir)


def _read_canonical(
    path: Path, options: ReadOptions, progress: ReadProgress | None = None
) -> tuple[pd.DataFrame | None, list[DataError], list[str]]:
    """The canonical frame, every problem found (frame is None when there are problems) and warnings."""
    progress = progress or (lambda fraction, message: None)
    where = Where(path.name)
    column_map = options.column_map
    problems = column_map_problems(column_map, where)
    if problems:
        return None, problems, []
    progress(0.05, f"reading {path.name}")
    try:
        suffix = file_suffix(path)
        if suffix in EXCEL_SUFFIXES:
            frame, problems = _read_workbook(path, options)
        else:
            if suffix in CSV_SUFFIXES:
                raw, mapping = read_csv_columns(path, column_map, where)
            else:
                raw, mapping = read_parquet_columns(path, column_map, where)
            progress(0.4, f"checking {len(raw):,} lines")
            frame, problems = canonical_from_raw(raw, where, column_map, REQUIRED_COLUMNS, mapping=mapping,
                                                 dates=options.dates)
        if frame is not None and options.catalogue is not None:
            progress(0.6, f"joining the catalogue {options.catalogue.name}")
            attrs = frame.attrs
            frame = with_item_columns(join_catalogue(frame, read_catalogue(options.catalogue,
                                                                             options.catalogue_columns)))
            frame.attrs = {**attrs, "import": {**attrs.get("import", {}), "catalogue": options.catalogue.name}}
    except DataError as err:
        return None, [err], []
    if frame is None:
        return None, problems, []
    found = price_quantity_warning(frame, frame.attrs.get("source_columns", {}))
    frame.attrs["warnings"] = [found] if found else []
    frame.attrs.setdefault("import", {})["file"] = path.name
    return frame, [], list(frame.attrs["warnings"])


def _read_workbook(path: Path, options: ReadOptions) -> tuple[pd.DataFrame | None, list[DataError]]:
    """Canonical frame of a workbook's sheets (the store's customer sheets, the named sheet or the
    only one), and the problems found."""
    with open_workbook(path) as book:
        plan = sheets_to_read(path, [str(s) for s in book.sheet_names], options.sheet)
        frames, problems = [], []
        for sheet, customer_type in plan.sheets.items():
            where = Where(path.name, sheet)
            try:
                raw = read_sheet(book, sheet, where)
                frame, sheet_problems = canonical_from_raw(
                    raw, where, options.column_map, WORKBOOK_REQUIRED if plan.customer_sheets else REQUIRED_COLUMNS,
                    customer_type=customer_type, dates=options.dates)
            except DataError as err:
                frame, sheet_problems = None, [err]
            problems += sheet_problems
            if frame is not None:
                frames.append(frame)
    if problems:
        return None, problems
    if len(frames) == 1 and not plan.customer_sheets:
        return frames[0], []
    frame = with_item_columns(pd.concat(frames, ignore_index=True))
    # the sheets name their columns differently: no one source column per canonical one
    frame.attrs = {"source_columns": {}, "import": merge_import_facts([f.attrs["import"] for f in frames])}
    return frame, []
