"""A/B: two configurations of the same trained models, side by side on the same customers.

Both are asked, through the ranking core every answer goes through (`ListMaker`), for the
customers of the bundle's validation window (`recsys.analysis.window`: the models refitted on the
days before the window's last 28 days, nothing retrained per configuration), at the window's
start; their top-10s are scored against what each customer then bought. Per customer: NDCG@10
and recall@10 (all items, and items new to the customer), the share of new items, the average
price of the list and that price over the customer's usual one, the expected revenue of the list
(sum of confidence x price, the confidence calibrated at training on this very window), novelty
and diversity; over the customers: catalogue and distributional coverage. Every difference B - A
has a paired-bootstrap 95 % interval over customers (`recsys.evaluation.significance`), overall
and per spending segment; the lists' overlap is the mean Jaccard index of the two top-10s, and the
customers whose lists differ most are shown with both lists and the reason of every item.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy import sparse

from recsys.analysis.window import Window, window_for
from recsys.bundles.configs import NamedConfig
from recsys.config import SEGMENTS, TuningConfig, retrain_reasons
from recsys.evaluation import beyond
from recsys.evaluation.metrics import ranking_metrics, relevance
from recsys.evaluation.significance import bootstrap_statistic, paired_bootstrap
from recsys.serving.lists import ListMaker, ListRequest
from recsys.serving.service import Recommender

K = 10
N_BOOT = 2000
DIFFERING = 5     # customers whose lists differ most, shown side by side
ALL = "all"       # the group of every customer (the others are spending segments)


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    fmt: str          # how a value is printed: "{:.3f}" ...
    per_user: bool    # a mean over customers (False: a statistic of all the lists together)
    help: str


MEASURES = (
    Measure("ndcg@10", "NDCG@10, all items", "{:.3f}", True,
            "ranking quality of the list against what the customer bought"),
    Measure("recall@10", "Recall@10, all items", "{:.3f}", True,
            "share of what the customer bought that the list holds"),
    Measure("ndcg@10_new", "NDCG@10, new to the customer", "{:.3f}", True,
            "the list without the customer's past items, against what they bought for the first time"),
    Measure("recall@10_new", "Recall@10, new to the customer", "{:.3f}", True,
            "share of the customer's first-time purchases the discovery list holds"),
    Measure("new_share", "Share of items new to the customer", "{:.1%}", True,
            "items of the list the customer never bought before"),
    Measure("avg_price", "Average price of a listed item", "{:.2f}", True, "mean price of the list's items"),
    Measure("price_vs_usual", "List price / the customer's usual price", "{:.2f}", True,
            "the list's average price over the customer's average item price (1 = as usual)"),
    Measure("expected_revenue", "Expected revenue of a list", "{:.2f}", True,
            "sum over the list of confidence x price: what the list is expected to sell within 28 days"),
    Measure("coverage", "Catalogue coverage", "{:.1%}", False, "distinct items shown / items of the catalogue"),
    Measure("dist_coverage", "Distributional coverage (bits)", "{:.2f}", False,
            "entropy of how often each item is shown: higher = shows spread over more items"),
    Measure("novelty", "Novelty (bits)", "{:.2f}", True, "mean -log2 of an item's share of the store's buyers"),
    Measure("diversity", "Diversity within a list", "{:.3f}", True,
            "1 - mean co-purchase cosine of the list's item pairs"),
)
BY_KEY = {m.key: m for m in MEASURES}


@dataclass
class Lists:
    """One configuration's top-k for every window customer: all items, and new to the customer."""

    items: np.ndarray        # (users, k) item codes, -1 where the list is shorter
    confidence: np.ndarray   # (users, k)
    new_items: np.ndarray    # (users, k) the discovery lists (the customer's past items left out)


@dataclass
class Comparison:
    """What `compare_configs` found: one row per group (all, segments) and measure, the lists'
    overlap, the customers whose lists differ most, and what was compared on what."""

    a: str
    b: str
    table: pd.DataFrame                  # group, measure, a, b, diff, ci_low, ci_high, p_value, users
    overlap: dict[str, float]            # group -> mean Jaccard of the two top-10s
    differing: list[dict[str, Any]]      # user_id, segment, jaccard, rows (both lists with reasons)
    window: dict[str, Any]
    changes: list[str] = field(default_factory=list)   # the knobs B sets differently from A
    info: dict[str, Any] = field(default_factory=dict)

    def row(self, measure: str, group: str = ALL) -> dict[str, Any]:
        t = self.table
        hit = t[(t["measure"] == measure) & (t["group"] == group)]
        if hit.empty:
            raise KeyError(f"no {measure!r} for {group!r} in this comparison")
        return hit.iloc[0].to_dict()

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(self.table["group"]))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per measure A, B, diff (B - A) and its CI, overall and per segment; overlap."""
        measures: dict[str, Any] = {}
        for m in MEASURES:
            part = self.table[self.table["measure"] == m.key]
            if part.empty:
                continue
            cells = {g: _cell(r) for g, r in zip(part["group"], part.to_dict(orient="records"))}
            measures[m.key] = {"label": m.label, "overall": cells.pop(ALL, None), "segments": cells}
        return {"a": self.a, "b": self.b, "changes": self.changes, "window": self.window, "measures": measures,
                "overlap": self.overlap.get(ALL),
                "overlap_segments": {g: v for g, v in self.overlap.items() if g != ALL},
                "differing": self.differing, "info": self.info}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Comparison":
        rows = []
        for key, m in d["measures"].items():
            cells = {ALL: m["overall"], **m.get("segments", {})}
            rows += [{"group": g, "measure": key, **c} for g, c in cells.items() if c is not None]
        table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
        overlap = {ALL: d.get("overlap"), **d.get("overlap_segments", {})}
        return cls(d["a"], d["b"], table, overlap, d.get("differing", []), d.get("window", {}), d.get("changes", []),
                   d.get("info", {}))


TABLE_COLUMNS = ["group", "measure", "a", "b", "diff", "ci_low", "ci_high", "p_value", "users"]


def _cell(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in TABLE_COLUMNS[2:]}
    out["users"] = int(out["users"])
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in out.items()}


# ---- the comparison ----------------------------------------------------------------------

def compare_configs(rec: Recommender, a: NamedConfig | TuningConfig, b: NamedConfig | TuningConfig,
                    artifacts: str | Path | None = None, progress: Callable[[str, float], None] | None = None,
                    n_boot: int = N_BOOT, seed: int = 0, model: str = "hybrid") -> Comparison:
    """A (e.g. the trained config) against B on the bundle's validation window: see the module doc.

    ValueError when a configuration needs a retrain or the data has too little history."""
    say = progress or (lambda message, fraction: None)
    a, b = _named(a, "A"), _named(b, "B")
    for side in (a, b):
        reasons = retrain_reasons(rec.config, side.config)
        if reasons:
            raise ValueError(f"configuration {side.name!r} needs a retrain ({'; '.join(reasons)}): "
                             "a comparison never retrains")
    window = window_for(rec, artifacts, lambda m, f: say(m, 0.6 * f))
    core = ListMaker(window.state)
    say(f"lists of A ({a.name}) for {window.users:,} customers", 0.62)
    lists_a = lists_for(core, window, a.config, model)
    say(f"lists of B ({b.name})", 0.7)
    lists_b = lists_for(core, window, b.config, model)
    say("scoring both against what the customers then bought", 0.78)
    facts = WindowFacts.of(window, core)
    per_a, per_b = facts.measures(lists_a), facts.measures(lists_b)
    segments = facts.segments
    groups = [ALL] + [s for s in SEGMENTS if (segments == s).any()]
    say(f"paired bootstrap ({n_boot:,} resamples) per measure and segment", 0.85)
    rows = []
    for group in groups:
        mask = np.ones(len(segments), bool) if group == ALL else segments == group
        for m in MEASURES:
            if m.per_user:
                rows.append(_user_row(group, m.key, per_a[m.key][mask], per_b[m.key][mask], n_boot, seed))
            else:
                rows.append(_group_row(group, m.key, lists_a.items[mask], lists_b.items[mask], window.state.n_items,
                                       n_boot, seed))
    jac = jaccard(lists_a.items, lists_b.items)
    overlap = {g: float(np.mean(jac if g == ALL else jac[segments == g])) for g in groups}
    say("the customers whose lists differ most, with reasons", 0.95)
    differing = most_different(core, window, facts, a, b, lists_a, lists_b, jac, per_a, per_b, model)
    return Comparison(a.name, b.name, pd.DataFrame(rows, columns=TABLE_COLUMNS), overlap, differing,
                      window.describe(), knob_changes(a.config, b.config),
                      {"k": K, "n_boot": n_boot, "model": model, "origin_a": a.origin, "origin_b": b.origin,
                       "calibrated": rec.state.calibrator is not None})


def _named(c: NamedConfig | TuningConfig, default: str) -> NamedConfig:
    return c if isinstance(c, NamedConfig) else NamedConfig(default, c.validate(), "given")


def lists_for(core: ListMaker, window: Window, config: TuningConfig, model: str = "hybrid", k: int = K) -> Lists:
    """The configuration's top-k (all items, and new to the customer) of every window customer."""
    codes = window.holdout.codes
    as_of = np.full(len(codes), window.holdout.cutoff, dtype=np.int64)
    out = []
    for exclude in (False, True):
        items = np.full((len(codes), k), -1, dtype=np.int64)
        conf = np.zeros((len(codes), k))
        for lo, parts in core.lists_in_chunks(codes, as_of, ListRequest(k, model, exclude), config, reasons=False):
            for part in parts:
                valid = part.ranked.valid
                rows = lo + part.rows
                items[rows] = np.where(valid, part.ranked.items, -1)
                conf[rows] = np.where(valid, part.confidence, 0.0)
        out.append((items, conf))
    return Lists(out[0][0], out[0][1], out[1][0])


@dataclass
class WindowFacts:
    """What the customers of a window bought after its start and before it, their usual price
    and segment: shared by both configurations' measures."""

    truth: sparse.csr_matrix       # (users, items) bought in the window
    truth_new: sparse.csr_matrix   # ... and never before it
    known: sparse.csr_matrix       # (users, items) bought before it
    n_truth: np.ndarray            # distinct items bought in the window (items the models never saw included)
    n_truth_new: np.ndarray
    usual_price: np.ndarray        # (users,) average item price before the window
    segments: np.ndarray           # (users,) spending segment before the window
    item_price: np.ndarray         # (items,)
    buyers: np.ndarray             # (items,) distinct customers before the window
    purchases: sparse.csr_matrix   # (customers, items)

    @classmethod
    def of(cls, window: Window, core: ListMaker) -> "WindowFacts":
        h, st = window.holdout, window.state
        codes = h.codes
        keys = h.truth_of(codes)
        n = st.n_items
        truth = sparse.csr_matrix((np.ones(len(keys), np.int8), (keys // n, keys % n)), shape=(len(codes), n))
        known = window.purchases[codes]
        truth_new = (truth - truth.multiply(known)).tocsr()
        truth_new.eliminate_zeros()
        unseen = h.unseen_of(codes)
        prof = st.profiles
        usual = prof["avg_item_price"].to_numpy(np.float64)[codes]
        return cls(truth, truth_new, known, np.diff(truth.indptr) + unseen, np.diff(truth_new.indptr) + unseen,
                   np.where(usual > 0, usual, np.nan), prof["spending_segment"].to_numpy(dtype=object)[codes],
                   core.pipeline.item_price, beyond.item_buyers(window.purchases), window.purchases)

    def measures(self, lists: Lists) -> dict[str, np.ndarray]:
        """Every per-customer measure of one configuration's lists (NaN where it does not apply)."""
        items, valid = lists.items, lists.items >= 0
        rel, _ = relevance(items, self.truth)
        acc = ranking_metrics(rel, self.n_truth, (K,))
        rel_new, _ = relevance(lists.new_items, self.truth_new)
        acc_new = ranking_metrics(rel_new, self.n_truth_new, (K,))
        has_new = self.n_truth_new > 0
        bought_before, _ = relevance(items, self.known)
        shown = valid.sum(axis=1)
        price = np.where(valid, self.item_price[np.maximum(items, 0)], 0.0)
        avg_price = np.divide(price.sum(axis=1), shown, out=np.full(len(items), np.nan), where=shown > 0)
        return {
            "ndcg@10": acc[f"ndcg@{K}"], "recall@10": acc[f"recall@{K}"],
            "ndcg@10_new": np.where(has_new, acc_new[f"ndcg@{K}"], np.nan),
            "recall@10_new": np.where(has_new, acc_new[f"recall@{K}"], np.nan),
            "new_share": np.divide((valid & ~bought_before).sum(axis=1), shown, out=np.full(len(items), np.nan),
                                   where=shown > 0),
            "avg_price": avg_price, "price_vs_usual": avg_price / self.usual_price,
            "expected_revenue": (lists.confidence * price).sum(axis=1),
            "novelty": beyond.novelty(items, self.buyers), "diversity": beyond.diversity(items, self.purchases),
        }


def _user_row(group: str, key: str, a: np.ndarray, b: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    ok = np.isfinite(a) & np.isfinite(b)
    r = paired_bootstrap(b[ok], a[ok], n_boot=n_boot, seed=seed)
    mean_a, mean_b = (float(v[ok].mean()) if ok.any() else float("nan") for v in (a, b))
    return {"group": group, "measure": key, "a": mean_a, "b": mean_b, "diff": r.mean_diff, "ci_low": r.ci_low,
            "ci_high": r.ci_high, "p_value": r.p_value, "users": int(ok.sum())}


def _group_row(group: str, key: str, items_a: np.ndarray, items_b: np.ndarray, n_items: int, n_boot: int,
               seed: int) -> dict[str, Any]:
    """Coverage (or its entropy) of B minus A, bootstrapped over the group's customers."""
    shown = np.union1d(beyond.shown_items(items_a)[0], beyond.shown_items(items_b)[0])
    inc_a, inc_b = _incidence(items_a, shown), _incidence(items_b, shown)

    def of(counts: np.ndarray) -> np.ndarray:
        return beyond.coverage_of_counts(counts, n_items) if key == "coverage" else beyond.entropy_of_counts(counts)

    def shows(w: np.ndarray, inc: sparse.csr_matrix) -> np.ndarray:
        """(resamples, shown items) how often each item is shown in each resample."""
        return np.asarray(inc.T @ w.T).T

    def statistic(w: np.ndarray) -> np.ndarray:
        return of(shows(w, inc_b)) - of(shows(w, inc_a))

    r = bootstrap_statistic(statistic, len(items_a), n_boot=n_boot, seed=seed)
    ones = np.ones((1, len(items_a)))
    value_a, value_b = (float(of(shows(ones, inc))[0]) if len(items_a) else float("nan") for inc in (inc_a, inc_b))
    return {"group": group, "measure": key, "a": value_a, "b": value_b, "diff": r.mean_diff,
            "ci_low": r.ci_low, "ci_high": r.ci_high, "p_value": r.p_value, "users": len(items_a)}


def _incidence(items: np.ndarray, shown: np.ndarray) -> sparse.csr_matrix:
    """(users, len(shown)) how often each shown item is in each customer's list (0 or 1)."""
    r, j = np.nonzero(items >= 0)
    return sparse.csr_matrix((np.ones(len(r)), (r, np.searchsorted(shown, items[r, j]))),
                             shape=(len(items), len(shown)))


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row: |A and B| / |A or B| of two (users, k) lists of item codes (-1 = none; 1 when both empty)."""
    va, vb = a >= 0, b >= 0
    both = ((a[:, :, None] == b[:, None, :]) & va[:, :, None] & vb[:, None, :]).any(axis=2).sum(axis=1)
    union = va.sum(axis=1) + vb.sum(axis=1) - both
    return np.divide(both, union, out=np.ones(len(a)), where=union > 0)


def knob_changes(a: TuningConfig, b: TuningConfig) -> list[str]:
    """'rerank.upsell_factor: 0.0 -> 1.0' for every knob B sets differently from A."""
    fa, fb = _flat(a.to_dict()), _flat(b.to_dict())
    return [f"{k}: {_show(fa.get(k))} -> {_show(fb.get(k))}" for k in fa if fa.get(k) != fb.get(k)]


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _show(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


# ---- the customers whose lists differ most -----------------------------------------------

def most_different(core: ListMaker, window: Window, facts: WindowFacts, a: NamedConfig, b: NamedConfig,
                   lists_a: Lists, lists_b: Lists, jac: np.ndarray, per_a: dict[str, np.ndarray],
                   per_b: dict[str, np.ndarray], model: str, n: int = DIFFERING) -> list[dict[str, Any]]:
    """The `n` customers with the least overlap (then the largest change in expected revenue; none
    whose lists are the same), with both lists item by item: id, name, price, confidence, reason,
    and whether they bought it."""
    gain = np.abs(np.nan_to_num(per_b["expected_revenue"] - per_a["expected_revenue"]))
    pick = np.lexsort((-gain, jac))[:n]
    pick = pick[jac[pick] < 1]
    codes = window.holdout.codes[pick]
    as_of = np.full(len(pick), window.holdout.cutoff, dtype=np.int64)
    request = ListRequest(K, model)
    sides = [_explained(core, codes, as_of, request, c.config) for c in (a, b)]
    st = window.state
    out = []
    for row, (u, code) in enumerate(zip(pick, codes)):
        bought = set(facts.truth[u].indices.tolist())
        entries = []
        for rank in range(K):
            entry: dict[str, Any] = {"rank": rank + 1}
            for tag, (items, conf, reasons) in zip(("a", "b"), sides):
                item = int(items[row, rank])
                if item < 0:
                    continue
                other = sides[1 if tag == "a" else 0][0][row]
                entry.update({f"{tag}_item": str(st.item_ids[item]), f"{tag}_name": str(core.item_name[item]),
                              f"{tag}_price": round(float(facts.item_price[item]), 2),
                              f"{tag}_confidence": round(float(conf[row, rank]), 4),
                              f"{tag}_reason": str(reasons[row, rank]), f"{tag}_in_both": bool((other == item).any()),
                              f"{tag}_bought": item in bought})
            entries.append(entry)
        out.append({"user_id": str(st.user_ids[code]), "segment": str(facts.segments[u]),
                    "jaccard": round(float(jac[u]), 4), "usual_price": _finite(facts.usual_price[u]),
                    "expected_revenue_a": round(float(per_a["expected_revenue"][u]), 2),
                    "expected_revenue_b": round(float(per_b["expected_revenue"][u]), 2),
                    "bought_in_window": int(facts.n_truth[u]), "rows": entries})
    return out


def _finite(v: float) -> float | None:
    return round(float(v), 2) if np.isfinite(v) else None


def _explained(core: ListMaker, codes: np.ndarray, as_of: np.ndarray, request: ListRequest,
               config: TuningConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(items, confidence, reasons) of a few customers, with reasons."""
    items = np.full((len(codes), request.n), -1, dtype=np.int64)
    conf = np.zeros((len(codes), request.n))
    reasons = np.full((len(codes), request.n), "", dtype=object)
    for part in core.lists(codes, as_of, request, config):
        valid = part.ranked.valid
        items[part.rows] = np.where(valid, part.ranked.items, -1)
        conf[part.rows] = part.confidence
        reasons[part.rows] = np.where(valid, part.reasons, "")
    return items, conf, reasons
