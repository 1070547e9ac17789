"""AppTest helpers shared by the dashboard's test files."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def new_app(page: str | None = None, timeout: float = 60, **query) -> AppTest:
    """The app run once with these URL query parameters, then switched to `page`."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def table(at: AppTest, column: str) -> pd.DataFrame:
    """The first table showing `column` (AppTest knows no keys of plain st.dataframe elements)."""
    for d in at.dataframe:
        if column in d.value.columns:
            return d.value
    raise AssertionError(f"no table with a {column!r} column on the page")
