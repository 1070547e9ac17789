"""Saved configurations: named sets of knobs kept as TOML beside a bundle, for every face.

    <artifacts>/configs/<name>.toml     one TuningConfig, written atomically

The dashboard saves the current sliders under a name and loads one on any page; the CLI
(`--config NAME` or `--config FILE`) and the API (`config_name`) apply one to their answers.
A file may hold a whole config or only some knobs (`[rerank] upsell_factor = 1.0`): what it does
not name stays as the models were trained. A configuration that changes a knob read only at
training (`recsys.config.retrain_reasons`: ALS, item-CF, signals, segments, ...) is refused with
the reason, never applied half-way. `trained` names the config the models were trained with.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from recsys.atomic import atomic_write_text
from recsys.config import TuningConfig, retrain_reasons

FOLDER = "configs"
SUFFIX = ".toml"
TRAINED = "trained"   # the reserved name of the config the models were trained with
MAX_BYTES = 64_000    # a config is ~2 kB: anything far bigger is not one
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ,.+_()=-]{0,63}")


@dataclass(frozen=True)
class NamedConfig:
    """A configuration and where it came from (for labels and reports)."""

    name: str
    config: TuningConfig
    origin: str   # "trained", "saved" or "file"


def check_name(name: str) -> str:
    """The name as it is stored (trimmed), or a ValueError that says what a name may hold."""
    clean = " ".join(str(name).split())
    if clean.lower() == TRAINED:
        raise ValueError(f"'{TRAINED}' names the config the models were trained with; choose another name")
    if clean.lower().endswith(SUFFIX):
        clean = clean[: -len(SUFFIX)].rstrip()
    if not _NAME.fullmatch(clean):
        raise ValueError(f"a configuration name is 1-64 letters, digits, spaces and , . + _ ( ) = - "
                         f"(starting with a letter or digit), not {str(name)[:70]!r}")
    return clean


def config_dir(artifacts: str | Path) -> Path:
    return Path(artifacts) / FOLDER


def config_path(artifacts: str | Path, name: str) -> Path:
    return config_dir(artifacts) / f"{check_name(name)}{SUFFIX}"


def saved_names(artifacts: str | Path) -> list[str]:
    """The saved configurations beside a bundle, by name (case-insensitive order)."""
    folder = config_dir(artifacts)
    if not folder.is_dir():
        return []
    names = [p.name[: -len(SUFFIX)] for p in folder.glob(f"*{SUFFIX}") if p.is_file()]
    return sorted((n for n in names if _NAME.fullmatch(n) and n.lower() != TRAINED), key=str.lower)


def save_config(artifacts: str | Path, name: str, config: TuningConfig, trained: TuningConfig | None = None) -> Path:
    """Write `config` under `name` (replacing one of that name); refused when it needs a retrain
    of the models trained with `trained`."""
    name = check_name(name)
    config = config.validate()
    if trained is not None:
        _refuse_retrain(name, trained, config)
    path = config_path(artifacts, name)
    atomic_write_text(path, f"# saved configuration '{name}' (python -m recsys ... --config '{name}')\n"
                            + config.to_toml())
    return path


def delete_config(artifacts: str | Path, name: str) -> None:
    path = config_path(artifacts, name)
    if not path.is_file():
        raise ValueError(f"no saved configuration {check_name(name)!r}")
    path.unlink()


def read_config_file(path: str | Path, base: TuningConfig) -> TuningConfig:
    """The knobs of a TOML file laid over `base` (what the file does not name is kept); errors
    name the file."""
    path = Path(path)
    label = path.name
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"configuration file '{label}' is {path.stat().st_size:,} bytes: not a tuning config")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"configuration file '{label}' does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"configuration file '{label}' is not valid TOML: {exc}") from None
    try:
        return base.overlay(data).validate()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"configuration file '{label}': {exc}") from None


def resolve_config(artifacts: str | Path | None, spec: str, trained: TuningConfig) -> NamedConfig:
    """`trained`, a saved name, or a TOML file, as a config for models trained with `trained`.

    ValueError (with the reason) when it is unknown, unreadable or needs a retrain."""
    spec = str(spec).strip()
    if spec.lower() == TRAINED:
        return NamedConfig(TRAINED, trained, "trained")
    as_file = Path(spec).expanduser()
    if as_file.suffix == SUFFIX and as_file.is_file():
        named = NamedConfig(as_file.stem, read_config_file(as_file, trained), "file")
    else:
        saved = saved_names(artifacts) if artifacts is not None else []
        match = next((n for n in saved if n == spec), None) \
            or next((n for n in saved if n.lower() == spec.lower()), None)
        if match is None:
            listed = ", ".join(repr(n) for n in saved) or "none yet"
            what = "file or saved configuration" if spec.endswith(SUFFIX) else "saved configuration"
            raise ValueError(f"no {what} {spec!r} (saved beside these models: {listed}; "
                             f"'{TRAINED}' is the config they were trained with)")
        named = NamedConfig(match, read_config_file(config_path(artifacts, match), trained), "saved")
    _refuse_retrain(named.name, trained, named.config)
    return named


def _refuse_retrain(name: str, trained: TuningConfig, config: TuningConfig) -> None:
    reasons = retrain_reasons(trained, config)
    if reasons:
        raise ValueError(f"configuration {name!r} needs a retrain: it changes knobs that act only when the models "
                         f"are trained ({'; '.join(reasons)}); train with it (python -m recsys train --config FILE) "
                         "or save it without those changes")
