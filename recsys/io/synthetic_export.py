"""A synthetic web shop's export, as stores send them: what the loader and the cleaning must take
as it comes (the tests train on it; `python -m recsys demo-data --export` writes one).

The columns of an online retailer's order lines: InvoiceNo, StockCode, Description, Quantity,
InvoiceDate (month first, `12/1/2024 8:26`), UnitPrice, CustomerID, Country. On top of the
synthetic store's sales (`recsys.io.synthetic.generate_store`, with product names):

- **guest lines**: the orders of a share of the shoppers carry no CustomerID (`guest_share` of
  the lines, 25% by default); one product (`GUEST_ONLY`) is bought by guests only, always with
  one partner product, so it is popular and bought together only through guest baskets;
- **postage and fees** as priced lines named in English, German and French (`NON_PRODUCTS`):
  postage on a share of the orders, in the customer's country's language, fees on a few; and
  one code unlike the products (letters only, a neutral name) found by its shape alone;
- **cancellation invoices**: `C` + a number, later than the order, taking back all or part of
  one of its lines (matched), and a few taking back what the customer never bought (unmatched).

Deterministic: the same arguments give the same frame, and `ExportFacts` says what was planted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.io.synthetic import BAG_ITEM, DEPT_ITEMS, generate_store

COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
# what the loader needs to hear (it guesses all of these by name too; Country is not used)
EXPORT_MAPPING = {"InvoiceNo": "ticket_id", "StockCode": "item_id", "Description": "item_name",
                  "Quantity": "quantity", "InvoiceDate": "timestamp", "UnitPrice": "price",
                  "CustomerID": "user_id", "Country": "ignore"}
COUNTRIES = np.array(["United Kingdom", "Germany", "France"], dtype=object)
COUNTRY_P = np.array([0.6, 0.2, 0.2])
# (code, description, price, kind) per country: postage on orders, fees on a few
POSTAGE = {"United Kingdom": ("POST", "POSTAGE", 18.0), "Germany": ("V100", "Versandkosten", 4.95),
           "France": ("P200", "Frais de port", 5.9)}
FEES = {"United Kingdom": ("BANK CHARGES", "Bank Charges", 15.0), "Germany": ("G300", "Bearbeitungsgebühr", 2.5),
        "France": ("F400", "Frais de service", 1.5)}
SHAPE_ONLY = ("PADS", "Pads to match all cushions", 0.5)   # no digit, a neutral name: its shape tells
GUEST_ONLY = ("90001", "Guest favourite tea towel", 3.25)
POSTAGE_SHARE, FEE_SHARE, SHAPE_SHARE = 0.3, 0.02, 0.01      # of the orders
CANCEL_SHARE, UNMATCHED_CANCELS = 0.03, 12                  # of the customers' orders; cancellations of nothing
GUEST_ONLY_SHARE = 0.6                                      # of the guest orders
FIRST_INVOICE, FIRST_CUSTOMER = 536365, 12346


@dataclass
class ExportFacts:
    """What the generator planted (the tests check that the cleaning finds it)."""

    lines: int
    guest_lines: int
    postage_codes: list[str]
    fee_codes: list[str]
    shape_code: str
    cancellation_lines: int
    unmatched_cancellation_lines: int
    guest_only_item: str
    partner_item: str


def generate_export(n_customers: int = 400, n_items: int = 400, n_lines: int = 20_000, guest_share: float = 0.25,
                    seed: int = 0) -> tuple[pd.DataFrame, ExportFacts]:
    """An export of about `n_lines` lines (see the module's docstring) and what it holds."""
    if not 0.0 <= guest_share < 1.0:
        raise ValueError("guest_share must be within 0..1 (1 excluded)")
    rng = np.random.default_rng([seed, 0x455850])  # "EXP"
    base = _products_only(generate_store(n_users=max(int(n_customers / (1 - guest_share)), 2), n_items=n_items,
                                         n_lines=n_lines, seed=seed, names=True, new_customer_share=0.2))
    guest_user = _guest_users(rng, base, guest_share)
    lines = pd.DataFrame({
        "ticket": base["ticket_id"].astype(str).to_numpy(), "user": base["user_id"].astype(str).to_numpy(),
        "StockCode": base["item_id"].astype(str).to_numpy(), "Description": base["item_name"].astype(str).to_numpy(),
        "Quantity": base["quantity"].to_numpy(), "time": base["timestamp"].to_numpy(),
        "UnitPrice": base["price"].to_numpy()})
    lines["guest"] = lines["user"].isin(guest_user)
    orders = _orders(rng, lines)
    partner = lines.loc[~lines["guest"], "StockCode"].value_counts().index[0]
    planted = [lines, _guest_only(rng, orders, partner, lines),
               _order_lines(rng, orders, POSTAGE, POSTAGE_SHARE), _order_lines(rng, orders, FEES, FEE_SHARE),
               _shape_lines(rng, orders)]
    cancels = _cancellations(rng, lines, orders)
    export = _as_export(pd.concat(planted + [cancels], ignore_index=True), orders)
    facts = ExportFacts(
        lines=len(export), guest_lines=int(export["CustomerID"].isna().sum()),
        postage_codes=[c for c, _, _ in POSTAGE.values()], fee_codes=[c for c, _, _ in FEES.values()],
        shape_code=SHAPE_ONLY[0], cancellation_lines=len(cancels),
        unmatched_cancellation_lines=int(cancels["unmatched"].sum()), guest_only_item=GUEST_ONLY[0],
        partner_item=str(partner))
    return export, facts


def _products_only(store: pd.DataFrame) -> pd.DataFrame:
    """The store's sales of products (no till keys, no refunds: the export plants its own)."""
    till = store["item_id"].astype(str).isin([BAG_ITEM, *DEPT_ITEMS])
    return store[~till.to_numpy() & (store["quantity"] > 0).to_numpy()].reset_index(drop=True)


def _guest_users(rng: np.random.Generator, store: pd.DataFrame, share: float) -> np.ndarray:
    """Shoppers, in a random order, until their lines make `share` of all: they shop as guests."""
    per_user = store["user_id"].astype(str).value_counts()
    order = rng.permutation(len(per_user))
    lines = per_user.to_numpy()[order]
    take = int(np.searchsorted(np.cumsum(lines), share * len(store)))
    return per_user.index.to_numpy()[order][:take]


def _orders(rng: np.random.Generator, lines: pd.DataFrame) -> pd.DataFrame:
    """One row per order: its ticket, user, guest flag, time, country and invoice number."""
    orders = lines.groupby("ticket", sort=False).agg(user=("user", "first"), guest=("guest", "first"),
                                                     time=("time", "first")).reset_index()
    orders = orders.sort_values("time", kind="stable").reset_index(drop=True)
    orders["invoice"] = (FIRST_INVOICE + np.arange(len(orders))).astype(str)
    users = orders["user"].unique()
    country = dict(zip(users, rng.choice(COUNTRIES, size=len(users), p=COUNTRY_P)))
    orders["country"] = orders["user"].map(country)
    return orders


def _order_lines(rng: np.random.Generator, orders: pd.DataFrame, catalogue: dict, share: float) -> pd.DataFrame:
    """One line of the country's code on a share of the orders."""
    pick = orders[rng.random(len(orders)) < share]
    codes = pick["country"].map(catalogue)
    return pd.DataFrame({"ticket": pick["ticket"].to_numpy(), "user": pick["user"].to_numpy(),
                         "StockCode": [c[0] for c in codes], "Description": [c[1] for c in codes],
                         "Quantity": 1.0, "time": pick["time"].to_numpy(), "UnitPrice": [c[2] for c in codes],
                         "guest": pick["guest"].to_numpy()})


def _shape_lines(rng: np.random.Generator, orders: pd.DataFrame) -> pd.DataFrame:
    return _order_lines(rng, orders, {c: SHAPE_ONLY for c in COUNTRIES}, SHAPE_SHARE)


def _guest_only(rng: np.random.Generator, orders: pd.DataFrame, partner: str, lines: pd.DataFrame) -> pd.DataFrame:
    """The guest-only product with its partner, on a share of the guest orders."""
    guests = orders[orders["guest"].to_numpy()]
    pick = guests[rng.random(len(guests)) < GUEST_ONLY_SHARE]
    partner_row = lines.loc[lines["StockCode"] == partner].iloc[0]
    n = len(pick)
    both = pd.DataFrame({"ticket": np.repeat(pick["ticket"].to_numpy(), 2), "user": np.repeat(pick["user"].to_numpy(), 2),
                         "StockCode": np.tile([GUEST_ONLY[0], partner], n),
                         "Description": np.tile([GUEST_ONLY[1], partner_row["Description"]], n),
                         "Quantity": 1.0, "time": np.repeat(pick["time"].to_numpy(), 2),
                         "UnitPrice": np.tile([GUEST_ONLY[2], partner_row["UnitPrice"]], n), "guest": True})
    return both


def _cancellations(rng: np.random.Generator, lines: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """Cancellation lines: one line of a share of the customers' orders taken back (all of it, or
    part) 1-10 days later; and lines taking back what the customer never bought."""
    own = lines[~lines["guest"].to_numpy()]
    first = own.groupby("ticket", sort=False).head(1)
    taken = first[rng.random(len(first)) < CANCEL_SHARE]
    part = rng.random(len(taken)) < 0.3
    qty = np.where(part & (taken["Quantity"].to_numpy() > 1), np.ceil(taken["Quantity"].to_numpy() / 2),
                   taken["Quantity"].to_numpy())
    matched = taken.assign(Quantity=-qty, time=taken["time"].to_numpy()
                           + pd.to_timedelta(rng.integers(1, 11, len(taken)), unit="D").to_numpy(), unmatched=False)
    # what was never bought: a product from another customer, by a customer who never had it
    users = own["user"].unique()
    strangers = own.sample(n=min(UNMATCHED_CANCELS, len(own)), random_state=int(rng.integers(1 << 31)))
    who = rng.choice(users, size=len(strangers))
    bought = set(zip(own["user"], own["StockCode"]))
    keep = np.array([(u, s) not in bought and u != o for u, s, o in zip(who, strangers["StockCode"], strangers["user"])])
    unmatched = strangers[keep].assign(user=who[keep], Quantity=-1.0, unmatched=True)
    cancels = pd.concat([matched, unmatched], ignore_index=True)
    cancels["ticket"] = "C" + cancels["ticket"]  # an invoice of its own; numbered in _as_export
    return cancels


def _as_export(lines: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """The lines in the export's columns, in time order: invoice numbers, month-first dates,
    customer numbers (blank for guests), countries."""
    lines = lines.sort_values("time", kind="stable").reset_index(drop=True)
    invoice = dict(zip(orders["ticket"], orders["invoice"]))
    cancelled = lines["ticket"].str.startswith("C")
    base_ticket = lines["ticket"].where(~cancelled, lines["ticket"].str[1:])
    # a cancellation invoice: 'C' + a number of its own, after the orders' numbers
    own_number = pd.factorize(lines["ticket"].where(cancelled))[0]
    numbers = base_ticket.map(invoice)
    numbers = numbers.where(~cancelled, "C" + (FIRST_INVOICE + len(orders) + own_number).astype(str))
    customers = pd.Series(lines["user"].unique())
    number_of = dict(zip(customers, (FIRST_CUSTOMER + np.arange(len(customers))).astype(str)))
    country = dict(zip(orders["user"], orders["country"]))
    time = pd.to_datetime(lines["time"])
    return pd.DataFrame({
        "InvoiceNo": numbers.to_numpy(), "StockCode": lines["StockCode"].to_numpy(),
        "Description": lines["Description"].to_numpy(), "Quantity": lines["Quantity"].astype(int).to_numpy(),
        "InvoiceDate": (time.dt.month.astype(str) + "/" + time.dt.day.astype(str) + "/" + time.dt.year.astype(str)
                        + " " + time.dt.hour.astype(str) + ":" + time.dt.minute.map("{:02d}".format)).to_numpy(),
        "UnitPrice": lines["UnitPrice"].round(2).to_numpy(),
        "CustomerID": lines["user"].map(number_of).where(~lines["guest"].astype(bool)).to_numpy(),
        "Country": lines["user"].map(country).fillna("United Kingdom").to_numpy(),
    })[COLUMNS]
