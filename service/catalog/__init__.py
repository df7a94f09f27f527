"""Importing vendors, products, orders and subscriptions in the format of SPEC §8.

fields.py         reading one record's fields, errors that name the field and the fix
parse.py          validating a whole document before anything is written
subscriptions.py  an order's subscription: what the import says, what maildesk fills in
writing.py        upserting a validated catalog in one transaction

Importing is idempotent: vendors are upserted by `id`, products by `sku`,
orders by `reference`; refunds already recorded on an order's bills, a
subscription and everything that happened to it, a vendor's generated API
key and its abuse flag all survive a re-import.
"""

from __future__ import annotations

from service.catalog.fields import ImportError_, mailbox
from service.catalog.parse import VENDOR_ID, Catalog, parse_catalog
from service.catalog.writing import import_catalog, write_catalog

__all__ = [
    "VENDOR_ID",
    "Catalog",
    "ImportError_",
    "import_catalog",
    "mailbox",
    "parse_catalog",
    "write_catalog",
]
