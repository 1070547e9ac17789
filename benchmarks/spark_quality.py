"""The Spark engine against the local engine on the S store: training time and NDCG@10.

    python -m benchmarks.spark_quality [--size S] [--factors 128] [--iterations 15] [--json out.json]

Protocol: the synthetic store of the size (S: 100k lines, 10k users, 5k items), cleaned; the
loyal split of `recsys.evaluation.make_loyal_split` (last 28 days held out; test users are loyal
users with lines on both sides); both engines train on the split's training frame with the same
config (calibration off: it does not change the ranking) and recommend the hybrid top 10 at the
cutoff through `Recommender.recommend_batch`; NDCG@10 in "all" mode (repeats count) and "new"
mode (items new to the user), with a paired bootstrap of the difference. Needs pyspark and Java.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path


def _scorer(rec):
    from recsys.analysis.report import RecommenderModel

    return RecommenderModel.of(rec).recommend


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(prog="python -m benchmarks.spark_quality", description=__doc__.split("\n")[0])
    p.add_argument("--size", default="S")
    p.add_argument("--factors", type=int, default=None, help="ALS factors (default: the config's)")
    p.add_argument("--iterations", type=int, default=None, help="ALS iterations (default: the config's)")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--json")
    args = p.parse_args(argv)

    from recsys import Recommender, train
    from recsys.config import TuningConfig
    from recsys.evaluation.protocol import compare, evaluate
    from recsys.evaluation.splits import make_loyal_split
    from recsys.io.cleaning import clean_transactions
    from recsys.io.synthetic import SIZES, generate_store
    from recsys.training.spark import train_spark

    als = {k: v for k, v in (("factors", args.factors), ("iterations", args.iterations)) if v is not None}
    config = TuningConfig().replace(als=als) if als else TuningConfig()
    store, _ = clean_transactions(generate_store(**SIZES[args.size]))
    split = make_loyal_split(store, test_days=28)
    out: dict = {"size": args.size, "train_lines": len(split.train), "test_users": len(split),
                 "als": vars(config.als), "master": args.master}
    t0 = time.perf_counter()
    local = train(split.train, config=config, calibrate=False)
    out["local_train_s"] = round(time.perf_counter() - t0, 2)
    out["local_stages_s"] = local.metadata["timings_s"]
    t0 = time.perf_counter()
    spark = Recommender.from_trained(train_spark(split.train, config=config, master=args.master, calibrate=False,
                                                 out_dir=tempfile.mkdtemp(prefix="recsys-spark-q-")))
    out["spark_train_s"] = round(time.perf_counter() - t0, 2)
    out["spark_stages_s"] = spark.metadata["timings_s"]
    for mode in ("all", "new"):
        ls = evaluate(None, split, k=(10,), mode=mode, scorer=_scorer(local), model_name="local")
        ss = evaluate(None, split, k=(10,), mode=mode, scorer=_scorer(spark), model_name="spark")
        b = compare(ss, ls, metric="ndcg@10")
        out[f"ndcg@10_{mode}"] = {"local": round(ls["ndcg@10"], 4), "spark": round(ss["ndcg@10"], 4),
                                  "spark/local": round(ss["ndcg@10"] / ls["ndcg@10"], 4) if ls["ndcg@10"] else None,
                                  "bootstrap": {k: (round(float(v), 4) if isinstance(v, float) else v)
                                                for k, v in b._asdict().items()}}
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
