"""Purchase lookup: the order's license key and download link, only to the order's own address.

By email (`lookup@`) and by the web form alike. The answer goes to the
address asked about, and only there: a stranger who types someone else's
address makes maildesk mail that person, never the stranger; a lookup that
finds nothing says so in the same kind of email, naming nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from service.desk import Desk
from service.domain.notifications import LOOKUP_RESULT
from service.store import InboundReceipt
from service.usecases.outcomes import LookupAnswered
from service.usecases.requests import CustomerAt, find_order


async def look_up_purchase(
    desk: Desk,
    *,
    email: str,
    words: Sequence[str],
    receipt: InboundReceipt | None = None,
) -> LookupAnswered:
    """Mail `email` the first of `words` that is one of its orders, or that none was found."""
    reference = await find_order(desk, CustomerAt(email), words)
    if reference is None:
        kept = replace(receipt, status="refused", detail="no purchase found") if receipt else None
        await desk.notify_address(email, LOOKUP_RESULT, {}, receipt=kept)
    else:
        await desk.notify_address(
            email,
            LOOKUP_RESULT,
            {"reference": reference},
            order_reference=reference,
            receipt=receipt,
        )
    return LookupAnswered(reference)
