"""SPEC §2, approval: refunds that wait for the vendor instead of a timer.

A customer's refund waits when the vendor's policy is `approval_required` or
the order was paid with a method that cannot be refunded automatically. The
vendor's approval is a person's action: it is processed at once, on a Sunday
too. Vendor-opened refunds and all cancelations never wait.
"""

from __future__ import annotations

import pytest

from service.domain.events import Approve, ChangeType, Fire, Reply
from service.domain.records import CloseReason, TimerEvent
from tests.domain.builders import (
    AUTOMATIC_REFUND_METHODS,
    BOTH,
    CANCELATION,
    CUSTOMER,
    NEW_YORK,
    OPERATOR,
    REFERENCE,
    REFUND,
    SUPPORT,
    VENDOR,
    RefundBill,
    accepted,
    act,
    approval_required,
    at,
    effects_of,
    facts,
    is_noop,
    kinds_to,
    opened,
    opening,
    order,
    refused_with,
    vendor,
    within_days,
)

BILLED = at("2026-06-01 09:00", NEW_YORK)
WEDNESDAY = at("2026-06-03 10:00", NEW_YORK)
SUNDAY = at("2026-06-07 13:00", NEW_YORK)


def gated(**order_kwargs):
    """A vendor whose policy requires approval."""
    order_kwargs.setdefault("billed_at", BILLED)
    return facts(vendor(tz=NEW_YORK, policy=approval_required()), order(**order_kwargs))


def paid_with(method: str):
    return facts(vendor(tz=NEW_YORK), order(billed_at=BILLED, payment_method=method))


def assert_awaiting_approval(transition):
    ticket = transition.ticket
    assert ticket is not None and ticket.is_open
    assert ticket.awaiting_approval
    assert ticket.due is None


# --- what waits ----------------------------------------------------------------


def test_approval_required_policy_parks_a_customer_refund_without_a_timer():
    assert_awaiting_approval(opening(REFUND, CUSTOMER, WEDNESDAY, gated()))


@pytest.mark.parametrize("method", ["bank_transfer", "invoice", "check", "wire", "Credit_Card"])
def test_payment_method_outside_the_automatic_list_parks_a_customer_refund(method):
    assert_awaiting_approval(opening(REFUND, CUSTOMER, WEDNESDAY, paid_with(method)))


@pytest.mark.parametrize("method", AUTOMATIC_REFUND_METHODS)
def test_payment_method_on_the_automatic_list_gets_a_processing_timer(method):
    transition = opening(REFUND, CUSTOMER, WEDNESDAY, paid_with(method))
    ticket = transition.ticket
    assert ticket is not None and not ticket.awaiting_approval
    assert ticket.due is not None and ticket.due.event is TimerEvent.PROCESS
    assert ticket.due.at == at("2026-06-04 10:00", NEW_YORK)


def test_within_days_policy_needs_no_approval():
    f = facts(vendor(tz=NEW_YORK, policy=within_days(30)), order(billed_at=BILLED))
    assert not opened(REFUND, CUSTOMER, WEDNESDAY, f).awaiting_approval


def test_operator_opened_refund_under_approval_policy_waits_like_the_customers():
    assert_awaiting_approval(opening(REFUND, OPERATOR, WEDNESDAY, gated()))


def test_customer_change_of_support_to_refund_under_approval_policy_waits():
    f = gated()
    ticket = opened(SUPPORT, CUSTOMER, WEDNESDAY, f)
    assert_awaiting_approval(act(ticket, ChangeType(CUSTOMER, REFUND), WEDNESDAY, f))


# --- what never waits ----------------------------------------------------------


def test_vendor_opened_refund_needs_no_approval_even_with_gate_and_unusual_payment():
    f = gated(payment_method="bank_transfer")
    ticket = opened(REFUND, VENDOR, WEDNESDAY, f)
    assert not ticket.awaiting_approval
    assert ticket.due is not None and ticket.due.at == at("2026-06-03 10:05", NEW_YORK)


@pytest.mark.parametrize("by", [CUSTOMER, VENDOR])
def test_cancelations_need_no_approval(by):
    f = gated(kind="subscription", payment_method="bank_transfer")
    ticket = opened(CANCELATION, by, WEDNESDAY, f)
    assert not ticket.awaiting_approval
    assert ticket.due is not None and ticket.due.event is TimerEvent.PROCESS


def test_customer_change_of_parked_refund_to_cancelation_needs_no_approval():
    f = gated(kind="subscription")
    ticket = opened(REFUND, CUSTOMER, WEDNESDAY, f)
    changed = accepted(ticket, ChangeType(CUSTOMER, CANCELATION), WEDNESDAY, f)
    assert not changed.awaiting_approval
    assert changed.due is not None and changed.due.at == at("2026-06-04 10:00", NEW_YORK)


# --- approving ------------------------------------------------------------------


def test_vendor_approval_processes_the_refund_at_once_even_on_a_sunday():
    f = gated()
    ticket = opened(REFUND, CUSTOMER, WEDNESDAY, f)
    transition = act(ticket, Approve(VENDOR, "Approved."), SUNDAY, f)
    assert transition.accepted
    done = transition.ticket
    assert done is not None and not done.is_open
    assert done.close_reason is CloseReason.REFUNDED
    assert done.closed_at == SUNDAY
    assert not done.awaiting_approval and done.due is None
    assert effects_of(transition, RefundBill) == [RefundBill(REFERENCE, BILLED)]
    for party in BOTH:
        assert "refund_processed" in kinds_to(transition, party)


def test_vendor_approval_of_unusual_payment_method_processes_at_once():
    f = paid_with("bank_transfer")
    ticket = opened(REFUND, CUSTOMER, WEDNESDAY, f)
    transition = act(ticket, Approve(VENDOR), WEDNESDAY, f)
    assert transition.ticket.close_reason is CloseReason.REFUNDED
    assert effects_of(transition, RefundBill) == [RefundBill(REFERENCE, BILLED)]
    assert transition.ticket.due is None


def test_customer_cannot_approve_their_own_refund():
    f = gated()
    ticket = opened(REFUND, CUSTOMER, WEDNESDAY, f)
    transition = act(ticket, Approve(CUSTOMER), WEDNESDAY, f)
    refused_with(transition, "not_allowed", CUSTOMER)
    assert transition.ticket == ticket


def test_vendor_cannot_approve_a_ticket_that_is_not_waiting():
    f = paid_with("credit_card")
    ticket = opened(REFUND, CUSTOMER, WEDNESDAY, f)
    transition = act(ticket, Approve(VENDOR), WEDNESDAY, f)
    refused_with(transition, "nothing_to_approve", VENDOR)
    assert transition.ticket == ticket


def test_a_parked_refund_has_nothing_to_fire_and_replies_do_not_start_a_timer():
    f = gated()
    ticket = opened(REFUND, CUSTOMER, WEDNESDAY, f)
    assert is_noop(act(ticket, Fire(TimerEvent.PROCESS), SUNDAY, f), ticket)
    replied = accepted(ticket, Reply(CUSTOMER, "Any news?"), SUNDAY, f)
    assert replied.awaiting_approval and replied.due is None
