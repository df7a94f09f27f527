"""The API's path and query parameters: what a valid one looks like, and the 400 that says so.

A parameter is read once, here, into the value the rest of the API uses, or
refused with a sentence that shows a valid value. The rules are strict on
purpose: `int()` reads `١` and `１` as 1 and fails with a traceback on `¹`
or on 5,000 digits, and a database refuses text with NUL in it, so "close
enough" input would alias one ticket under many names or answer 500.

What this module must never do: accept a value the store could choke on, or
two spellings of one ticket.
"""

from __future__ import annotations

import re

from service.catalog import VENDOR_ID
from service.outbound.permanent_links import SUBSCRIPTION_ID

MAX_TICKET_NUMBER = 10**18 - 1
"""The largest ticket number reply addresses and links can carry (service.outbound.addresses)."""
MAX_REFERENCE_LENGTH = 128

_TICKET_NUMBER = re.compile(r"[1-9][0-9]{0,17}")
_STATUSES = ("open", "closed")


class InvalidParameter(ValueError):
    """A path or query parameter that cannot be valid; the message shows a valid one."""


def ticket_number(raw: str) -> int:
    """A ticket number spelt the one way links and addresses spell it: ASCII, no leading zero."""
    if not _TICKET_NUMBER.fullmatch(raw):
        raise InvalidParameter(
            f"a ticket number is a whole number from 1 to {MAX_TICKET_NUMBER} in ASCII digits "
            f"with no leading zeros, like 42; got {shown(raw)}"
        )
    return int(raw)


def vendor_id(raw: str) -> str:
    if not VENDOR_ID.fullmatch(raw):
        raise InvalidParameter(
            "a vendor id is a lower-case slug like acme: letters a-z, digits, '-' and '_', "
            f"at most 40 characters; got {shown(raw)}"
        )
    return raw


def order_reference(raw: str) -> str:
    """Any reference the import can hold that a database can store: printable, not too long."""
    if not 1 <= len(raw) <= MAX_REFERENCE_LENGTH or not raw.isprintable():
        raise InvalidParameter(
            "an order reference is the code on the receipt, like Q7K2M9XA: 1 to "
            f"{MAX_REFERENCE_LENGTH} characters, none of them control characters; got {shown(raw)}"
        )
    return raw


def subscription_id(raw: str) -> str:
    """`S` and digits, as the import and the links spell it (`s1001` is another spelling: no)."""
    if not SUBSCRIPTION_ID.fullmatch(raw):
        raise InvalidParameter(
            f"a subscription id is S followed by digits, like S1001; got {shown(raw)}"
        )
    return raw


_ITEM_NUMBER = re.compile(r"[1-9][0-9]{0,3}")


def item_number(raw: str) -> int:
    """A subscription item's running number: 1, 2, ... as the subscription JSON lists them."""
    if not _ITEM_NUMBER.fullmatch(raw):
        raise InvalidParameter(
            "an item number is a whole number from 1 to 9999 with no leading zeros; "
            f"got {shown(raw)}"
        )
    return int(raw)


def ticket_status(raw: str) -> str:
    if raw not in _STATUSES:
        raise InvalidParameter(f"status must be open or closed; got {shown(raw)}")
    return raw


def shown(raw: str, limit: int = 40) -> str:
    """`raw` quoted for an error message: control characters escaped, at most `limit` kept."""
    return repr(raw[:limit]) + ("…" if len(raw) > limit else "")
