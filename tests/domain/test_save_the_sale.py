"""SPEC §2, the "save the sale" window: what either party may do before processing.

The vendor may close a refund or cancelation, or change it to support (with
the customer's consent, so it is recorded as a save the customer may
escalate), but never turn it into the other kind of request. The customer may
close or change it. Replies never move the processing time.
"""

from __future__ import annotations

import pytest

from service.domain.events import ChangeType, Close, Fire, Reply
from service.domain.records import CloseReason, Party, Timer, TimerEvent
from tests.domain.builders import (
    BOTH,
    CANCELATION,
    CUSTOMER,
    NEW_YORK,
    REFUND,
    SUPPORT,
    VENDOR,
    CancelSubscription,
    RefundBill,
    accepted,
    act,
    at,
    effects_of,
    facts,
    fire,
    is_noop,
    notified,
    opened,
    order,
    refused_with,
    vendor,
)


def ny(text: str):
    return at(text, NEW_YORK)


OPENED = ny("2026-06-08 10:00")  # Monday; processed Tuesday 10:00
DUE = ny("2026-06-09 10:00")


def subscription():
    return facts(vendor(tz=NEW_YORK), order(kind="subscription", billed_at=ny("2026-06-01 09:00")))


def fire_event(ticket):
    """The event of the ticket's pending timer, to fire it again later when it is stale."""
    return Fire(ticket.due.event)


def request(kind=REFUND, f=None):
    f = f or subscription()
    ticket = opened(kind, CUSTOMER, OPENED, f)
    assert ticket.due == Timer(TimerEvent.PROCESS, DUE)
    return ticket, f


# --- the vendor closes: a save, no refund ------------------------------------------


@pytest.mark.parametrize("kind", [REFUND, CANCELATION])
def test_vendor_close_of_a_request_is_a_save_and_nothing_is_processed(kind):
    ticket, f = request(kind)
    saved_at = ny("2026-06-08 15:00")
    transition = act(ticket, Close(VENDOR, "Customer agreed to keep it."), saved_at, f)
    done = transition.ticket
    assert done is not None and not done.is_open
    assert done.close_reason is CloseReason.CLOSED_BY_VENDOR
    assert done.vendor_saved_at == saved_at
    assert done.due is None
    assert effects_of(transition, RefundBill) == []
    assert effects_of(transition, CancelSubscription) == []
    assert notified(transition) == {("ticket_closed", party) for party in BOTH}
    assert is_noop(act(done, fire_event(ticket), DUE, f), done)


def test_vendor_close_of_a_support_ticket_is_not_a_save():
    f = subscription()
    ticket = opened(SUPPORT, CUSTOMER, OPENED, f)
    done = accepted(ticket, Close(VENDOR), ny("2026-06-08 12:00"), f)
    assert done.close_reason is CloseReason.CLOSED_BY_VENDOR
    assert done.vendor_saved_at is None


# --- the vendor changes to support: a save, and the ladder starts -----------------


def test_vendor_change_of_refund_to_support_is_recorded_as_a_save():
    ticket, f = request()
    changed_at = ny("2026-06-08 14:00")
    transition = act(ticket, ChangeType(VENDOR, SUPPORT, "As agreed by phone."), changed_at, f)
    changed = transition.ticket
    assert changed is not None and changed.is_open
    assert changed.type is SUPPORT
    assert changed.vendor_saved_at == changed_at
    assert effects_of(transition, RefundBill) == []
    assert notified(transition) == {("ticket_changed", party) for party in BOTH}


def test_vendor_change_to_support_replaces_processing_with_the_ladder_from_the_change():
    # The vendor spoke last, so the ticket waits for the customer: 7 weekdays.
    ticket, f = request()
    changed_at = ny("2026-06-08 14:00")  # Monday
    transition = act(ticket, ChangeType(VENDOR, SUPPORT), changed_at, f)
    changed = transition.ticket
    ladder = Timer(TimerEvent.INACTIVITY_WARNING, ny("2026-06-17 14:00"))  # Wednesday week
    assert changed.due == ladder
    # The old processing timer is stale now.
    assert is_noop(act(changed, fire_event(ticket), DUE, f), changed)


def test_vendor_cannot_change_a_refund_into_a_cancelation():
    ticket, f = request(REFUND)
    transition = act(ticket, ChangeType(VENDOR, CANCELATION), ny("2026-06-08 14:00"), f)
    refused_with(transition, "not_allowed", VENDOR)
    assert transition.ticket == ticket


def test_vendor_cannot_change_a_cancelation_into_a_refund():
    ticket, f = request(CANCELATION)
    transition = act(ticket, ChangeType(VENDOR, REFUND), ny("2026-06-08 14:00"), f)
    refused_with(transition, "not_allowed", VENDOR)
    assert transition.ticket == ticket


# --- the customer may close or change -----------------------------------------


def test_customer_may_close_their_own_refund_and_nothing_is_processed():
    ticket, f = request()
    transition = act(ticket, Close(CUSTOMER, "Solved, thanks."), ny("2026-06-08 16:00"), f)
    done = transition.ticket
    assert done.close_reason is CloseReason.CLOSED_BY_CUSTOMER
    assert done.vendor_saved_at is None
    assert done.due is None
    assert effects_of(transition, RefundBill) == []


def test_customer_may_change_refund_to_support_which_is_not_a_save():
    ticket, f = request()
    changed_at = ny("2026-06-08 16:00")
    changed = accepted(ticket, ChangeType(CUSTOMER, SUPPORT), changed_at, f)
    assert changed.type is SUPPORT
    assert changed.vendor_saved_at is None
    # The customer spoke last: waiting for the vendor, first warning 48 hours on.
    assert changed.due == Timer(TimerEvent.INACTIVITY_WARNING, ny("2026-06-10 16:00"))


def test_customer_may_change_refund_to_cancelation():
    ticket, f = request()
    changed = accepted(ticket, ChangeType(CUSTOMER, CANCELATION), ny("2026-06-08 16:00"), f)
    assert changed.type is CANCELATION
    assert changed.due == Timer(TimerEvent.PROCESS, ny("2026-06-09 16:00"))


def test_customer_may_change_a_vendor_saved_ticket_back_to_a_refund():
    ticket, f = request()
    saved = accepted(ticket, ChangeType(VENDOR, SUPPORT), ny("2026-06-08 14:00"), f)
    back = accepted(saved, ChangeType(CUSTOMER, REFUND), ny("2026-06-10 09:00"), f)
    assert back.type is REFUND
    assert back.due == Timer(TimerEvent.PROCESS, ny("2026-06-11 09:00"))


# --- replies -------------------------------------------------------------------


@pytest.mark.parametrize("by", [CUSTOMER, VENDOR])
def test_replies_never_move_the_processing_time(by: Party):
    ticket, f = request()
    transition = act(ticket, Reply(by, "Let's talk."), ny("2026-06-09 09:59"), f)
    replied = transition.ticket
    assert replied.due == ticket.due
    assert notified(transition) == {("reply", party) for party in BOTH}
    processed = fire(replied, f)
    assert processed.ticket.closed_at == DUE
    assert processed.ticket.close_reason is CloseReason.REFUNDED
