"""A/B comparison of two configurations (recsys.analysis.compare) on the small bundle's validation
window, saved configurations (recsys.bundles.configs) and their faces in the CLI."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from recsys import Recommender
from recsys.analysis import window as W
from recsys.analysis.compare import (
    ALL,
    MEASURES,
    Comparison,
    compare_configs,
    jaccard,
    knob_changes,
)
from recsys.analysis.compare_report import (
    END,
    START,
    markdown,
    text_report,
    write_block,
)
from recsys.bundles.configs import (
    TRAINED,
    check_name,
    read_config_file,
    resolve_config,
    save_config,
    saved_names,
)
from recsys.cli import main
from recsys.config import retrain_reasons

BOOT = 200   # resamples: enough for the checks below, quick


@pytest.fixture(scope="module")
def art(small_bundle, tmp_path_factory):
    """A private copy of the small bundle's folder (the comparison keeps its window beside it)."""
    dst = tmp_path_factory.mktemp("compare") / "artifacts"
    shutil.copytree(small_bundle[1], dst)
    return dst


@pytest.fixture(scope="module")
def rec(art):
    return Recommender.load(art)


@pytest.fixture(scope="module")
def upsell(rec):
    return rec.config.replace(rerank={"upsell_factor": 1.0, "price_boost_weight": 1.0})


@pytest.fixture(scope="module")
def ab(rec, art, upsell):
    W.forget_windows()
    return compare_configs(rec, rec.config, upsell, artifacts=art, n_boot=BOOT)


def test_a_configuration_against_itself_differs_in_nothing(rec, art):
    same = compare_configs(rec, rec.config, rec.config, artifacts=art, n_boot=BOOT)
    t = same.table
    assert set(t["measure"]) == {m.key for m in MEASURES} and ALL in set(t["group"]) and len(same.groups) > 1
    finite = t.dropna(subset=["a"])
    assert len(finite) == len(t)
    np.testing.assert_array_equal(finite["a"], finite["b"])
    assert (t["diff"] == 0).all() and (t["ci_low"] == 0).all() and (t["ci_high"] == 0).all()
    assert all(v == 1.0 for v in same.overlap.values())
    assert same.changes == [] and same.differing == []


def test_upsell_costs_accuracy_and_raises_the_price(ab, rec):
    price, ratio = ab.row("avg_price"), ab.row("price_vs_usual")
    assert price["b"] > price["a"] and price["ci_low"] > 0 and ratio["ci_low"] > 0
    ndcg = ab.row("ndcg@10")
    assert ndcg["diff"] < 0 and ndcg["ci_low"] <= ndcg["diff"] <= ndcg["ci_high"]
    assert ab.changes == ["rerank.upsell_factor: 0 -> 1", "rerank.price_boost_weight: 0.5 -> 1"]
    assert 0 < ab.overlap[ALL] < 1
    # every measure in every group, each with its interval around the difference
    for r in ab.table.to_dict(orient="records"):
        if r["measure"] in ("coverage", "dist_coverage", "new_share"):
            continue  # coverage: bias-corrected; shares: often 0 against 0
        assert r["ci_low"] - 1e-9 <= r["diff"] <= r["ci_high"] + 1e-9, r
    users = ab.row("ndcg@10")["users"]
    assert users == ab.window["customers"] and sum(ab.row("ndcg@10", g)["users"] for g in ab.groups[1:]) == users
    assert ab.row("ndcg@10_new")["users"] <= users


def test_the_differing_customers_have_both_lists_with_reasons(ab):
    assert 1 <= len(ab.differing) <= 5
    worst = ab.differing[0]
    assert worst["jaccard"] == min(c["jaccard"] for c in ab.differing) < 1
    rows = worst["rows"]
    assert [r["rank"] for r in rows] == list(range(1, 11))
    assert all(r["a_reason"] and r["b_reason"] for r in rows)
    a_items = {r["a_item"] for r in rows}
    b_items = {r["b_item"] for r in rows}
    assert worst["jaccard"] == pytest.approx(len(a_items & b_items) / len(a_items | b_items), abs=1e-4)
    assert all(r["a_in_both"] == (r["a_item"] in b_items) for r in rows)


def test_json_round_trip_and_the_cli_shape(ab):
    d = json.loads(json.dumps(ab.to_dict()))
    cell = d["measures"]["ndcg@10"]["overall"]
    assert set(cell) == {"a", "b", "diff", "ci_low", "ci_high", "p_value", "users"}
    assert cell["diff"] == pytest.approx(cell["b"] - cell["a"])
    assert set(d["measures"]["ndcg@10"]["segments"]) == set(ab.groups[1:])
    assert d["overlap"] == pytest.approx(ab.overlap[ALL])
    back = Comparison.from_dict(d)
    assert back.row("avg_price")["diff"] == pytest.approx(ab.row("avg_price")["diff"])
    assert back.groups == ab.groups and back.differing == ab.differing


def test_the_window_is_kept_beside_the_bundle_and_reused(rec, art, ab):
    assert (art / W.FOLDER / "CURRENT").exists()
    again = W.window_for(rec, art)
    assert again.origin == "in memory"
    W.forget_windows()
    kept = W.window_for(rec, art)
    assert kept.origin == "kept on disk" and kept.users == ab.window["customers"]
    np.testing.assert_array_equal(kept.holdout.truth, again.holdout.truth)
    assert kept.state.calibrator is rec.state.calibrator


def test_text_and_markdown_and_the_readme_block(ab, tmp_path):
    text = text_report(ab)
    assert "NDCG@10, all items" in text and "B - A per spending segment" in text and "Overlap" in text
    md = markdown(ab, "python -m recsys compare ...")
    assert md.startswith("`python -m recsys compare ...`") and "| Expected revenue of a list |" in md
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{START}\nold\n{END}\ntail\n")
    write_block(readme, md)
    assert readme.read_text() == f"# x\n{START}\n{md}\n{END}\ntail\n"
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="compare:start"):
        write_block(readme, md)


def test_jaccard_and_knob_changes_by_hand(rec, upsell):
    a = np.array([[1, 2, 3], [1, 2, -1], [-1, -1, -1]])
    b = np.array([[3, 4, 5], [2, 1, -1], [-1, -1, -1]])
    np.testing.assert_allclose(jaccard(a, b), [1 / 5, 1.0, 1.0])
    assert knob_changes(rec.config, rec.config) == []
    assert knob_changes(upsell, rec.config) == ["rerank.upsell_factor: 1 -> 0", "rerank.price_boost_weight: 1 -> 0.5"]


# ---- saved configurations --------------------------------------------------------------------

def test_saved_configurations_round_trip_and_refuse_a_retrain(rec, art, upsell, tmp_path):
    path = save_config(art, "upsell 1.0, price-boost 1.0", upsell, rec.config)
    assert path.parent == art / "configs" and "upsell 1.0, price-boost 1.0" in saved_names(art)
    named = resolve_config(art, "Upsell 1.0, price-boost 1.0", rec.config)   # case-insensitive
    assert named.config.to_dict() == upsell.to_dict() and named.origin == "saved"
    assert resolve_config(art, "trained", rec.config).config is rec.config
    # a file of a few knobs keeps every other knob as trained (the fitted weights too)
    partial = tmp_path / "few.toml"
    partial.write_text("[rerank]\nupsell_factor = 1.0\nprice_boost_weight = 1.0\n")
    assert read_config_file(partial, rec.config).to_dict() == upsell.to_dict()
    # training-time knobs: refused with the reason, never applied half-way
    retrain = tmp_path / "als.toml"
    retrain.write_text("[als]\nfactors = 8\n")
    with pytest.raises(ValueError, match=r"needs a retrain.*als\.factors: 128 -> 8"):
        resolve_config(art, str(retrain), rec.config)
    shorter = rec.config.replace(repeat={"horizon_days": 7.0})
    assert retrain_reasons(rec.config, shorter) == ["repeat.horizon_days: 28.0 -> 7.0"]
    with pytest.raises(ValueError, match="needs a retrain"):
        save_config(art, "bad", rec.config.replace(item_cf={"top_k": 5}), rec.config)
    with pytest.raises(ValueError, match="no saved configuration 'nope'"):
        resolve_config(art, "nope", rec.config)
    bad = tmp_path / "bad.toml"
    bad.write_text("[rerank]\nupsel = 1\n")
    with pytest.raises(ValueError, match=r"bad\.toml.*upsel"):
        resolve_config(art, str(bad), rec.config)
    for name in ("trained", "../x", "", "x" * 80):
        with pytest.raises(ValueError):
            check_name(name)
    assert TRAINED not in saved_names(art)


def _run(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_compare_json_and_text(rec, art, upsell, capsys, tmp_path):
    save_config(art, "upsell", upsell, rec.config)
    code, out, err = _run(["compare", "--artifacts", str(art), "--config", "trained", "--config", "trained",
                           "--json", "--boot", "50"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert d["overlap"] == 1.0 and all(m["overall"]["diff"] == 0 for m in d["measures"].values())
    readme = tmp_path / "README.md"
    readme.write_text(f"{START}\n{END}\n")
    code, out, err = _run(["compare", "--artifacts", str(art), "--config", "upsell", "--boot", "50",
                           "--readme", str(readme)], capsys)
    assert code == 0, err
    assert "A: trained    B: upsell" in out and "Expected revenue of a list" in out
    assert "python -m recsys compare --artifacts" in readme.read_text() and "--config upsell" in readme.read_text()
    code, _, err = _run(["compare", "--artifacts", str(art), "--config", "nope"], capsys)
    assert code == 2 and "no saved configuration 'nope'" in err and "\n" not in err.strip()
    user = str(rec.state.user_ids[0])
    code, out, err = _run(["recommend", user, "--json", "--n", "10", "--artifacts", str(art), "--config", "upsell"],
                          capsys)
    assert code == 0, err
    assert [r["item_id"] for r in json.loads(out)["recommendations"]] == \
        [r.item_id for r in rec.recommend(user, n=10, config=upsell).recommendations]
    code, out, _ = _run(["configs", "--artifacts", str(art)], capsys)
    assert code == 0 and "upsell: rerank.upsell_factor: 0 -> 1" in out
