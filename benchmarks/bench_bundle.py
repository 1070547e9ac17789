"""The model bundle alone: its size on disk, save time and `Recommender.load` time.

    python -m benchmarks.bench_bundle --out /tmp/wb-bundle                       # train the workbook once, then measure
    python -m benchmarks.bench_bundle --out /tmp/m-bundle --synthetic 200000 50000 2000000
    python -m benchmarks.bench_bundle --out /tmp/wb-bundle --no-train            # re-measure an existing bundle

Load is timed warm (the files in the page cache; these machines cannot drop it) as the median of
--repeat loads (and the fastest: the machine is shared), then with every file hashed
(verify="full"), and the first `recommend` after a load (memory-mapped arrays are read then).
"""
from __future__ import annotations

import argparse
import inspect
import json
import statistics
import time
from pathlib import Path

from benchmarks.run import WORKBOOK


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _train(out: Path, synthetic: list[int] | None, data_path: Path) -> float:
    from recsys import train

    if synthetic:
        from recsys.io.synthetic import generate_store

        data = generate_store(n_users=synthetic[0], n_items=synthetic[1], n_lines=synthetic[2], seed=1)
    else:
        data = str(data_path)
    t0 = time.perf_counter()
    train(data, out_dir=str(out))
    return time.perf_counter() - t0


def measure(out: Path, repeat: int) -> dict:
    """Size, save, load and first-request figures of the bundle live in `out`."""
    from recsys.bundles import store as artifacts
    from recsys.serving.service import Recommender

    loads, firsts = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        rec = Recommender.load(out)
        loads.append(time.perf_counter() - t0)
        user = rec.users().user_id.iloc[0]
        t0 = time.perf_counter()
        rec.recommend(user, n=10)
        firsts.append(time.perf_counter() - t0)
    full = []
    if "verify" in inspect.signature(artifacts.load_bundle).parameters:  # format 3: hash every file too
        for _ in range(max(1, repeat // 2)):
            t0 = time.perf_counter()
            artifacts.load_bundle(out, verify="full")
            full.append(time.perf_counter() - t0)
    saves = []
    scratch = out.parent / (out.name + "-resave")
    for _ in range(max(1, repeat // 2)):
        t0 = time.perf_counter()
        rec.save(scratch)
        saves.append(time.perf_counter() - t0)
    return {"bundle": artifacts.current_bundle(out).name,
            "bundle_mib": round(_folder_bytes(artifacts.current_bundle(out)) / 2**20, 2),
            "files": sum(1 for p in artifacts.current_bundle(out).rglob("*") if p.is_file()),
            "load_s_median": round(statistics.median(loads), 4), "load_s_min": round(min(loads), 4),
            "load_full_verify_s_median": round(statistics.median(full), 4) if full else None,
            "first_recommend_ms_median": round(1000 * statistics.median(firsts), 2),
            "save_s_median": round(statistics.median(saves), 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--data", type=Path, default=WORKBOOK, help="file to train on (default: the workbook)")
    ap.add_argument("--synthetic", nargs=3, type=int, metavar=("USERS", "ITEMS", "LINES"))
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    result = {}
    if not args.no_train:
        result["train_s"] = round(_train(args.out, args.synthetic, args.data), 2)
    result.update(measure(args.out, args.repeat))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
