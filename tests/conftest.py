"""Shared fixtures: a small synthetic store trained once per test session, and the real
workbook when it is present beside the project (it is never committed)."""
from __future__ import annotations

from pathlib import Path

import pytest

REAL_WORKBOOK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "Data Science - Assignment.xlsx"


@pytest.fixture(scope="session")
def small_store():
    from recsys.io.synthetic import generate_store

    return generate_store(n_users=300, n_items=400, n_lines=30_000, seed=7)


@pytest.fixture(scope="session")
def small_bundle(tmp_path_factory, small_store):
    """(recommender, bundle dir) trained on the small store."""
    from recsys import train

    out = tmp_path_factory.mktemp("bundle")
    rec = train(small_store, out_dir=out)
    return rec, out


@pytest.fixture(scope="session")
def small_rec(small_bundle):
    return small_bundle[0]


@pytest.fixture(scope="session")
def real_path():
    if not REAL_WORKBOOK.exists():
        pytest.skip("the real workbook is not present in ../shared/data")
    return REAL_WORKBOOK


@pytest.fixture(scope="session")
def real_bundle(tmp_path_factory, real_path):
    from recsys import train

    out = tmp_path_factory.mktemp("real_bundle")
    return train(str(real_path), out_dir=out), out
