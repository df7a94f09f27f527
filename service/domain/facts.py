"""What a ticket's rules may know beyond the ticket itself: its vendor, its order, the calendar.

A value the funnel loads once per event (and a page or the API loads the same
way) so that the state machine and `allowed_actions` decide from the very same
facts.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.calendar import BusinessCalendar
from service.domain.records import Order, Vendor


@dataclass(frozen=True)
class Facts:
    """A ticket's vendor and order, and what else is open on that order.

    `open_request` is the number of another open refund or cancelation ticket
    on the same order, if any: one request at a time per order.
    """

    vendor: Vendor
    order: Order
    open_request: int | None = None

    @property
    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.vendor.timezone)
