"""The hybrid fits itself to the store: on the training run's own validation window (see
recsys.training.validation), the weights of the candidate sources are chosen by NDCG@10, separately for
loyal customers and for newcomers (loyal customers cut down to their last basket).

A store too small to learn from gets a rule instead: its measured repeat share picks between a
repeat-led and a discovery-led blend. The choice and its evidence (every model's validation
figure, paired-bootstrap CIs) are recorded in the bundle's metadata."""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from recsys.arrays import gather_ranges
from recsys.config import HybridWeights, TuningConfig
from recsys.evaluation.significance import paired_bootstrap
from recsys.serving.batches import BatchBuilder
from recsys.serving.candidates import SOURCES
from recsys.serving.pipeline import RequestPipeline, normalise_scores
from recsys.serving.ranking import HardFilters, filter_candidates
from recsys.training.validation import Holdout

K = 10
GRID_STEPS = 8            # weights in multiples of 1/8 on the simplex of the four sources
MIN_USERS = 20            # fewer validation users than this: the rule, not the fit
BAGS = 30                 # bootstrap resamples whose best weights are averaged
TOP_PER_SOURCE = 50       # a validation user's candidates: each source's best this many
REPEAT_LED = HybridWeights(als=0.1, item_cf=0.1, popularity=0.1, repeat=0.7)
DISCOVERY_LED = HybridWeights(als=0.2, item_cf=0.3, popularity=0.4, repeat=0.1)
DISCOVERY = TuningConfig().discovery    # the default discovery blend, when nothing better is found
REPEAT_SHARE_CUT = 0.3    # share of a window's items bought before, above which repeats lead


@dataclass
class View:
    """One group of validation users asked at the cutoff: each source's normalised score of
    every candidate, and which candidates bought in the window."""

    name: str
    norm: dict[str, np.ndarray]   # source -> (users, pool) in [0, 1]; -1 where not a candidate
    hit: np.ndarray               # (users, pool) bool
    n_truth: np.ndarray           # (users,)

    def ndcg(self, weights: dict[str, float]) -> np.ndarray:
        """Per-user NDCG@10 of the list the blend with these weights makes."""
        return self.ndcg_many([weights])[0]

    def ndcg_many(self, grid: list[dict[str, float]]) -> np.ndarray:
        """(weightings, users) NDCG@10 of the lists of several blends at once (one partition of a
        (weightings, users, pool) array instead of one per weighting)."""
        # float32, the sources in order: the sums (and so the ties) of one blend at a time
        score = np.zeros((len(grid), *self.hit.shape), dtype=np.float32)
        for m in self.norm:
            w = np.array([g.get(m, 0.0) for g in grid], dtype=np.float32)
            if (w > 0).any():
                score += np.where(w > 0, w, np.float32(0))[:, None, None] * self.norm[m]
        score = np.where(self.norm[SOURCES[0]] < 0, -np.inf, score)
        k = min(K, score.shape[2])
        top = np.argpartition(-score, k - 1, axis=2)[..., :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(score, top, axis=2), axis=2, kind="stable"), 2)
        gains = np.take_along_axis(np.broadcast_to(self.hit, score.shape), top, axis=2) \
            & np.isfinite(np.take_along_axis(score, top, axis=2))
        disc = 1.0 / np.log2(np.arange(2, k + 2))
        ideal = np.cumsum(disc)[np.minimum(self.n_truth, k) - 1]
        return (gains * disc).sum(axis=2) / np.where(self.n_truth > 0, ideal, 1.0)


@dataclass
class HybridFit:
    """What training chose for the store, and why."""

    method: str                                   # "fitted on validation" or "rule: ..."
    weights: dict[str, float]
    newcomer_weights: dict[str, float]
    discovery_weights: dict[str, float]
    repeat_share: float
    validation: dict[str, dict[str, float]] = field(default_factory=dict)   # view -> model -> NDCG@10
    significance: dict[str, dict[str, float]] = field(default_factory=dict)  # view -> CI of fit - best single
    users: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def simplex_grid(steps: int = GRID_STEPS) -> list[dict[str, float]]:
    """Every weighting of the four sources in multiples of 1/steps (the single models included)."""
    out = []
    for combo in itertools.product(range(steps + 1), repeat=len(SOURCES) - 1):
        if sum(combo) <= steps:
            parts = (*combo, steps - sum(combo))
            out.append({m: p / steps for m, p in zip(SOURCES, parts)})
    return out


def build_view(holdout: Holdout, config: TuningConfig, name: str, chunk: int = 256) -> View | None:
    """The candidates and source scores of the holdout's users: `loyal` (their whole history),
    `new_to_user` (their past items filtered out) or `newcomers` (only their last basket).

    Users go through the request pipeline in chunks; each keeps only the union of every source's
    best TOP_PER_SOURCE candidates (a blend's top 10 comes from there), so the grid search reads
    (users, a few hundred) arrays whatever the catalogue."""
    codes = holdout.codes
    parts = [_view_chunk(holdout, config, name, codes[lo:lo + chunk]) for lo in range(0, len(codes), chunk)]
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    width = max(p[1].shape[1] for p in parts)
    pad = lambda a, fill: np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)  # noqa: E731
    norm = {m: np.concatenate([pad(p[0][m], -1.0) for p in parts]) for m in SOURCES}
    hit = np.concatenate([pad(p[1], False) for p in parts])
    return View(name, norm, hit, np.concatenate([p[2] for p in parts]))


def _view_chunk(holdout: Holdout, config: TuningConfig, name: str, codes: np.ndarray):
    """(norm per source, hit, n_truth) of some validation users, their pools cut to each source's best."""
    st = holdout.state
    # every source scores every candidate: none may be left out of the pool for a zero weight
    everything = config.replace(weights={m: 1.0 for m in SOURCES}, newcomers={"weights": {m: 1.0 for m in SOURCES}})
    builder, pipe = BatchBuilder(st), RequestPipeline(st)
    as_of = np.full(len(codes), holdout.cutoff, dtype=np.int64)
    if name == "newcomers":
        batch = builder.build(np.full(len(codes), -1), as_of, everything, extra=holdout.last_baskets(codes),
                              segments=st.profiles["segment_code"].to_numpy(np.int8)[codes],
                              avg_price=builder.avg_price_for(codes))
    else:
        batch = builder.build(codes, as_of, everything)
    hard = HardFilters(exclude_purchased=name == "new_to_user")
    pool = pipe.candidates(batch, "hybrid", everything, hard)
    raw = pipe.scores(batch, pool, "hybrid", everything)
    keep, _ = filter_candidates(pipe.facts(batch, pool.items), everything.rerank, hard, st.segment_caps)
    truth = holdout.truth_of(codes)
    if name == "new_to_user":
        # the truth of discovery lists: what they bought in the window and never before
        past = np.unique(batch.line_row * st.n_items + batch.line_item)
        truth = truth[~np.isin(truth, past)]
    # items the refitted models never saw are new to every customer: they count in both truths
    n_truth = np.bincount((truth // st.n_items).astype(np.int64), minlength=len(codes)) + holdout.unseen_of(codes)
    served = n_truth > 0
    if name != "newcomers":
        # customers with a single trip get the newcomer blend when served: they are fitted there
        # (their last basket is their whole history), not here
        served &= ~batch.newcomer
    rows = np.flatnonzero(served)
    if not len(rows):
        return None
    norm = {m: np.where(keep, normalise_scores(raw[m]), -1.0)[rows] for m in SOURCES}
    # the union of every source's best candidates, each once
    k = min(TOP_PER_SOURCE, pool.items.shape[1])
    cols = np.sort(np.concatenate([np.argpartition(-norm[m], k - 1, axis=1)[:, :k] for m in SOURCES], axis=1), axis=1)
    repeated = np.zeros(cols.shape, bool)
    repeated[:, 1:] = cols[:, 1:] == cols[:, :-1]
    items = np.take_along_axis(pool.items[rows], cols, axis=1)
    keys = rows[:, None].astype(np.int64) * st.n_items + np.maximum(items, 0)
    cut = {m: np.where(repeated, -1.0, np.take_along_axis(v, cols, axis=1)) for m, v in norm.items()}
    hit = np.isin(keys, truth) & (np.take_along_axis(keep[rows], cols, axis=1)) & ~repeated
    return cut, hit, n_truth[rows]


def ndcg_table(view: View, grid: list[dict[str, float]], cells: int = 4_000_000) -> np.ndarray:
    """(grid points, users) NDCG@10 of every weighting, a few weightings at a time (bounded memory)."""
    step = max(1, cells // max(view.hit.size, 1))
    return np.concatenate([view.ndcg_many(grid[lo:lo + step]) for lo in range(0, len(grid), step)])


def best_weights(table: np.ndarray, grid: list[dict[str, float]], users: np.ndarray | None = None,
                 resamples: int = BAGS, seed: int = 0) -> dict[str, float]:
    """The weights with the highest mean NDCG@10 (on some users only, if given), averaged over
    bootstrap resamples of the users: with a few dozen customers the single best grid point is
    mostly noise, the average of the resamples' best points is steadier."""
    sub = table if users is None else table[:, users]
    if sub.shape[1] == 0:
        return grid[0]
    rng = np.random.default_rng(seed)
    picks = [int(np.argmax(sub.mean(axis=1)))]
    for _ in range(resamples):  # a few dozen resamples of a (grid, users) table
        idx = rng.integers(0, sub.shape[1], sub.shape[1])
        picks.append(int(np.argmax(sub[:, idx].mean(axis=1))))
    return {m: round(float(np.mean([grid[p][m] for p in picks])), 4) for m in grid[0]}


def cross_fitted(view: View, table: np.ndarray, grid: list[dict[str, float]], seed: int = 0) -> np.ndarray:
    """Per-user NDCG@10 of weights chosen on the other half of the users: an honest estimate of
    the fitted blend, not the in-sample best."""
    n = table.shape[1]
    fold = np.random.default_rng(seed).permutation(n) % 2
    out = np.empty(n)
    for f in (0, 1):
        out[fold == f] = view.ndcg(best_weights(table, grid, np.flatnonzero(fold != f)))[fold == f]
    return out


def repeat_share(holdout: Holdout) -> float:
    """Share of the window's (user, item) purchases that the user had bought before."""
    st = holdout.state
    if not len(holdout.truth):
        return 0.0
    users = holdout.truth // st.n_items
    rows, idx = gather_ranges(st.line_ptr[users], st.line_ptr[users + 1])
    past = np.unique(users[rows] * st.n_items + st.line_item[idx])
    return float(np.isin(holdout.truth, past).mean())


def rule_weights(share: float) -> HybridWeights:
    return REPEAT_LED if share >= REPEAT_SHARE_CUT else DISCOVERY_LED


def fit_hybrid(holdout: Holdout | None, config: TuningConfig) -> HybridFit:
    """Choose the hybrid's weights for this store from its validation window."""
    if holdout is None:
        # nothing to measure the store by: the blend that leans on no single signal
        return HybridFit("rule: too little history for a validation window", DISCOVERY_LED.as_dict(),
                         DISCOVERY_LED.as_dict(), DISCOVERY.as_dict(), float("nan"))
    share = repeat_share(holdout)
    grid = simplex_grid()
    views = {name: build_view(holdout, config, name) for name in ("loyal", "new_to_user", "newcomers")}
    loyal = views["loyal"]
    if loyal is None or len(loyal.n_truth) < MIN_USERS:
        w = rule_weights(share)
        return HybridFit(f"rule: fewer than {MIN_USERS} validation customers (repeat share {share:.0%})",
                         w.as_dict(), DISCOVERY_LED.as_dict(), DISCOVERY.as_dict(), share)
    tables = {name: ndcg_table(v, grid) for name, v in views.items() if v is not None and len(v.n_truth) >= MIN_USERS}
    weights = best_weights(tables["loyal"], grid)
    new_weights = best_weights(tables["newcomers"], grid) if "newcomers" in tables else DISCOVERY_LED.as_dict()
    found = best_weights(tables["new_to_user"], grid) if "new_to_user" in tables else DISCOVERY.as_dict()
    found = found if sum(v for m, v in found.items() if m != "repeat") > 0 else DISCOVERY.as_dict()
    fit = HybridFit("fitted on validation", weights, new_weights, found, share)
    chosen_for = {"loyal": weights, "newcomers": new_weights, "new_to_user": found}
    for name, view in views.items():
        if view is None:
            continue
        singles = {m: view.ndcg({m: 1.0}) for m in SOURCES if name != "new_to_user" or m != "repeat"}
        chosen = chosen_for[name]
        honest = cross_fitted(view, tables[name], grid) if name in tables else view.ndcg(chosen)
        fit.validation[name] = {**{m: round(float(v.mean()), 4) for m, v in singles.items()},
                                "hybrid (fitted, cross-validated)": round(float(honest.mean()), 4),
                                "hybrid (fitted, in sample)": round(float(view.ndcg(chosen).mean()), 4)}
        best = max(singles, key=lambda m: singles[m].mean())
        b = paired_bootstrap(honest, singles[best])
        fit.significance[name] = {"against": best, "diff": round(b.mean_diff, 4), "ci_low": round(b.ci_low, 4),
                                  "ci_high": round(b.ci_high, 4)}
        fit.users[name] = int(len(view.n_truth))
    return fit


def apply_fit(config: TuningConfig, fit: HybridFit) -> TuningConfig:
    """The config whose hybrid weights are the fitted ones (the sliders start from them)."""
    return config.replace(weights=fit.weights, newcomers={"weights": fit.newcomer_weights},
                          discovery=fit.discovery_weights)
