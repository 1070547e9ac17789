"""The frame every page runs in: the sidebar's shared choices and the loaded Recommender.

`app.py` calls `start()` once per run before `st.navigation(...).run()`; pages call `context()`
(or `require_model()`, which stops the page with a friendly panel when the chosen data source
has no trained models yet). Errors are shown with `st.error`, never as a traceback.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st

from recsys import Recommender
from recsys.errors import BundleError, DataError
from ui import configs, sidebar, state, widgets
from ui.settings import Settings, get_settings
from ui.sources import Source, list_sources
from ui.training import FAILED, train_in_background, train_with_progress

log = logging.getLogger(__name__)
CTX_KEY = "_ctx"


@dataclass
class Context:
    settings: Settings
    sources: list[Source]
    source: Source
    rec: Recommender | None
    key: state.ModelKey | None
    problem: str | None      # why there is no Recommender (a message for the page)
    user: str | None
    model: str


def start() -> Context:
    """Render the shared sidebar, load (or, for the demo store, first train) the models."""
    settings = get_settings()
    sources = list_sources(settings)
    sidebar.restore_choices()
    source = sidebar.source_picker(sources, settings.default_source)
    rec, key, problem = state.try_recommender(source.bundle_dir) if source.trained else (None, None, None)
    if rec is None and source.kind == "demo" and st.session_state.get(FAILED) != source.key:
        # a fresh machine (or models of an older recsys): the demo store trains in the background
        # on first start; the page shows its progress at once and reruns onto the store when done
        sidebar.model_picker(disabled=True)
        widgets.header("Overview", "Welcome to the recommendation workbench. "
                       + ("No trained models yet" if problem is None else "The saved demo models need a retrain")
                       + ": the models are training on the synthetic demo store (once, a few seconds); "
                         "this page shows them as soon as they are saved.")
        train_in_background(source)
        st.stop()
    if rec is None and problem is None:
        problem = f"'{source.label}' has no trained models yet."
    user = sidebar.user_picker(key) if rec is not None else None
    model = sidebar.model_picker(disabled=rec is None)
    if rec is not None and key is not None:
        configs.sidebar_panel(rec, key)
    sidebar.footer(source, rec)
    sidebar.mirror_in_url(source=source.key, user=user, model=model)
    ctx = Context(settings, sources, source, rec, key, problem, user, model)
    st.session_state[CTX_KEY] = ctx
    return ctx


def context() -> Context:
    """This run's context (computed by app.py; computed here when a page runs alone)."""
    ctx = st.session_state.get(CTX_KEY)
    return ctx if isinstance(ctx, Context) else start()


def require_model() -> Context:
    """The context with a Recommender, or stop the page with what to do about it."""
    ctx = context()
    if ctx.rec is None:
        st.title("No trained models for this data source")
        st.warning(ctx.problem or "This data source has no trained models yet.")
        if ctx.source.trainable:
            st.write("Train them here (the file is validated first), look at the file on the **Data and "
                     "training** page, or switch back to the demo store in the sidebar.")
            with st.container(horizontal=True, gap="small"):
                go = st.button("Train the models now", type="primary", icon=":material/model_training:",
                               key="gate_train")
                st.page_link("views/data_training.py", label="Open Data and training", icon=":material/database:")
            if go:
                from ui.data_admin import show_validation, validation_of

                report = validation_of(ctx.source.path) if ctx.source.path is not None else None
                if report is not None and not report.ok:
                    show_validation(report, key="gate_report")
                elif train_with_progress(ctx.source) is not None:
                    st.rerun()
        st.stop()
    return ctx


def show_error(exc: BaseException) -> None:
    """A message in place of a traceback (the server log keeps the details of surprises)."""
    if isinstance(exc, (DataError, BundleError, ValueError, KeyError)):
        st.error(str(exc).strip("'\""), icon=":material/error:")
    else:
        log.exception("unexpected error on a page", exc_info=exc)
        st.error(f"Something went wrong: {type(exc).__name__}: {exc}. The server log has the details.",
                 icon=":material/error:")


def guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a page part (e.g. a fragment) showing any error with `show_error`."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:  # st.stop / st.rerun are BaseExceptions and pass through
            show_error(exc)
            return None
    return wrapper
