"""SPEC §2, abuse of the save-the-sale window.

The customer may escalate, once and within 30 days, a refund or cancelation
ticket that the vendor closed or changed. A vendor marked as abusing loses the
window: its refund and cancelation tickets are processed at once and it can no
longer close or change them.
"""

from __future__ import annotations

import pytest

from service.domain.effects import RecordEscalation
from service.domain.events import ChangeType, Close, Escalate, Reply
from service.domain.records import CloseReason, TimerEvent
from tests.domain.builders import (
    BOTH,
    CANCELATION,
    CUSTOMER,
    DAY,
    MINUTE,
    NEW_YORK,
    OPERATOR,
    REFERENCE,
    REFUND,
    SUPPORT,
    VENDOR,
    CancelSubscription,
    RefundBill,
    accepted,
    act,
    approval_required,
    at,
    effects_of,
    facts,
    fire,
    notified,
    opened,
    opening,
    order,
    refused_with,
    vendor,
)


def ny(text: str):
    return at(text, NEW_YORK)


BILLED = ny("2026-06-01 09:00")
OPENED = ny("2026-06-08 10:00")  # Monday
SAVED = ny("2026-06-08 15:00")


def subscription(abusing: bool = False, **vendor_kwargs):
    return facts(
        vendor(tz=NEW_YORK, abusing=abusing, **vendor_kwargs),
        order(kind="subscription", billed_at=BILLED),
    )


def closed_by_vendor(kind=REFUND):
    f = subscription()
    ticket = opened(kind, CUSTOMER, OPENED, f)
    return accepted(ticket, Close(VENDOR, "Customer agreed."), SAVED, f), f


def changed_by_vendor():
    f = subscription()
    ticket = opened(REFUND, CUSTOMER, OPENED, f)
    return accepted(ticket, ChangeType(VENDOR, SUPPORT), SAVED, f), f


# --- escalation ----------------------------------------------------------------


def test_customer_may_escalate_a_vendor_close_30_days_later_to_the_minute():
    ticket, f = closed_by_vendor()
    when = SAVED + 30 * DAY
    transition = act(ticket, Escalate(CUSTOMER, "They never asked me."), when, f)
    assert transition.accepted
    assert transition.ticket.escalated_at == when
    assert effects_of(transition, RecordEscalation) == [RecordEscalation("They never asked me.")]
    assert notified(transition) == {("escalation_received", party) for party in BOTH}


def test_customer_escalation_one_minute_after_30_days_is_refused():
    ticket, f = closed_by_vendor()
    transition = act(ticket, Escalate(CUSTOMER), SAVED + 30 * DAY + MINUTE, f)
    refused_with(transition, "not_escalatable", CUSTOMER)
    assert transition.ticket == ticket


def test_customer_may_escalate_a_vendor_close_of_a_cancelation():
    ticket, f = closed_by_vendor(CANCELATION)
    assert act(ticket, Escalate(CUSTOMER), SAVED + DAY, f).accepted


def test_customer_may_escalate_a_vendor_change_to_support():
    ticket, f = changed_by_vendor()
    transition = act(ticket, Escalate(CUSTOMER), SAVED + 30 * DAY, f)
    assert transition.accepted
    assert effects_of(transition, RecordEscalation)
    # Escalating does not touch the ticket's own timer.
    assert transition.ticket.due == ticket.due


def test_customer_may_escalate_only_once():
    ticket, f = closed_by_vendor()
    escalated = accepted(ticket, Escalate(CUSTOMER), SAVED + DAY, f)
    refused_with(
        act(escalated, Escalate(CUSTOMER), SAVED + 2 * DAY, f), "already_escalated", CUSTOMER
    )


def test_ticket_the_customer_closed_is_not_escalatable():
    f = subscription()
    ticket = opened(REFUND, CUSTOMER, OPENED, f)
    closed = accepted(ticket, Close(CUSTOMER), SAVED, f)
    refused_with(act(closed, Escalate(CUSTOMER), SAVED + DAY, f), "not_escalatable", CUSTOMER)


def test_processed_refund_is_not_escalatable():
    f = subscription()
    ticket = opened(REFUND, CUSTOMER, OPENED, f)
    done = fire(ticket, f).ticket
    refused_with(act(done, Escalate(CUSTOMER), SAVED + DAY, f), "not_escalatable", CUSTOMER)


def test_support_ticket_the_vendor_closed_is_not_escalatable():
    f = subscription()
    ticket = opened(SUPPORT, CUSTOMER, OPENED, f)
    closed = accepted(ticket, Close(VENDOR), SAVED, f)
    refused_with(act(closed, Escalate(CUSTOMER), SAVED + DAY, f), "not_escalatable", CUSTOMER)


@pytest.mark.parametrize("by", [VENDOR, OPERATOR])
def test_only_the_customer_can_escalate(by):
    ticket, f = closed_by_vendor()
    transition = act(ticket, Escalate(by), SAVED + DAY, f)
    assert not transition.accepted
    assert transition.refusal.code == "not_allowed"
    assert effects_of(transition, RecordEscalation) == []


# --- an abusing vendor -----------------------------------------------------------


def test_abusing_vendor_customer_refund_is_processed_in_the_open_transition():
    f = subscription(abusing=True)
    transition = opening(REFUND, CUSTOMER, ny("2026-06-06 11:00"), f)  # Saturday, too
    done = transition.ticket
    assert done is not None and not done.is_open
    assert done.close_reason is CloseReason.REFUNDED
    assert done.closed_at == ny("2026-06-06 11:00")
    assert done.due is None
    assert effects_of(transition, RefundBill) == [RefundBill(REFERENCE, BILLED)]
    assert effects_of(transition, CancelSubscription) == [CancelSubscription(REFERENCE)]
    assert notified(transition) == {
        (kind, party) for kind in ("ticket_opened", "refund_processed") for party in BOTH
    }


def test_abusing_vendor_customer_cancelation_is_processed_at_once():
    f = subscription(abusing=True)
    transition = opening(CANCELATION, CUSTOMER, OPENED, f)
    assert transition.ticket.close_reason is CloseReason.CANCELED
    assert effects_of(transition, CancelSubscription) == [CancelSubscription(REFERENCE)]


def test_abusing_vendor_physical_refund_is_processed_at_once_not_after_19_days():
    f = facts(vendor(tz=NEW_YORK, abusing=True), order(kind="physical", billed_at=BILLED))
    transition = opening(REFUND, CUSTOMER, OPENED, f)
    assert transition.ticket.close_reason is CloseReason.REFUNDED


def test_abusing_vendor_customer_change_to_refund_is_processed_at_once():
    f = subscription(abusing=True)
    ticket = opened(SUPPORT, CUSTOMER, OPENED, f)
    transition = act(ticket, ChangeType(CUSTOMER, REFUND), SAVED, f)
    assert transition.ticket.close_reason is CloseReason.REFUNDED
    assert transition.ticket.closed_at == SAVED


def test_abusing_vendor_with_approval_policy_cannot_hold_a_refund_back():
    f = subscription(abusing=True, policy=approval_required())
    transition = opening(REFUND, CUSTOMER, OPENED, f)
    assert transition.ticket.close_reason is CloseReason.REFUNDED


def test_abusing_vendor_cannot_close_a_pending_request():
    f = subscription()
    ticket = opened(REFUND, CUSTOMER, OPENED, f)  # opened before the operator's verdict
    marked = subscription(abusing=True)
    transition = act(ticket, Close(VENDOR), SAVED, marked)
    refused_with(transition, "save_not_allowed", VENDOR)
    assert transition.ticket == ticket
    assert ticket.due is not None and ticket.due.event is TimerEvent.PROCESS


@pytest.mark.parametrize("to", [SUPPORT, CANCELATION])
def test_abusing_vendor_cannot_change_a_pending_request(to):
    f = subscription()
    ticket = opened(REFUND, CUSTOMER, OPENED, f)
    transition = act(ticket, ChangeType(VENDOR, to), SAVED, subscription(abusing=True))
    refused_with(transition, "save_not_allowed", VENDOR)
    assert transition.ticket == ticket


def test_abusing_vendor_may_still_reply_to_a_request_and_close_support_tickets():
    f = subscription(abusing=True)
    request = opened(REFUND, VENDOR, OPENED, f)  # its own refund: 5 minutes
    assert act(request, Reply(VENDOR, "Refund coming."), OPENED + MINUTE, f).accepted
    support = opened(SUPPORT, CUSTOMER, OPENED, f)
    closed = accepted(support, Close(VENDOR), SAVED, f)
    assert closed.close_reason is CloseReason.CLOSED_BY_VENDOR
