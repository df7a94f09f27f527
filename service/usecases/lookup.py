"""Purchase lookup: license keys and download links, only ever to the address they were bought with.

By email (`lookup@`) and by the web form alike. The answer goes to the
address asked about, and only there: a stranger who types someone else's
address makes maildesk mail that person, never the stranger. A lookup that
names one of the address's orders gets that order. An email that names none
of them (or nothing at all) gets every purchase made with the sending
address, from any vendor of this deployment: the mail goes to that address
alone, so nothing leaks, and a customer who lost the receipt finds the
reference too. A lookup that finds nothing says so, repeating the reference
it read, with advice for the door it came through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from service.desk import Desk
from service.domain.notifications import LOOKUP_RESULT
from service.store import InboundReceipt
from service.usecases.outcomes import Door, LookupAnswered
from service.usecases.requests import CustomerAt, find_order, no_purchase_reason, reference_read

MAX_LISTED = 50
"""Purchases listed in one answer, newest first."""


async def look_up_purchase(
    desk: Desk,
    *,
    email: str,
    words: Sequence[str],
    door: Door,
    utc_offset: int | None = None,
    receipt: InboundReceipt | None = None,
) -> LookupAnswered:
    """Mail `email` the first of `words` that is one of its orders, its purchases, or none found.

    `utc_offset` is the zone of the email that asked (its `Date` header), the
    zone its answer's times are shown in.
    """
    reference = await find_order(desk, CustomerAt(email), words)
    if reference is not None:
        await desk.notify_address(
            email,
            LOOKUP_RESULT,
            {"reference": reference},
            order_reference=reference,
            receipt=receipt,
            utc_offset=utc_offset,
        )
        return LookupAnswered(reference)
    named = reference_read(words, door)
    if door is Door.EMAIL:
        async with desk.store.reading() as q:
            purchases = await q.orders.of_customer(email, limit=MAX_LISTED)
        if purchases:
            await desk.notify_address(
                email,
                LOOKUP_RESULT,
                {"named": named} if named else {},
                receipt=receipt,
                orders=purchases,
                utc_offset=utc_offset,
            )
            return LookupAnswered(None, tuple(purchases))
    kept = replace(receipt, status="refused", detail="no purchase found") if receipt else None
    await desk.notify_address(
        email,
        LOOKUP_RESULT,
        {"reason": _nothing_found(email, door, named)},
        receipt=kept,
        utc_offset=utc_offset,
    )
    return LookupAnswered(None)


def _nothing_found(email: str, door: Door, named: str | None) -> str:
    """Why the lookup found nothing, with the advice for its door, once."""
    if door is Door.EMAIL and named is None:
        return (
            f"We found no purchases made with {email}. Write from the email address you "
            "bought with; if you have your receipt, put its order reference in the subject."
        )
    return no_purchase_reason(CustomerAt(email), email, door, named)
