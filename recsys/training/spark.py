"""Training on Apache Spark: the same bundle as the local engine, for data past one machine.

    python -m recsys train --engine spark --data sales.parquet [--spark-master spark://host:7077]

What runs where:
- Spark SQL: the line signals (each user's average price, each item's average units, the clipped
  confidence weight of every line) and the user x item confidence matrix; the per-user profile
  aggregates (lines, tickets, distinct items, average price, spend, first and last purchase);
  the per-item statistics (lines, distinct buyers, units, median price); distinct buyers per
  spending segment and each segment's price cap; repurchase cycles (distinct user-item-days, the
  gaps between them by a window function, medians per item and per user-item pair);
- `pyspark.ml.recommendation.ALS` with implicit preferences for the factors;
- item-item co-occurrence by a self-join of the baskets, the spending-weighted cosine with
  shrinkage, and each item's top-k neighbours by a window function.
- Guest lines (sales without a customer id) join the item statistics (each guest basket one
  buyer), the baskets of item-item CF and the line signals (each basket standing for its buyer),
  exactly as in the local engine.
- Locally, on the driver: reading and cleaning the file (the same loader, data options and
  cleaning report as the local engine), the integer codes of users and items, the per-line arrays the bundle keeps
  for serving, the spending-segment cut points (three quantiles of one value per user), the
  dashboard's weekly charts, and two bounded learners that read the bundle's own arrays: the
  buy-again classifier (a few thousand sampled users per window) and the confidence calibrator
  (a user sample above 2M lines, see `recsys.training.validation.make_holdout`).

Serving never touches Spark: the result is the same `recsys.bundles.state.Trained` as the local
engine's, saved the same way, which the dashboard and the CLI load like any other bundle (its
metadata says `engine: spark`). Spark in local mode on two cores is many times slower than the local engine:
use it when the data does not fit one machine, with `--spark-master` pointing at a cluster.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.bundles.state import Trained, TrainedState
from recsys.config import SEGMENTS, TuningConfig
from recsys.errors import SparkUnavailable
from recsys.io import schema as S
from recsys.io.dates import to_seconds
from recsys.models import ALSModel, ItemCFModel, PopularityModel, TrainingData
from recsys.training import features as F
from recsys.training.fit import assemble_state, fit_neighbours, repeat_model, with_cycles
from recsys.training.progress import Progress, StageTimer, quiet
from recsys.training.runner import ImportNotice, finish_training, load_and_clean

DEFAULT_MASTER = "local[2]"
PYSPARK_MISSING = "the Spark engine needs pyspark: pip install -r requirements-spark.txt"


def require_pyspark() -> None:
    """Raise SparkUnavailable unless pyspark is importable; cheap (finds it, does not import it)."""
    if importlib.util.find_spec("pyspark") is None:
        raise SparkUnavailable(PYSPARK_MISSING)


def _spark_session(master: str, app_name: str = "recsys-train", local_dir: str | None = None):
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.memory", os.environ.get("RECSYS_SPARK_DRIVER_MEMORY", "4g")))
    if master.startswith("local"):
        # a few partitions per core: Spark's default of 200 shuffle partitions is all overhead here
        builder = builder.config("spark.sql.shuffle.partitions", "4").config("spark.default.parallelism", "4")
    if local_dir:
        builder = (builder.config("spark.local.dir", local_dir)
                   .config("spark.sql.warehouse.dir", os.path.join(local_dir, "warehouse")))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _collect(df) -> pd.DataFrame:
    """A Spark DataFrame on the driver (through Arrow)."""
    return df.toPandas()


def _lines_frame(spark, enc: F.Encoded, loyal_line: np.ndarray):
    """The encoded lines as a Spark DataFrame: lid (position in the bundle's line order), u, i, t,
    q, p, b, loyal."""
    pdf = pd.DataFrame({
        "lid": np.arange(enc.n_lines, dtype=np.int64), "u": enc.user.astype(np.int32), "i": enc.item.astype(np.int32),
        "t": enc.time.astype(np.int64), "q": enc.quantity.astype(np.float64), "p": enc.price.astype(np.float64),
        "b": enc.basket.astype(np.int64), "loyal": loyal_line.astype(np.int32),
    })
    return spark.createDataFrame(pdf)


def _dense(frame: pd.DataFrame, key: str, column: str, n: int, fill: float = 0.0, dtype=np.float64) -> np.ndarray:
    out = np.full(n, fill, dtype=dtype)
    out[frame[key].to_numpy(np.int64)] = frame[column].to_numpy(dtype)
    return out


def _csr(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A CSR with rows and, within each row, columns in ascending order (as the local engine)."""
    order = np.lexsort((cols, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=shape[0]))].astype(np.int64)
    return sp.csr_matrix((data.astype(np.float32), cols.astype(np.int32), indptr), shape=shape)


def spark_line_signals(lines, config: TuningConfig):
    """Lines with their confidence weight `w` (Spark SQL), as in `recsys.training.features.line_signals`."""
    from pyspark.sql import functions as f

    s = config.signals
    uavg = lines.groupBy("u").agg(f.avg("p").alias("uavg"))
    iavg = lines.groupBy("i").agg(f.avg("q").alias("iavg"))
    spending = f.col("p") / f.when(f.col("uavg") > 0, f.col("uavg")).otherwise(f.lit(1.0))
    qty = f.col("q") / f.when(f.col("iavg") > 0, f.col("iavg")).otherwise(f.lit(1.0))
    raw = f.lit(s.spending_weight) * spending + f.lit(s.quantity_weight) * qty
    w = f.least(f.greatest(raw, f.lit(s.clip_min)), f.lit(s.clip_max)).cast("float").cast("double")
    return lines.join(f.broadcast(uavg), "u").join(f.broadcast(iavg), "i").withColumn("w", w).drop("uavg", "iavg")


def spark_profiles(lines):
    """Per-user aggregates of `recsys.training.features.user_profiles`."""
    from pyspark.sql import functions as f

    return lines.groupBy("u").agg(
        f.count(f.lit(1)).alias("total_purchases"), f.countDistinct("b").alias("tickets"),
        f.countDistinct("i").alias("unique_items"), f.avg("p").alias("avg_item_price"),
        f.sum(f.col("p") * f.col("q")).alias("total_spend"), f.min("t").alias("first"), f.max("t").alias("last"),
        f.max("loyal").alias("loyal"))


def _guest_frame(spark, enc: F.Encoded, config: TuningConfig):
    """The guest lines as a Spark DataFrame (i, b, q, p, buyer, w), or None without guests: b after
    the customers' baskets, buyer after the customers (each basket one buyer), w the line signal
    with the basket standing for its buyer (`recsys.training.features.guest_line_weights`)."""
    g = enc.guests
    if not g.n_lines:
        return None
    after = int(enc.basket.max()) + 1 if len(enc.basket) else 0
    pdf = pd.DataFrame({"u": g.basket.astype(np.int64), "i": g.item.astype(np.int32), "q": g.quantity.astype(np.float64),
                        "p": g.price.astype(np.float64)})
    weighted = spark_line_signals(spark.createDataFrame(pdf), config)
    from pyspark.sql import functions as f

    return weighted.select("i", (f.col("u") + f.lit(after)).alias("b"), "q", "p",
                           (f.col("u") + f.lit(enc.n_users)).alias("buyer"), "w", f.lit(1).alias("guest"))


def _with_guests(lines, guests, columns: list[str]):
    """The customers' lines (u as the buyer) and the guests' as one frame of `columns`."""
    from pyspark.sql import functions as f

    customers = lines.withColumn("buyer", f.col("u").cast("long")).withColumn("guest", f.lit(0)).select(*columns)
    return customers if guests is None else customers.unionByName(guests.select(*columns))


def spark_item_stats(lines, guests=None):
    """Per-item lines, distinct buyers (a guest basket is one), distinct customers, units and baskets."""
    from pyspark.sql import functions as f

    return _with_guests(lines, guests, ["i", "buyer", "b", "q", "guest"]).groupBy("i").agg(
        f.count(f.lit(1)).alias("purchase_count"), f.countDistinct("buyer").alias("unique_buyers"),
        f.countDistinct(f.when(f.col("guest") == 0, f.col("buyer"))).alias("customers"),
        f.sum("q").alias("total_quantity"), f.countDistinct("b").alias("basket_count"))


def spark_segment_stats(lines, user_seg, quantile: float):
    """(distinct buyers per segment and item, the price quantile of each segment's lines)."""
    from pyspark.sql import functions as f

    with_seg = lines.join(f.broadcast(user_seg), "u")
    buyers = with_seg.select("seg", "u", "i").distinct().groupBy("seg", "i").agg(f.count(f.lit(1)).alias("n"))
    caps = with_seg.groupBy("seg").agg(f.expr(f"percentile(p, {float(quantile)})").alias("cap"))
    return buyers, caps


def spark_repurchase_cycles(lines, min_gaps: int = 2):
    """(per-item median gap in days, per-item repeaters, per user-item median gap with >= min_gaps gaps)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as f

    day = f.floor(f.col("t") / f.lit(86_400)).cast("long")
    ev = lines.select("u", "i", day.alias("d")).distinct()
    gap = f.col("d") - f.lag("d").over(Window.partitionBy("u", "i").orderBy("d"))
    gaps = ev.withColumn("g", gap.cast("double")).where(f.col("g").isNotNull()).cache()
    item_days = gaps.groupBy("i").agg(f.expr("percentile(g, 0.5)").alias("cycle_days"),
                                      f.countDistinct("u").alias("repeaters"))
    pair = (gaps.groupBy("u", "i").agg(f.expr("percentile(g, 0.5)").alias("med"), f.count(f.lit(1)).alias("n"))
            .where(f.col("n") >= min_gaps).select("u", "i", "med"))
    return gaps, item_days, pair


def spark_item_cf(lines, top_k: int, shrinkage: float, guests=None):
    """Each item's top-k neighbours (i, j, sim, co_count): spending-weighted cosine over baskets
    (the guests' too), shrunk by co_count / (co_count + shrinkage), as `recsys.models.item_cf.ItemCFModel`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as f

    bi = _with_guests(lines, guests, ["b", "i", "w"]).groupBy("b", "i").agg(f.sum("w").cast("float").cast("double").alias("w")).cache()
    norms = bi.groupBy("i").agg(f.sqrt(f.sum(f.col("w") * f.col("w"))).alias("norm"))
    norms = norms.withColumn("norm", f.when(f.col("norm") > 0, f.col("norm")).otherwise(f.lit(1.0)))
    x, y = bi.alias("x"), bi.alias("y")
    co = (x.join(y, (f.col("x.b") == f.col("y.b")) & (f.col("x.i") != f.col("y.i")))
          .groupBy(f.col("x.i").alias("i"), f.col("y.i").alias("j"))
          .agg(f.sum(f.col("x.w") * f.col("y.w")).alias("cw"), f.count(f.lit(1)).alias("cn")))
    ni = norms.select(f.col("i"), f.col("norm").alias("ni"))
    nj = norms.select(f.col("i").alias("j"), f.col("norm").alias("nj"))
    sim = (co.join(f.broadcast(ni), "i").join(f.broadcast(nj), "j")
           .withColumn("sim", f.col("cw") / (f.col("ni") * f.col("nj")) * f.col("cn") / (f.col("cn") + f.lit(shrinkage)))
           .where(f.col("sim") > 0))
    rank = f.row_number().over(Window.partitionBy("i").orderBy(f.col("sim").desc(), f.col("j").asc()))
    return sim.withColumn("r", rank).where(f.col("r") <= top_k).select("i", "j", "sim", "cn")


def spark_als(user_items, config: TuningConfig, reg_param: float, blocks: int = 10):
    """pyspark.ml ALS, implicit preferences, on (u, i, r) confidences; (user factors, item factors)
    as {code: vector} frames."""
    from pyspark.ml.recommendation import ALS

    a = config.als
    als = ALS(rank=a.factors, maxIter=a.iterations, regParam=reg_param, alpha=a.alpha, implicitPrefs=True,
              userCol="u", itemCol="i", ratingCol="r", seed=a.random_state, coldStartStrategy="drop",
              nonnegative=False, checkpointInterval=5, numUserBlocks=blocks, numItemBlocks=blocks)
    model = als.fit(user_items)
    return _collect(model.userFactors), _collect(model.itemFactors)


def _factors(frame: pd.DataFrame, n: int, k: int) -> np.ndarray:
    out = np.zeros((n, k), dtype=np.float32)
    if len(frame):
        out[frame["id"].to_numpy(np.int64)] = np.stack(frame["features"].to_numpy()).astype(np.float32)
    return out


def fit_state_spark(spark, df: pd.DataFrame, config: TuningConfig, timer: StageTimer,
                    als_reg_param: float | None = None, guests: pd.DataFrame | None = None
                    ) -> tuple[TrainedState, TrainingData]:
    """Every signal and model of `recsys.training.fit.fit_state`, with the aggregations, ALS and
    item-CF in Spark: (the state, the facts the repeat learner refits on)."""
    from pyspark.sql import functions as f

    with timer.stage("features", "Spark SQL: signals, profiles, item statistics and segments"):
        enc = F.encode(df, guests)
        loyal_line = (np.asarray(df[S.CUSTOMER_TYPE].astype(str)) == "loyal") if S.CUSTOMER_TYPE in df.columns \
            else np.ones(len(df), dtype=bool)
        # F.encode sorts the lines by (user, time): the same order for the per-line flag
        loyal_line = loyal_line[np.lexsort((to_seconds(df[S.TIMESTAMP]), pd.factorize(df[S.USER_ID])[0]))]
        lines = spark_line_signals(_lines_frame(spark, enc, loyal_line), config).cache()
        guest_lines = _guest_frame(spark, enc, config)
        guest_lines = guest_lines.cache() if guest_lines is not None else None
        n_u, n_i = enc.n_users, enc.n_items
        weight = _collect(lines.select("lid", "w")).sort_values("lid")["w"].to_numpy(np.float32)
        ui = lines.groupBy("u", "i").agg(f.sum("w").alias("s"))
        r = f.log1p(f.col("s")) if config.signals.log_transform else f.col("s")
        user_items = ui.select("u", "i", r.cast("float").alias("r")).cache()
        prof = _collect(spark_profiles(lines))
        stats = _collect(spark_item_stats(lines, guest_lines))
        avg_price = _dense(prof, "u", "avg_item_price", n_u)
        seg, cuts = F.segment_codes(avg_price, config.segments.thresholds)
        user_seg = spark.createDataFrame(pd.DataFrame({"u": np.arange(n_u, dtype=np.int32), "seg": seg.astype(np.int32)}))
        seg_buyers_df, caps_df = spark_segment_stats(lines, user_seg, config.segments.price_cap_quantile)
        seg_buyers_df, caps_df = _collect(seg_buyers_df), _collect(caps_df)
        lines_n = _dense(prof, "u", "total_purchases", n_u, dtype=np.int64)
        first = _dense(prof, "u", "first", n_u, dtype=np.int64)
        last = _dense(prof, "u", "last", n_u, dtype=np.int64)
        profiles = pd.DataFrame({
            "user_id": enc.user_ids,
            "user_type": np.where(_dense(prof, "u", "loyal", n_u, dtype=np.int64) > 0, "loyal", "new").astype(object),
            "total_purchases": lines_n,
            "tickets": _dense(prof, "u", "tickets", n_u, dtype=np.int64),
            "unique_items": _dense(prof, "u", "unique_items", n_u, dtype=np.int64),
            "avg_item_price": avg_price,
            "total_spend": _dense(prof, "u", "total_spend", n_u),
            "first_purchase": pd.to_datetime(first, unit="s"),
            "last_purchase": pd.to_datetime(last, unit="s"),
            "spending_segment": np.asarray(SEGMENTS, dtype=object)[seg],
            "segment_code": seg,
        })
        prices = F.item_prices(enc)  # the latest price, as the local engine (a local pass over the lines)
        caps = np.full(len(SEGMENTS), np.inf)
        caps[caps_df["seg"].to_numpy(np.int64)] = caps_df["cap"].to_numpy(np.float64)
        seg_buyers = np.zeros((len(SEGMENTS), n_i))
        seg_buyers[seg_buyers_df["seg"].to_numpy(np.int64), seg_buyers_df["i"].to_numpy(np.int64)] = \
            seg_buyers_df["n"].to_numpy(np.float64)
        parts = {
            "purchase_count": _dense(stats, "i", "purchase_count", n_i),
            "unique_buyers": _dense(stats, "i", "unique_buyers", n_i),
            "total_quantity": _dense(stats, "i", "total_quantity", n_i),
        }
        data = F.training_data(enc, weight, seg, prices, parts, seg_buyers, config)
    with timer.stage("als", f"Spark ALS: {config.als.factors} factors, {config.als.iterations} iterations"):
        if als_reg_param is None:
            # Spark scales regParam by each user's (item's) number of ratings (ALS-WR); implicit does
            # not: dividing by the mean ratings per user keeps the local engine's shrinkage on average
            als_reg_param = config.als.regularization / max(user_items.count() / max(n_u, 1), 1.0)
        # Spark's default of 10 blocks a side suits a cluster; in local mode one per core is faster
        blocks = spark.sparkContext.defaultParallelism if spark.sparkContext.master.startswith("local") else 10
        uf, vf = spark_als(user_items, config, als_reg_param, blocks=max(int(blocks), 1))
        als = ALSModel(**vars(config.als)).set_factors(_factors(uf, n_u, config.als.factors),
                                                       _factors(vf, n_i, config.als.factors))
    with timer.stage("item_cf", f"Spark item-item CF: top {config.item_cf.top_k} neighbours"):
        nb = _collect(spark_item_cf(lines, config.item_cf.top_k, config.item_cf.shrinkage, guest_lines))
        rows, cols = nb["i"].to_numpy(np.int64), nb["j"].to_numpy(np.int64)
        item_cf = ItemCFModel(**vars(config.item_cf)).set_neighbours(
            _csr(rows, cols, nb["sim"].to_numpy(np.float64), (n_i, n_i)),
            _csr(rows, cols, nb["cn"].to_numpy(np.float64), (n_i, n_i)),
            _dense(stats, "i", "basket_count", n_i, dtype=np.int64))
    with timer.stage("popularity", "popularity overall and per segment"):
        popularity = PopularityModel(segment_share=config.popularity.segment_share).fit(data)
    with timer.stage("repurchase_cycles", "Spark SQL: repurchase cycles"):
        gaps, item_days_df, pair_df = spark_repurchase_cycles(lines)
        item_days_df, pair_df = _collect(item_days_df), _collect(pair_df)
        gaps.unpersist()
        item_days = _dense(item_days_df, "i", "cycle_days", n_i, fill=np.nan)
        repeaters = _dense(item_days_df, "i", "repeaters", n_i)
        # the share of an item's customers who bought it on 2+ days (a guest basket never repeats)
        customers = _dense(stats, "i", "customers", n_i)
        cycles = F.Cycles(item_days=item_days, item_repeat_rate=repeaters / np.maximum(customers, 1),
                          user_item_days=_csr(pair_df["u"].to_numpy(np.int64), pair_df["i"].to_numpy(np.int64),
                                              pair_df["med"].to_numpy(np.float64), (n_u, n_i)))
        data = with_cycles(data, cycles)
        repeat = repeat_model(config).fit(data)
    lines.unpersist()
    user_items.unpersist()
    if guest_lines is not None:
        guest_lines.unpersist()
    neighbours = fit_neighbours(data, config, timer)  # local: a sample of reference customers, vectorised
    state = assemble_state(enc, weight, profiles, profiles["user_type"].to_numpy(), parts, seg_buyers, caps, cuts,
                           prices, cycles, als, item_cf, popularity, repeat, config, neighbours)
    return state, data.without_lines()


def train_spark(data: pd.DataFrame | str, config: TuningConfig | None = None, out_dir: str | None = None,
                master: str = DEFAULT_MASTER, progress: Progress | None = None, calibrate: bool = True,
                als_reg_param: float | None = None, spark=None, on_import: ImportNotice | None = None,
                **data_options: Any) -> Trained:
    """Load, clean, learn every model with Spark, and save the bundle when out_dir is given.

    `data`: a workbook, CSV or Parquet path (read by `recsys.io.loading.load_transactions`) or a
    canonical frame. `master`: a Spark master URL (`local[2]`, `spark://host:7077`, `yarn`...).
    `spark`: an existing SparkSession to use (then it is not stopped). `on_import` and
    `data_options` (column_map, dates, catalogue, sheet, exclude_items): as the local engine's
    `recsys.training.runner.train`. Returns what training made."""
    require_pyspark()
    try:
        import pyspark
    except ImportError as exc:  # found but broken (e.g. a missing dependency of its own)
        raise SparkUnavailable(f"{PYSPARK_MISSING} ({exc})") from exc

    config = (config or TuningConfig()).validate()
    timer = StageTimer(progress or quiet)
    meta: dict[str, Any] = {"engine": "spark", "spark_master": master, "spark_version": pyspark.__version__}
    sales = load_and_clean(data, timer, meta, **data_options)
    if on_import is not None:
        on_import(sales.report)
    own = spark is None
    local_dir = tempfile.mkdtemp(prefix="recsys-spark-") if own else None
    try:
        if own:
            with timer.stage("spark_start", f"starting Spark ({master})"):
                spark = _spark_session(master, local_dir=local_dir)
                spark.sparkContext.setCheckpointDir(os.path.join(local_dir, "checkpoints"))
        state, facts = fit_state_spark(spark, sales.customers, config, timer, als_reg_param, guests=sales.guests)
    finally:
        if own and spark is not None:
            spark.stop()
        if local_dir:
            shutil.rmtree(local_dir, ignore_errors=True)
    return finish_training(state, facts, sales, config, timer, meta, out_dir, calibrate)


__all__ = ["train_spark", "fit_state_spark", "DEFAULT_MASTER"]
