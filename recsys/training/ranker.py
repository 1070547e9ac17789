"""Learning the ranker (recsys.serving.ranker) on two validation windows cut from the training
data, and deciding per list kind whether it serves.

Each window has its own refit of every model on the lines before it (recsys.training.validation),
so every feature is computed as of the window's start and nothing inside the window is read;
labels are the window's purchases. The ranker learns on the older window and stops early on the
newer one: a later window, not held-out customers of the same window (whose item-level facts
would flatter it). On that newer window it is compared with the fitted blend per list kind
(loyal, discovery, newcomer) with a paired bootstrap; it serves a kind only where it beats the
blend (the CI of the difference clear of zero), then is refitted on both windows."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from recsys.config import TuningConfig
from recsys.evaluation.metrics import ndcg_at_k
from recsys.evaluation.significance import paired_bootstrap
from recsys.serving.batches import BatchBuilder
from recsys.serving.pipeline import RequestPipeline, blend, hybrid_weights
from recsys.serving.ranker import (
    DISCOVERY,
    FEATURE_SETS,
    FEATURES,
    KINDS,
    NEWCOMER,
    SOURCES,
    LearnedRanker,
    candidate_features,
)
from recsys.serving.ranking import HardFilters, filter_candidates
from recsys.training.validation import Holdout

K = 10
EARLY_STOP = 20   # rounds without a gain on the newer window


@dataclass
class KindCases:
    """One window's customers of one list kind: every pool candidate's features, whether it was
    bought in the window, and what the fitted blend and each source scored it."""

    kind: int
    codes: np.ndarray      # (users,) their codes in the window's state
    x: np.ndarray          # (users, rows, features) float32: the candidates worth learning from, packed left
    keep: np.ndarray       # (users, rows) which of those slots hold one (the rest is padding)
    label: np.ndarray      # (users, pool) bought in the window
    n_truth: np.ndarray    # (users,) items bought in the window (new ones only, for discovery)
    blend: np.ndarray      # (users, pool) the fitted blend's score
    sources: dict[str, np.ndarray]  # source -> (users, pool) raw score

    def ndcg(self, scores: np.ndarray) -> np.ndarray:
        """Per-user NDCG@10 of the lists these scores make from the listable candidates."""
        s = np.where(self.keep, scores, -np.inf)
        k = min(K, s.shape[1])
        top = np.argsort(-s, axis=1, kind="stable")[:, :k]
        rel = np.take_along_axis(self.label & self.keep, top, axis=1) & np.isfinite(np.take_along_axis(s, top, axis=1))
        return ndcg_at_k(rel, self.n_truth, K)


def kind_cases(holdout: Holdout, config: TuningConfig, kind: int, codes: np.ndarray) -> KindCases | None:
    """The cases of some validation customers (codes in the holdout's state) asked at its cutoff."""
    st = holdout.state
    builder, pipe = BatchBuilder(st), RequestPipeline(st)
    as_of = np.full(len(codes), holdout.cutoff, dtype=np.int64)
    if kind == NEWCOMER:  # the customers cut down to their last basket before the cutoff
        batch = builder.build(np.full(len(codes), -1), as_of, config, extra=holdout.last_baskets(codes),
                              segments=builder.segment[codes], avg_price=builder.avg_price_for(codes))
        if st.neighbours is not None:  # a newcomer's neighbours are never the customer's own full history
            st.neighbours.neighbour_scores(batch, exclude=codes)
    else:
        batch = builder.build(codes, as_of, config)
    hard = HardFilters(exclude_purchased=kind == DISCOVERY)
    pool = pipe.candidates(batch, "hybrid", config, hard, ranked=True)
    raw = pipe.scores(batch, pool, "hybrid", config, ranked=True)
    facts = pipe.facts(batch, pool.items)
    keep, _ = filter_candidates(facts, config.rerank, hard, st.segment_caps)
    n_items = st.n_items
    truth = holdout.truth_of(codes)
    if kind == DISCOVERY:  # what they bought in the window and never before
        truth = truth[~np.isin(truth, np.unique(batch.line_row * n_items + batch.line_item))]
    n_truth = np.bincount((truth // n_items).astype(np.int64), minlength=len(codes)) + holdout.unseen_of(codes)
    keys = np.arange(len(codes), dtype=np.int64)[:, None] * n_items + np.maximum(pool.items, 0)
    label = np.isin(keys, truth) & (pool.items >= 0)
    weights = hybrid_weights(batch, config, kind == DISCOVERY)
    blended, _ = blend({m: raw[m] for m in weights}, weights)
    x = candidate_features(batch, pool.items, raw, facts, np.full(len(codes), kind, np.int8), pipe.item_repeat_rate,
                           pipe.item_cycle, n_items)
    served = n_truth > 0
    if not served.any():
        return None
    # the candidates worth learning from: listable ones some source ranks in its top `nominated`, or
    # the customer's own past items (a list's top 10 comes from there), packed to the left
    ranks = x[..., [FEATURES.index(f"r_{s}") for s in SOURCES]]
    rows = keep & ((ranks < config.ranker.nominated).any(axis=-1) | (x[..., FEATURES.index("p_count")] > 0))
    cols = np.argsort(~rows, axis=1, kind="stable")[:, :max(int(rows.sum(axis=1).max()), 1)]
    pack = lambda a: np.take_along_axis(a, cols, axis=1)[served]  # noqa: E731
    return KindCases(kind, codes[served], np.take_along_axis(x, cols[..., None], axis=1)[served], pack(rows),
                     pack(label), n_truth[served], pack(blended), {m: pack(s) for m, s in raw.items()})


def window_cases(holdout: Holdout, config: TuningConfig, users: int, seed: int = 0) -> list[KindCases]:
    """Every list kind's cases of up to `users` validation customers of a window."""
    rng = np.random.default_rng(seed)
    codes = np.sort(rng.choice(holdout.codes, size=min(users, len(holdout.codes)), replace=False))
    cases = [kind_cases(holdout, config, kind, codes) for kind in range(len(KINDS))]
    return [c for c in cases if c is not None]


def _dataset(cases: list[KindCases]):
    """(x, y, group sizes) of the training rows of customers with at least one bought row."""
    xs, ys, groups = [], [], []
    for c in cases:
        rows = c.keep
        counts = rows.sum(axis=1)
        useful = ((c.label & rows).sum(axis=1) > 0) & (counts > 0)
        xs.append(c.x[useful][rows[useful]])
        ys.append(c.label[useful][rows[useful]].astype(np.float32))
        groups.append(counts[useful])
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(groups)


def _params(config: TuningConfig) -> dict:
    r = config.ranker
    return dict(objective="lambdarank", metric="ndcg", eval_at=[K], lambdarank_truncation_level=2 * K,
                learning_rate=r.learning_rate, num_leaves=r.num_leaves, min_data_in_leaf=r.min_child_samples,
                feature_fraction=0.8, bagging_fraction=0.8, bagging_freq=1, max_bin=63, seed=0, verbose=-1,
                # one thread: OpenMP's spinning threads lose 3-4x when the cores are shared
                num_threads=1, deterministic=True, force_col_wise=True)


@dataclass
class RankerFit:
    """What training learned and decided: the served ranker (None: the blend serves every list),
    the ranker of the older window only (for calibrating on the newer one), and the evidence."""

    ranker: LearnedRanker | None
    validation_ranker: LearnedRanker | None
    evidence: dict


def no_ranker(reason: str) -> RankerFit:
    return RankerFit(None, None, {"method": f"fitted blend: {reason}", "kinds": {}})


def fit_ranker(newer: Holdout | None, make_older: Callable[[], Holdout | None], config: TuningConfig) -> RankerFit:
    """Learn on the older window (made by `make_older`, a refit of its own, only when the newer one
    has enough customers), stop early and decide on the newer one, refit on both."""
    import lightgbm as lgb

    r = config.ranker
    if not r.enabled or r.policy == "never":
        return no_ranker("the learned ranker is off in the config")
    if newer is None or len(newer.codes) < r.min_users:
        return no_ranker(f"fewer than {r.min_users} validation customers to learn a ranker from")
    older = make_older()
    if older is None:
        return no_ranker("too little history for two validation windows")
    train_cases = window_cases(older, config, r.users_per_window)
    valid_cases = window_cases(newer, config, r.users_per_window, seed=1)
    if not train_cases or not valid_cases:
        return no_ranker("no validation customer with a purchase among the candidates")
    names = list(FEATURE_SETS[r.features])
    used = [FEATURES.index(f) for f in names]
    x, y, g = _dataset(train_cases)
    vx, vy, vg = _dataset(valid_cases)
    x, vx = x[:, used], vx[:, used]
    if y.sum() < 20 or vy.sum() < 20:
        return no_ranker("too few purchases among the candidates to learn from")
    train_set = lgb.Dataset(x, y, group=g, feature_name=names, free_raw_data=False)
    valid_set = lgb.Dataset(vx, vy, group=vg, feature_name=names, reference=train_set)
    first = lgb.train(_params(config), train_set, r.rounds, valid_sets=[valid_set],
                      callbacks=[lgb.early_stopping(EARLY_STOP, verbose=False)])
    rounds = max(int(first.best_iteration or r.rounds), 1)
    judged = LearnedRanker(first, np.ones(len(KINDS), bool), names)
    kinds, serves = {}, np.zeros(len(KINDS), bool)
    for c in valid_cases:
        mine = c.ndcg(judged.scores(c.x, c.keep))
        theirs = c.ndcg(c.blend)
        b = paired_bootstrap(mine, theirs)
        beats = b.mean_diff > 0 and b.ci_low > 0
        allowed = c.kind != DISCOVERY or r.discovery
        serves[c.kind] = allowed and (beats if r.policy == "auto" else True)
        kinds[KINDS[c.kind]] = {
            "users": int(len(mine)), "ranker": round(float(mine.mean()), 4), "fitted blend": round(float(theirs.mean()), 4),
            **{s: round(float(c.ndcg(c.sources[s]).mean()), 4) for s in SOURCES if s in c.sources},
            "diff": round(b.mean_diff, 4), "ci_low": round(b.ci_low, 4), "ci_high": round(b.ci_high, 4),
            "serves": "ranker" if serves[c.kind] else "fitted blend",
            "why": ("discovery lists stay with the blend (ranker.discovery is off)" if not allowed else
                    ("beats the blend on the later window" if beats else "does not beat the blend on the later window")
                    + ("" if r.policy == "auto" else " (policy: always)"))}
    gain = first.feature_importance("gain")
    importance = {n: round(float(v / max(gain.sum(), 1e-12)), 4) for n, v in
                  sorted(zip(names, gain), key=lambda kv: -kv[1])[:12]}
    evidence = {"method": "learned ranker" if serves.any() else "fitted blend: the ranker beat it on no list kind",
                "kinds": kinds, "rounds": rounds, "rows": int(len(y) + len(vy)),
                "windows": [str(older.cutoff_date), str(newer.cutoff_date)], "importance": importance}
    if not serves.any():
        return RankerFit(None, None, evidence)
    both = lgb.Dataset(np.concatenate([x, vx]), np.concatenate([y, vy]), group=np.concatenate([g, vg]),
                       feature_name=names)
    final = lgb.train(_params(config), both, rounds)
    return RankerFit(LearnedRanker(final, serves, names), LearnedRanker(first, serves, names), evidence)
