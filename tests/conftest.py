"""Shared fixtures: one small synthetic store trained once per test session, the real workbook
trained once when it is present beside the project (it is never committed), the quick training
config, and the environment the dashboard's tests run the app in.

Every test file that needs a trained store uses these unless it needs a store of its own shape
(the fitting tests' rebuying and browsing stores, the basket tests' hand-made store, the Spark
engine's comparison): training is the costliest thing the suite does.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REAL_WORKBOOK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "Data Science - Assignment.xlsx"


def fast_config():
    """Request-time defaults, minus the slow training extra (the learned buy-again model, which
    learns from past windows): for tests that train a store only to serve or show it."""
    from recsys import TuningConfig

    return TuningConfig().replace(repeat={"learned": False})


@pytest.fixture(scope="session", autouse=True)
def _session_cache_dir(tmp_path_factory):
    """The loader's parsed-file cache in a folder of this session's own (`RECSYS_CACHE_DIR`): the
    tests never read a cache left by an earlier run, nor write one into the checkout."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RECSYS_CACHE_DIR", str(tmp_path_factory.mktemp("loader-cache")))
        yield


@pytest.fixture(scope="session")
def small_store():
    from recsys.io.synthetic import generate_store

    return generate_store(n_users=300, n_items=400, n_lines=30_000, seed=7)


@pytest.fixture(scope="session")
def small_bundle(tmp_path_factory, small_store):
    """(recommender, bundle dir) trained on the small store with the default config."""
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
    """(recommender, bundle dir) trained on the real workbook with the default config."""
    from recsys import train

    out = tmp_path_factory.mktemp("real_bundle")
    return train(str(real_path), out_dir=out), out


@pytest.fixture(scope="session", name="fast_config")
def fast_config_fixture():
    """`fast_config()` (a TuningConfig: pass it along, `.replace()` it; never mutate it in place)."""
    return fast_config()


@pytest.fixture
def fast_training(monkeypatch):
    """The dashboard's training (ui.training.train) with the quick config and no calibration."""
    import ui.training
    from recsys import train as real_train

    monkeypatch.setattr(ui.training, "train", lambda data, out_dir, progress: real_train(
        data, config=fast_config(), out_dir=out_dir, progress=progress, calibrate=False))


def make_app_dirs(root: Path, small_bundle) -> dict[str, str]:
    """An artifacts root whose demo source is a copy of the session's small bundle, an empty data
    folder and a cache folder under `root`; the RECSYS_* variables that point the app at them."""
    artifacts, data = root / "artifacts", root / "data"
    shutil.copytree(small_bundle[1], artifacts / "demo")
    data.mkdir(parents=True)
    return {"RECSYS_ARTIFACTS": str(artifacts), "RECSYS_DATA_DIR": str(data), "RECSYS_CACHE_DIR": str(root / "cache")}


@pytest.fixture(scope="module")
def app_env(tmp_path_factory, small_bundle):
    """The dashboard's environment for one test module: its own copy of the small bundle as the
    demo source (tests add sources and bundles to it), its own data and cache folders, and the
    RECSYS_* variables set for the module's duration (RECSYS_SOURCE unset: a session opens on the
    demo). The variables, as a dict."""
    values = make_app_dirs(tmp_path_factory.mktemp("app"), small_bundle)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in values.items():
            mp.setenv(k, v)
        mp.delenv("RECSYS_SOURCE", raising=False)
        import streamlit as st

        st.set_option("client.showErrorDetails", "full")  # a failing test shows the real error
        yield values


# The two slowest modules first, each whole on one worker (pytest.ini: --dist loadscope, order kept):
# they start at once on the two workers and the rest fills in around them. A serial run only
# changes order.
FIRST = ("test_browser.py", "test_spark.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(FIRST)))  # stable: the rest keep their order
