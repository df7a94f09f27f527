"""Opening a request on an order: find the order, let the rules decide, answer "no purchase".

One use case for every door: mail to refund@/cancel@/support@, a vendor's
command address, the refund form, the API. The door says who asks and which
words might name the order (SPEC §8: the subject's words, then the body's);
the first word that is one of the requester's orders is the order. No such
order: "no purchase found", mailed to the requester unless the door answers
itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from service.desk import Desk, OpenRequest, OrderNotFound
from service.domain.events import Open
from service.domain.notifications import REQUEST_REFUSED
from service.domain.records import Attachment, Party, Sender, TicketType
from service.store import InboundReceipt
from service.usecases.outcomes import Door, NoPurchaseFound, Opened, OpenOutcome, Refused

MAX_CANDIDATES = 200
"""Words looked up as order references, at most: each is a query parameter."""
FIRST_LOOKUP = 8
"""Words looked up first, on their own (see `find_order`)."""


@dataclass(frozen=True)
class CustomerAt:
    """A customer, known by the address they write from (or typed into a form)."""

    email: str


@dataclass(frozen=True)
class VendorNamed:
    """A vendor; `email` is the address it wrote from, where a refusal goes (none: the API)."""

    vendor_id: str
    email: str | None = None


@dataclass(frozen=True)
class OperatorOnBehalf:
    """The operator, opening on the customer's behalf under the customer's rules."""


Requester = CustomerAt | VendorNamed | OperatorOnBehalf

_PARTIES: Mapping[type, Party] = {
    CustomerAt: Party.CUSTOMER,
    VendorNamed: Party.VENDOR,
    OperatorOnBehalf: Party.OPERATOR,
}


async def open_request(
    desk: Desk,
    *,
    requester: Requester,
    kind: TicketType,
    words: Sequence[str],
    text: str,
    door: Door,
    attachments: tuple[Attachment, ...] = (),
    blobs: Mapping[str, bytes] | None = None,
    receipt: InboundReceipt | None = None,
    sender: Sender | None = None,
) -> OpenOutcome:
    """Open a `kind` ticket on the first of `words` that is one of the requester's orders.

    A `receipt` (the email that asked) is kept in the same transaction as
    whatever came of it; `sender` is who wrote that email, if one did.
    """
    offset = sender.utc_offset if sender is not None else None
    reference = await find_order(desk, requester, words)
    if reference is None:
        return await _no_purchase(desk, requester, words, door, receipt, offset)
    event = Open(kind, _PARTIES[type(requester)], text, attachments, sender)
    try:
        outcome = await desk.apply(
            OpenRequest(reference, event, blobs or {}),
            answered_directly=door is Door.API,
            receipt=receipt,
        )
    except OrderNotFound:  # removed since it was found: as if it never was
        return await _no_purchase(desk, requester, words, door, receipt, offset)
    if outcome.refusals:
        return Refused(outcome.refusals)
    assert outcome.ticket is not None
    return Opened(outcome.ticket)


async def find_order(desk: Desk, requester: Requester, words: Sequence[str]) -> str | None:
    """The first of `words` (as written, or in capitals) that is one of the requester's orders.

    The first few words are looked up on their own (an email's subject comes
    first, and names the order as a rule), and the rest only when none of
    those is an order: the same answer, without a statement of up to 400
    parameters for every message whose body is long.
    """
    first = _candidates(words[:FIRST_LOOKUP])
    found = await _orders_among(desk, requester, first)
    if found is None and len(words) > FIRST_LOOKUP:
        rest = _candidates(words[FIRST_LOOKUP:MAX_CANDIDATES], besides=first)
        found = await _orders_among(desk, requester, rest)
    return found


async def _orders_among(desk: Desk, requester: Requester, candidates: list[str]) -> str | None:
    """The first of `candidates` that is one of the requester's orders."""
    if not candidates:
        return None
    async with desk.store.reading() as q:
        if isinstance(requester, CustomerAt):
            found = await q.orders.among(candidates, customer_email=requester.email)
        elif isinstance(requester, VendorNamed):
            found = await q.orders.among(candidates, vendor_id=requester.vendor_id)
        else:
            found = await q.orders.among(candidates)
    known = set(found)
    return next((c for c in candidates if c in known), None)


def _candidates(words: Sequence[str], besides: Sequence[str] = ()) -> list[str]:
    """Each word as written and in capitals, once each, in order, leaving out `besides`."""
    seen = dict.fromkeys(besides)
    candidates = []
    for word in words:
        for candidate in (word, word.upper()):
            if candidate not in seen:
                seen[candidate] = None
                candidates.append(candidate)
    return candidates


def reference_read(words: Sequence[str], door: Door) -> str | None:
    """The order reference the requester gave, as far as it can be told, to repeat back.

    A form's field holds exactly what was typed. In an email, the first word
    that mixes letters and digits, as references do ("Q7K2M9XA"), so the
    answer to "Refund Q7K2M9XA" repeats the reference, not "Refund"; None
    when no word looks like one. Only the words are looked at, never which
    orders exist, so the answer tells nobody whether a reference is real.
    """
    if door is not Door.EMAIL:
        return words[0] if words else None
    for word in words[:MAX_CANDIDATES]:
        if any(c.isdigit() for c in word) and any(c.isalpha() for c in word):
            return word
    return None


async def _no_purchase(
    desk: Desk,
    requester: Requester,
    words: Sequence[str],
    door: Door,
    receipt: InboundReceipt | None,
    utc_offset: int | None,
) -> NoPurchaseFound:
    reference = reference_read(words, door)
    kept = replace(receipt, status="refused", detail="no purchase found") if receipt else None
    address = getattr(requester, "email", None)
    if door is Door.API or not address:
        if kept is not None:
            await desk.keep(kept)
        return NoPurchaseFound(reference)
    vendor = isinstance(requester, VendorNamed)
    await desk.notify_address(
        address,
        REQUEST_REFUSED,
        {
            "reason": no_purchase_reason(requester, address, door, reference),
            "code": "no_purchase_found",
            **({"reference": reference} if reference else {}),
        },
        party=Party.VENDOR if vendor else Party.CUSTOMER,
        utc_offset=None if vendor else utc_offset,
        receipt=kept,
    )
    return NoPurchaseFound(reference)


def no_purchase_reason(
    requester: Requester, address: str, door: Door, reference: str | None = None
) -> str:
    """Why nothing was opened, repeating the reference read, with advice for the door, once.

    The email door's advice is about the email (the address it came from, the
    subject); the web form's is about what was typed into the form.
    """
    if isinstance(requester, VendorNamed):
        if reference is None:
            return (
                "The subject named none of your orders. A command's subject is the type "
                '("refund", "cancel" or "support") followed by the order reference, e.g. '
                '"refund Q7K2M9XA".'
            )
        return (
            f"None of your orders has the reference {reference}. A command's subject is the "
            'type ("refund", "cancel" or "support") followed by the order reference, e.g. '
            '"refund Q7K2M9XA".'
        )
    if door is Door.WEB:
        return (
            f"We found no purchase for {address} with the order reference {reference}. Check "
            "the email address and the order reference you typed against your receipt, and "
            "send the form again."
        )
    if reference is None:
        return (
            "We found no order reference in your message, so we could not tell which "
            "purchase you mean. Put the order reference from your receipt (like Q7K2M9XA) in "
            "the subject, and write from the email address you bought with."
        )
    return (
        f"We found no purchase for {address} with the order reference {reference}. Write "
        "from the email address you bought with, and put the order reference from your "
        "receipt in the subject."
    )
