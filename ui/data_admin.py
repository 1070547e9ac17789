"""Pieces of the Data and training page: validation reports, the source list, freshness."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from recsys.bundles.store import read_metadata
from recsys.errors import BundleError, DataError
from recsys.io.cache import data_hash
from recsys.io.dates import DATE_ORDERS
from recsys.io.loading import ValidationReport
from recsys.io.readers import CSV_SUFFIXES, EXCEL_SUFFIXES, PARQUET_SUFFIXES
from recsys.io.source_files import exclusions_path, mapping_path
from ui.import_report import show_import_report
from ui.settings import PROJECT_ROOT, Settings
from ui.sources import (
    TARGETS,
    Source,
    catalogue_of,
    exclusions_of,
    preview,
    proposed_mapping,
    save_exclusions,
    save_mapping,
    saved_sheet,
    sheets_of,
    slugify,
    stage_catalogue,
    validate,
)

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


def _stamps(path: Path) -> tuple:
    """The file's stamp and those of what changes how it reads and cleans: its mapping, catalogue
    and exclusion list."""
    sides = [p for p in (mapping_path(path), catalogue_of(path), exclusions_path(path)) if p is not None and p.is_file()]
    return (_stamp(path), *(_stamp(p) for p in sides))


@st.cache_resource
def _reports() -> dict:
    """Validation reports by stamps, shared by the sessions of this process."""
    return {}


def validation_of(path: Path) -> ValidationReport:
    """The validation report of a file, recomputed (with a progress bar) only when the file, its
    mapping or its catalogue change."""
    try:
        key = _stamps(path)
    except OSError:  # gone or unreadable: the library words the problem
        return validate(Path(path))
    cache = _reports()
    if key not in cache:
        bar = st.progress(0.0, text=f"Validating {Path(path).name}…")
        cache[key] = validate(Path(path), progress=lambda f, m: bar.progress(min(max(float(f), 0.0), 1.0),
                                                                            text=f"Validating: {m}"))
        bar.empty()
        while len(cache) > 32:
            cache.pop(next(iter(cache)))
    return cache[key]


def show_validation(report: ValidationReport, key: str) -> None:
    """OK with the line count and what the import will do, or every problem with its file, sheet,
    column and row."""
    if report.ok:
        st.success(f"**{report.file}** is valid: {report.lines:,} sales lines ready to train on.",
                   icon=":material/task_alt:")
        if report.cleaning is not None:
            with st.expander("What the import will do with it", icon=":material/fact_check:", expanded=True):
                show_import_report(report.cleaning.to_dict(), key=f"{key}_import")
        else:
            for warning in report.warnings:
                st.warning(warning, icon=":material/warning:")
        return
    for warning in report.warnings:
        st.warning(warning, icon=":material/warning:")
    st.error(f"**{report.file}** has {len(report.problems)} problem{'s' if len(report.problems) != 1 else ''}: "
             "map its columns below, or fix the file and upload it again.", icon=":material/report:")
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


# ---- the mapping form ----------------------------------------------------------------------

TARGET_LABELS = {
    "ignore": "— not used —", "user_id": "user_id · customer", "item_id": "item_id · product code",
    "timestamp": "timestamp · date or date and time", "quantity": "quantity · units on the line",
    "price": "price · of one unit", "line_value": "line_value · the line's total (price = value / units)",
    "ticket_id": "ticket_id · basket", "customer_type": "customer_type · loyal / new",
    "ticket_amount": "ticket_amount · basket total", "pos_number": "pos_number · till",
    "ticket_number": "ticket_number · receipt number", "item_name": "item_name · product name",
    "category": "category · product group",
}
DATE_LABELS = {"auto": "Read it from the values", "dayfirst": "Day first (31/12/2025)",
               "monthfirst": "Month first (12/31/2025)"}
CATALOGUE_TYPES = sorted({s.rsplit(".", 1)[-1] for s in CSV_SUFFIXES + EXCEL_SUFFIXES + PARQUET_SUFFIXES})


def mapping_form(path: Path, key: str) -> bool:
    """The first rows of the file (of a workbook: of the sheet chosen), a canonical column for each
    of its columns (the saved mapping or the loader's guess), the date order and an optional
    catalogue; True once saved."""
    prefix = f"{key}_{slugify(Path(path).name)}"
    sheets, sheet = sheets_of(path), None
    if len(sheets) > 1:  # outside the form: another sheet shows its own columns at once
        saved = saved_sheet(path)
        sheet = st.selectbox("Sheet with the sales lines", sheets, key=f"{prefix}_sheet",
                             index=sheets.index(saved) if saved in sheets else 0)
    elif sheets:
        sheet = sheets[0]
    try:
        head = preview(path, sheet=sheet)
    except DataError as err:
        st.error(str(err))
        return False
    headers = [str(c) for c in head.columns]
    proposed, dates = proposed_mapping(path, headers)
    where = f" (sheet *{sheet}*)" if sheet else ""
    st.caption(f"The first {len(head)} rows of **{Path(path).name}**{where} as written:")
    st.dataframe(head, hide_index=True, key=f"{key}_preview", height=38 + 35 * min(len(head), 8))
    with st.form(key=f"{prefix}_form", border=False):
        st.markdown("**What each column holds** · the proposal is the loader's guess (or what you saved before)")
        grid = st.columns(min(len(headers), 4) or 1)
        choice = {h: grid[i % len(grid)].selectbox(h, TARGETS, index=TARGETS.index(proposed.get(h, "ignore")),
                                                    key=f"{prefix}_col_{i}", format_func=TARGET_LABELS.get)
                  for i, h in enumerate(headers)}
        order = st.radio("Date order", DATE_ORDERS, index=DATE_ORDERS.index(dates), horizontal=True,
                         key=f"{prefix}_dates", format_func=DATE_LABELS.get,
                         help="Dates such as 11/1/2000 read both ways; the loader asks when no value settles it")
        catalogue = st.file_uploader("Product catalogue (optional): item id, name, category, current price",
                                     type=CATALOGUE_TYPES, key=f"{prefix}_catalogue")
        saved = st.form_submit_button("Apply this mapping and check the file", type="primary",
                                      icon=":material/rule:", key=f"{prefix}_apply")
    if not saved:
        return False
    try:
        cat = stage_catalogue(catalogue.name, catalogue.getvalue(), path) if catalogue is not None else None
        save_mapping(path, choice, order, cat, sheet=sheet if len(sheets) > 1 else None)
    except (ValueError, OSError) as exc:
        st.error(f"Could not save the mapping: {exc}")
        return False
    return True


# ---- suspects and the exclusion list -------------------------------------------------------

def exclusion_editor(path: Path, cleaning: dict, key: str) -> bool:
    """The suspect non-product codes with their evidence, which to leave out, and other ids to
    leave out; saved as `<file>.exclude.txt` (applied at the next training). True once saved."""
    suspects = pd.DataFrame(cleaning.get("suspects", []),
                            columns=["item_id", "lines", "strong", "excluded", "evidence", "kind"])
    saved_list = exclusions_of(path)
    if not suspects.empty:
        shown = suspects.assign(default=suspects["strong"].map({True: "excluded", False: "kept"}),
                                kind=suspects["kind"].fillna("placeholder price"))
        st.dataframe(shown[["item_id", "kind", "excluded", "default", "lines", "evidence"]], hide_index=True,
                     key=f"{key}_suspects", column_config={
                         "item_id": st.column_config.TextColumn("Item"),
                         "kind": st.column_config.TextColumn("Kind"),
                         "excluded": st.column_config.CheckboxColumn("Left out", help="In the last training"),
                         "default": st.column_config.TextColumn("By default", help="Strong evidence: left out"),
                         "lines": st.column_config.NumberColumn("Lines", format="%d"),
                         "evidence": st.column_config.TextColumn("Evidence", width="large")})
    ids = suspects["item_id"].tolist()
    chosen = st.multiselect("Suspects to leave out of training", ids, key=f"{key}_pick",
                            default=[i for i, x in zip(ids, suspects["excluded"]) if x])
    others = st.text_area("Other items to leave out (one id a line)", key=f"{key}_others",
                          value="\n".join(sorted(saved_list.exclude - set(ids))))
    if not st.button("Save the list (applied at the next training)", key=f"{key}_save", icon=":material/save:"):
        return False
    keep = [i for i, strong in zip(ids, suspects["strong"]) if strong and i not in chosen]
    try:
        save_exclusions(path, chosen + others.splitlines(), keep)
    except OSError as exc:
        st.error(f"Could not save the list: {exc}")
        return False
    return True
