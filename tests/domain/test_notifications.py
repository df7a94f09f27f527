"""SPEC §2 and §4: every accepted event notifies both parties, with the right kind.

A refused event tells only the requester why; a stale or early timer tells
nobody. Every kind the machine emits has a template name from SPEC §4.
"""

from __future__ import annotations

import pytest

from service.domain.events import Approve, ChangeType, Close, Escalate, Fire, Reply
from service.domain.notifications import TEMPLATE_KINDS
from service.domain.records import TimerEvent
from tests.domain.builders import (
    BOTH,
    CANCELATION,
    CUSTOMER,
    MINUTE,
    NEW_YORK,
    REFUND,
    SUPPORT,
    SYSTEM,
    VENDOR,
    accepted,
    act,
    approval_required,
    at,
    facts,
    fire,
    opened,
    opening,
    order,
    refused_with,
    vendor,
)


def ny(text: str):
    return at(text, NEW_YORK)


NOW = ny("2026-06-03 10:00")  # Wednesday
LATER = ny("2026-06-03 11:00")
SUB = facts(vendor(tz=NEW_YORK), order(kind="subscription", billed_at=ny("2026-06-01 09:00")))
GATED = facts(
    vendor(tz=NEW_YORK, policy=approval_required()), order(billed_at=ny("2026-06-01 09:00"))
)


def support():
    return opened(SUPPORT, CUSTOMER, NOW, SUB)


def refund():
    return opened(REFUND, CUSTOMER, NOW, SUB)


SCENARIOS = {
    "open support": (lambda: opening(SUPPORT, CUSTOMER, NOW, SUB), {"ticket_opened"}),
    "open refund": (lambda: opening(REFUND, CUSTOMER, NOW, SUB), {"ticket_opened"}),
    "vendor opens cancelation": (
        lambda: opening(CANCELATION, VENDOR, NOW, SUB),
        {"ticket_opened"},
    ),
    "customer reply": (lambda: act(support(), Reply(CUSTOMER, "Hi"), LATER, SUB), {"reply"}),
    "vendor reply": (lambda: act(refund(), Reply(VENDOR, "Hi"), LATER, SUB), {"reply"}),
    "change": (
        lambda: act(support(), ChangeType(CUSTOMER, REFUND), LATER, SUB),
        {"ticket_changed"},
    ),
    "vendor save by change": (
        lambda: act(refund(), ChangeType(VENDOR, SUPPORT), LATER, SUB),
        {"ticket_changed"},
    ),
    "customer close": (lambda: act(support(), Close(CUSTOMER), LATER, SUB), {"ticket_closed"}),
    "vendor close": (lambda: act(refund(), Close(VENDOR), LATER, SUB), {"ticket_closed"}),
    "inactivity warning": (lambda: fire(support(), SUB), {"inactivity_warning"}),
    "inactivity close": (
        lambda: fire(fire(fire(support(), SUB).ticket, SUB).ticket, SUB),
        {"ticket_closed"},
    ),
    "refund processed": (lambda: fire(refund(), SUB), {"refund_processed"}),
    "cancelation processed": (
        lambda: fire(opened(CANCELATION, CUSTOMER, NOW, SUB), SUB),
        {"cancelation_processed"},
    ),
    "approval": (
        lambda: act(opened(REFUND, CUSTOMER, NOW, GATED), Approve(VENDOR), LATER, GATED),
        {"refund_processed"},
    ),
    "escalation": (
        lambda: act(accepted(refund(), Close(VENDOR), LATER, SUB), Escalate(CUSTOMER), LATER, SUB),
        {"escalation_received"},
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_accepted_event_notifies_both_parties_with_its_kind(name):
    run, kinds = SCENARIOS[name]
    transition = run()
    assert transition.accepted
    assert sorted((n.kind, n.party) for n in transition.notifications) == sorted(
        (kind, party) for kind in kinds for party in BOTH
    )


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_notification_kind_has_a_template(name):
    run, _ = SCENARIOS[name]
    assert {n.kind for n in run().notifications} <= TEMPLATE_KINDS


def test_template_kinds_are_the_kinds_of_spec_section_4():
    assert {
        "ticket_opened",
        "reply",
        "ticket_changed",
        "ticket_closed",
        "inactivity_warning",
        "refund_processed",
        "cancelation_processed",
        "request_refused",
        "escalation_received",
    } <= TEMPLATE_KINDS


def test_change_notification_says_from_what_to_what_and_why_its_processing_time():
    transition = act(support(), ChangeType(CUSTOMER, REFUND), LATER, SUB)
    for mail in transition.notifications:
        assert mail.facts == {
            "by": "customer",
            "from": "support",
            "to": "refund",
            "processing": "weekday_hours",
        }


def test_close_notification_says_why():
    by_vendor = act(refund(), Close(VENDOR), LATER, SUB)
    assert {n.facts["reason"] for n in by_vendor.notifications} == {"closed_by_vendor"}
    by_customer = act(support(), Close(CUSTOMER), LATER, SUB)
    assert {n.facts["reason"] for n in by_customer.notifications} == {"closed_by_customer"}


def test_refund_notification_carries_the_amount_refunded():
    transition = fire(refund(), SUB)
    assert {n.facts["amount"] for n in transition.notifications} == {"19.95"}


def test_a_refused_event_tells_only_the_requester():
    closed = accepted(support(), Close(CUSTOMER), LATER, SUB)
    refused_with(
        act(closed, Reply(VENDOR, "Late answer"), LATER + MINUTE, SUB), "ticket_closed", VENDOR
    )
    refused_with(act(support(), Reply(CUSTOMER, "   "), LATER, SUB), "empty_reply", CUSTOMER)
    refused_with(act(support(), ChangeType(CUSTOMER, SUPPORT), LATER, SUB), "no_change", CUSTOMER)


def test_a_stale_or_early_timer_notifies_nobody():
    ticket = support()
    assert fire(ticket, SUB, now=ticket.due.at - MINUTE).notifications == ()
    assert act(ticket, Fire(TimerEvent.PROCESS), ticket.due.at, SUB).notifications == ()


def test_the_system_can_only_act_through_timers():
    transition = act(support(), Close(SYSTEM), LATER, SUB)
    assert not transition.accepted
    assert transition.notifications == ()
