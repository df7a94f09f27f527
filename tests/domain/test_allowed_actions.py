"""`allowed_actions` and the state machine agree, over generated ticket states (issue #14).

Every door (the command list in emails, the buttons on pages, the API) offers
what `allowed_actions` returns; the machine decides. The property: for every
ticket, party and moment, an action is offered exactly when the machine
accepts it, and an accepted action does what it says.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain import machine
from service.domain.actions import Action, allowed_actions, event_for, requestable_types
from service.domain.events import Open
from service.domain.facts import Facts
from service.domain.records import (
    CloseReason,
    Party,
    RefundPolicy,
    Ticket,
    TicketStatus,
    TicketType,
    Timer,
    TimerEvent,
)
from tests.domain.builders import (
    CUSTOMER,
    DAY,
    NEW_YORK,
    REFUND,
    SUPPORT,
    VENDOR,
    approval_required,
    bill,
    facts,
    no_restrictions,
    opened,
    order,
    vendor,
    within_days,
)

NOW = datetime(2026, 6, 3, 14, 0, tzinfo=UTC)  # a Wednesday

policies = st.one_of(
    st.just(no_restrictions()),
    st.just(approval_required()),
    st.integers(min_value=1, max_value=90).map(within_days),
)


@st.composite
def situations(draw: st.DrawFn) -> tuple[Ticket, Facts]:
    kind = draw(st.sampled_from(["digital", "physical", "subscription"]))
    billed_days_ago = draw(st.integers(min_value=0, max_value=120))
    the_order = order(
        kind=kind,
        bills=(bill(NOW - billed_days_ago * DAY, refunded=draw(st.booleans())),),
        payment_method=draw(st.sampled_from(["credit_card", "paypal", "invoice", "wire_transfer"])),
        subscription=draw(st.sampled_from(["active", "canceled"])),
    )
    the_vendor = replace(
        vendor(tz=draw(st.sampled_from(["UTC", NEW_YORK, "Asia/Tokyo"]))),
        refund_policy=draw(policies),
        abusing=draw(st.booleans()),
    )
    the_facts = facts(the_vendor, the_order, draw(st.one_of(st.none(), st.just(7))))
    ticket_type = draw(st.sampled_from(list(TicketType)))
    status = draw(st.sampled_from(list(TicketStatus)))
    saved_days_ago = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=45)))
    ticket = Ticket(
        number=1001,
        vendor_id=the_vendor.id,
        order_reference=the_order.reference,
        customer_email=the_order.customer_email,
        type=ticket_type,
        status=status,
        opened_by=draw(st.sampled_from([CUSTOMER, VENDOR, Party.OPERATOR])),
        opened_at=NOW - 40 * DAY,
        last_activity_at=NOW - draw(st.integers(min_value=0, max_value=20)) * DAY,
        waiting_on=draw(st.sampled_from([CUSTOMER, VENDOR])),
        awaiting_approval=status is TicketStatus.OPEN
        and ticket_type is TicketType.REFUND
        and draw(st.booleans()),
        vendor_saved_at=None if saved_days_ago is None else NOW - saved_days_ago * DAY,
        escalated_at=draw(st.one_of(st.none(), st.just(NOW - DAY))),
        closed_at=None if status is TicketStatus.OPEN else NOW - 2 * DAY,
        close_reason=None if status is TicketStatus.OPEN else CloseReason.CLOSED_BY_VENDOR,
        due=draw(st.one_of(st.none(), st.just(Timer(TimerEvent.PROCESS, NOW + DAY)))),
    )
    return ticket, the_facts


def did_what_it_says(before: Ticket, after: Ticket, action: Action) -> bool:
    if action is Action.REPLY:
        return len(after.comments) == len(before.comments) + 1
    if action is Action.CLOSE:
        return not after.is_open
    if action is Action.ESCALATE:
        return after.escalated_at == NOW
    if action is Action.APPROVE:
        return not after.awaiting_approval and not after.is_open  # processed at once
    return after.type is action.target


@settings(max_examples=400, deadline=None)
@given(situations(), st.sampled_from([CUSTOMER, VENDOR, Party.OPERATOR, Party.SYSTEM]))
def test_an_action_is_offered_exactly_when_the_machine_accepts_it(
    situation: tuple[Ticket, Facts], party: Party
) -> None:
    ticket, the_facts = situation
    offered = allowed_actions(ticket, party, the_facts, NOW)
    for action in Action:
        transition = machine.apply(ticket, event_for(action, party, "Some words."), NOW, the_facts)
        assert transition.accepted == (action in offered), (action, party, transition.refusal)
        if transition.accepted:
            assert transition.ticket is not None
            assert did_what_it_says(ticket, transition.ticket, action), action


@settings(max_examples=200, deadline=None)
@given(situations(), st.sampled_from([CUSTOMER, VENDOR, Party.OPERATOR]))
def test_a_type_is_requestable_exactly_when_the_machine_opens_it(
    situation: tuple[Ticket, Facts], party: Party
) -> None:
    _, the_facts = situation
    requestable = requestable_types(party, the_facts, NOW)
    for ticket_type in TicketType:
        transition = machine.open_ticket(1, Open(ticket_type, party, "Hi"), NOW, the_facts)
        assert transition.accepted == (ticket_type in requestable), (ticket_type, party)


# --- the drift the old command list had ---------------------------------------------


def test_a_vendor_marked_as_abusing_is_not_offered_close_or_support_on_a_request() -> None:
    f = facts(vendor(abusing=True), order(billed_at=NOW - DAY))
    ticket = opened(REFUND, CUSTOMER, NOW - DAY, facts(vendor(), order(billed_at=NOW - DAY)))
    offered = allowed_actions(ticket, VENDOR, f, NOW)
    assert Action.CLOSE not in offered
    assert Action.CHANGE_TO_SUPPORT not in offered
    assert Action.REPLY in offered


def test_escalation_is_not_offered_after_its_thirty_days() -> None:
    f = facts(vendor(), order(billed_at=NOW - DAY))
    ticket = opened(REFUND, CUSTOMER, NOW - DAY, f)
    saved = machine.apply(ticket, event_for(Action.CLOSE, VENDOR), NOW, f).ticket
    assert saved is not None
    assert Action.ESCALATE in allowed_actions(saved, CUSTOMER, f, NOW + 30 * DAY)
    later = NOW + 30 * DAY + timedelta(minutes=1)
    assert Action.ESCALATE not in allowed_actions(saved, CUSTOMER, f, later)


def test_support_tickets_offer_the_vendor_a_refund_within_its_ninety_days() -> None:
    f = facts(vendor(policy=RefundPolicy()), order(billed_at=NOW - 89 * DAY))
    ticket = opened(SUPPORT, CUSTOMER, NOW - DAY, f)
    assert Action.CHANGE_TO_REFUND in allowed_actions(ticket, VENDOR, f, NOW)
    assert Action.CHANGE_TO_REFUND not in allowed_actions(ticket, CUSTOMER, f, NOW)
