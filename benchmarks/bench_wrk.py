"""The REST API under load from `wrk` (a C client that stays out of the server's way), at fixed
connection counts, with a new bundle landing mid-run; its output writes the README's API table.

    python -m benchmarks.bench_wrk                                  # workbook, 1 and 8 connections, 30 s each
    python -m benchmarks.bench_wrk --sizes workbook M --workers 2   # ... and M (trained first: minutes)
    python -m benchmarks.bench_wrk --sizes M --bundle DIR           # serve a copy of a trained artifacts folder
    python -m benchmarks.bench_wrk --from-json FILE --write-readme  # the README's API block from a run

Per size the store is trained into a temp artifacts folder (or `--bundle` is copied), then
`python -m recsys serve --workers N` is started on a free loopback port and, for each connection
count, `wrk --latency` runs for `--duration` seconds with `--threads` threads. The request mix is
benchmarks/bench_api.py's: 70% GET recommendations (n=10) of known customers, in turn through
all of them (the workbook) or a sample of 5,000 (bigger stores), 10% POST with a three-item basket
for an unseen customer, 10% similar items, 5% bought together, 5% popular items. A Lua script
(written per run) cycles through a request list drawn once, counts the statuses and the
X-Recsys-Bundle of every answer and reports wrk's latency percentiles (the client's view:
request sent -> response read). At half time of each run a new bundle is saved into the served
folder (as `train` ends: files, then CURRENT); every worker must switch to it without an error.

Load average and the CPU seconds the server's processes used are recorded beside each run: this
machine has 2 cores shared with other jobs, and wrk's own threads share them with the server.
Results: JSON under benchmarks/results/ (git-ignored) or `--json`; `--write-readme` rewrites the
block between <!-- api:start --> and <!-- api:end --> in README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_api import MIX, WORKBOOK, _free_port, _train

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
START, END = "<!-- api:start -->", "<!-- api:end -->"
COMMAND = "python -m benchmarks.bench_wrk --sizes workbook M --workers 2 --write-readme"
# (size, connections) -> (p99 below, requests/s at least): issue 17's goals
GOALS = {("workbook", 8): (20.0, 500.0), ("M", 8): (50.0, 300.0)}
PLAN_SIZE = 20_000  # requests drawn per run (wrk cycles through them)

LUA = r"""
local plan = dofile("%(plan)s")
local counter = 0
statuses = {}  -- globals: done() reads each thread's through thread:get
bundles = {}
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = tonumber(id) * 7919
  statuses = {}
  bundles = {}
end

function request()
  counter = counter + 1
  local r = plan[(counter %% #plan) + 1]
  if r[1] == "POST" then
    return wrk.format("POST", r[2], {["Content-Type"] = "application/json"}, r[3])
  end
  return wrk.format("GET", r[2])
end

function response(status, headers, body)
  local s = tostring(status)
  statuses[s] = (statuses[s] or 0) + 1
  local b = headers["X-Recsys-Bundle"] or headers["x-recsys-bundle"] or "-"
  bundles[b] = (bundles[b] or 0) + 1
end

local function dump(t)
  local parts = {}
  for k, v in pairs(t) do table.insert(parts, string.format("%%q: %%d", k, v)) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local st, bu = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do st[k] = (st[k] or 0) + v end
    for k, v in pairs(t:get("bundles")) do bu[k] = (bu[k] or 0) + v end
  end
  io.write("WRKJSON {")
  io.write(string.format('"requests": %%d, "duration_us": %%d, "bytes": %%d, ', summary.requests, summary.duration, summary.bytes))
  io.write(string.format('"socket_errors": {"connect": %%d, "read": %%d, "write": %%d, "timeout": %%d, "status": %%d}, ',
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status))
  io.write(string.format('"latency_us": {"min": %%d, "mean": %%.1f, "max": %%d, "p50": %%d, "p90": %%d, "p99": %%d, "p999": %%d}, ',
    latency.min, latency.mean, latency.max, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
  io.write('"statuses": ' .. dump(st) .. ', "bundles": ' .. dump(bu) .. "}\n")
end
"""


def _lua_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_plan(rec, path: Path, seed: int, all_users_in_turn: bool) -> dict[str, int]:
    """A Lua table of requests drawn from the mix; the counts of each kind."""
    rng = random.Random(seed)
    ids = [str(u) for u in rec.state.user_ids]
    users = ids if all_users_in_turn else rng.sample(ids, min(5000, len(ids)))
    popular = [str(i) for i in rec.popular_items(500)["item_id"]]
    kinds, weights = zip(*MIX)
    rows, counts, turn = [], dict.fromkeys(kinds, 0), 0
    for kind in rng.choices(kinds, weights=weights, k=PLAN_SIZE):
        counts[kind] += 1
        if kind == "recommend":
            user = users[turn % len(users)] if all_users_in_turn else rng.choice(users)
            turn += 1
            rows.append(("GET", f"/api/v1/recommendations/{user}?n=10", ""))
        elif kind == "recommend_post":
            body = json.dumps({"user_id": f"guest-{rng.randrange(10**6)}", "num_recommendations": 10,
                               "history": [{"item_id": i} for i in rng.sample(popular, 3)]})
            rows.append(("POST", "/api/v1/recommendations", body))
        elif kind == "similar":
            rows.append(("GET", f"/api/v1/items/{rng.choice(popular)}/similar?n=10", ""))
        elif kind == "together":
            rows.append(("GET", f"/api/v1/items/{rng.choice(popular)}/bought-together?n=10", ""))
        else:
            rows.append(("GET", f"/api/v1/items/popular?n={rng.choice((10, 20))}", ""))
    lines = ",\n".join("{" + ", ".join(_lua_string(x) for x in r) + "}" for r in rows)
    path.write_text("return {\n" + lines + "\n}\n")
    return counts


def _server_cpu(pid: int) -> float:
    """CPU seconds of a process and its children (the uvicorn workers), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    try:
        kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    except OSError:
        kids = []
    for p in [pid, *map(int, kids)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def _server_rss_mib(pid: int) -> dict[str, float]:
    """Resident and proportional set size (MiB) of the server's processes: PSS shares mapped pages."""
    out = {"rss": 0.0, "pss": 0.0}
    try:
        kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    except OSError:
        kids = []
    for p in [pid, *map(int, kids)]:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    out[key.lower()] += int(rest.split()[0]) / 1024
        except (OSError, ValueError):
            pass
    return {k: round(v, 1) for k, v in out.items()}


def _start(artifacts: Path, log: Path, workers: int, root: Path = ROOT) -> tuple[subprocess.Popen, str]:
    import httpx

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "recsys", "serve", "--artifacts", str(artifacts), "--port", str(port),
                             "--workers", str(workers)], cwd=root, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 600
    seen: set[int] = set()
    while time.time() < deadline:  # every worker up: /health names its pid
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            seen.add(httpx.get(base + "/api/v1/health", timeout=5).json().get("pid", len(seen)))
            if len(seen) >= workers:
                return proc, base
        except (httpx.HTTPError, ValueError):
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("the server did not answer /health")


def _health(base: str) -> dict[str, Any]:
    import httpx

    return httpx.get(base + "/api/v1/health", timeout=10).json()


def run_wrk(base: str, script: Path, connections: int, threads: int, duration: float) -> dict[str, Any]:
    cmd = ["wrk", "--latency", "-t", str(min(threads, connections)), "-c", str(connections), "-d", f"{duration:.0f}s",
           "--timeout", "10s", "-s", str(script), base]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    m = re.search(r"^WRKJSON (.*)$", out.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk gave no summary: {out.stdout[-1500:]} {out.stderr[-500:]}")
    res = json.loads(m.group(1))
    res["wrk_output"] = out.stdout.split("WRKJSON")[0].strip()
    return res


def run_size(size: str, connections: list[int], duration: float, workers: int, threads: int, seed: int,
             bundle: Path | None, server_root: Path = ROOT) -> dict[str, Any]:
    from recsys import Recommender
    from recsys.bundles.store import current_bundle

    tmp = Path(tempfile.mkdtemp(prefix=f"bench-wrk-{size}-"))
    artifacts = tmp / "artifacts"
    try:
        t0 = time.perf_counter()
        if bundle is not None:
            shutil.copytree(bundle, artifacts)
            rec = Recommender.load(artifacts)
        else:
            rec = _trained(size, artifacts)
        train_s = round(time.perf_counter() - t0, 1)
        plan = tmp / "plan.lua"
        counts = write_plan(rec, plan, seed, all_users_in_turn=rec.state.n_users <= 5000)
        script = tmp / "mix.lua"
        script.write_text(LUA % {"plan": str(plan)})
        proc, base = _start(artifacts, tmp / "server.log", workers, server_root)
        out: dict[str, Any] = {"size": size, "workers": workers, "users": rec.state.n_users, "items": rec.state.n_items,
                               "lines": rec.state.summary["lines"], "train_s": train_s, "mix": counts,
                               "default_lists": rec.default_lists is not None, "runs": []}
        try:
            run_wrk(base, script, 2, threads, 3)  # warm every endpoint in every worker
            for c in connections:
                first = current_bundle(artifacts).name
                # a new bundle lands at half time, as `train` ends: files first, then CURRENT
                timer = threading.Timer(duration / 2, lambda: _land_new_bundle(rec, artifacts))
                load0, cpu0, w0 = os.getloadavg()[0], _server_cpu(proc.pid), time.perf_counter()
                timer.start()
                res = run_wrk(base, script, c, threads, duration)
                timer.join()
                wall = time.perf_counter() - w0
                res.update(connections=c, threads=min(threads, c), duration_s=round(res["duration_us"] / 1e6, 2),
                           rps=round(res["requests"] / (res["duration_us"] / 1e6), 1),
                           non_200=sum(v for k, v in res["statuses"].items() if k != "200"),
                           load_avg_start=round(load0, 2), load_avg_end=round(os.getloadavg()[0], 2),
                           server_cpu_s=round(_server_cpu(proc.pid) - cpu0, 1), wall_s=round(wall, 1),
                           bundle_before=first, bundle_after=current_bundle(artifacts).name,
                           server_memory_mib=_server_rss_mib(proc.pid))
                res["switched"] = res["bundle_after"] in res["bundles"]
                res["lists_after"] = _health(base).get("default_lists") is not None
                goal = GOALS.get((size, c))
                if goal:
                    res["goal"] = {"p99_ms_below": goal[0], "rps_at_least": goal[1],
                                   "met": res["latency_us"]["p99"] / 1000 < goal[0] and res["rps"] >= goal[1]}
                out["runs"].append(res)
                _print(size, res)
                time.sleep(3)  # the reloads settle before the next run
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        return out
    finally:
        if os.environ.get("RECSYS_BENCH_KEEP"):
            print(f"kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _trained(size: str, artifacts: Path):
    """Train into the folder, and a big store's default lists after its bundle (as the CLI does)."""
    from recsys import Recommender
    from recsys.serving.default_lists import precompute_default_lists

    if _train(size, artifacts).default_lists is None:
        precompute_default_lists(artifacts)
    return Recommender.load(artifacts)


def _land_new_bundle(rec, artifacts: Path) -> None:
    """Save the served state again as a new bundle (as `train` ends: its files, then CURRENT), then
    its default lists beside it (the same state: the same manifest, so they are its own)."""
    from recsys.bundles.store import current_bundle

    old = current_bundle(artifacts)
    new = rec.save(artifacts)
    if (old / "lists").is_dir():
        staging = new / ".staging-lists-copy"
        shutil.copytree(old / "lists", staging)
        os.replace(staging, new / "lists")


def _print(size: str, r: dict[str, Any]) -> None:
    lat = r["latency_us"]
    print(f"{size:>8} c={r['connections']:<3} {r['requests']:>7,} requests  {r['rps']:>7.1f}/s  non-200 "
          f"{r['non_200']}  socket errors {sum(r['socket_errors'].values())}  p50 {lat['p50'] / 1000:.2f} ms  "
          f"p99 {lat['p99'] / 1000:.2f} ms  max {lat['max'] / 1000:.1f} ms  server CPU {r['server_cpu_s']} s  "
          f"load {r['load_avg_start']}->{r['load_avg_end']}  new bundle served: {r['switched']}", flush=True)


def readme_block(payload: dict[str, Any], source: str) -> str:
    m = payload["machine"]
    sizes = payload["sizes"]
    lines = [START, f"Generated by `{COMMAND}` from `{source}` (finished {payload['finished']}; {m['cpus']} CPUs "
             f"shared with other jobs; {m['wrk']}). Do not edit by hand: rerun, or "
             f"`python -m benchmarks.bench_wrk --from-json FILE --write-readme`.", "",
             "| store | server processes | connections | requests / s | p50 | p99 | max | non-200 / socket errors "
             "| new bundle mid-run | server CPU (per request) | load average | goal |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in sizes:
        for r in s["runs"]:
            lat = r["latency_us"]
            goal = r.get("goal")
            goal_txt = (f"p99 < {goal['p99_ms_below']:.0f} ms, >= {goal['rps_at_least']:.0f}/s: "
                        f"{'met' if goal['met'] else '**missed**'}") if goal else ""
            lines.append(
                f"| {s['size']} ({s['users']:,} customers) | {s['workers']} | {r['connections']} | {r['rps']:,.0f} | "
                f"{lat['p50'] / 1000:.1f} ms | {lat['p99'] / 1000:.1f} ms | {lat['max'] / 1000:.0f} ms | "
                f"{r['non_200']} / {sum(r['socket_errors'].values())} | "
                f"{'served, no error' if r['switched'] and not r['non_200'] else 'NOT served' if not r['switched'] else 'errors'} | "
                f"{r['server_cpu_s']} s in {r['duration_s']:.0f} s "
                f"({1000 * r['server_cpu_s'] / max(r['requests'], 1):.1f} ms) | {r['load_avg_start']} → {r['load_avg_end']} | "
                f"{goal_txt} |")
    mix = sizes[0]["mix"] if sizes else {}
    total = sum(mix.values()) or 1
    lines += ["", "Request mix: " + ", ".join(f"{k.replace('_', ' ')} {v / total:.0%}" for k, v in mix.items())
              + "; GET recommendations with n=10 (known customers: all in turn on the workbook, a 5,000-customer "
                "sample on bigger stores; read from the precomputed default lists), POST with a three-item basket "
                "for an unseen customer (the live path). wrk runs on the same machine with as many threads as "
                "connections, up to " + str(max((r["threads"] for s in sizes for r in s["runs"]), default=1))
              + "; latency as wrk sees it. A new bundle is saved into the served folder at half time of each run "
                "(its default lists follow it).", END]
    return "\n".join(lines)


def write_readme(payload: dict[str, Any], source: str, path: Path = README) -> None:
    text = path.read_text()
    block = readme_block(payload, source)
    if START in text and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        raise SystemExit(f"README has no {START} ... {END} block to replace")
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", nargs="+", default=["workbook"], choices=("workbook", "S", "M", "L"))
    p.add_argument("--connections", type=int, nargs="+", default=[1, 8])
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--workers", type=int, default=2, help="server processes (serve --workers)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bundle", type=Path, help="serve a copy of this artifacts folder (one size)")
    p.add_argument("--server-root", type=Path, default=ROOT,
                   help="the checkout whose `python -m recsys serve` is measured (a before/after comparison)")
    p.add_argument("--json", type=Path, help="results file (default: benchmarks/results/wrk-<stamp>.json)")
    p.add_argument("--write-readme", action="store_true", help="rewrite the README's API block from this run")
    p.add_argument("--from-json", type=Path, help="no run: the README block from this results file")
    args = p.parse_args(argv)
    if args.from_json:
        write_readme(json.loads(args.from_json.read_text()), str(args.from_json.relative_to(ROOT)
                                                                  if args.from_json.is_relative_to(ROOT) else args.from_json))
        return 0
    if shutil.which("wrk") is None:
        print("error: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("[")[0].strip()
    payload: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg(),
                                           "wrk": wrk_version}, "sizes": []}
    for size in args.sizes:
        if size == "workbook" and not WORKBOOK.exists():
            print(f"error: the workbook is not at {WORKBOOK}", file=sys.stderr)
            return 2
        payload["sizes"].append(run_size(size, args.connections, args.duration, args.workers, args.threads, args.seed,
                                         args.bundle, args.server_root.resolve()))
        payload["server_root"] = str(args.server_root)
    payload["machine"]["load_avg_end"] = os.getloadavg()
    payload["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out = args.json or RESULTS / f"wrk-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=str))
    print(f"results: {out}")
    if args.write_readme:
        write_readme(payload, str(out.relative_to(ROOT) if out.is_relative_to(ROOT) else out))
    bad = [r for s in payload["sizes"] for r in s["runs"] if r["non_200"] or sum(r["socket_errors"].values())
           or not r["switched"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
