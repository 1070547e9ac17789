"""Recommendation quality per store: the product's hybrid against its single models and baselines.

    python -m benchmarks.quality [--stores workbook,lowrepeat,tafeng] [--windows N] [--sample-users N]
                                 [--json out.json] [--write-readme] [--readme-only]

Stores (``benchmarks.datasets``): ``workbook`` (the real workbook in ../shared/data), ``tafeng``
(fetched on demand into .cache/datasets), ``lowrepeat`` (a synthetic store whose customers rarely
rebuy, like Ta Feng), ``demo`` (the dashboard's synthetic store).  Every store is cleaned by the
product's cleaning.

Protocol (``recsys.evaluation.protocol``), NDCG@10:

* test window: the last 28 days; loyal customers with lines on both sides of the cutoff, asked at
  the cutoff, in mode "all" (repeats count) and "new" (items new to the customer); new customers
  (history = their first basket) where the store has them;
* validation windows: ``rolling_windows`` inside the training data (never the test window), modes
  "all" and "new"; their per-user values are pooled over the windows.

Models: the product trained by its default ``recsys.train`` on each split's training frame
(``recsys.analysis.report.default_models``: one training serves the hybrid and every single
model, asked with ``model=``), the baselines buy again (60-day half-life), popularity (baskets)
and TIFU-KNN (the paper's parameters for Ta Feng; cosine and Euclidean neighbours).  Per scenario: the hybrid against the best baseline, the best other model and
popularity, as paired-bootstrap 95 % CIs of the NDCG@10 difference.

Beyond accuracy (``recsys.evaluation.beyond``, microsoft/recommenders' definitions), next to NDCG for
every model in every row: catalogue coverage, distributional coverage (bits), novelty (bits) and
diversity of the top-10s (validation windows: per-user values pooled, coverage averaged over them).

Results are merged, per store, into ``benchmarks/results/quality.json`` (git-ignored);
``--write-readme`` regenerates the block between ``<!-- quality:start -->`` and
``<!-- quality:end -->`` in README.md from that JSON (``--readme-only``: without running).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.datasets import STORES, load_store, repeat_share

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "quality.json"
README = ROOT / "README.md"
START, END = "<!-- quality:start -->", "<!-- quality:end -->"
COMMAND = "python -m benchmarks.quality --stores workbook,lowrepeat,tafeng --write-readme"
METRIC = "ndcg@10"
BEYOND = {"coverage@10": "coverage", "dist_coverage@10": "dist. coverage (bits)", "novelty@10": "novelty (bits)",
          "diversity@10": "diversity"}
PER_USER_BEYOND = ("novelty@10", "diversity@10")
TEST_DAYS = 28
DEFAULT_WINDOWS = {"workbook": 4, "tafeng": 2, "lowrepeat": 2, "demo": 4}
HYBRID, POPULARITY = "hybrid", "baseline: popularity"
BASELINE_PREFIX = "baseline: "
SCENARIO_LABELS = {("test", "loyal", "all"): "test: loyal, all items",
                   ("test", "loyal", "new"): "test: loyal, new to the customer",
                   ("test", "new_customers", "all"): "test: new customers (first basket)",
                   ("validation", "loyal", "all"): "validation: all items",
                   ("validation", "loyal", "new"): "validation: new to the customer"}


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# TIFU-KNN settings the tuned baseline chooses from: the paper's for Ta Feng, neighbour-heavy
# (k = 300 neighbours, alpha 0.1, group decay 0.9, groups of 11), and many neighbours with the
# paper's alpha
TIFU_SETTINGS = {"paper": {}, "neighbour-heavy": dict(group_size=11, within_decay=0.9, group_decay=0.9, alpha=0.1),
                 "k300 alpha 0.7": dict(group_size=11, within_decay=0.9, group_decay=0.9, alpha=0.7)}


class TunedTIFUKNN:
    """TIFU-KNN with its settings chosen per split as the product's are: on a validation window cut
    from the split's own training frame (its last 28 days, NDCG@10 over all items), then refitted
    on the whole training frame. The split's test window is never read to choose."""

    name = "tifu_knn(tuned)"

    def __init__(self, settings: dict[str, dict] = TIFU_SETTINGS, metric: str = "cosine") -> None:
        self.settings, self.metric = settings, metric

    def fit(self, train: pd.DataFrame) -> "TunedTIFUKNN":
        from recsys.evaluation.baselines import TIFUKNN
        from recsys.evaluation.protocol import evaluate
        from recsys.evaluation.splits import make_loyal_split

        scores = {}
        try:
            window = make_loyal_split(train, TEST_DAYS)
        except Exception:  # noqa: BLE001 (too little history to cut a window: the paper's settings)
            window = None
        if window is not None and len(window):
            for label, kw in self.settings.items():
                scores[label] = evaluate(TIFUKNN(metric=self.metric, **kw), window, k=(10,))[METRIC]
        self.chosen_ = max(scores, key=scores.get) if scores else "paper"
        self.validation_ = scores
        self.model_ = TIFUKNN(metric=self.metric, **self.settings[self.chosen_]).fit(train)
        return self

    def recommend(self, user_ids, as_of=None, n: int = 10, exclude=None):
        return self.model_.recommend(user_ids, as_of=as_of, n=n, exclude=exclude)


def models() -> dict[str, Any]:
    """The product (one training per split, shared by its models) and the baselines."""
    from recsys.analysis.report import default_models
    from recsys.evaluation.baselines import TIFUKNN

    out = default_models()
    # both neighbour metrics: cosine, and Euclidean as in the authors' code (on Ta Feng's test
    # window it is stronger on items new to the customer, a tie on its validation window)
    out["baseline: TIFU-KNN"] = TIFUKNN()
    out["baseline: TIFU-KNN (Euclidean)"] = TIFUKNN(metric="euclidean")
    out["baseline: TIFU-KNN (tuned)"] = TunedTIFUKNN()
    return out


def sample_split(split, n: int | None, seed: int = 0):
    """The split with at most ``n`` of its test users (a fixed random sample; training unchanged)."""
    if n is None or len(split) <= n:
        return split
    idx = np.sort(np.random.default_rng(seed).choice(len(split), n, replace=False))
    return dataclasses.replace(split, users=split.users[idx], as_of=split.as_of[idx],
                               truth=tuple(split.truth[i] for i in idx),
                               known=tuple(split.known[i] for i in idx),
                               info={**split.info, "sampled_from": len(split)})


def evaluate_split(split, modes: tuple[str, ...], key: str) -> dict[str, dict[str, Any]]:
    """{mode: {model: EvalResult}}: every model fitted once on the split, scored in each mode."""
    from recsys.evaluation.protocol import evaluate_all

    out: dict[str, dict[str, Any]] = {m: {} for m in modes}
    for name, model in models().items():
        t0 = time.perf_counter()
        _, results = evaluate_all({name: model}, splits={key: split}, scenarios=[(key, m) for m in modes],
                                  k=(10,), return_results=True)
        for mode in modes:
            out[mode][name] = results[(name, key, mode)]
        values = ", ".join(f"{m} {out[m][name][METRIC]:.3f}" for m in modes)
        say(f"  {split.name}: {name:<22} {values}  ({time.perf_counter() - t0:.0f} s)")
    return out


def _bootstrap(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    from recsys.evaluation.significance import paired_bootstrap

    r = paired_bootstrap(a, b, n_boot=2000, seed=0)
    return {"diff": r.mean_diff, "ci_low": r.ci_low, "ci_high": r.ci_high, "p_value": r.p_value}


def summarise(per_user: dict[str, np.ndarray], n_users_total: int, where: dict[str, Any],
              beyond: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """One scenario's row: each model's NDCG@10 and the hybrid's CIs against the best others
    (and, when given, each model's beyond-accuracy measures)."""
    scores = {m: float(v.mean()) if len(v) else float("nan") for m, v in per_user.items()}
    others = [m for m in scores if m != HYBRID]
    baselines = [m for m in others if m.startswith(BASELINE_PREFIX)]
    best_other = max(others, key=lambda m: scores[m])
    best_baseline = max(baselines, key=lambda m: scores[m])
    hybrid = per_user[HYBRID]
    return {**where, "n_users": int(len(hybrid)), "n_users_total": int(n_users_total), METRIC: scores,
            "best_other": best_other, "best_baseline": best_baseline,
            "vs_best_other": _bootstrap(hybrid, per_user[best_other]),
            "vs_best_baseline": _bootstrap(hybrid, per_user[best_baseline]),
            "vs_popularity": _bootstrap(hybrid, per_user[POPULARITY]),
            **({"beyond": beyond} if beyond is not None else {})}


def _beyond(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{model: {measure: value}} of one split's results (their summaries)."""
    return {m: {k: _finite(r.summary.get(k)) for k in BEYOND} for m, r in results.items()}


def _pooled_beyond(windows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Beyond accuracy over validation windows: per-user measures pooled, coverage averaged."""
    out: dict[str, dict[str, float]] = {}
    for model in windows[0]:
        rs = [w[model] for w in windows]
        row = {}
        for k in BEYOND:
            if k in PER_USER_BEYOND:
                values = np.concatenate([np.asarray(r.per_user.get(k, []), dtype=float) for r in rs])
                row[k] = _finite(np.nanmean(values)) if np.isfinite(values).any() else None
            else:
                row[k] = _finite(np.mean([r.summary.get(k, np.nan) for r in rs]))
        out[model] = row
    return out


def _finite(v: Any) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def _per_user(results: dict[str, Any]) -> dict[str, np.ndarray]:
    users = {m: r.users.astype(str) for m, r in results.items()}
    first = next(iter(users.values()))
    assert all(np.array_equal(u, first) for u in users.values()), "models scored different users"
    return {m: np.asarray(r.per_user[METRIC], dtype=float) for m, r in results.items()}


def run_store(name: str, windows: int | None, sample_users: int | None) -> dict[str, Any]:
    """Every scenario of one store: test window, new customers and validation windows."""
    from recsys.evaluation.splits import make_loyal_split, make_new_customer_split, rolling_windows
    from recsys.io.schema import CUSTOMER_TYPE, ITEM_ID, TIMESTAMP, USER_ID

    t0 = time.perf_counter()
    df = load_store(name)
    n_windows = DEFAULT_WINDOWS.get(name, 2) if windows is None else windows
    loyal = make_loyal_split(df, TEST_DAYS)
    info = {"lines": len(df), "customers": int(df[USER_ID].nunique()), "items": int(df[ITEM_ID].nunique()),
            "first_day": str(df[TIMESTAMP].min().date()), "last_day": str(df[TIMESTAMP].max().date()),
            "cutoff": str(loyal.cutoff.date()), "loyal_test_users": len(loyal),
            "repeat_share": round(repeat_share(loyal), 4), "windows": n_windows, "sample_users": sample_users}
    say(f"{name}: {info}")
    rows = []
    for mode, res in evaluate_split(sample_split(loyal, sample_users), ("all", "new"), "loyal").items():
        rows.append(summarise(_per_user(res), len(loyal.view(mode)),
                              {"split": "test", "scenario": "loyal", "mode": mode}, _beyond(res)))
    if CUSTOMER_TYPE in df.columns and (df[CUSTOMER_TYPE] == "new").any():
        newc = make_new_customer_split(df)
        if len(newc):
            res = evaluate_split(sample_split(newc, sample_users), ("all",), "new_customers")["all"]
            rows.append(summarise(_per_user(res), len(newc),
                                  {"split": "test", "scenario": "new_customers", "mode": "all"}, _beyond(res)))
    pooled: dict[str, dict[str, list]] = {"all": {}, "new": {}}
    window_results: dict[str, list] = {"all": [], "new": []}
    totals = {"all": 0, "new": 0}
    used = 0
    for window in rolling_windows(df, n_windows, TEST_DAYS):
        used += 1
        for mode, res in evaluate_split(sample_split(window, sample_users), ("all", "new"), "loyal").items():
            totals[mode] += len(window.view(mode))
            window_results[mode].append(res)
            for model, values in _per_user(res).items():
                pooled[mode].setdefault(model, []).append(values)
    for mode in ("all", "new"):
        if pooled[mode]:
            per_user = {m: np.concatenate(v) for m, v in pooled[mode].items()}
            rows.append(summarise(per_user, totals[mode], {"split": "validation", "scenario": "loyal",
                                                           "mode": mode, "windows": used},
                                  _pooled_beyond(window_results[mode])))
    info["windows"] = used
    info["seconds"] = round(time.perf_counter() - t0, 1)
    say(f"{name}: done in {info['seconds']:.0f} s")
    return {"info": info, "rows": rows, "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

def _label(row: dict) -> str:
    label = SCENARIO_LABELS[(row["split"], row["scenario"], row["mode"])]
    if row["split"] == "validation":
        label = label.replace("validation", f"validation ({row['windows']} windows)")
    return label


def _short(model: str) -> str:
    return model.replace(BASELINE_PREFIX, "")


def _ci(b: dict) -> str:
    return f"{b['diff']:+.3f} [{b['ci_low']:+.3f}, {b['ci_high']:+.3f}]"


def _users(row: dict) -> str:
    n, total = row["n_users"], row["n_users_total"]
    return f"{n:,}" if n == total else f"{n:,} of {total:,}"


def full_table(store: str, result: dict) -> str:
    """Every model's NDCG@10 in every scenario of one store, then its beyond-accuracy measures
    (the printed output)."""
    frame = pd.DataFrame({f"{_label(r)} ({_users(r)} users)": r[METRIC] for r in result["rows"]})
    text = f"{store} (NDCG@10)\n" + frame.T.to_string(float_format=lambda x: f"{x:.3f}")
    for r in result["rows"]:
        if r.get("beyond"):
            text += f"\n\n{store}, {_label(r)}: beyond accuracy of the top-10s\n" + beyond_frame(r).to_string(
                float_format=lambda x: f"{x:.3f}", na_rep="-")
    return text


def beyond_frame(row: dict) -> pd.DataFrame:
    """One row's models x (NDCG@10, coverage, distributional coverage, novelty, diversity)."""
    frame = pd.DataFrame(row["beyond"]).T.rename(columns=BEYOND)
    frame.insert(0, METRIC, pd.Series(row[METRIC]))
    return frame.astype(float)


def markdown(results: dict[str, dict]) -> str:
    """The README block: one row per store and scenario."""
    lines = [f"`{COMMAND}` (NDCG@10; paired bootstrap, 2,000 resamples, of the hybrid's per-user "
             "difference; validation windows pooled; JSON in `benchmarks/results/quality.json`):", "",
             "| store | scenario | users | hybrid | best other model | best baseline | popularity "
             "| hybrid − best other [95% CI] | hybrid − best baseline [95% CI] | hybrid − popularity [95% CI] |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for store, result in results.items():
        for r in result["rows"]:
            s = r[METRIC]
            lines.append(f"| {store} | {_label(r)} | {_users(r)} | {s[HYBRID]:.3f} "
                         f"| {_short(r['best_other'])} {s[r['best_other']]:.3f} "
                         f"| {_short(r['best_baseline'])} {s[r['best_baseline']]:.3f} | {s[POPULARITY]:.3f} "
                         f"| {_ci(r['vs_best_other'])} | {_ci(r['vs_best_baseline'])} | {_ci(r['vs_popularity'])} |")
    lines += beyond_markdown(results)
    lines.append("")
    for store, result in results.items():
        i = result["info"]
        lines.append(f"- **{store}**: {i['lines']:,} lines, {i['customers']:,} customers, {i['items']:,} items, "
                     f"{i['first_day']} .. {i['last_day']}; test cutoff {i['cutoff']}, "
                     f"{i['loyal_test_users']:,} loyal test users; repeat share {i['repeat_share']:.0%} "
                     f"(distinct items of the test window the customer had bought before); "
                     f"measured {result['measured_at']}.")
    return "\n".join(lines)


def beyond_markdown(results: dict[str, dict]) -> list[str]:
    """Beyond accuracy next to NDCG for every model, on each store's test window (loyal customers,
    all items); nothing for results measured before these measures were (their JSON has none)."""
    rows = [(store, r) for store, result in results.items() for r in result["rows"]
            if r.get("beyond") and (r["split"], r["scenario"], r["mode"]) == ("test", "loyal", "all")]
    if not rows:
        return []
    lines = ["", "Beyond accuracy of the top-10s on the test window (loyal customers, all items; "
             "`recsys.evaluation.beyond`, the definitions of microsoft/recommenders):", "",
             "| store | model | NDCG@10 | coverage | dist. coverage (bits) | novelty (bits) | diversity |",
             "|---|---|---|---|---|---|---|"]
    for store, r in rows:
        for model, m in r["beyond"].items():
            cells = [_num(r[METRIC].get(model), "{:.3f}"), _num(m.get("coverage@10"), "{:.1%}"),
                     _num(m.get("dist_coverage@10"), "{:.2f}"), _num(m.get("novelty@10"), "{:.2f}"),
                     _num(m.get("diversity@10"), "{:.3f}")]
            name = f"{_short(model)} (baseline)" if model.startswith(BASELINE_PREFIX) else model
            lines.append(f"| {store} | {name} | " + " | ".join(cells) + " |")
    return lines


def _num(v: Any, fmt: str) -> str:
    return "-" if v is None or not np.isfinite(v) else fmt.format(v)


def write_readme(results: dict[str, dict], readme: Path = README) -> None:
    """Replace the marked block of the README with the table of ``results``."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} ... {END} block to regenerate")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{markdown(results)}\n{END}{tail}")


def _load(path: Path) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.exists() else {}


def _write_json(results: dict[str, dict], path: Path) -> None:
    """Atomic write (temp file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".json.tmp")
    temp.write_text(json.dumps(results, indent=2))
    temp.replace(path)


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n")[0])
    p.add_argument("--stores", default="workbook,lowrepeat,tafeng", help=f"comma-separated: {', '.join(STORES)}")
    p.add_argument("--windows", type=int, default=None,
                   help=f"validation windows per store (default {DEFAULT_WINDOWS})")
    p.add_argument("--sample-users", type=int, default=None,
                   help="evaluate at most this many test users per split (default: all)")
    p.add_argument("--json", type=Path, default=RESULTS, help="results file; stores run now replace theirs")
    p.add_argument("--write-readme", action="store_true", help="regenerate the README's quality block")
    p.add_argument("--readme-only", action="store_true", help="regenerate the README from --json, run nothing")
    args = p.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = [s for s in stores if s not in STORES]
    if unknown:
        p.error(f"unknown store(s) {unknown}; choose from {', '.join(STORES)}")

    results = _load(args.json)
    if not args.readme_only:
        for store in stores:
            results[store] = run_store(store, args.windows, args.sample_users)
            _write_json(results, args.json)      # after each store: a later failure keeps it
            print(full_table(store, results[store]), flush=True)
        print()
        print(markdown({s: results[s] for s in stores}))
    if args.write_readme or args.readme_only:
        write_readme({s: results[s] for s in STORES if s in results})
        say(f"README block regenerated from {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
