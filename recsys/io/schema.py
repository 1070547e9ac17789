"""The canonical transaction frame: its columns and what each holds."""
from __future__ import annotations

# Canonical columns of a transaction frame, one row per point-of-sale line.
USER_ID = "user_id"          # str; "" on a guest line (a sale without a customer id: an anonymous basket)
ITEM_ID = "item_id"          # str (real item ids mix ints and strings)
TIMESTAMP = "timestamp"      # datetime64[ns], naive local time
QUANTITY = "quantity"        # float64, units sold (negative = return)
PRICE = "price"              # float64, unit price
TICKET_ID = "ticket_id"      # str, a basket: (pos, ticket number, ticket datetime) in the workbook
CUSTOMER_TYPE = "customer_type"  # str: "loyal" or "new" ("guest" on a guest line)
TICKET_AMOUNT = "ticket_amount"  # float64, optional: the basket total (negative = refund)

# Optional item facts: from the sales file itself or from a catalogue joined by item id.
ITEM_NAME = "item_name"      # category dtype, the product's name
CATEGORY = "category"        # category dtype, the product's category (a code or a word)
LIST_PRICE = "list_price"    # float64, the catalogue's current unit price (NaN = not in the catalogue)
# Not a column of the frame: a source column holding the line's value, from which price = value / quantity.
LINE_VALUE = "line_value"

REQUIRED_COLUMNS = (USER_ID, ITEM_ID, TIMESTAMP, QUANTITY, PRICE)
OPTIONAL_COLUMNS = (TICKET_ID, CUSTOMER_TYPE, TICKET_AMOUNT)
CANONICAL_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
ITEM_COLUMNS = (ITEM_NAME, CATEGORY, LIST_PRICE)  # present only when the source has them, in this order
CUSTOMER_TYPES = ("loyal", "new")
GUEST = "guest"              # the customer type of a guest line (its user_id is "")
