"""The quality benchmark: sampling, the summary row, the README block, and one small store end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import quality as q
from recsys.evaluation.splits import make_loyal_split
from recsys.io.cleaning import clean_transactions


@pytest.fixture(scope="module")
def store(small_store):
    ids = ("user_id", "item_id", "ticket_id", "customer_type")
    return clean_transactions(small_store.astype({c: str for c in ids}))[0]


def test_sample_split_keeps_training_and_pairs(store):
    split = make_loyal_split(store, 28)
    small = q.sample_split(split, 20)
    assert len(small) == 20 and small.train is split.train
    pos = {u: i for i, u in enumerate(split.users)}
    for u, t, k in zip(small.users, small.truth, small.known):
        assert split.truth[pos[u]] == t and split.known[pos[u]] == k
    assert small.info["sampled_from"] == len(split)
    assert q.sample_split(split, None) is split and q.sample_split(split, 10**6) is split


def test_summarise_picks_the_best_others_and_bootstraps():
    rng = np.random.default_rng(0)
    base = rng.random(400)
    per_user = {"hybrid": base + 0.1, "als": base + 0.15, "baseline: buy again": base,
                "baseline: popularity": base - 0.2, "baseline: TIFU-KNN": base - 0.05}
    row = q.summarise(per_user, 500, {"split": "test", "scenario": "loyal", "mode": "all"})
    assert row["best_other"] == "als" and row["best_baseline"] == "baseline: buy again"
    assert row["n_users"] == 400 and row["n_users_total"] == 500
    assert row["vs_best_baseline"]["diff"] == pytest.approx(0.1)
    assert row["vs_best_baseline"]["ci_low"] == pytest.approx(0.1)      # a constant difference
    assert row["vs_best_other"]["diff"] == pytest.approx(-0.05)
    assert row["vs_popularity"]["diff"] == pytest.approx(0.3)
    assert row["ndcg@10"]["hybrid"] == pytest.approx(base.mean() + 0.1)


def _result(rows):
    info = {"lines": 1000, "customers": 10, "items": 50, "first_day": "2025-01-01", "last_day": "2025-03-01",
            "cutoff": "2025-02-01", "loyal_test_users": 8, "repeat_share": 0.5, "windows": 1, "sample_users": None}
    return {"info": info, "rows": rows, "measured_at": "2026-01-01 00:00 UTC"}


def test_readme_block_is_regenerated_in_place(tmp_path):
    per_user = {"hybrid": np.array([0.5, 0.7]), "als": np.array([0.1, 0.2]),
                "baseline: buy again": np.array([0.4, 0.6]), "baseline: popularity": np.array([0.2, 0.2])}
    row = q.summarise(per_user, 3, {"split": "test", "scenario": "loyal", "mode": "all"})
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\nbefore\n{q.START}\nold table\n{q.END}\nafter\n")
    q.write_readme({"toy": _result([row])}, readme)
    text = readme.read_text()
    assert text.startswith("# T\n\nbefore\n") and text.endswith(f"{q.END}\nafter\n")
    assert "old table" not in text and q.COMMAND in text
    assert ("| toy | test: loyal, all items | 2 of 3 | 0.600 | buy again 0.500 | buy again 0.500 | 0.200 "
            "| +0.100 [+0.100, +0.100] | +0.100 [+0.100, +0.100] | +0.400 [+0.300, +0.500] |") in text
    q.write_readme({"toy": _result([row])}, readme)
    assert readme.read_text() == text                        # idempotent
    readme.write_text("no markers")
    with pytest.raises(SystemExit, match="quality:start"):
        q.write_readme({"toy": _result([row])}, readme)


def test_one_small_store_end_to_end(store, monkeypatch, tmp_path):
    monkeypatch.setattr(q, "load_store", lambda name: store)
    result = q.run_store("demo", windows=1, sample_users=None)
    labels = [(r["split"], r["scenario"], r["mode"]) for r in result["rows"]]
    assert labels == [("test", "loyal", "all"), ("test", "loyal", "new"), ("test", "new_customers", "all"),
                      ("validation", "loyal", "all"), ("validation", "loyal", "new")]
    loyal = make_loyal_split(store, 28)
    assert result["rows"][0]["n_users"] == len(loyal) == result["info"]["loyal_test_users"]
    models = set(result["rows"][0]["ndcg@10"])
    assert {"hybrid", "als", "item_cf", "repeat", "popularity", "baseline: buy again",
            "baseline: popularity", "baseline: TIFU-KNN", "baseline: TIFU-KNN (Euclidean)"} <= models
    for row in result["rows"]:
        assert all(0 <= v <= 1 for v in row["ndcg@10"].values())
        assert row["vs_popularity"]["ci_low"] <= row["vs_popularity"]["diff"] <= row["vs_popularity"]["ci_high"]
    assert result["rows"][0]["ndcg@10"]["hybrid"] > result["rows"][0]["ndcg@10"]["baseline: popularity"]
    # beyond accuracy next to NDCG for every model, in every row
    for row in result["rows"]:
        assert set(row["beyond"]) == set(row["ndcg@10"])
        for values in row["beyond"].values():
            assert set(values) == set(q.BEYOND) and 0 < values["coverage@10"] <= 1
            assert values["novelty@10"] > 0 and 0 <= values["diversity@10"] <= 1
    assert "beyond accuracy" in q.full_table("demo", result)
    block = q.markdown({"demo": result})
    assert "| store | model | NDCG@10 | coverage |" in block and "| demo | hybrid |" in block
    path = tmp_path / "quality.json"
    q._write_json({"demo": result}, path)
    assert json.loads(path.read_text())["demo"]["info"]["windows"] == 1
    assert "demo (NDCG@10)" in q.full_table("demo", result)


def test_beyond_accuracy_rows_in_the_readme_block():
    per_user = {"hybrid": np.array([0.5, 0.7]), "baseline: buy again": np.array([0.4, 0.6]),
                "baseline: popularity": np.array([0.2, 0.2])}
    beyond = {m: {"coverage@10": 0.125, "dist_coverage@10": 5.5, "novelty@10": 9.25, "diversity@10": 0.5}
              for m in per_user}
    beyond["baseline: popularity"]["novelty@10"] = None
    row = q.summarise(per_user, 2, {"split": "test", "scenario": "loyal", "mode": "all"}, beyond)
    old = q.summarise(per_user, 2, {"split": "test", "scenario": "loyal", "mode": "all"})
    assert "beyond" not in old and q.beyond_markdown({"toy": _result([old])}) == []   # JSON of before
    lines = q.beyond_markdown({"toy": _result([row])})
    assert "| toy | hybrid | 0.600 | 12.5% | 5.50 | 9.25 | 0.500 |" in lines
    assert "| toy | popularity (baseline) | 0.200 | 12.5% | 5.50 | - | 0.500 |" in lines
    assert q.beyond_frame(row).loc["hybrid", "novelty (bits)"] == 9.25


def test_unknown_store_is_refused(capsys):
    with pytest.raises(SystemExit):
        q.main(["--stores", "nowhere", "--json", "unused.json"])
    assert "unknown store" in capsys.readouterr().err
