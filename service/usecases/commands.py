"""A party's action on a ticket: a reply, a close, a change, an approval, an escalation.

Every door checks who is asking in its own way (a reply address and its
`From`, a signed link, an API key) and then hands the events here; the state
machine decides, and this answers with a typed outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from service.desk import Desk, TicketAction, TicketNotFound
from service.domain.events import TicketEvent
from service.store import InboundReceipt
from service.usecases.outcomes import CommandOutcome, Done, Door, Refused, TicketMissing


async def act_on_ticket(
    desk: Desk,
    *,
    number: int,
    events: Sequence[TicketEvent],
    door: Door,
    blobs: Mapping[str, bytes] | None = None,
    receipt: InboundReceipt | None = None,
) -> CommandOutcome:
    """Apply `events` to ticket `number` in one transaction, in order."""
    try:
        outcome = await desk.apply(
            TicketAction(number, tuple(events), blobs or {}),
            answered_directly=door is Door.API,
            receipt=receipt,
        )
    except TicketNotFound:
        return TicketMissing(number)
    assert outcome.ticket is not None
    if outcome.refusals:
        return Refused(outcome.refusals, outcome.ticket)
    return Done(outcome.ticket)
