"""Do guest baskets slow training or requests? The same synthetic store trained twice: every line
a customer's, and with the lines of a quarter of the shoppers as guest lines (customer id blank).
CPU seconds of the cleaning and of each training stage, and the time of `recommend` per request.

    python -m benchmarks.guests --size M          # S, M or L (recsys.io.synthetic.SIZES)

Guest lines are not customers: the second run has fewer customers, so the customer stages (ALS,
the buy-again learner) get cheaper; what guests add is their lines in the cleaning, the item
counts and item-CF's baskets. Prints JSON; CPU time, not wall time (a busy machine), and the load
average beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import pandas as pd

from recsys.config import TuningConfig
from recsys.io.cleaning import clean_sales
from recsys.io.synthetic import SIZES, generate_store
from recsys.serving.service import Recommender
from recsys.training.fit import fit_state
from recsys.training.progress import StageTimer
from recsys.training.runner import finish_training

GUEST_SHARE = 0.25
REQUESTS = 300


def with_guests(store: pd.DataFrame, share: float, seed: int = 0) -> pd.DataFrame:
    """The store with the lines of a random `share` of its shoppers' lines made guest lines."""
    users = store["user_id"].cat.categories
    lines = np.bincount(store["user_id"].cat.codes.to_numpy(), minlength=len(users))
    order = np.random.default_rng(seed).permutation(len(users))
    take = order[: int(np.searchsorted(np.cumsum(lines[order]), share * len(store)))]
    out = store.copy()
    guest = np.isin(out["user_id"].cat.codes.to_numpy(), take)
    out["user_id"] = out["user_id"].cat.add_categories([""])
    out.loc[guest, "user_id"] = ""
    return out


class CpuStages:
    """A progress callback that notes each stage's CPU seconds (the StageTimer's own are wall)."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, fraction: float, message: str) -> None:
        if fraction == 0.0:
            self.started[stage] = time.process_time()
        elif fraction >= 1.0 and stage in self.started:
            self.seconds[stage] = round(time.process_time() - self.started[stage], 2)


def run(store: pd.DataFrame, config: TuningConfig) -> dict:
    t0 = time.process_time()
    sales = clean_sales(store)
    clean_s = time.process_time() - t0
    stages = CpuStages()
    timer = StageTimer(stages)
    c0 = time.process_time()
    state, facts = fit_state(sales.customers, config, timer, guests=sales.guests)
    fit_s = time.process_time() - c0
    trained = finish_training(state, facts, sales, config, timer, {}, None, calibrate=True)
    total_s = time.process_time() - c0
    rec = Recommender.from_trained(trained)
    users = rec.state.user_ids[np.random.default_rng(1).choice(rec.state.n_users, size=REQUESTS)]
    r0 = time.process_time()
    for u in users:  # one request at a time, as a client asks
        rec.recommend(u, n=10)
    return {"customer_lines": len(sales.customers), "guest_lines": len(sales.guests), "customers": rec.state.n_users,
            "cpu_s": {"clean": round(clean_s, 2), "fit_state": round(fit_s, 2), "train_after_clean": round(total_s, 2),
                      **{k: v for k, v in stages.seconds.items() if k in ("features", "als", "item_cf", "validation")}},
            "recommend_ms_cpu": round(1000 * (time.process_time() - r0) / REQUESTS, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="S", choices=list(SIZES))
    args = p.parse_args(argv)
    store = generate_store(**SIZES[args.size])
    config = TuningConfig()
    out = {"size": args.size, "all_customers": run(store, config),
           f"{GUEST_SHARE:.0%}_guest_lines": run(with_guests(store, GUEST_SHARE), config),
           "load_average": [round(x, 1) for x in os.getloadavg()]}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
