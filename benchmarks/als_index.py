"""ALS's item index against scoring every item: recall of the exact top k and CPU per user.

    python -m benchmarks.als_index --bundle artifacts/demo            # a trained bundle (index built at training)
    python -m benchmarks.als_index --bundle DIR --shares 0.03 0.05 0.08

For a random sample of the bundle's customers: the exact top k of their ALS scores over the whole
catalogue, and the candidates the index gives (recsys.models.als: the customers' best-scoring share
of the item clusters probed): the share of the exact top k found, whether the best item is always
found, and the CPU milliseconds per user of each way (one batch, one BLAS thread).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import recsys.models.als as als_module
from recsys.arrays import top_k_per_row
from recsys.serving.service import Recommender


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bundle", required=True, help="a bundle folder (as Recommender.load takes)")
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--shares", type=float, nargs="+", default=[als_module.PROBE_SHARE])
    args = p.parse_args(argv)
    als = Recommender.load(args.bundle).state.als
    if als.index_items_ is None:
        als.build_index()  # a catalogue under INDEX_MIN_ITEMS: built here to measure it
    n_users, n_items = als.user_factors_.shape[0], als.item_factors_.shape[0]
    codes = np.random.default_rng(0).choice(n_users, size=min(args.users, n_users), replace=False)
    vecs = np.array(als.user_factors_[codes])
    with als_module.one_blas_thread():
        c0 = time.process_time()
        rows, cols = top_k_per_row(vecs @ als.item_factors_.T, args.k)
        exact_ms = (time.process_time() - c0) * 1000 / len(codes)
        best = (vecs @ als.item_factors_.T).argmax(axis=1)
    exact = set((rows * n_items + cols).tolist())
    print(f"{n_items:,} items, {len(als.index_centroids_):,} clusters; {len(codes):,} users; exact top {args.k}: "
          f"{exact_ms:.3f} CPU ms/user")
    saved = als_module.PROBE_SHARE
    try:
        for share in args.shares:  # a few settings
            als_module.PROBE_SHARE = share
            c0 = time.process_time()
            r, i = als.indexed_candidates(vecs, args.k, None)
            ms = (time.process_time() - c0) * 1000 / len(codes)
            found = len(exact & set((r * n_items + i).tolist())) / len(exact)
            top1 = np.mean([best[u] in set(i[r == u].tolist()) for u in range(len(codes))])
            print(f"probe share {share:.2f} ({als.probes(args.k)} clusters): recall@{args.k} {found:.3f}, "
                  f"best item found for {top1:.1%} of users, {ms:.3f} CPU ms/user")
    finally:
        als_module.PROBE_SHARE = saved
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
