"""The README's example import report: a synthetic web shop's export written and trained with the
command line, and what `train` prints before it fits the models.

    python -m benchmarks.export_report [--write-readme]

It runs, in a temporary folder:
    python -m recsys demo-data --export --out export.csv
    python -m recsys train --data export.csv --columns "InvoiceNo=ticket_id,..." --artifacts art
and keeps the output up to the first training stage (the report on stdout, the warnings and the
items left out on stderr). `--write-readme` puts it between the README's export-report markers.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from recsys.io.synthetic_export import EXPORT_MAPPING

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- export-report:start -->", "<!-- export-report:end -->"
COLUMNS = ",".join(f"{k}={v}" for k, v in EXPORT_MAPPING.items())
WIDTH = 110  # long lines wrap, indented


def report() -> str:
    """The commands and what `train` printed before its first model stage."""
    with tempfile.TemporaryDirectory(prefix="export-report-") as tmp:
        run = [sys.executable, "-m", "recsys"]
        env = {**os.environ, "RECSYS_CACHE_DIR": tmp, "PYTHONPATH": str(ROOT)}
        subprocess.run(run + ["demo-data", "--export", "--out", "export.csv"], cwd=tmp, check=True,
                       capture_output=True, text=True, env=env)
        done = subprocess.run(run + ["train", "--data", "export.csv", "--columns", COLUMNS, "--artifacts", "art"],
                              cwd=tmp, check=True, capture_output=True, text=True, env=env)
    told = done.stdout.split("trained on")[0].strip().splitlines()
    notes = [line for line in done.stderr.splitlines() if not line.startswith("[")]
    lines = [textwrap.fill(line, WIDTH, subsequent_indent="    ", break_on_hyphens=False) for line in told + notes]
    command = (f"python -m recsys demo-data --export --out export.csv\n"
               f"python -m recsys train --data export.csv --columns \"{COLUMNS}\"")
    return (f"`python -m benchmarks.export_report --write-readme` (it runs the two commands below and keeps what "
            f"`train` prints before the models):\n\n```bash\n{command}\n```\n```text\n" + "\n".join(lines) + "\n```")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--write-readme", action="store_true")
    args = p.parse_args(argv)
    text = report()
    print(text)
    if args.write_readme:
        readme = ROOT / "README.md"
        body = readme.read_text(encoding="utf-8")
        head, rest = body.split(START, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
