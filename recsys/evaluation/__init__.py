"""Offline evaluation: splits, ranking metrics, significance, calibration and baselines.

Modules: `splits` (the temporal protocol), `metrics` (ranking and calibration metrics),
`significance` (paired bootstrap), `protocol` (evaluate a model on a split) and `baselines` (buy
again, popularity, TIFU-KNN). Pure measuring machinery: it knows no model of the product (the
product's report, trained per split, is `recsys.analysis.report`).

The protocol works on a *cleaned* canonical frame (see :mod:`recsys.io.schema`): returns and
non-product items (mean price 0) already removed.

Scenarios
---------
* **Loyal split** (:func:`make_loyal_split`): ``cutoff = last timestamp - test_days``; the training
  frame is every line with ``timestamp < cutoff``; the test users are loyal users with lines on
  both sides of the cutoff; the ground truth is the set of distinct items a test user bought at or
  after the cutoff; every user is asked at the cutoff time.  Two modes:

  - ``"all"``: repeat purchases count;
  - ``"new"`` (new-to-user): both the recommended lists and the ground truth exclude the items the
    user bought before the cutoff (``split.known``); users left with no new item are dropped.

* **New customers** (:func:`make_new_customer_split`): customers of type ``"new"`` that are not
  also loyal users and have at least two baskets.  Their history is their first basket; the ground
  truth is the distinct items of their later baskets; the training frame is all loyal lines plus
  those first baskets; each is asked at the time of the first basket.

* **Rolling windows** (:func:`rolling_windows`): earlier loyal splits whose truth windows end at or
  before the test cutoff, for choosing hyper-parameters without looking at the test window.

Model interface
---------------
:func:`evaluate` accepts either

* an object with ``fit(train_df)`` and ``recommend(user_ids, as_of, n, exclude=None)`` (the
  baselines :class:`BuyAgain` and :class:`Popularity` are such objects), or
* a callable ``recommend_fn(train_df) -> scorer`` where ``scorer`` has the signature of
  ``recommend`` above.

``recommend(user_ids, as_of, n, exclude)`` receives the test users (a sequence of str), their
as-of timestamps (``datetime64[ns]`` array, one per user), the list length ``n`` and ``exclude``:
``None`` or one collection of item ids per user that must not be recommended.  It returns one list
of at most ``n`` item ids per user, best first (a 2-D array of item ids also works).  The model is
fitted once per split and then asked for all its test users in one call.

The baselines are :class:`BuyAgain`, :class:`Popularity` and ``TIFUKNN`` (time-decayed user
vectors plus nearest users', from :mod:`recsys.evaluation.baselines`).

Metrics (at every ``k``, mean over users): ``precision``, ``recall``, ``ndcg`` (binary relevance,
ideal DCG over ``min(k, |truth|)``), ``hit_rate``, ``map`` (AP@k normalised by
``min(k, |truth|)``); plus ``coverage`` (distinct recommended items / items in the training frame)
and ``avg_price`` (mean unit price of the recommended items, per user then averaged); beyond
accuracy (:mod:`recsys.evaluation.beyond`, the definitions of microsoft/recommenders): ``novelty``
and ``diversity`` per user, ``dist_coverage`` (entropy of how often each item is shown).  Per-user
values are kept in :class:`EvalResult` for :func:`paired_bootstrap`; a statistic of the whole group
(coverage) is compared with :func:`bootstrap_statistic`.
"""
from recsys.evaluation.baselines import TIFUKNN, BuyAgain, Popularity
from recsys.evaluation.beyond import (
                                       beyond_accuracy,
                                       catalogue_coverage,
                                       distributional_coverage,
                                       diversity,
                                       item_novelty,
                                       novelty,
)
from recsys.evaluation.metrics import (
                                       METRICS,
                                       average_precision_at_k,
                                       expected_calibration_error,
                                       hit_rate_at_k,
                                       ndcg_at_k,
                                       precision_at_k,
                                       ranking_metrics,
                                       recall_at_k,
                                       relevance,
                                       reliability_table,
)
from recsys.evaluation.protocol import (
                                       EvalResult,
                                       compare,
                                       evaluate,
                                       evaluate_all,
                                       format_table,
                                       score_recommendations,
)
from recsys.evaluation.significance import BootstrapResult, bootstrap_statistic, paired_bootstrap
from recsys.evaluation.splits import (
                                       DEFAULT_SCENARIOS,
                                       MODES,
                                       ModeView,
                                       Split,
                                       make_loyal_split,
                                       make_new_customer_split,
                                       rolling_windows,
)

__all__ = ["Split", "ModeView", "EvalResult", "BootstrapResult", "make_loyal_split", "make_new_customer_split",
           "rolling_windows", "evaluate", "score_recommendations", "evaluate_all", "format_table", "compare",
           "paired_bootstrap", "bootstrap_statistic", "relevance", "precision_at_k", "recall_at_k", "ndcg_at_k", "hit_rate_at_k",
           "average_precision_at_k", "ranking_metrics", "expected_calibration_error", "reliability_table",
           "BuyAgain", "Popularity", "TIFUKNN", "DEFAULT_SCENARIOS", "METRICS", "MODES",
           "beyond_accuracy", "catalogue_coverage", "distributional_coverage", "diversity", "item_novelty", "novelty"]
