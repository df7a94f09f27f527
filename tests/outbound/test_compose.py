"""Composing queued notifications: what both parties' copies of one event share."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from service.clock import FakeClock
from service.desk import Desk, OpenRequest, TicketAction
from service.domain.events import Open, Reply
from service.domain.records import Party, Sender, TicketType
from service.outbound.compose import Composer, MailSettings, Snapshots
from service.outbound.render import Renderer
from service.store import EmailItem, Store
from tests.conftest import DOMAIN
from tests.outbound.test_outbox import SECRET

pytestmark = pytest.mark.anyio

_BOUNDARY = re.compile(rb"=_[0-9a-f]{32}")


async def test_both_copies_of_an_event_share_one_read_and_read_as_if_composed_alone(
    desk: Desk, store: Store, catalog: dict[str, Any], clock: FakeClock
) -> None:
    writer = Sender("jane@example.test", "Jane", utc_offset=60)  # her Date: says +0100
    opened = await desk.apply(
        OpenRequest("BOOK0001", Open(TicketType.SUPPORT, Party.CUSTOMER, "Help", sender=writer))
    )
    assert opened.ticket is not None
    await desk.apply(TicketAction(opened.ticket.number, (Reply(Party.VENDOR, "Try v2.1"),)))
    async with store.transaction() as q:
        claimed = await q.outbox.claim(clock.now(), clock.now() + timedelta(minutes=5), 10)
    emails = [m.item for m in claimed if isinstance(m.item, EmailItem)]
    events = {(e.kind, e.party): e for e in emails}
    assert len(events) == len(emails) == 4
    customer, vendor = events["reply", "customer"], events["reply", "vendor"]
    # Each reader's row has its own zone: the customer's +01:00, the vendor's New York.
    assert customer.payload["zone"] != vendor.payload["zone"]

    composer = Composer(store, Renderer(), MailSettings(SECRET, DOMAIN, "http://desk.test"))
    snapshots = Snapshots()
    together = [await composer.compose(email, snapshots) for email in emails]
    alone = [await composer.compose(email) for email in emails]

    assert snapshots.get(customer) is snapshots.get(vendor) is not None
    # Both events are one seller's: its vendor row was read once for the batch.
    assert [v.id if v else None for v in snapshots.vendors.values()] == [vendor.payload["vendor"]]
    assert snapshots.get(events["ticket_opened", "customer"]) is not snapshots.get(customer)
    assert [_BOUNDARY.sub(b"=_", m) for m in together] == [_BOUNDARY.sub(b"=_", m) for m in alone]
