"""The evaluation report for the CLI and the dashboard: our models next to the baselines, all
asked through the same Recommender the product serves, plus significance, calibration,
per-segment figures and what-if sweeps of one knob."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from recsys.config import KNOB_RANGES, TuningConfig
from recsys.evaluation.baselines import BuyAgain, Popularity
from recsys.evaluation.metrics import expected_calibration_error, reliability_table
from recsys.evaluation.protocol import (
    EvalResult,
    compare,
    evaluate_all,
    score_recommendations,
)
from recsys.evaluation.splits import (
    Split,
    make_loyal_split,
    make_new_customer_split,
    rolling_windows,
)
from recsys.io.cleaning import clean_transactions
from recsys.io.loading import load_transactions
from recsys.serving.service import Recommender
from recsys.training.runner import train

OUR_MODELS = ("hybrid", "als", "item_cf", "repeat", "popularity")


def _points(knob: str, points: tuple[float, ...]) -> tuple[float, ...]:
    """The sweep's points inside the knob's range (`KNOB_RANGES`), its top included."""
    lo, hi, _ = KNOB_RANGES[knob]
    return tuple(sorted({min(max(p, lo), hi) for p in points} | {hi}))


SWEEPS: dict[str, tuple[str, str, tuple[float, ...]]] = {
    "upsell_factor": ("rerank", "upsell_factor", _points("upsell_factor", (0.0, 0.25, 0.5, 1.0, 1.5))),
    "budget_tolerance (price_sensitivity 1)": ("rerank", "budget_tolerance",
                                               _points("budget_tolerance", (1.0, 1.25, 1.5, 2.0, 3.0))),
    "weight: als": ("weights", "als", _points("weight", (0.0, 0.2, 0.4, 1.0, 2.0))),
    "weight: item_cf": ("weights", "item_cf", _points("weight", (0.0, 0.2, 0.4, 1.0, 2.0))),
    "weight: popularity": ("weights", "popularity", _points("weight", (0.0, 0.2, 0.5, 1.0, 2.0))),
    "weight: repeat": ("weights", "repeat", _points("weight", (0.0, 0.5, 1.0, 2.0, 4.0))),
}


class _Trainer:
    """Trains one Recommender per training frame, shared by every model name asked of it."""

    def __init__(self, config: TuningConfig, calibrate: bool) -> None:
        self.config, self.calibrate = config, calibrate
        self._cache: dict[int, Any] = {}

    def __call__(self, train_df: pd.DataFrame) -> Recommender:
        key = id(train_df)
        if key not in self._cache:
            trained = train(train_df, self.config, calibrate=self.calibrate)
            self._cache[key] = (train_df, Recommender.from_trained(trained))
        return self._cache[key][1]


class RecommenderModel:
    """Adapter for recsys.evaluation.protocol: fit = train on the split; recommend = recommend_batch."""

    def __init__(self, model: str = "hybrid", config: TuningConfig | None = None, calibrate: bool = False,
                 trainer: _Trainer | None = None) -> None:
        self.model = model
        self.config = config or TuningConfig()
        self.trainer = trainer or _Trainer(self.config, calibrate)

    def fit(self, train_df: pd.DataFrame) -> "RecommenderModel":
        self.rec_ = self.trainer(train_df)
        return self

    @classmethod
    def of(cls, rec: Any, model: str = "hybrid") -> "RecommenderModel":
        """The adapter around an already trained Recommender (its scorer: `.recommend`)."""
        out = cls(model, rec.config)
        out.rec_ = rec
        return out

    def recommend(self, user_ids: Sequence[str], as_of: Any = None, n: int = 10, exclude: Any = None) -> list[list[str]]:
        frame = self.frame(user_ids, as_of, n, exclude is not None)
        lists = frame.groupby("user_id", sort=False)["item_id"].agg(list).to_dict() if len(frame) else {}
        return [lists.get(str(u), []) for u in user_ids]

    def frame(self, user_ids: Sequence[str], as_of: Any, n: int, exclude_purchased: bool,
              config: TuningConfig | None = None, with_confidence: bool = False) -> pd.DataFrame:
        known = self.rec_.user_codes(user_ids) >= 0
        ids = [str(u) for u, k in zip(user_ids, known) if k]
        stamps = np.asarray(as_of)[known] if as_of is not None else None
        return self.rec_.recommend_batch(ids, n=n, model=self.model, timestamps=stamps, config=config or self.rec_.config,
                                         exclude_purchased=exclude_purchased, with_confidence=with_confidence)


def default_models(config: TuningConfig | None = None, calibrate: bool = False) -> dict[str, Any]:
    trainer = _Trainer(config or TuningConfig(), calibrate)
    models: dict[str, Any] = {m: RecommenderModel(m, config, trainer=trainer) for m in OUR_MODELS}
    models["baseline: buy again"] = BuyAgain(half_life_days=60)
    models["baseline: popularity"] = Popularity(by="baskets")
    return models


def _clean(data: str | pd.DataFrame) -> pd.DataFrame:
    df = load_transactions(data) if not isinstance(data, pd.DataFrame) else data
    return clean_transactions(df)[0]


def run_report(data: str | pd.DataFrame, test_days: int = 28, k: tuple[int, ...] = (5, 10),
               models: dict[str, Any] | None = None, config: TuningConfig | None = None) -> pd.DataFrame:
    """The evaluation table (model x scenario x mode) on a file or a canonical frame."""
    return evaluate_all(models or default_models(config), _clean(data), k=k, test_days=test_days)


@dataclass
class EvaluationReport:
    table: pd.DataFrame
    significance: pd.DataFrame        # hybrid against each other model, paired bootstrap on NDCG@10
    reliability: pd.DataFrame         # confidence bins of the hybrid's top-10 on the loyal test window
    ece: float
    by_segment: pd.DataFrame          # hybrid NDCG@10 per spending segment
    sweeps: dict[str, pd.DataFrame] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def build_report(data: str | pd.DataFrame, test_days: int = 28, k: tuple[int, ...] = (5, 10),
                 config: TuningConfig | None = None, sweeps: Sequence[str] = tuple(SWEEPS),
                 progress: Callable[[str, float], None] | None = None) -> EvaluationReport:
    """Everything the Evaluation page shows, in one pass (each split trained once)."""
    say = progress or (lambda message, fraction: None)
    config = config or TuningConfig()
    df = _clean(data)
    splits = {"loyal": make_loyal_split(df, test_days)}
    if "customer_type" in df.columns and (df["customer_type"] == "new").any():
        splits["new_customers"] = make_new_customer_split(df)
    models = default_models(config, calibrate=True)
    say("training on each split and scoring every model", 0.1)
    table, results = evaluate_all(models, splits=splits, k=k, return_results=True,
                                  scenarios=[("loyal", "all"), ("loyal", "new")] + (
                                      [("new_customers", "all")] if "new_customers" in splits else []))
    say("comparing models", 0.5)
    significance = significance_table(results)
    hybrid: RecommenderModel = models["hybrid"]  # type: ignore[assignment]
    loyal = splits["loyal"]
    hybrid.fit(loyal.train)
    conf, hit = confidence_outcomes(hybrid, loyal, n=10)
    seg = segment_table(hybrid, results[("hybrid", "loyal", "all")])
    out = EvaluationReport(table=table, significance=significance, reliability=reliability_table(conf, hit),
                           ece=expected_calibration_error(conf, hit), by_segment=seg,
                           info={"test_days": test_days, "cutoff": str(loyal.cutoff), "users": len(loyal),
                                 "hybrid_fit": hybrid.rec_.metadata.get("hybrid_fit")})
    # what-if sweeps never read the test window: they run on the last validation window before it
    validation = next(rolling_windows(df, 1, test_days), None)
    if validation is not None and sweeps:
        say("training on the validation window for the what-if sweeps", 0.6)
        tuned = RecommenderModel("hybrid", config).fit(validation.train)
        out.info.update(sweeps_on=f"validation window from {validation.cutoff}", sweep_users=len(validation))
        for i, name in enumerate(sweeps):
            say(f"what-if: {name}", 0.65 + 0.35 * i / max(len(sweeps), 1))
            out.sweeps[name] = knob_sweep(tuned, validation, name)
    return out


def significance_table(results: dict[tuple[str, str, str], EvalResult], metric: str = "ndcg@10") -> pd.DataFrame:
    rows = []
    for (model, scenario, mode), res in results.items():
        if model == "hybrid":
            continue
        ours = results.get(("hybrid", scenario, mode))
        if ours is None:
            continue
        b = compare(ours, res, metric)
        rows.append({"scenario": scenario, "mode": mode, "against": model, "hybrid": ours[metric], "other": res[metric],
                     "difference": b.mean_diff, "ci_low": b.ci_low, "ci_high": b.ci_high, "p_value": b.p_value,
                     "verdict": "hybrid better" if b.ci_low > 0 else ("hybrid worse" if b.ci_high < 0 else "noise")})
    return pd.DataFrame(rows)


def confidence_outcomes(model: RecommenderModel, split: Split, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Confidence of every recommended item and whether the user then bought it."""
    frame = model.frame(list(split.users), split.as_of, n, False, with_confidence=True)
    truth = {str(u): t for u, t in zip(split.users, split.truth)}
    hit = np.fromiter((i in truth[u] for u, i in zip(frame.user_id, frame.item_id)), bool, count=len(frame))
    return frame.confidence_score.to_numpy(), hit.astype(float)


def segment_table(model: RecommenderModel, res: EvalResult, metric: str = "ndcg@10") -> pd.DataFrame:
    prof = model.rec_.users().set_index("user_id")["spending_segment"]
    per = pd.DataFrame({"user_id": [str(u) for u in res.users], metric: res.per_user[metric]})
    per["segment"] = per.user_id.map(prof)
    return per.groupby("segment", observed=True)[metric].agg(["mean", "count"]).reset_index()


def knob_sweep(model: RecommenderModel, split: Split, name: str, n: int = 10) -> pd.DataFrame:
    """NDCG@10 and the average price of the lists as one knob moves (no retraining)."""
    section, key, values = SWEEPS[name]
    base = model.rec_.config  # the trained one: the hybrid's fitted weights are the starting point
    if name.startswith("budget_tolerance"):
        base = base.replace(rerank={"price_sensitivity": 1.0})
    rows = []
    for v in values:
        cfg = base.replace(**{section: {key: v}})
        frame = model.frame(list(split.users), split.as_of, n, False, config=cfg)
        lists = frame.groupby("user_id", sort=False)["item_id"].agg(list).to_dict()
        recs = [lists.get(str(u), []) for u in split.users]
        summary = score_recommendations(recs, split, "all", (n,)).summary
        rows.append({"knob": name, "value": v, "ndcg@10": summary[f"ndcg@{n}"],
                     "avg_price@10": summary[f"avg_price@{n}"]})
    return pd.DataFrame(rows)
