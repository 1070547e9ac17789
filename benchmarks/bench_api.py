"""The REST API under load: a real server (`python -m recsys serve`), real HTTP clients, a retrain landing mid-run.

    python -m benchmarks.bench_api                         # the real workbook, 8 clients x 30 s
    python -m benchmarks.bench_api --sizes workbook M      # ... and the M store (training M: minutes)
    python -m benchmarks.bench_api --duration 10 --clients 4 --json /tmp/api.json

Per size: the store is trained into a temp artifacts folder, the server started on a free
loopback port, and `--clients` threads (one httpx.Client each, keep-alive) send requests back to
back for `--duration` seconds (after 5 s of one client alone: the latency without a queue): 70% GET recommendations of a random known customer, 10% POST with
a three-item basket for an unseen customer, 10% similar items, 5% bought together, 5% popular.
Latency is measured by the client (request sent -> body read). A new bundle lands mid-run: one
trained before the run is saved into the served folder at half time, as `train` does at its end
(write the bundle, then switch CURRENT). With `--train-during` (workbook) a real
`python -m recsys train` runs into the served folder from 1 s on instead: it shares the two CPUs
with the server and the clients, and the run goes on until 5 s after it lands (the JSON has the
real duration). Every response must be a
200; the server must switch to the new bundle (seen in the X-Recsys-Bundle header).
Results: printed, and JSON under benchmarks/results/ (git-ignored) or `--json`. Loopback only.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WORKBOOK = ROOT.parent / "shared" / "data" / "Data Science - Assignment.xlsx"
GOALS_P99_MS = {"workbook": 20.0, "M": 50.0}
MIX = (("recommend", 0.70), ("recommend_post", 0.10), ("similar", 0.10), ("together", 0.05), ("popular", 0.05))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(size: str, out: Path, seed: int = 0):
    from recsys import train

    if size == "workbook":
        return train(str(WORKBOOK), out_dir=out)
    from recsys.io.synthetic import SIZES, generate_store

    return train(generate_store(**SIZES[size], seed=seed), out_dir=out)


def _start_server(artifacts: Path, log: Path, workers: int = 1) -> tuple[subprocess.Popen, str]:
    import httpx

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "recsys", "serve", "--artifacts", str(artifacts), "--host",
                             "127.0.0.1", "--port", str(port), "--workers", str(workers)], cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("the server did not answer /health in 300 s")


def _requests(rec, rng: random.Random, k: int) -> list[tuple[str, str, str, Any]]:
    """k (kind, method, url, json) requests drawn from the mix."""
    users = [str(u) for u in rng.sample(list(rec.state.user_ids), min(5000, rec.state.n_users))]
    popular = [str(i) for i in rec.popular_items(500)["item_id"]]
    kinds, weights = zip(*MIX)
    out = []
    for kind in rng.choices(kinds, weights=weights, k=k):
        if kind == "recommend":
            out.append((kind, "GET", f"/api/v1/recommendations/{rng.choice(users)}?n=10", None))
        elif kind == "recommend_post":
            basket = [{"item_id": i} for i in rng.sample(popular, 3)]
            out.append((kind, "POST", "/api/v1/recommendations",
                        {"user_id": f"guest-{rng.randrange(10**6)}", "num_recommendations": 10, "history": basket}))
        elif kind == "similar":
            out.append((kind, "GET", f"/api/v1/items/{rng.choice(popular)}/similar?n=10", None))
        elif kind == "together":
            out.append((kind, "GET", f"/api/v1/items/{rng.choice(popular)}/bought-together?n=10", None))
        else:
            out.append((kind, "GET", f"/api/v1/items/popular?n={rng.choice((10, 20))}", None))
    return out


def _client(base: str, plan: list, deadline: list[float], out: list, start: float) -> None:
    import httpx

    with httpx.Client(base_url=base, timeout=30) as c:
        i = 0
        while time.perf_counter() < deadline[0]:  # a list: the run may be extended while it goes
            kind, method, url, body = plan[i % len(plan)]
            i += 1
            t0 = time.perf_counter()
            try:
                r = c.request(method, url, json=body)
                status, bundle = r.status_code, r.headers.get("x-recsys-bundle", "")
                r.read()
            except httpx.HTTPError as exc:
                status, bundle = f"{type(exc).__name__}", ""
            t1 = time.perf_counter()
            out.append((t0 - start, (t1 - t0) * 1000, kind, status, bundle))


def _percentiles(ms: np.ndarray) -> dict[str, float]:
    if not len(ms):
        return {}
    return {"n": int(len(ms)), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p90_ms": round(float(np.percentile(ms, 90)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms.max()), 2)}


def run_size(size: str, clients: int, duration: float, retrain: bool, seed: int,
             bundle: Path | None = None, workers: int = 1, train_during: bool = False) -> dict[str, Any]:
    from recsys import Recommender
    from recsys.bundles.store import current_bundle

    tmp = Path(tempfile.mkdtemp(prefix=f"bench-api-{size}-"))
    artifacts = tmp / "artifacts"
    t0 = time.perf_counter()
    if bundle is not None:  # a folder trained before: served from a copy (the retrain writes into it)
        shutil.copytree(bundle, artifacts)
        rec = Recommender.load(artifacts)
    else:
        rec = _train(size, artifacts)
    train_s = time.perf_counter() - t0 if bundle is None else float("nan")
    side = None
    if retrain and not train_during:  # trained before the run: only its landing happens mid-run
        side = tmp / "next"
        rec.save(side)
    proc, base = _start_server(artifacts, tmp / "server.log", workers)
    result: dict[str, Any] = {"size": size, "clients": clients, "duration_s": duration, "train_s": round(train_s, 1),
                              "workers": workers, "users": rec.state.n_users, "items": rec.state.n_items, "lines": rec.state.summary["lines"]}
    try:
        rng = random.Random(seed)
        import httpx

        with httpx.Client(base_url=base, timeout=60) as warm:  # every endpoint once, then a few rounds
            for _, method, url, body in _requests(rec, rng, 60):
                warm.request(method, url, json=body).raise_for_status()
        # one client alone first: the latency of a request with no queue in front of it
        alone: list = []
        t_alone = time.perf_counter()
        _client(base, _requests(rec, random.Random(seed + 99), 4000), [t_alone + 5.0], alone, t_alone)
        result["single_client"] = {**_percentiles(np.array([r[1] for r in alone if r[3] == 200])),
                                   "rps": round(len(alone) / 5.0, 1), "errors": sum(r[3] != 200 for r in alone)}
        plans = [_requests(rec, random.Random(seed + 1 + k), 4000) for k in range(clients)]
        first = current_bundle(artifacts).name
        samples: list[list] = [[] for _ in range(clients)]
        start = time.perf_counter()
        # while a retrain is in flight the clients go on: it must land inside the run
        deadline = [float("inf") if retrain else start + duration]
        threads = [threading.Thread(target=_client, args=(base, plans[k], deadline, samples[k], start))
                   for k in range(clients)]
        for t in threads:
            t.start()
        landed: dict[str, Any] = {}
        if retrain:
            landed = _land_new_bundle(size, artifacts, side, start, duration, tmp, bundle)
            landed["swapped_s"] = _wait_until_served(base, landed["bundle"], start)
            # a bundle that lands or loads late: keep going 3 s past the swap, to see requests after it
            deadline[0] = max(start + duration, time.perf_counter() + 3.0)
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        result["duration_s"] = round(elapsed, 1)
        rows = [s for part in samples for s in part]
        result.update(_summarise(rows, elapsed, first, landed))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if os.environ.get("RECSYS_BENCH_KEEP"):
            print(f"kept: {artifacts}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    goal = GOALS_P99_MS.get(size)
    if goal is not None:
        result["goal_p99_ms"] = goal
        result["goal_met"] = bool(result["overall"]["p99_ms"] < goal)
    return result


def _wait_until_served(base: str, bundle: str, start: float, timeout: float = 300.0) -> float | None:
    """Seconds into the run when /health first names `bundle` (the server loads it in the background)."""
    import httpx

    deadline = time.perf_counter() + timeout
    with httpx.Client(base_url=base, timeout=30) as c:
        while time.perf_counter() < deadline:
            if c.get("/api/v1/health").json().get("bundle") == bundle:
                return round(time.perf_counter() - start, 2)
            time.sleep(0.2)
    return None


def _land_new_bundle(size: str, artifacts: Path, side: Path | None, start: float, duration: float,
                     tmp: Path, bundle: Path | None) -> dict[str, Any]:
    """A bundle trained before the run, saved into the served folder at mid-run (as `train` ends);
    or (`--train-during`, workbook) a real `python -m recsys train` in another process."""
    from recsys.bundles.store import current_bundle

    if side is None:
        if size != "workbook":
            raise ValueError("--train-during trains the workbook only (a synthetic store takes minutes)")
        time.sleep(max(0.0, start + 1.0 - time.perf_counter()))  # it takes most of the run under load
        began = time.perf_counter() - start
        with (tmp / "train.log").open("w") as log:
            code = subprocess.call([sys.executable, "-m", "recsys", "train", "--data", str(WORKBOOK), "--out",
                                    str(artifacts)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        if code != 0:
            raise RuntimeError(f"the retrain failed: {(tmp / 'train.log').read_text()[-2000:]}")
        how = "python -m recsys train (workbook) into the served folder, during the run"
    else:
        from recsys import Recommender

        nxt = Recommender.load(side)
        time.sleep(max(0.0, start + duration / 2 - time.perf_counter()))
        began = time.perf_counter() - start
        nxt.save(artifacts)
        how = "Recommender.save of a bundle trained before the run, into the served folder"
    return {"how": how, "started_s": round(began, 2), "done_s": round(time.perf_counter() - start, 2),
            "bundle": current_bundle(artifacts).name}


def _summarise(rows: list, duration: float, first: str, landed: dict[str, Any]) -> dict[str, Any]:
    ok = [r for r in rows if r[3] == 200]
    errors = [r for r in rows if r[3] != 200]
    ms = np.array([r[1] for r in ok])
    by_kind = {k: _percentiles(np.array([r[1] for r in ok if r[2] == k])) for k, _ in MIX}
    out: dict[str, Any] = {"requests": len(rows), "errors": len(errors), "error_examples": [str(e[3]) for e in errors[:5]],
                           "rps": round(len(rows) / duration, 1), "overall": _percentiles(ms), "by_endpoint": by_kind,
                           "bundles_seen": sorted({r[4] for r in ok}), "first_bundle": first}
    if landed:
        new = landed["bundle"]
        served = [r[0] for r in ok if r[4] == new]
        landed["first_served_s"] = round(min(served), 2) if served else None
        around = np.array([r[1] for r in ok if landed["started_s"] <= r[0] <= (landed["first_served_s"] or duration) + 1])
        landed["during_retrain"] = _percentiles(around)
        out["retrain"] = landed
    return out


def _print(res: dict[str, Any]) -> None:
    o = res["overall"]
    print(f"\n== {res['size']}: {res['users']:,} users, {res['items']:,} items, {res['lines']:,} lines "
          f"(trained in {res['train_s']} s); {res['clients']} clients x {res['duration_s']:.0f} s, "
          f"{res['workers']} server process(es)")
    print(f"requests {res['requests']:,}  errors {res['errors']}  {res['rps']} req/s  "
          f"p50 {o['p50_ms']} ms  p90 {o['p90_ms']} ms  p99 {o['p99_ms']} ms  max {o['max_ms']} ms"
          + (f"  (goal p99 < {res['goal_p99_ms']:.0f} ms: {'met' if res['goal_met'] else 'NOT met'})" if "goal_p99_ms" in res else ""))
    one = res.get("single_client") or {}
    if one:
        print(f"  one client alone (5 s): p50 {one['p50_ms']} ms  p99 {one['p99_ms']} ms  {one['rps']} req/s")
    for kind, p in res["by_endpoint"].items():
        if p:
            print(f"  {kind:<15} n={p['n']:<6} p50 {p['p50_ms']:>7} ms  p99 {p['p99_ms']:>7} ms")
    if "retrain" in res:
        r = res["retrain"]
        d = r.get("during_retrain") or {}
        print(f"retrain: {r['how']}: started at {r['started_s']} s, done at {r['done_s']} s, swapped in at "
              f"{r['swapped_s']} s, first answer from it at "
              f"{r['first_served_s']} s; during it p50 {d.get('p50_ms')} ms, p99 {d.get('p99_ms')} ms; "
              f"bundles seen {len(res['bundles_seen'])}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", nargs="+", default=["workbook"], choices=("workbook", "S", "M", "L"))
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--no-retrain", action="store_true", help="no new bundle mid-run")
    p.add_argument("--train-during", action="store_true",
                   help="workbook: a real `train` in another process during the run (it shares the CPUs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="server processes (serve --workers)")
    p.add_argument("--bundle", type=Path, help="serve a copy of this artifacts folder instead of training (one size)")
    p.add_argument("--json", help="where to write the results (default: benchmarks/results/api-<stamp>.json)")
    args = p.parse_args(argv)
    if "workbook" in args.sizes and not WORKBOOK.exists():
        print(f"error: the workbook is not at {WORKBOOK}", file=sys.stderr)
        return 2
    results = {"machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()}, "sizes": []}
    for size in args.sizes:
        res = run_size(size, args.clients, args.duration, not args.no_retrain, args.seed, args.bundle, args.workers,
                       args.train_during)
        _print(res)
        results["sizes"].append(res)
    results["machine"]["load_avg_end"] = os.getloadavg()
    out = Path(args.json) if args.json else RESULTS / f"api-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults: {out}")
    failed = [r for r in results["sizes"] if r["errors"] or ("retrain" in r and r["retrain"]["first_served_s"] is None)]
    for r in failed:
        print(f"FAILED {r['size']}: {r['errors']} errors" + ("" if "retrain" not in r or r["retrain"]["first_served_s"]
                                                              else "; the new bundle was never served"), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
