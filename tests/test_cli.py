import json
import subprocess
import sys

import pytest

from recsys.cli import main


def run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_recommend_json_prints_the_response_format(small_bundle, capsys):
    rec, out = small_bundle
    uid = rec.users().user_id.iloc[0]
    code, stdout, _ = run(["recommend", uid, "--json", "--artifacts", str(out)], capsys)
    assert code == 0
    data = json.loads(stdout)
    assert data["user_id"] == uid and len(data["recommendations"]) == 5


def test_every_command_answers(small_bundle, capsys):
    rec, out = small_bundle
    uid = rec.users().user_id.iloc[0]
    item = rec.popular_items(1).item_id.iloc[0]
    for args in (["similar", item], ["popular", "--n", "3"], ["profile", uid], ["stats"],
                 ["recommend", uid, "--model", "als", "--price-max", "5"]):
        code, stdout, err = run(args + ["--artifacts", str(out)], capsys)
        assert code == 0, err
        assert stdout.strip()
    code, stdout, _ = run(["similar", item, "--json", "--artifacts", str(out)], capsys)
    assert len(json.loads(stdout)["similar_items"]) == 5


@pytest.mark.parametrize("args, message", [
    (["similar", "no-such-item"], "unknown item id 'no-such-item'"),
    (["profile", "no-such-user"], "unknown user id"),
    (["recommend", "x", "--timestamp", "not-a-date"], "not a date"),
])
def test_bad_requests_exit_non_zero_with_one_line(small_bundle, capsys, args, message):
    _, out = small_bundle
    code, _, err = run(args + ["--artifacts", str(out)], capsys)
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_bundle_and_bad_data(tmp_path, capsys):
    code, _, err = run(["stats", "--artifacts", str(tmp_path / "none")], capsys)
    assert code == 2 and "no trained models" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,item_id,timestamp,quantity,price\nu1,i1,yesterday,1,2.0\n")
    code, _, err = run(["train", "--data", str(bad), "--out", str(tmp_path / "a")], capsys)
    assert code == 2 and "bad.csv" in err and "timestamp" in err and "row 2" in err


def test_train_then_recommend_in_a_subprocess(tmp_path, small_store, fast_config):
    path = tmp_path / "store.csv"
    small_store.to_csv(path, index=False)
    art = tmp_path / "art"
    config = tmp_path / "tuning.toml"  # the CLI's wiring is under test, not the default config's training
    fast_config.save(config)
    r = subprocess.run([sys.executable, "-m", "recsys", "train", "--data", str(path), "--out", str(art),
                        "--config", str(config)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "[              als]" in r.stderr and "trained on" in r.stdout
    uid = str(small_store.user_id.iloc[0])
    r = subprocess.run([sys.executable, "-m", "recsys", "recommend", uid, "--json", "--artifacts", str(art)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and len(json.loads(r.stdout)["recommendations"]) == 5


def test_spark_engine_without_pyspark_says_so_in_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name.split(".")[0] == "pyspark" else real_find_spec(name, *a, **k))
    monkeypatch.setitem(sys.modules, "pyspark", None)  # an import fails too
    monkeypatch.chdir(tmp_path)
    code, stdout, err = run(["train", "--engine", "spark", "--out", str(tmp_path / "art")], capsys)
    assert code == 2 and not stdout
    assert len(err.strip().splitlines()) == 1 and "pyspark" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no demo Parquet file, no bundle


def test_profile_and_stats_print_for_people_and_json_stays_raw(small_bundle, capsys):
    rec, out = small_bundle
    uid = rec.users().user_id.iloc[0]
    profile = rec.user_profile(uid)
    code, stdout, _ = run(["profile", uid, "--artifacts", str(out)], capsys)
    assert code == 0
    lines = dict(line.split(None, 1) for line in stdout.strip().splitlines())
    assert lines["avg_item_price"] == f"{profile['avg_item_price']:,.2f}"
    assert lines["total_spend"] == f"{profile['total_spend']:,.2f}"
    code, stdout, _ = run(["stats", "--artifacts", str(out)], capsys)
    stats = rec.stats()
    assert code == 0 and "{" not in stdout and "[" not in stdout
    rows = [line.split(None, 1) for line in stdout.splitlines()]
    assert ["lines", f"{stats['lines']:,}"] in rows and ["revenue", f"{stats['revenue']:,.2f}"] in rows
    table = stdout[stdout.index("segments:"):].splitlines()
    assert table[1].split() == ["users", "total_spend", "avg_item_price"]
    assert table[2].split()[0] == "small" and table[2].split()[1] == f"{stats['segments']['small']['users']:,}"
    code, stdout, _ = run(["stats", "--json", "--artifacts", str(out)], capsys)
    assert json.loads(stdout)["revenue"] == pytest.approx(stats["revenue"])  # full precision
