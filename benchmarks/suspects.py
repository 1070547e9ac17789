"""The workbook's placeholder codes: segment price caps and the share of each segment's customers
whose top-10 holds one, as trained by the code on the path given (default: this checkout).

    python -m benchmarks.suspects [CODE_DIR]
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else str(ROOT))

from recsys import train  # noqa: E402

WORKBOOK = ROOT.parent / "shared" / "data" / "Data Science - Assignment.xlsx"
CODES = {"20098100000", "20098900000", "20009400000"}


def main() -> None:
    rec = train(str(WORKBOOK), calibrate=False)
    recs = rec.recommend_batch(n=10)
    prof = rec.users()[["user_id", "spending_segment"]]
    hit = recs.assign(s=recs["item_id"].isin(CODES)).groupby("user_id")["s"].any().rename("has").reset_index()
    share = hit.merge(prof, on="user_id").groupby("spending_segment")["has"].mean().round(2).to_dict()
    print("customers whose top-10 holds 20098100000, 20098900000 or 20009400000, per segment:", share)
    print("segment price caps:", [round(float(c), 2) for c in rec.state.segment_caps])
    lines = rec.cleaning_report.get("steps", [])
    print("\n".join(f"{s['action']} {s['lines']:,} lines: {s['reason']}" for s in lines if s["lines"]))


if __name__ == "__main__":
    main()
