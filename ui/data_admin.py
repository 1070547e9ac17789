"""Pieces of the Data and training page: validation reports, the source list, freshness."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from recsys.artifacts import BundleError, read_metadata
from recsys.data import ValidationReport, data_hash

from ui.settings import PROJECT_ROOT, Settings
from ui.sources import Source, validate

REPORT_COLUMNS = {
    "file": st.column_config.TextColumn("File"),
    "sheet": st.column_config.TextColumn("Sheet"),
    "column": st.column_config.TextColumn("Column"),
    "row": st.column_config.NumberColumn("Row", format="%d", help="Spreadsheet row (the header is row 1)"),
    "problem": st.column_config.TextColumn("Problem", width="large"),
}


def shown_path(path: Path | str | None, settings: Settings) -> str:
    """A path as the page shows it: relative to the data, models or project folder, never the
    server's absolute path (it tells a visitor about the machine and helps no analyst)."""
    if path is None or str(path) == "":
        return "—"
    path = Path(path).resolve()
    for root, label in ((settings.data_dir, "data folder"), (settings.artifacts_dir, "models folder"),
                        (PROJECT_ROOT, "project folder")):
        try:
            rel = path.relative_to(Path(root).resolve())
        except ValueError:
            continue
        return f"{rel.as_posix()} (in the {label})" if rel.parts else f"the {label}"
    return path.name or "—"


def _stamp(path: Path) -> tuple[str, int, int]:
    st_ = Path(path).stat()
    return str(path), st_.st_mtime_ns, st_.st_size


@st.cache_data(max_entries=32, show_spinner="Validating the file…")
def _validate(stamp: tuple[str, int, int]) -> ValidationReport:
    return validate(Path(stamp[0]))


def validation_of(path: Path) -> ValidationReport:
    """The validation report of a file, recomputed only when the file changes."""
    try:
        return _validate(_stamp(path))
    except OSError:  # gone or unreadable: the library words the problem
        return validate(Path(path))


def show_validation(report: ValidationReport, key: str) -> None:
    """OK with the line count, or every problem with its file, sheet, column and row."""
    if report.ok:
        st.success(f"**{report.file}** is valid: {report.lines:,} sales lines ready to train on.",
                   icon=":material/task_alt:")
        return
    st.error(f"**{report.file}** has {len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}: "
             "fix them in the file and upload it again.", icon=":material/report:")
    st.dataframe(report.to_frame(), hide_index=True, key=key, column_config=REPORT_COLUMNS)


@st.cache_data(max_entries=32, show_spinner=False)
def _hash(stamp: tuple[str, int, int]) -> str:
    return data_hash(stamp[0])


def bundle_meta(source: Source) -> dict:
    try:
        return read_metadata(source.bundle_dir) if source.trained else {}
    except BundleError:
        return {}


def is_stale(source: Source, meta: dict) -> bool:
    """True when the source file changed since its models were trained."""
    if source.kind != "file" or not meta or source.path is None or not source.path.exists():
        return False
    return bool(meta.get("data_hash")) and meta["data_hash"] != _hash(_stamp(source.path))


def _count(n: int | None) -> str:
    return "—" if n is None else f"{int(n):,}"


def sources_frame(sources: list[Source], current: Source, settings: Settings) -> pd.DataFrame:
    rows = []
    for s in sources:
        meta = bundle_meta(s)
        counts = meta.get("counts", {})
        rows.append({
            "current": "●" if s.key == current.key else "",
            "source": s.label, "kind": {"demo": "synthetic", "file": "data file", "bundle": "CLI bundle"}[s.kind],
            "status": ("trained, data changed since" if is_stale(s, meta) else "trained") if meta else "not trained",
            "trained_at": str(meta.get("trained_at", "")).replace("T", " ")[:19] or "—",
            # text, not numbers: an untrained source shows a dash, not "None"
            "customers": _count(counts.get("users")), "items": _count(counts.get("items")),
            "lines": _count(counts.get("lines")),
            "models_in": shown_path(s.bundle_dir, settings),
        })
    return pd.DataFrame(rows)
