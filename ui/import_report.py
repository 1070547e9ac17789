"""What the import did, as the analyst reads it before training (the validation report) and after
(the cleaning report of the trained data): the facts, then the rules that removed or flagged lines."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.overview import CLEANING_COLUMNS, cleaning_frame

def import_facts(report: dict) -> pd.DataFrame:
    """One row per fact of a cleaning report (as stored): what was read, the guest lines, the
    cancellations, the non-product lines by kind, and what is left to train on."""
    source = report.get("source") or {}
    rows = []
    if source:
        sheets = f" (sheet {', '.join(source['sheets'])})" if source.get("sheets") else ""
        rows.append(("Read", f"{source.get('file', 'the file')}{sheets}: {source.get('lines', 0):,} lines"))
        if source.get("columns"):
            rows.append(("Columns", ", ".join(f"{h} → {t}" for h, t in source["columns"].items())))
        if source.get("dates"):
            rows.append(("Dates", f"{source['dates']}: {source.get('first_date', '')[:16]} to "
                                  f"{source.get('last_date', '')[:16]}"))
        if source.get("catalogue"):
            rows.append(("Catalogue", str(source["catalogue"])))
    if report.get("guest_lines") or source.get("guest_lines"):
        rows.append(("Guest lines", f"{report.get('guest_lines', 0):,} lines in {report.get('guest_baskets', 0):,} "
                                    "baskets without a customer id: they count for popularity, bought together, "
                                    "prices and the catalogue, never as a customer"))
    c = report.get("cancellations") or {}
    if c.get("lines"):
        marked = source.get("cancelled_ticket_lines", 0)
        rows.append(("Cancellations", f"{c['lines']:,} lines ({marked:,} on tickets marked cancelled): {c['matched']:,} "
                                      f"netted against {c['sales_cancelled'] + c['sales_reduced']:,} earlier sales "
                                      f"({c['sales_cancelled']:,} removed, {c['sales_reduced']:,} kept with the units "
                                      f"left); {c['unmatched']:,} with no earlier sale to net"))
    kinds = report.get("kinds") or {}
    if kinds:
        rows.append(("Non-product lines", "; ".join(f"{k}: {v:,}" for k, v in kinds.items())
                     + " (left out; the list below says why, item by item)"))
    customers = report.get("lines_out", 0) - report.get("guest_lines", 0)
    rows.append(("To train on", f"{report.get('lines_out', 0):,} of {report.get('lines_in', 0):,} lines "
                                f"({customers:,} of customers, {report.get('guest_lines', 0):,} of guests)"))
    return pd.DataFrame(rows, columns=["fact", "value"])


def show_import_report(report: dict, key: str) -> None:
    """The facts, the rules that found something (with examples) and the warnings."""
    for warning in report.get("warnings", []):
        st.warning(warning, icon=":material/warning:")
    # sentences, not a table: a grid cuts long values at its column's width
    facts = import_facts(report)
    st.markdown("\n".join(f"- **{fact}**: {value}" for fact, value in zip(facts["fact"], facts["value"])))
    steps = cleaning_frame(report)
    st.dataframe(steps[steps["lines"] > 0], hide_index=True, key=f"{key}_steps", column_config=CLEANING_COLUMNS)
    suspects = [s for s in report.get("suspects", []) if s.get("excluded")]
    if suspects:
        st.caption("Left out as non-products: " + "; ".join(f"**{s['item_id']}** ({s['lines']:,} lines): {s['evidence']}"
                                                            for s in suspects[:8])
                   + (" …" if len(suspects) > 8 else "") + ". Keep one with the list under *Items left out of "
                   "training* after the first training, or `!id` in the file's exclusion list.")
