"""Which column of a file is which canonical column: the analyst's map first, then the names
stores use (compared without case, spaces, underscores or punctuation), then close guesses."""
from __future__ import annotations

import difflib
import re

from recsys.errors import DataError
from recsys.io.problems import HEADER_ROW, Where
from recsys.io.schema import (
    CANONICAL_COLUMNS,
    CATEGORY,
    CUSTOMER_TYPE,
    ITEM_ID,
    ITEM_NAME,
    LINE_VALUE,
    PRICE,
    QUANTITY,
    REQUIRED_COLUMNS,
    TICKET_AMOUNT,
    TICKET_ID,
    TIMESTAMP,
    USER_ID,
)

# Source columns that are not canonical but build the ticket id: a basket is (pos, ticket, datetime).
POS_NUMBER = "pos_number"
TICKET_NUMBER = "ticket_number"
MAPPABLE_COLUMNS = CANONICAL_COLUMNS + (LINE_VALUE, ITEM_NAME, CATEGORY, POS_NUMBER, TICKET_NUMBER)
IGNORE = "ignore"       # a column_map target: leave this column out, whatever its name suggests

# Accepted spellings per target column, compared after `normalise_header`; earlier ones win.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    USER_ID: ("userid", "user", "customerid", "customer", "loyaltyid", "loyalty", "clientid",
              "client", "memberid", "customerno", "customernumber"),
    ITEM_ID: ("itemid", "item", "plu", "productid", "product", "sku", "articleid", "article", "stockcode"),
    TIMESTAMP: ("timestamp", "ticketdatetime", "datetime", "date", "transactiondatetime",
                "transactiondate", "transactiondt", "orderdate", "time", "ts", "invoicedate"),
    QUANTITY: ("quantity", "unitssold", "units", "qty", "count"),
    PRICE: ("price", "itemprice", "unitprice"),
    TICKET_ID: ("ticketid", "basketid", "basket", "orderid", "transactionid", "receiptid", "invoiceno",
                "invoice", "invoicenumber", "invoiceid", "orderno", "ordernumber"),
    CUSTOMER_TYPE: ("customertype", "usertype"),
    TICKET_AMOUNT: ("ticketamount", "tickettotal", "baskettotal", "ordertotal"),
    POS_NUMBER: ("posnumber", "pos", "posid", "register"),
    TICKET_NUMBER: ("ticketnumber", "ticketno", "receiptnumber"),
    LINE_VALUE: ("linevalue", "linetotal", "lineamount"),
    ITEM_NAME: ("itemname", "productname", "itemdescription", "description"),
    CATEGORY: ("category", "productcategory", "department", "dept", "productsubclass"),
}


def normalise_header(name: object) -> str:
    """Header compared without case, spaces, underscores or punctuation."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def column_map_problems(column_map: dict[str, str] | None, where: Where) -> list[DataError]:
    """Problems with a column_map whose targets are not canonical column names."""
    problems = []
    for source, target in (column_map or {}).items():
        if target not in MAPPABLE_COLUMNS and target != IGNORE:
            close = difflib.get_close_matches(str(target), MAPPABLE_COLUMNS, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(where.error(
                f"column_map maps '{source}' to '{target}', which is not a canonical column{hint}; "
                f"targets: {', '.join(MAPPABLE_COLUMNS)} (or '{IGNORE}')",
                column=str(source),
            ))
    targets = list((column_map or {}).values())
    for target in set(targets) - {IGNORE}:
        if targets.count(target) > 1:
            sources = [s for s, t in column_map.items() if t == target]
            problems.append(where.error(f"column_map maps {sources} all to '{target}'; map one column to it",
                                        column=", ".join(map(str, sources))))
    if PRICE in targets and LINE_VALUE in targets:
        both = [s for s, t in column_map.items() if t in (PRICE, LINE_VALUE)]
        problems.append(where.error(
            f"column_map maps both a unit price and a line value ({both}); map the one the file has: "
            "price when the column is the price of one unit, line_value when it is the line's total",
            column=", ".join(map(str, both))))
    return problems


def resolve_columns(found: list[str], column_map: dict[str, str] | None) -> dict[str, str]:
    """Target column -> header in the file, from column_map first and then the known aliases."""
    by_normal: dict[str, str] = {}
    for header in found:
        by_normal.setdefault(normalise_header(header), header)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for source, target in (column_map or {}).items():
        header = source if source in found else by_normal.get(normalise_header(source))
        if header is not None and target == IGNORE:
            used.add(header)  # the analyst said: not this column, whatever its name suggests
        elif header is not None and target not in mapping:
            mapping[target] = header
    used |= set(mapping.values())
    # a unit price and a line value are two readings of one fact: an explicit one rules out the other
    skip = {LINE_VALUE} if PRICE in mapping else {PRICE} if LINE_VALUE in mapping else set()
    for target, aliases in COLUMN_ALIASES.items():
        if target in mapping or target in skip:
            continue
        header = next((by_normal[a] for a in aliases if a in by_normal and by_normal[a] not in used), None)
        if header is not None:
            mapping[target] = header
            used.add(header)
    if PRICE in mapping and LINE_VALUE in mapping:  # both found by name: the unit price is the price
        del mapping[LINE_VALUE]
    return mapping


def propose_mapping(found: list[str], column_map: dict[str, str] | None = None) -> dict[str, str]:
    """Header -> canonical name for every header: the map, the known names, then close guesses
    for the required columns still missing ('ignore' for the rest). What the app's form proposes."""
    mapping = resolve_columns(found, column_map)
    for target in REQUIRED_COLUMNS:
        if target in mapping or (target == PRICE and LINE_VALUE in mapping):
            continue
        guess = closest_header(target, [h for h in found if h not in mapping.values()])
        if guess is not None:
            mapping[target] = guess
    by_header = {header: target for target, header in mapping.items()}
    return {h: by_header.get(h, IGNORE) for h in found}


def mapping_or_raise(
    found: list[str], column_map: dict[str, str] | None, where: Where, required: tuple[str, ...],
    check_unknown: bool = True,
) -> dict[str, str]:
    """The column mapping, or DataError naming the missing columns and the closest headers.
    `check_unknown=False` where one map serves several sheets that each lack some of its columns."""
    if check_unknown:
        by_normal = {normalise_header(h) for h in found}
        unknown = [s for s in (column_map or {}) if s not in found and normalise_header(s) not in by_normal]
        if unknown:
            raise where.error(f"column_map names {unknown}, not column(s) of the file; columns found: {found}",
                              column=", ".join(map(str, unknown)), row=HEADER_ROW)
    mapping = resolve_columns(found, column_map)
    missing = [c for c in required if c not in mapping and not (c == PRICE and LINE_VALUE in mapping)]
    if missing:
        raise missing_columns_error(missing, found, mapping, where)
    return mapping


def missing_columns_error(
    missing: list[str], found: list[str], mapping: dict[str, str], where: Where
) -> DataError:
    """DataError listing missing columns, the columns found and a guess for each missing one."""
    unused = [h for h in found if h not in mapping.values()]
    hints = []
    for target in missing:
        guess = closest_header(target, unused)
        if guess is not None:
            hints.append(f"'{guess}' for {target}")
    accepted = "; ".join(f"{t}: {', '.join(COLUMN_ALIASES[t][:4])}" for t in missing)
    message = (
        f"missing required column(s) {', '.join(missing)}; columns found: {found}"
        + (f"; did you mean {', '.join(hints)}?" if hints else "")
        + f" (accepted names, ignoring case/spaces/underscores: {accepted};"
        + " or map them: --columns '<your column>=<canonical name>,...' or a mapping file on the command line,"
        + " the mapping form in the app, column_map={'<your column>': '<canonical name>'} in Python)"
    )
    return where.error(message, column=", ".join(missing), row=HEADER_ROW)


def closest_header(target: str, headers: list[str], cutoff: float = 0.6) -> str | None:
    """The header that looks most like one of the target's accepted names, if any is close."""
    best, best_score = None, cutoff
    for header in headers:
        normal = normalise_header(header)
        score = max(difflib.SequenceMatcher(None, normal, alias).ratio() for alias in COLUMN_ALIASES[target])
        if score >= best_score:
            best, best_score = header, score
    return best
