"""Data and training: the data source, uploads with a validation report, training, downloads."""
import uuid
from pathlib import Path

import streamlit as st

from recsys.io.readers import SUPPORTED_SUFFIXES
from ui import shell, state, widgets
from ui.data_admin import (
    bundle_meta,
    exclusion_editor,
    is_stale,
    mapping_form,
    show_validation,
    shown_path,
    sources_frame,
    validation_of,
)
from ui.import_report import show_import_report
from ui.knobs import tuned_config_toml
from ui.settings import DEMO_KEY
from ui.sidebar import SOURCE
from ui.sources import can_map, list_sources, publish_upload, source_for, stage_upload
from ui.training import train_with_progress

TRAIN_NOW, STAGED, UPLOAD_ID, DONE = "_train_now", "_staged_upload", "_upload_id", "_trained_message"
PUBLISH_ERROR, UPLOAD_SESSION = "_publish_error", "_upload_session"

ctx = shell.context()
source, settings = ctx.source, ctx.settings
widgets.header("Data and training", "Where the data comes from, what cleaning did, and the models: "
                                    "upload a file, validate it, train, and download the results.")
if msg := st.session_state.pop(DONE, None):
    st.toast(msg, icon=":material/task_alt:")


def switch_to(key: str, train: bool = False) -> None:
    st.session_state[SOURCE] = key
    st.session_state[TRAIN_NOW] = train


def publish(staged: Path) -> None:
    """Callback: move the validated upload into the data folder, switch to it and train."""
    try:
        target = publish_upload(staged, settings.data_dir)
    except OSError as exc:  # the reason, not the server's paths
        st.session_state[PUBLISH_ERROR] = f"Could not save {staged.name}: {exc.strerror or exc}"
        return
    st.session_state.pop(STAGED, None)
    if target.name != staged.name:
        st.session_state[DONE] = f"A file named {staged.name} is already there: saved as {target.name}"
    new = source_for(list_sources(settings), target)
    if new is not None:
        switch_to(new.key, train=True)


# ---- the current source ------------------------------------------------------------------
meta = bundle_meta(source)
with st.container(border=True):
    st.markdown(f"#### :material/database: {source.label}")
    badges = {"demo": ":violet-badge[synthetic demo store]", "file": ":blue-badge[data file]",
              "bundle": ":gray-badge[bundle trained with the CLI]"}[source.kind]
    badges += " :green-badge[trained]" if meta else " :orange-badge[not trained]"
    if is_stale(source, meta):
        badges += " :orange-badge[file changed since training]"
    st.markdown(badges)
    facts = {"Data file": shown_path(source.path, settings) if source.path else (
                 "generated in memory" if source.kind == "demo" else Path(str(meta.get("data_source", "?"))).name),
             "Models": shown_path(source.bundle_dir, settings),
             "Trained at": (str(meta["trained_at"]).replace("T", " ")[:16] + " UTC") if meta.get("trained_at") else "—",
             "Parse cache": shown_path(settings.cache_dir, settings)}
    st.markdown("  \n".join(f"**{k}:** `{v}`" for k, v in facts.items()))
    with st.container(horizontal=True, gap="small"):
        train_clicked = st.button("Retrain the models" if meta else "Train the models", type="primary",
                                  icon=":material/model_training:", disabled=not source.trainable, key="train",
                                  help=None if source.trainable else "Retrain it with `python -m recsys train`")
        if source.key != DEMO_KEY:
            st.button("Switch back to the demo store", icon=":material/undo:", key="to_demo",
                      on_click=switch_to, args=(DEMO_KEY,))

report = validation_of(source.path) if source.kind == "file" else None
if report is not None:
    show_validation(report, key="source_report")
    if can_map(source.path):
        with st.expander("Columns, dates and catalogue of this file", icon=":material/view_column:",
                         expanded=not report.ok):
            if mapping_form(source.path, "src_map"):
                st.session_state[DONE] = "Mapping saved: retrain to use it"
                st.rerun()
if train_clicked or st.session_state.pop(TRAIN_NOW, False):
    if report is not None and not report.ok:
        st.error("The file has problems (above): fix them before training.")
    elif source.trainable and train_with_progress(source) is not None:
        st.session_state[DONE] = f"Models trained on {source.label}"
        st.rerun()

# ---- upload ------------------------------------------------------------------------------
with st.container(border=True):
    st.markdown("#### :material/upload_file: Upload sales data")
    st.caption("A workbook (the store's sheets *Loyal Customers* and *New Customers*, or any sheet), or a CSV / "
               "Parquet file with customer, item, date, quantity and price columns; lines without a customer "
               "are guest sales. Data only: models are trained here, never uploaded.")
    uploaded = st.file_uploader("Workbook, CSV or Parquet", key="upload", label_visibility="collapsed",
                                type=sorted({s.rsplit(".", 1)[-1] for s in SUPPORTED_SUFFIXES}))
    if uploaded is not None and st.session_state.get(UPLOAD_ID) != uploaded.file_id:
        st.session_state[UPLOAD_ID] = uploaded.file_id
        try:
            session = st.session_state.setdefault(UPLOAD_SESSION, uuid.uuid4().hex)
            st.session_state[STAGED] = str(stage_upload(uploaded.name, uploaded.getvalue(), settings.data_dir,
                                                        session))
        except ValueError as exc:
            st.session_state.pop(STAGED, None)
            st.error(str(exc), icon=":material/block:")
        except OSError as exc:  # the reason, not the server's paths
            st.session_state.pop(STAGED, None)
            st.error(f"Could not save {uploaded.name}: {exc.strerror or exc}", icon=":material/block:")
    staged = st.session_state.get(STAGED)
    if err := st.session_state.pop(PUBLISH_ERROR, None):
        st.error(err)
    if uploaded is not None and staged and Path(staged).exists():
        up_report = validation_of(Path(staged))
        show_validation(up_report, key="upload_report")
        if can_map(Path(staged)):
            with st.expander("Columns, dates and catalogue", icon=":material/view_column:", expanded=True):
                if mapping_form(Path(staged), "up_map"):
                    st.rerun()  # validated again with the new mapping
        if up_report.ok:
            st.button("Use this file and train on it", type="primary", key="publish",
                      icon=":material/model_training:", on_click=publish, args=(Path(staged),))


def _cleaning_report(report: dict) -> None:
    st.text(f"{report.get('lines_in', 0):,} lines in, {report.get('lines_removed', 0):,} removed, "
            f"{report.get('lines_out', 0):,} kept")
    show_import_report(report, key="cleaning_report")


def _exclusions(source) -> None:
    st.caption("Lines that are not products are left out by default: named as fees, postage, deposits, "
               "bags, gift cards, discounts or adjustments; codes unlike the store's products; codes at a "
               "placeholder price worth more than the whole ticket. Change the list here; "
               f"it is kept beside the file as `{source.path.name}.exclude.txt` and applied at the next "
               "training.")
    if exclusion_editor(source.path, ctx.rec.cleaning_report, "excl"):
        st.session_state[DONE] = "Exclusion list saved: retrain to apply it"
        st.rerun()


# ---- cleaning and sources ----------------------------------------------------------------
if ctx.rec is not None and ctx.rec.cleaning_report:
    # collapsed sections are built when opened (on_change="rerun"), not on every visit
    report_box = st.expander("Cleaning report of the trained data", icon=":material/cleaning_services:",
                             key="data_cleaning_open", on_change="rerun")
    with report_box:
        if report_box.open:
            _cleaning_report(ctx.rec.cleaning_report)
    if source.kind == "file" and source.path is not None:
        excluded_box = st.expander("Items left out of training", icon=":material/block:", key="data_excluded_open",
                                   on_change="rerun")
        with excluded_box:
            if excluded_box.open:
                _exclusions(source)

with st.container(border=True):
    st.markdown("#### :material/folder_open: Data sources")
    st.caption("Files in the data folder (`RECSYS_DATA_DIR`) appear here; their models live in the models "
               "folder (`RECSYS_ARTIFACTS`). Choose one in the sidebar.")
    st.dataframe(sources_frame(ctx.sources, source, settings), hide_index=True, key="sources_table", column_config={
        "current": st.column_config.TextColumn("", width=30),
        "source": st.column_config.TextColumn("Source", width="medium"),
        "kind": st.column_config.TextColumn("Kind"), "status": st.column_config.TextColumn("Status"),
        "trained_at": st.column_config.TextColumn("Trained at (UTC)"),
        "customers": st.column_config.TextColumn("Customers"),
        "items": st.column_config.TextColumn("Items"), "lines": st.column_config.TextColumn("Lines"),
        "models_in": st.column_config.TextColumn("Models", width="large")})

# ---- downloads ---------------------------------------------------------------------------
if ctx.rec is not None:
    with st.container(border=True):
        st.markdown("#### :material/download: Downloads")
        a, b, c = st.columns([0.8, 1.1, 2.1], vertical_alignment="bottom")
        n = a.number_input("Items per customer", 1, 50, 10, key="dl_n")
        model = b.selectbox("Model", list(state.MODEL_ORDER), key="dl_model", format_func=state.MODEL_LABELS.get,
                            index=list(state.MODEL_ORDER).index(ctx.model))
        tuned = tuned_config_toml(ctx.key)
        toml = tuned or ctx.rec.config.to_toml()
        key = ctx.key
        with c, st.container(horizontal=True, gap="small"):
            st.download_button(
                f"All {ctx.rec.state.n_users:,} customers' lists (CSV)",
                data=lambda: state.csv_of_recommendations(key, int(n), model, toml),
                file_name=f"recommendations-{source.key}-{model}-top{int(n)}.csv", mime="text/csv",
                icon=":material/table_view:", key="dl_csv", on_click="ignore", type="primary")
            st.download_button("Tuning config (TOML)", data=toml, file_name=f"tuning-{source.key}.toml",
                               mime="application/toml", icon=":material/tune:", key="dl_toml", on_click="ignore",
                               help="With your knobs from the Recommendations page" if tuned else "As trained")
        st.caption("The CSV uses the knobs set on the Recommendations page (if any) and the model chosen here.")
