"""Saved configurations in the sidebar, on every page: load one into the knobs, save the current
knobs under a name, delete one. The files live beside the bundle (`recsys.bundles.configs`), so
the CLI (`--config NAME`) and the API (`config_name`) use the same ones."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from recsys import Recommender, TuningConfig
from recsys.bundles.configs import (
    TRAINED,
    delete_config,
    resolve_config,
    save_config,
    saved_names,
)
from ui import knobs, state

PICK, NAME, MESSAGE = "cfg_pick", "cfg_name", "_cfg_message"


def label(name: str) -> str:
    return "As trained" if name == TRAINED else name


def _say(kind: str, text: str) -> None:
    st.session_state[MESSAGE] = (kind, text)


def _load(rec: Recommender, key: state.ModelKey, folder: str) -> None:
    name = st.session_state.get(PICK) or TRAINED
    try:
        named = resolve_config(folder, name, rec.config)
    except ValueError as exc:
        _say("warning", str(exc))
        return
    knobs.load_into_knobs(rec, key, named.name, named.config)
    _say("success", f"Loaded '{label(named.name)}' into the knobs.")


def _save(rec: Recommender, key: state.ModelKey, folder: str) -> None:
    try:
        config = TuningConfig.from_toml(knobs.current_config_toml(rec, key))
        path = save_config(folder, st.session_state.get(NAME, ""), config, rec.config)
    except (ValueError, OSError) as exc:
        _say("warning", f"Not saved: {exc}")
        return
    name = path.name[: -len(".toml")]
    st.session_state[PICK] = name
    st.session_state[knobs.LOADED] = {"for": key.stamp, "name": name, "toml": config.to_toml()}
    _say("success", f"Saved the current knobs as '{name}'.")


def _delete(folder: str) -> None:
    name = st.session_state.get(PICK)
    try:
        delete_config(folder, name)
    except (ValueError, OSError) as exc:
        _say("warning", str(exc))
        return
    st.session_state[PICK] = TRAINED
    _say("success", f"Deleted '{name}'.")


def sidebar_panel(rec: Recommender, key: state.ModelKey) -> None:
    """The saved configurations of this bundle's folder, with Load, Save and Delete."""
    folder = str(Path(key.bundle_dir))
    names = [TRAINED, *saved_names(folder)]
    if st.session_state.get(PICK) not in names:
        st.session_state[PICK] = TRAINED
    loaded = knobs.loaded_config(key)
    with st.sidebar.expander("Saved configurations", icon=":material/bookmarks:", expanded=MESSAGE in st.session_state):
        st.caption("Knobs now: " + (f"**{loaded[0]}**" if loaded else "as trained")
                   + (" (moved since)" if _moved(rec, key, loaded) else ""))
        st.selectbox("Configuration", names, key=PICK, format_func=label,
                     help="Saved beside the models: the CLI (--config NAME) and the API (config_name) use them too")
        left, right = st.columns(2)
        left.button("Load", key="cfg_load", icon=":material/upload:", on_click=_load, args=(rec, key, folder),
                    width="stretch", help="Set every knob to this configuration (on every page)")
        right.button("Delete", key="cfg_delete", icon=":material/delete:", on_click=_delete, args=(folder,),
                     width="stretch", disabled=st.session_state.get(PICK) == TRAINED)
        st.text_input("Save the current knobs as", key=NAME, max_chars=64,
                      placeholder="e.g. upsell 1.0, price-boost 1.0")
        st.button("Save", key="cfg_save", icon=":material/save:", on_click=_save, args=(rec, key, folder),
                  width="stretch", help="Write the knobs as they are now to a TOML file beside the models")
        if MESSAGE in st.session_state:
            kind, text = st.session_state.pop(MESSAGE)
            (st.success if kind == "success" else st.warning)(text)


def _moved(rec: Recommender, key: state.ModelKey, loaded: tuple[str, str] | None) -> bool:
    """Whether the knobs now differ from the loaded (or trained) configuration."""
    now = knobs.tuned_config_toml(key)
    return now is not None and now != (loaded[1] if loaded else rec.config.to_toml())
