"""Knob latency in a real browser: a slider moved on the Recommendations page until the list settles.

    python -m benchmarks.bench_browser                    # the real workbook (else the demo store)
    python -m benchmarks.bench_browser --store demo --moves 10
    python -m benchmarks.bench_browser --store small      # the browser tests' store (300 customers)
    python -m benchmarks.bench_browser --json /tmp/browser.json

`streamlit run app.py` on a free port over a freshly trained bundle in a tmp folder, headless
Chromium over the DevTools protocol (benchmarks/browser.py). Each move is one ArrowRight /
ArrowLeft on a slider's thumb; its latency is the key press to the last DOM change of the rerun
(the list's table, its charts and the metrics redrawn; the page's own clock), measured once the
status widget is idle and the page has been still for half a second. Parts: to_send (the
browser's widget -> websocket), server_last (the message out -> the fragment's last delta back:
the server's rerun), render_after_last_msg (the browser drawing after the last delta).
CPU figures (what the move costs, whatever else the machine runs): server_cpu (the Streamlit
process, /proc, 10 ms ticks), browser_task_cpu (the page's main thread: scripts, style, layout,
paint; DevTools `Performance.getMetrics`); work = their sum, about the latency on an idle machine
(the two overlap a little as deltas stream in). On a shared machine wall time stretches with the
load average (printed); read it beside the work figure.
Writes JSON to benchmarks/results/browser-<stamp>.json (git-ignored) or `--json`.
Goal (issue 12): median under 0.25 s on the workbook. Also printed, ok or MISSED, the bounds the
browser test used to assert (it no longer times anything: a busy machine must not fail a test):
work median under 0.25 s CPU, total median under 0.5 s wall.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.browser import Browser, start_server, stop

ROOT = Path(__file__).resolve().parents[1]
WORKBOOK = ROOT.parent / "shared" / "data" / "Data Science - Assignment.xlsx"
SLIDERS = ("Upsell factor", "Price sensitivity", "Due boost")
# (summary key, bound in seconds, what): the goal, and the bounds tests/test_browser.py asserted until
# timing moved out of the tests (measured there on 2 busy cores: work 0.15-0.19 s, wall 0.18-0.28 s)
GOALS = (("total_median_s", 0.25, "goal: a knob move answered (median)"),
         ("work_median_s", 0.25, "work (server + page CPU) per move (median)"),
         ("total_median_s", 0.5, "wall per move on a busy machine (median)"))


def prepare(store: str, root: Path) -> tuple[dict[str, str], str]:
    """Train the store into a tmp artifacts root; (env vars for the app, its source key)."""
    from recsys import train
    from ui.sources import slugify

    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    if store == "workbook":
        link = data / WORKBOOK.name
        if not link.exists():
            link.symlink_to(WORKBOOK)
        key, source = slugify(WORKBOOK.name), str(WORKBOOK)
    elif store == "small":  # the small synthetic store of the tests (tests/conftest.py small_store)
        from recsys.io.synthetic import generate_store

        key, source = "demo", generate_store(n_users=300, n_items=400, n_lines=30_000, seed=7)
    else:
        from recsys.io.synthetic import demo_store

        key, source = "demo", demo_store()
    train(source, out_dir=str(root / "artifacts" / key))
    env = {"RECSYS_ARTIFACTS": str(root / "artifacts"), "RECSYS_DATA_DIR": str(data),
           "RECSYS_CACHE_DIR": str(root / "cache")}
    return env, key


def knob_moves(browser: Browser, moves: int, sliders: tuple[str, ...] = SLIDERS,
               server_pid: int | None = None) -> list[dict]:
    """`moves` one-step moves per slider, right then back left, each timed."""
    out = []
    for label in sliders:
        for i in range(moves):
            timing = browser.time_slider_move(label, right=i % 2 == 0, server_pid=server_pid)
            timing["slider"] = label
            out.append(timing)
    return out


def summary(timings: list[dict]) -> dict:
    """Median and max of each part over the moves."""
    keys = ("total_s", "to_send_s", "server_first_s", "server_last_s", "render_after_last_msg_s",
            "server_cpu_s", "browser_task_cpu_s", "browser_script_cpu_s")
    res = {f"{k[:-2]}_median_s": round(statistics.median(t[k] for t in timings), 4) for k in keys if k in timings[0]}
    if "server_cpu_s" in timings[0]:
        res["work_median_s"] = round(statistics.median(t["server_cpu_s"] + t["browser_task_cpu_s"] for t in timings), 4)
    res["total_max_s"] = max(t["total_s"] for t in timings)
    res["messages_median"] = statistics.median(t["messages"] for t in timings)
    res["bytes_median"] = statistics.median(t["bytes"] for t in timings)
    return res


def measure(env: dict[str, str], key: str, moves: int, workdir: Path) -> dict:
    proc, base = start_server(env, workdir / "streamlit.log")
    browser = Browser(workdir / "chromium-profile")
    try:
        browser.instrument()
        facts = browser.open(f"{base}/recommendations?source={key}", timeout=120)
        if facts["state"] != "ready" or facts["exceptions"]:
            raise RuntimeError(f"the Recommendations page did not render: {facts}")
        browser.time_slider_move(SLIDERS[0])  # warm-up: the first rerun compiles and caches
        browser.time_slider_move(SLIDERS[0], right=False)
        timings = knob_moves(browser, moves, server_pid=proc.pid)
        facts = browser.facts()
        if facts["exceptions"] or facts["errors"]:
            raise RuntimeError(f"errors on the page after the moves: {facts}")
        return {"summary": summary(timings), "moves": timings}
    finally:
        browser.close()
        stop(proc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--store", choices=["workbook", "demo", "small"], default="workbook" if WORKBOOK.exists() else "demo")
    p.add_argument("--moves", type=int, default=6, help="moves per slider (3 sliders)")
    p.add_argument("--json", help="where to write the results (default benchmarks/results/browser-<stamp>.json)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        workdir = Path(tmp)
        print(f"training the {args.store} …", flush=True)
        env, key = prepare(args.store, workdir)
        res = measure(env, key, args.moves, workdir)
    res.update(store=args.store, machine=platform.node(), cpus=os.cpu_count(), load_avg=os.getloadavg(),
               when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    out = Path(args.json) if args.json else ROOT / "benchmarks" / "results" / f"browser-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2))
    s = res["summary"]
    print(f"\n{len(res['moves'])} knob moves on the {args.store} (load average {res['load_avg'][0]:.1f} on {res['cpus']} CPUs)")
    for k, v in s.items():
        print(f"  {k:<32} {v}")
    print(f"written to {out}")
    for key, bound, what in GOALS:
        if key in s:
            print(f"  {what}: {s[key]:.3f} s < {bound} s  {'ok' if s[key] < bound else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
