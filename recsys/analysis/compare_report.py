"""A comparison (`recsys.analysis.compare`) for people: the text the CLI prints, and the Markdown
table `python -m recsys compare ... --readme FILE` writes between the README's markers."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from recsys.analysis.compare import ALL, BY_KEY, MEASURES, Comparison
from recsys.atomic import atomic_write_text

START, END = "<!-- compare:start -->", "<!-- compare:end -->"
UNCALIBRATED = ("Note: these models were trained without calibration: a list's expected revenue uses the relevance "
                "(0-1) in place of the probability of a purchase")
SEGMENT_NAMES = {"small": "small", "low_average": "low-average", "average": "average", "high": "high"}


def value(measure: str, v: Any) -> str:
    """A measure's value as printed ('0.557', '12.5%', '4.21'); a dash when there is none."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return BY_KEY[measure].fmt.format(v)


def difference(measure: str, v: Any) -> str:
    """A signed difference: percentage points for shares, the measure's own decimals otherwise."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    fmt = BY_KEY[measure].fmt
    if fmt.endswith("%}"):
        return f"{100 * v:+.1f} pp"
    return fmt.replace("{:", "{:+").format(v)


def with_ci(measure: str, row: dict[str, Any]) -> str:
    """'-0.023 [-0.036, -0.011]'."""
    lo, hi = difference(measure, row["ci_low"]), difference(measure, row["ci_high"])
    return f"{difference(measure, row['diff'])} [{lo}, {hi}]"


def verdict(row: dict[str, Any]) -> str:
    lo, hi = row.get("ci_low"), row.get("ci_high")
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    return "B higher" if lo > 0 else ("B lower" if hi < 0 else "noise")


def _rows(comp: Comparison, group: str = ALL) -> list[tuple[str, dict[str, Any]]]:
    t = comp.table[comp.table["group"] == group]
    by = {r["measure"]: r for r in t.to_dict(orient="records")}
    return [(m.key, by[m.key]) for m in MEASURES if m.key in by]


def header(comp: Comparison) -> list[str]:
    w = comp.window
    lines = [f"A: {comp.a}    B: {comp.b}",
             f"B changes: {', '.join(comp.changes) if comp.changes else 'nothing (the same configuration)'}",
             f"Validation window {w.get('start')} .. {w.get('end')} ({w.get('days')} days, the last of the training "
             f"data): {w.get('customers', 0):,} customers asked at its start, the models refitted on the days "
             "before it; neither configuration retrained"]
    if comp.info.get("calibrated") is False:
        lines.append(UNCALIBRATED)
    return lines


def text_report(comp: Comparison, customers: int = 3) -> str:
    """The CLI's table: every measure overall, the differences per segment, the overlap and the
    customers whose lists differ most."""
    n_boot = comp.info.get("n_boot", 2000)
    lines = header(comp) + ["", f"{'measure':<40} {'A':>9} {'B':>9}   {'B - A [95% CI]':<30} {'':<8} customers"]
    for key, r in _rows(comp):
        lines.append(f"{BY_KEY[key].label:<40} {value(key, r['a']):>9} {value(key, r['b']):>9}   "
                     f"{with_ci(key, r):<30} {verdict(r):<8} {int(r['users']):,}")
    lines.append(f"(paired bootstrap over customers, {n_boot:,} resamples; 'noise' where the interval crosses 0)")
    segments = [g for g in comp.groups if g != ALL]
    if segments:
        lines += ["", "B - A per spending segment [95% CI]:"]
        width = max(len(with_ci(k, r)) for g in segments for k, r in _rows(comp, g)) + 2
        lines.append(f"{'measure':<40} " + "".join(f"{SEGMENT_NAMES.get(g, g) + f' ({_users(comp, g)})':<{width}}"
                                                    for g in segments))
        for m in MEASURES:
            cells = {g: dict(_rows(comp, g)).get(m.key) for g in segments}
            lines.append(f"{m.label:<40} " + "".join(f"{with_ci(m.key, c) if c else '-':<{width}}"
                                                    for c in cells.values()))
    lines += ["", "Overlap of the two top-10s (mean Jaccard index): "
              + f"{comp.overlap.get(ALL, float('nan')):.2f} overall"
              + "".join(f", {SEGMENT_NAMES.get(g, g)} {v:.2f}" for g, v in comp.overlap.items() if g != ALL)]
    for c in comp.differing[:customers]:
        usual = "-" if c.get("usual_price") is None else f"{c['usual_price']:.2f}"
        lines += ["", f"Customer {c['user_id']} ({SEGMENT_NAMES.get(c['segment'], c['segment'])} spender, usual price "
                      f"{usual}): overlap {c['jaccard']:.2f}, expected revenue "
                      f"{c['expected_revenue_a']:.2f} (A) -> {c['expected_revenue_b']:.2f} (B)"]
        for e in c["rows"]:
            lines.append(f"  {e['rank']:>2}  {_side(e, 'a'):<62} | {_side(e, 'b')}")
    return "\n".join(lines)


def _users(comp: Comparison, group: str) -> int:
    rows = comp.table[(comp.table["group"] == group) & (comp.table["measure"] == MEASURES[0].key)]
    return int(rows["users"].iloc[0]) if len(rows) else 0


def _side(e: dict[str, Any], tag: str) -> str:
    if f"{tag}_item" not in e:
        return ""
    mark = ("*" if e[f"{tag}_bought"] else " ") + ("=" if e[f"{tag}_in_both"] else " ")
    return f"{mark}{e[f'{tag}_item']} {e[f'{tag}_price']:.2f} ({e[f'{tag}_reason'][:38]})"


def markdown(comp: Comparison, command: str) -> str:
    """The README block: the command, the table overall, the differences per segment."""
    w = comp.window
    lines = [f"`{command}` (validation window {w.get('start')} .. {w.get('end')}, {w.get('customers', 0):,} "
             f"customers; paired bootstrap over customers, {comp.info.get('n_boot', 2000):,} resamples):", "",
             f"A = {comp.a}, B = {comp.b} ({', '.join(comp.changes) or 'no change'})", "",
             *([UNCALIBRATED + ".", ""] if comp.info.get("calibrated") is False else []),
             "| measure | A | B | B − A [95% CI] | |", "|---|---|---|---|---|"]
    for key, r in _rows(comp):
        lines.append(f"| {BY_KEY[key].label} | {value(key, r['a'])} | {value(key, r['b'])} | {with_ci(key, r)} "
                     f"| {verdict(r)} |")
    segments = [g for g in comp.groups if g != ALL]
    if segments:
        lines += ["", "| B − A per segment | " + " | ".join(f"{SEGMENT_NAMES.get(g, g)} ({_users(comp, g)})"
                                                         for g in segments) + " |",
                  "|---|" + "---|" * len(segments)]
        for m in MEASURES:
            cells = [dict(_rows(comp, g)).get(m.key) for g in segments]
            lines.append(f"| {m.label} | " + " | ".join(with_ci(m.key, c) if c else "-" for c in cells) + " |")
    lines += ["", f"Overlap of the two top-10s (mean Jaccard): {comp.overlap.get(ALL, float('nan')):.2f}."]
    return "\n".join(lines)


def write_block(path: str | Path, text: str, start: str = START, end: str = END) -> None:
    """Replace what lies between the markers of a file (a README) with `text`; ValueError when
    the file has no such block."""
    path = Path(path)
    content = path.read_text(encoding="utf-8")
    if start not in content or end not in content or content.index(start) > content.index(end):
        raise ValueError(f"'{path.name}' has no {start} ... {end} block to rewrite")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    atomic_write_text(path, f"{head}{start}\n{text}\n{end}{tail}")
