import pytest

from recsys.config import TuningConfig


def test_defaults_match_the_product_description():
    cfg = TuningConfig()
    assert cfg.rerank.candidate_pool == 200
    assert cfg.segments.thresholds == (0.25, 0.50, 0.75)
    assert cfg.rerank.budget_tolerance == 1.5
    assert cfg.rerank.default_segment == "average"
    assert (cfg.popularity.purchase_weight, cfg.popularity.buyers_weight, cfg.popularity.quantity_weight) == (0.4, 0.4, 0.2)
    w = cfg.weights
    # ALS and item-CF keep their 1:1 ratio, popularity half of either, as the product describes
    assert w.als == w.item_cf == pytest.approx(2 * w.popularity)


def test_toml_round_trip_keeps_every_knob():
    cfg = TuningConfig().replace(rerank={"upsell_factor": 0.7, "price_max": 12.5}, weights={"als": 0.1})
    back = TuningConfig.from_toml(cfg.to_toml())
    assert back == cfg
    assert back.rerank.price_min is None and back.rerank.price_max == 12.5


def test_unknown_and_mistyped_keys_are_named():
    with pytest.raises(ValueError, match="upsel"):
        TuningConfig.from_dict({"rerank": {"upsel_factor": 1.0}})
    with pytest.raises(ValueError, match="rerank.segment_filter"):
        TuningConfig.from_dict({"rerank": {"segment_filter": "yes"}})
    with pytest.raises(ValueError, match="not valid TOML"):
        TuningConfig.from_toml("[rerank\nupsell = 1")


@pytest.mark.parametrize("change, message", [
    ({"weights": {"als": 0, "item_cf": 0, "popularity": 0, "repeat": 0}}, "weights"),
    ({"rerank": {"price_min": 5.0, "price_max": 1.0}}, "price_min"),
    ({"rerank": {"default_segment": "vip"}}, "default_segment"),
    ({"segments": {"thresholds": [0.5, 0.4, 0.9]}}, "thresholds"),
])
def test_validate_rejects_impossible_settings(change, message):
    with pytest.raises(ValueError, match=message):
        TuningConfig().replace(**change).validate()


def test_save_and_load(tmp_path):
    cfg = TuningConfig().replace(rerank={"due_boost": 0.3})
    cfg.save(tmp_path / "knobs.toml")
    assert TuningConfig.load(tmp_path / "knobs.toml") == cfg
