"""What the import and the cleaning did, line by line accounted for: `CleaningReport`, stored in
every bundle, printed by `train` and shown by the app before and after training."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

EXAMPLES_SHOWN = 3


@dataclass
class CleaningStep:
    """One cleaning rule: how many lines, items and users it removed or flagged."""

    action: str  # "removed" | "flagged"
    reason: str
    lines: int
    items: int
    users: int
    examples: list[str] = field(default_factory=list)


@dataclass
class CleaningReport:
    """What `clean_transactions` did; lines_in - removed lines == lines_out (guest lines included)."""

    lines_in: int
    lines_out: int
    steps: list[CleaningStep] = field(default_factory=list)
    non_product_items: list[str] = field(default_factory=list)
    # items left out (or kept by '!id') as non-products: item_id, lines, strong, excluded, evidence,
    # rule ('name' | 'shape' | 'price': a placeholder price) and kind
    suspects: list[dict] = field(default_factory=list)
    placeholder_prices: list[dict] = field(default_factory=list)  # price, lines, items, evidence
    excluded_items: list[str] = field(default_factory=list)  # the analyst's exclusion list, as applied
    warnings: list[str] = field(default_factory=list)
    # what reading the file did (recsys.io.canonical): file, sheets, lines, columns, dates, guest lines...
    source: dict = field(default_factory=dict)
    guest_lines: int = 0      # kept lines without a customer id (anonymous baskets)
    guest_baskets: int = 0
    # lines, matched, unmatched, unmatched_units, sales_cancelled, sales_reduced
    cancellations: dict = field(default_factory=dict)
    kinds: dict = field(default_factory=dict)  # lines per kind of non-product line found by name or shape

    @property
    def lines_removed(self) -> int:
        """Lines removed by all steps together."""
        return sum(s.lines for s in self.steps if s.action == "removed")

    def to_dict(self) -> dict:
        """Plain dict (JSON-serialisable) of the report."""
        return {**asdict(self), "lines_removed": self.lines_removed}

    def to_frame(self) -> pd.DataFrame:
        """One row per step, for display."""
        rows = [{**asdict(s), "examples": ", ".join(s.examples)} for s in self.steps]
        return pd.DataFrame(rows, columns=["action", "reason", "lines", "items", "users", "examples"])

    def summary(self) -> str:
        """Human text: what was read, the totals, one line per step, then the kinds, the
        cancellations, the suspects with their evidence and the warnings."""
        return summary_text(self.to_dict())


def summary_text(report: dict) -> str:
    """`CleaningReport.summary` of a report as stored (a dict; older bundles lack some keys)."""
    lines = read_lines(report.get("source") or {})
    totals = (f"{report.get('lines_in', 0):,} lines in, {report.get('lines_removed', 0):,} removed, "
              f"{report.get('lines_out', 0):,} out")
    if report.get("guest_lines"):
        totals += (f" ({report['guest_lines']:,} of them guest lines in {report.get('guest_baskets', 0):,} "
                   "anonymous baskets: they count for popularity, bought together, prices and the catalogue, "
                   "never as a customer)")
    lines.append(totals)
    for step in report.get("steps", []):
        if not step.get("lines"):  # a rule that found nothing here: in the table, not in the text
            continue
        examples = step.get("examples") or []
        shown = f" (e.g. {'; '.join(examples[:EXAMPLES_SHOWN])})" if examples and step.get("lines") else ""
        lines.append(f"- {step['action']} {step['lines']:,} lines ({step['items']:,} items, {step['users']:,} "
                     f"customers): {step['reason']}{shown}")
    kinds = report.get("kinds") or {}
    if kinds:
        lines.append("non-product lines by kind: " + "; ".join(f"{k} {v:,}" for k, v in kinds.items()))
    c = report.get("cancellations") or {}
    if c.get("lines"):
        lines.append(f"cancellations and returns: {c['lines']:,} lines; {c['matched']:,} netted against "
                     f"{c['sales_cancelled'] + c['sales_reduced']:,} earlier sales of the same customer and item "
                     f"({c['sales_cancelled']:,} removed, {c['sales_reduced']:,} kept with the units left); "
                     f"{c['unmatched']:,} with no earlier sale to net ({c['unmatched_units']:,.0f} units)")
    if report.get("non_product_items"):
        items = report["non_product_items"]
        lines.append(f"non-product items ({len(items)}): {', '.join(items[:30])}{' ...' if len(items) > 30 else ''}")
    for p in report.get("placeholder_prices", []):
        lines.append(f"placeholder price {p['price']:.2f} (lines removed): {p['evidence']}")
    for s in report.get("suspects", []):
        verdict = "excluded" if s["excluded"] else "kept"
        what = "suspect non-product" if s.get("rule", "price") == "price" else "non-product"
        lines.append(f"{what} {s['item_id']} ({s['lines']:,} lines, {verdict}): {s['evidence']}")
    lines += [f"warning: {w}" for w in report.get("warnings", [])]
    return "\n".join(lines)


def read_lines(source: dict) -> list[str]:
    """What reading the file did, in a few lines ([] when the report has no source facts)."""
    if not source:
        return []
    where = source.get("file", "the file") + (f", sheet(s) {', '.join(source['sheets'])}" if source.get("sheets") else "")
    out = [f"read {where}: {source.get('lines', 0):,} lines"]
    if source.get("columns"):
        out.append("columns: " + ", ".join(f"{h} -> {t}" for h, t in source["columns"].items()))
    if source.get("dates"):
        out.append(f"dates: {source['dates']}, {source.get('first_date', '')[:16]} to {source.get('last_date', '')[:16]}")
    if source.get("guest_lines"):
        out.append(f"guest lines (no customer id): {source['guest_lines']:,} in {source.get('guest_baskets', 0):,} "
                   "baskets, kept as anonymous baskets")
    if source.get("cancelled_ticket_lines"):
        out.append(f"lines on tickets marked cancelled ('C' + number): {source['cancelled_ticket_lines']:,}, read "
                   "as cancellations")
    if source.get("catalogue"):
        out.append(f"catalogue: {source['catalogue']}")
    return out
