"""The dashboard's settings, read from environment variables (each with a default that works
from a fresh clone).

| variable           | default                    | what it is                                              |
|--------------------|----------------------------|---------------------------------------------------------|
| `RECSYS_ARTIFACTS` | `artifacts/`               | root of the model bundles: one sub-folder per data      |
|                    |                            | source (`artifacts/demo/`, `artifacts/<file-slug>/`); a |
|                    |                            | bundle written straight into the root by the CLI        |
|                    |                            | (`python -m recsys train --out artifacts`) is offered   |
|                    |                            | too, read-only                                          |
| `RECSYS_DATA_DIR`  | `data/`                    | workbooks, CSV and Parquet files found here are offered |
|                    |                            | as data sources; uploads are saved here (atomically)    |
| `RECSYS_CACHE_DIR` | `.cache/recsys/` under the | parsed-file cache of `recsys.io.loading`: the library reads   |
|                    | working directory          | this variable itself; the app only shows where it is    |
| `RECSYS_SOURCE`    | `demo`                     | data source a new session opens on (a key shown in the  |
|                    |                            | URL as `?source=`)                                      |

Relative defaults of the first two are resolved against the project root (the folder of `app.py`); a relative
path given in a variable is resolved against the current working directory, as the CLI does.
The upload size limit is Streamlit's `server.maxUploadSize` in `.streamlit/config.toml` (or the
`STREAMLIT_SERVER_MAX_UPLOAD_SIZE` variable), in MB.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from recsys.io.cache import default_cache_dir

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_KEY = "demo"


def _path(variable: str, default: str) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser().resolve() if value else PROJECT_ROOT / default


@dataclass(frozen=True)
class Settings:
    artifacts_dir: Path
    data_dir: Path
    cache_dir: Path
    default_source: str = DEMO_KEY


def get_settings() -> Settings:
    """The settings as the environment says now (cheap; read on every rerun)."""
    return Settings(
        artifacts_dir=_path("RECSYS_ARTIFACTS", "artifacts"),
        data_dir=_path("RECSYS_DATA_DIR", "data"),
        cache_dir=default_cache_dir().resolve(),
        default_source=os.environ.get("RECSYS_SOURCE") or DEMO_KEY,
    )
