"""The evaluation table for the CLI and the dashboard: our models next to the baselines,
all asked through the same Recommender the product serves."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from recsys.config import TuningConfig
from recsys.evaluation import BuyAgain, Popularity, evaluate_all


class RecommenderModel:
    """Adapter: fit = train on the split's training frame; recommend = Recommender.recommend_batch."""

    def __init__(self, model: str = "hybrid", config: TuningConfig | None = None, calibrate: bool = False) -> None:
        self.model = model
        self.config = config or TuningConfig()
        self.calibrate = calibrate

    def fit(self, train_df: pd.DataFrame) -> "RecommenderModel":
        from recsys.training import train

        self.rec_ = train(train_df, self.config, calibrate=self.calibrate)
        return self

    def recommend(self, user_ids: Sequence[str], as_of: Any = None, n: int = 10, exclude: Any = None) -> list[list[str]]:
        exclude_purchased = exclude is not None
        known = self.rec_._user_index.get_indexer([str(u) for u in user_ids]) >= 0
        ids = [str(u) for u, k in zip(user_ids, known) if k]
        frame = self.rec_.recommend_batch(ids, n=n, model=self.model, timestamps=np.asarray(as_of)[known] if as_of is not None else None,
                                          exclude_purchased=exclude_purchased, with_confidence=False)
        lists = frame.groupby("user_id", sort=False)["item_id"].agg(list).to_dict() if len(frame) else {}
        return [lists.get(str(u), []) for u in user_ids]


def default_models(config: TuningConfig | None = None) -> dict[str, Any]:
    models: dict[str, Any] = {m: RecommenderModel(m, config) for m in ("hybrid", "als", "item_cf", "repeat", "popularity")}
    models["baseline: buy again"] = BuyAgain(half_life_days=60)
    models["baseline: popularity"] = Popularity(by="baskets")
    return models


def run_report(data: str | pd.DataFrame, test_days: int = 28, k: tuple[int, ...] = (5, 10),
               models: dict[str, Any] | None = None, config: TuningConfig | None = None) -> pd.DataFrame:
    """The evaluation table (model x scenario x mode) on a file or a canonical frame."""
    from recsys.data import clean_transactions, load_transactions

    df = load_transactions(data) if not isinstance(data, pd.DataFrame) else data
    df, _ = clean_transactions(df)
    return evaluate_all(models or default_models(config), df, k=k, test_days=test_days)
