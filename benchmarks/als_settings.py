"""ALS factors and iterations against the validation window: what each costs and what it scores.

    python -m benchmarks.als_settings --size M                       # the default grid
    python -m benchmarks.als_settings --size M --configs 128x15 128x8

The validation window of recsys.training.validation is cut once (its ALS then refitted per setting on the
same interactions); for each setting: ALS's CPU seconds, and NDCG@10 on the window of ALS alone
and of the fitted hybrid (cross-validated), for loyal customers, simulated newcomers and
new-to-user lists: the figures the hybrid's fit records in a bundle.
"""
from __future__ import annotations

import argparse
import time

import pandas as pd

from recsys.config import TuningConfig
from recsys.io import schema as S
from recsys.io.cleaning import clean_transactions
from recsys.io.synthetic import SIZES, generate_store
from recsys.models import ALSModel
from recsys.training import features as F
from recsys.training.blend import build_view, cross_fitted, ndcg_table, simplex_grid
from recsys.training.validation import make_holdout

VIEWS = ("loyal", "newcomers", "new_to_user")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", default="M", choices=sorted(SIZES))
    p.add_argument("--configs", nargs="+", default=["128x15", "128x8", "64x15"], help="FACTORSxITERATIONS")
    args = p.parse_args(argv)
    df, _ = clean_transactions(generate_store(**SIZES[args.size]))
    cfg = TuningConfig()
    holdout = make_holdout(df, cfg.replace(als={"factors": 8, "iterations": 1}))  # ALS refitted below
    before = df[df[S.TIMESTAMP] < pd.to_datetime(holdout.cutoff, unit="s")]
    enc = F.encode(before)
    _, _, weight = F.line_signals(enc, cfg.signals)
    user_items = F.interaction_matrix(enc, weight, cfg.signals.log_transform)
    grid = simplex_grid()
    print(f"{args.size}: {len(holdout.codes):,} validation customers")
    print(f"{'setting':>8} {'ALS cpu s':>9}  " + "  ".join(f"{v + ' ALS / hybrid':>26}" for v in VIEWS))
    for spec in args.configs:  # a few settings
        factors, iterations = (int(x) for x in spec.split("x"))
        c0 = time.process_time()
        holdout.state.als = ALSModel(factors=factors, iterations=iterations).fit(user_items)
        cpu = time.process_time() - c0
        cells = []
        for name in VIEWS:
            view = build_view(holdout, cfg, name)
            als = float(view.ndcg({"als": 1.0}).mean())
            hybrid = float(cross_fitted(ndcg_table(view, grid), grid).mean())
            cells.append(f"{als:>12.4f} / {hybrid:<11.4f}")
        print(f"{spec:>8} {cpu:>9.1f}  " + "  ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
