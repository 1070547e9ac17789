"""Plain tests of the dashboard's non-Streamlit parts and settings (no AppTest: fast)."""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # so that ui imports however pytest is started


def test_the_app_listens_on_this_machine_only_by_default():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"


# ---- uploads -------------------------------------------------------------------------------

def test_an_upload_never_replaces_a_data_file_of_the_same_name(tmp_path):
    from ui.sources import publish_upload, stage_upload

    (tmp_path / "store.csv").write_text("the original")
    first = publish_upload(stage_upload("store.csv", b"upload one", tmp_path, "s1"), tmp_path)
    second = publish_upload(stage_upload("store.csv", b"upload two", tmp_path, "s1"), tmp_path)
    assert (first.name, second.name) == ("store (2).csv", "store (3).csv")
    assert (tmp_path / "store.csv").read_text() == "the original"
    assert first.read_text() == "upload one" and second.read_text() == "upload two"
    gz = publish_upload(stage_upload("sales.csv.gz", b"x", tmp_path, "s1"), tmp_path)
    again = publish_upload(stage_upload("sales.csv.gz", b"y", tmp_path, "s1"), tmp_path)
    assert (gz.name, again.name) == ("sales.csv.gz", "sales (2).csv.gz")
    assert not list((tmp_path / ".uploads" / "s1").iterdir())  # published files left the staging folder


def test_staged_uploads_are_per_session(tmp_path):
    import pytest

    from ui.sources import stage_upload

    a = stage_upload("a.csv", b"from a", tmp_path, "session-a")
    b = stage_upload("b.csv", b"from b", tmp_path, "session-b")
    assert a.exists() and b.exists() and a.parent != b.parent
    a2 = stage_upload("a2.csv", b"a again", tmp_path, "session-a")  # replaces a's own upload only
    assert not a.exists() and a2.exists() and b.read_bytes() == b"from b"
    with pytest.raises(ValueError, match="session"):
        stage_upload("c.csv", b"x", tmp_path, "../session-b")


def test_paths_are_shown_relative_to_their_folders(tmp_path):
    from ui.data_admin import shown_path
    from ui.settings import PROJECT_ROOT, Settings

    settings = Settings(artifacts_dir=tmp_path / "art", data_dir=tmp_path / "data", cache_dir=tmp_path / "c")
    assert shown_path(tmp_path / "data" / "store.csv", settings) == "store.csv (in the data folder)"
    assert shown_path(tmp_path / "art" / "demo", settings) == "demo (in the models folder)"
    assert shown_path(tmp_path / "art", settings) == "the models folder"
    assert shown_path(PROJECT_ROOT / ".cache" / "recsys", settings) == ".cache/recsys (in the project folder)"
    assert shown_path("/srv/secret/place/x.parquet", settings) == "x.parquet"
    assert shown_path(None, settings) == "—"


# ---- knobs ---------------------------------------------------------------------------------

def test_every_what_if_sweep_stays_inside_the_range_its_slider_offers():
    from recsys.analysis.report import SWEEPS
    from recsys.config import KNOB_RANGES

    for name, (section, key, values) in SWEEPS.items():
        lo, hi, _ = KNOB_RANGES["weight" if section == "weights" else key]
        assert min(values) >= lo and max(values) == hi, (name, values, (lo, hi))
    assert max(SWEEPS["upsell_factor"][2]) == KNOB_RANGES["upsell_factor"][1] == 2.0


# ---- tables --------------------------------------------------------------------------------

def test_cleaning_table_says_what_happened_to_flagged_lines_and_separates_thousands():
    from ui.overview import CLEANING_COLUMNS, cleaning_frame

    report = {"steps": [{"action": "removed", "reason": "returns (quantity <= 0)", "lines": 12, "items": 3, "users": 2},
                        {"action": "flagged", "reason": "exact duplicate lines", "lines": 5813, "items": 9, "users": 4,
                         "examples": ["a", "b", "c", "d"]}]}
    frame = cleaning_frame(report)
    assert list(frame["action"]) == ["removed", "flagged, kept"]
    assert frame["examples"].iloc[1] == "a; b; c"  # an example line has commas of its own
    assert all(CLEANING_COLUMNS[c]["type_config"]["format"] == "localized" for c in ("lines", "items", "users"))


def test_bars_have_room_and_long_text_columns_are_wide():
    from ui import tables

    bars = [(tables.RECOMMENDATIONS, "confidence_score"), (tables.SIMILAR, "confidence_score"),
            (tables.SIMILAR, "relevance_score"), (tables.POPULAR, "popularity_score")]
    for config, column in bars:
        assert config[column]["type_config"]["type"] == "progress"
        assert isinstance(config[column]["width"], int) and config[column]["width"] >= 100, column
    # the why right beside the item (its id, and its name and category where the store has them),
    # wide enough for a reason such as this one (~7 px a character)
    assert list(tables.RECOMMENDATIONS)[:5] == ["rank", "item_id", "item_name", "category", "recommendation_reason"]
    longest = "due again: you buy it about every 14 days, last 20 days ago"
    assert tables.RECOMMENDATIONS["recommendation_reason"]["width"] >= 6 * len(longest)


# ---- background jobs -----------------------------------------------------------------------

def test_a_job_runs_on_without_its_session_and_others_join_it(tmp_path):
    import threading

    from ui import jobs

    release = threading.Event()
    out = tmp_path / "result.txt"

    def work(job):
        job.report("working", 0.5)
        release.wait(10)
        out.write_text("done")  # what a training or an evaluation leaves on disk
        return 42

    job, joined = jobs.start_or_join("test:survives", work)
    assert not joined and not job.done
    # the session that started it is gone (its page returned); another session asks for the same key
    again, joined = jobs.start_or_join("test:survives", lambda j: 0)
    assert joined and again is job and job.message == "working" and job.fraction == 0.5
    release.set()
    assert job.wait(10) and job.result == 42 and job.error is None and out.read_text() == "done"
    fresh, joined = jobs.start_or_join("test:survives", lambda j: 7)  # a finished job is not joined
    assert not joined and fresh is not job and fresh.wait(10) and fresh.result == 7
    jobs.forget(job)  # an old job never removes its successor
    assert jobs.get("test:survives") is fresh
    jobs.forget(fresh)
    assert jobs.get("test:survives") is None


def test_a_failing_job_keeps_its_error_for_whoever_follows_it():
    from ui import jobs

    def work(job):
        raise ValueError("the file has no rows")

    job, _ = jobs.start_or_join("test:fails", work)
    assert job.wait(10) and isinstance(job.error, ValueError) and job.result is None and job.finished
    jobs.forget(job)
