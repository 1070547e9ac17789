"""The hybrid fits itself to the store it is trained on: the learned choice follows the store's shape."""
import pytest

from recsys import Recommender, train
from recsys.io.synthetic import generate_store
from recsys.training.blend import DISCOVERY_LED, REPEAT_LED, simplex_grid


def store(favourite_share: float):
    return generate_store(n_users=800, n_items=2000, n_lines=60_000, days=150, seed=3,
                          favourite_share=favourite_share)


@pytest.fixture(scope="module")
def rebuying():
    return train(store(0.45), calibrate=False)


@pytest.fixture(scope="module")
def browsing():
    return train(store(0.03), calibrate=False)


def test_grid_covers_the_simplex_and_the_single_models():
    grid = simplex_grid(4)
    assert all(abs(sum(w.values()) - 1) < 1e-9 for w in grid)
    assert {"repeat": 1.0, "als": 0.0, "item_cf": 0.0, "popularity": 0.0} in grid
    assert len(grid) == 35  # compositions of 4 into 4 parts


def test_a_store_that_rebuys_leans_on_repeats(rebuying):
    fit = rebuying.metadata["hybrid_fit"]
    assert fit["method"] == "fitted on validation" and fit["repeat_share"] > 0.4
    w = fit["weights"]
    assert w["repeat"] == max(w.values()) and w["repeat"] > 0.5


def test_a_store_that_rarely_rebuys_leans_on_popularity_and_cf(browsing, rebuying):
    fit = browsing.metadata["hybrid_fit"]
    assert fit["repeat_share"] < 0.25
    w = fit["weights"]
    assert w["popularity"] + w["item_cf"] > w["repeat"]
    assert w["repeat"] < rebuying.metadata["hybrid_fit"]["weights"]["repeat"]


def test_the_fit_is_what_the_hybrid_serves_and_is_saved(browsing, tmp_path):
    fit = browsing.metadata["hybrid_fit"]
    assert browsing.config.weights.as_dict() == pytest.approx(fit["weights"])
    assert browsing.config.newcomers.weights.as_dict() == pytest.approx(fit["newcomer_weights"])
    assert browsing.config.discovery.as_dict() == pytest.approx(fit["discovery_weights"])
    browsing.save(tmp_path)
    loaded = Recommender.load(tmp_path)
    assert loaded.metadata["hybrid_fit"]["weights"] == fit["weights"]
    assert loaded.config.weights.as_dict() == pytest.approx(fit["weights"])


def test_validation_figures_cover_every_model_with_cis(rebuying):
    fit = rebuying.metadata["hybrid_fit"]
    for view in ("loyal", "new_to_user", "newcomers"):
        figures = fit["validation"][view]
        assert {"als", "item_cf", "popularity", "hybrid (fitted, cross-validated)"} <= set(figures)
        sig = fit["significance"][view]
        assert sig["ci_low"] <= sig["diff"] <= sig["ci_high"]
        assert fit["users"][view] >= 20
    # in sample the fit can only match or beat each single model (they are points of the grid)
    loyal = fit["validation"]["loyal"]
    assert loyal["hybrid (fitted, in sample)"] >= max(loyal[m] for m in ("repeat", "als", "item_cf", "popularity"))


def test_a_store_too_small_to_learn_from_gets_the_rule():
    tiny = generate_store(n_users=20, n_items=300, n_lines=3_000, days=120, seed=5)
    fit = train(tiny, calibrate=False).metadata["hybrid_fit"]
    assert fit["method"].startswith("rule")
    assert fit["weights"] in (REPEAT_LED.as_dict(), DISCOVERY_LED.as_dict())


def test_without_fit_the_config_weights_stay(small_store):
    cfg_rec = train(small_store, calibrate=False, fit_hybrid=False)
    assert "hybrid_fit" not in cfg_rec.metadata
    assert cfg_rec.config.weights.as_dict() == type(cfg_rec.config)().weights.as_dict()
