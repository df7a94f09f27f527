"""The ticket state machine of SPEC §2: (ticket, event, now, facts) in, new ticket and effects out.

Pure by design: no I/O, no clock, no randomness, so every rule can be tested
to the minute by calling a function. The funnel (`service.desk`) loads the
facts, calls `open_ticket` or `apply`, and commits what comes back.

Every accepted event appends history entries; `service.domain.notifications`
turns those into notifications. A refused event changes nothing and tells
the requester why. A timer that is no longer the ticket's pending timer (the
ticket changed since it was set) is ignored, which makes firing idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from service.domain import actions, policy, zones
from service.domain.actions import Action
from service.domain.calendar import BusinessCalendar
from service.domain.effects import (
    CancelSubscription,
    Effect,
    Notify,
    RecordEscalation,
    RefundBill,
)
from service.domain.events import (
    ActorEvent,
    Approve,
    ChangeType,
    Close,
    Escalate,
    Fire,
    Open,
    Reply,
    TicketEvent,
)
from service.domain.facts import Facts
from service.domain.notifications import REFUSED, notifications_for
from service.domain.policy import Refusal
from service.domain.records import (
    Attachment,
    CloseReason,
    Comment,
    HistoryEntry,
    Party,
    Sender,
    SubscriptionStatus,
    Ticket,
    TicketStatus,
    TicketType,
    Timer,
    TimerEvent,
)


@dataclass(frozen=True)
class Transition:
    """The outcome of one event. `ticket` is None only for a refused open.

    `entries` is what happened, for the notification rules: the history
    entries the ticket gained, or for a refusal one `refused` entry that the
    ticket does not keep. `requester` is who asked.
    """

    ticket: Ticket | None
    effects: tuple[Effect, ...] = ()
    refusal: Refusal | None = None
    entries: tuple[HistoryEntry, ...] = ()
    requester: Party = Party.SYSTEM

    @property
    def accepted(self) -> bool:
        return self.refusal is None

    @property
    def notifications(self) -> tuple[Notify, ...]:
        """The emails this transition sends (webhooks and door-specific rules aside)."""
        return tuple(notifications_for(self.entries, self.requester))


class _Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


def _refused(
    ticket: Ticket | None,
    refusal: Refusal,
    requester: Party,
    now: datetime,
    asked: TicketType | None = None,
) -> Transition:
    """A refusal: nothing changes; one `refused` entry tells the requester why (and what
    type of ticket was `asked` for, when it was an opening)."""
    detail = {"reason": refusal.reason, "code": refusal.code}
    if asked is not None:
        detail["type"] = asked.value
    entry = HistoryEntry(REFUSED, requester, now, detail)
    return Transition(ticket, (), refusal, (entry,), requester)


# --- opening -----------------------------------------------------------------


def open_ticket(number: int, event: Open, now: datetime, facts: Facts) -> Transition:
    """Open ticket `number` on `facts.order`, or refuse and say why."""
    refusal = actions.request_refusal(event.type, event.by, facts, now)
    if refusal is not None:
        return _refused(None, refusal, event.by, now, event.type)
    spoke = event.by
    ticket = Ticket(
        number=number,
        vendor_id=facts.vendor.id,
        order_reference=facts.order.reference,
        customer_email=facts.order.customer_email,
        type=event.type,
        status=TicketStatus.OPEN,
        opened_by=event.by,
        opened_at=now,
        last_activity_at=now,
        waiting_on=Party.CUSTOMER if spoke is Party.VENDOR else Party.VENDOR,
    )
    ticket = _heard_from(ticket, event.by, event.sender)
    ticket = _with_comment(ticket, event.by, event.text, event.attachments, now, event.sender)
    step = _Step(ticket, [], [], event.by)
    return _set_out(step, "opened", {"type": event.type.value}, now, facts)


# --- events on an existing ticket --------------------------------------------


def apply(ticket: Ticket, event: TicketEvent, now: datetime, facts: Facts) -> Transition:
    """Apply one event to an existing ticket."""
    if isinstance(event, Fire):
        return _fire(ticket, event.event, now, facts)
    try:
        return _act(ticket, event, now, facts)
    except _Refused as refused:
        return _refused(ticket, refused.refusal, event.by, now)


def _act(ticket: Ticket, event: ActorEvent, now: datetime, facts: Facts) -> Transition:
    """Check the action with `actions.refusal`, the rule every door asks, then carry it out."""
    refusal = actions.refusal(ticket, actions.action_of(event), event.by, facts, now)
    if refusal is not None:
        raise _Refused(refusal)
    ticket = _heard_from(ticket, event.by, event.sender)
    if isinstance(event, Reply):
        return _reply(ticket, event, now, facts)
    if isinstance(event, ChangeType):
        return _change(ticket, event, now, facts)
    if isinstance(event, Close):
        return _close(ticket, event, now, facts)
    if isinstance(event, Approve):
        return _approve(ticket, event, now, facts)
    if isinstance(event, Escalate):
        return _escalate(ticket, event, now, facts)
    raise TypeError(f"the ticket machine has no transition for {event!r}")


def _reply(ticket: Ticket, event: Reply, now: datetime, facts: Facts) -> Transition:
    if not event.text.strip() and not event.attachments:
        raise _Refused(
            Refusal("empty_reply", "Your reply had no text; nothing was added to the ticket.")
        )
    ticket = _with_comment(ticket, event.by, event.text, event.attachments, now, event.sender)
    step = _Step(
        _touched(ticket, event.by, now), [], [HistoryEntry("replied", event.by, now)], event.by
    )
    if not ticket.type.is_request:
        step.set_due(_ladder_timer(step.ticket, facts.calendar))
    return step.finish(now, facts)


def _change(ticket: Ticket, event: ChangeType, now: datetime, facts: Facts) -> Transition:
    old, new = ticket.type, event.type
    saved_by_vendor = actions.is_vendor_save(ticket, actions.change_to(new), event.by)
    ticket = replace(ticket, type=new, awaiting_approval=False)
    if saved_by_vendor:
        ticket = replace(ticket, vendor_saved_at=now)
    ticket = _with_comment(ticket, event.by, event.text, event.attachments, now, event.sender)
    step = _Step(_touched(ticket, event.by, now), [], [], event.by)
    return _set_out(step, "changed", {"from": old.value, "to": new.value}, now, facts)


def _close(ticket: Ticket, event: Close, now: datetime, facts: Facts) -> Transition:
    if event.by is Party.VENDOR:
        reason = CloseReason.CLOSED_BY_VENDOR
        if actions.is_vendor_save(ticket, Action.CLOSE, event.by):
            ticket = replace(ticket, vendor_saved_at=now)
    else:
        reason = CloseReason.CLOSED_BY_CUSTOMER
    ticket = _with_comment(ticket, event.by, event.text, event.attachments, now, event.sender)
    ticket = _closed(ticket, reason, now)
    step = _Step(
        ticket, [], [HistoryEntry("closed", event.by, now, {"reason": reason.value})], event.by
    )
    step.set_due(None)
    return step.finish(now, facts)


def _approve(ticket: Ticket, event: Approve, now: datetime, facts: Facts) -> Transition:
    ticket = _with_comment(ticket, event.by, event.text, event.attachments, now, event.sender)
    ticket = replace(ticket, awaiting_approval=False)
    step = _Step(ticket, [], [HistoryEntry("approved", event.by, now)], event.by)
    # An approval is a person's decision: processed at once, weekend or not.
    _process(step, now, facts)
    return step.finish(now, facts)


def _escalate(ticket: Ticket, event: Escalate, now: datetime, facts: Facts) -> Transition:
    ticket = _with_comment(ticket, event.by, event.text, event.attachments, now, event.sender)
    ticket = replace(ticket, escalated_at=now)
    step = _Step(
        ticket, [RecordEscalation(event.text)], [HistoryEntry("escalated", event.by, now)], event.by
    )
    return step.finish(now, facts)


# --- timers ------------------------------------------------------------------


def _fire(ticket: Ticket, event: TimerEvent, now: datetime, facts: Facts) -> Transition:
    due = ticket.due
    if not ticket.is_open or due is None or due.event is not event or due.at > now:
        return Transition(ticket)  # stale or early: nothing to do
    step = _Step(ticket, [], [], Party.SYSTEM)
    if event is TimerEvent.PROCESS:
        _process(step, now, facts)
    elif event is TimerEvent.INACTIVITY_WARNING:
        step.ticket = replace(ticket, warnings_sent=ticket.warnings_sent + 1)
        step.history.append(
            HistoryEntry(
                "inactivity_warning", Party.SYSTEM, now, {"waiting_on": ticket.waiting_on.value}
            )
        )
        step.set_due(_ladder_timer(step.ticket, facts.calendar))
    else:
        step.ticket = _closed(ticket, CloseReason.INACTIVITY, now)
        step.history.append(
            HistoryEntry("closed", Party.SYSTEM, now, {"reason": CloseReason.INACTIVITY.value})
        )
        step.set_due(None)
    return step.finish(now, facts)


def _process(step: _Step, now: datetime, facts: Facts) -> None:
    """Carry out a refund or cancelation and close the ticket."""
    ticket, order = step.ticket, facts.order
    active = order.subscription_status is SubscriptionStatus.ACTIVE
    if ticket.type is TicketType.REFUND:
        bill = order.latest_bill
        detail = {"amount": "0", "currency": order.currency}
        if bill is not None and not bill.refunded:
            step.effects.append(RefundBill(order.reference, bill.billed_at))
            detail["amount"] = str(bill.amount)
        if active:
            step.effects.append(CancelSubscription(order.reference))
        step.history.append(HistoryEntry("refund_processed", Party.SYSTEM, now, detail))
        step.ticket = _closed(ticket, CloseReason.REFUNDED, now)
    else:
        if active:
            step.effects.append(CancelSubscription(order.reference))
        step.history.append(HistoryEntry("cancelation_processed", Party.SYSTEM, now))
        step.ticket = _closed(ticket, CloseReason.CANCELED, now)
    step.set_due(None)


# --- helpers -----------------------------------------------------------------


@dataclass
class _Step:
    """A transition being built: the ticket so far, its effects, its new history.

    The ticket's `due` is its one pending timer, and the only record of it:
    the funnel stores whatever `due` the finished ticket has.
    """

    ticket: Ticket
    effects: list[Effect]
    history: list[HistoryEntry]
    requester: Party

    def set_due(self, timer: Timer | None) -> None:
        self.ticket = replace(self.ticket, due=timer)

    def finish(self, now: datetime, facts: Facts) -> Transition:
        due = self.ticket.due
        if due is not None and due.event is TimerEvent.PROCESS and due.at <= now:
            # Processing that is due already (an abusing vendor's ticket) happens now.
            _process(self, now, facts)
        entries = tuple(self.history)
        ticket = replace(self.ticket, history=self.ticket.history + entries)
        return Transition(ticket, tuple(self.effects), None, entries, self.requester)


def _set_out(
    step: _Step, entry: str, detail: dict[str, str], now: datetime, facts: Facts
) -> Transition:
    """A ticket that now is (or became) its type: a request gets its processing (or waits for
    approval), a support ticket its inactivity ladder; the entry records it, with why."""
    if step.ticket.type.is_request:
        detail |= _schedule_request(step, step.requester, now, facts)
    else:
        step.set_due(_ladder_timer(step.ticket, facts.calendar))
    step.history.append(HistoryEntry(entry, step.requester, now, detail))
    return step.finish(now, facts)


def _schedule_request(step: _Step, by: Party, now: datetime, facts: Facts) -> dict[str, str]:
    """Set the request's processing timer (or park it for approval).

    Returns why the time is what it is, for the detail of the history entry
    that scheduled it: the notifications and pages explain the date from it.
    """
    ticket = step.ticket
    # An abusing vendor's requests are processed at once: not even an approval can hold them.
    if (
        ticket.type is TicketType.REFUND
        and not facts.vendor.abusing
        and policy.needs_approval(facts.order, facts.vendor, by)
    ):
        step.ticket = replace(ticket, awaiting_approval=True)
        step.set_due(None)
        return {}
    planned = policy.processing(ticket.type, facts.order, facts.vendor, by, now, facts.calendar)
    step.set_due(Timer(TimerEvent.PROCESS, planned.at))
    return planned.reason.as_detail()


def _ladder_timer(ticket: Ticket, calendar: BusinessCalendar) -> Timer | None:
    """The next rung of the inactivity ladder, counted from the last activity."""
    last = ticket.last_activity_at
    if ticket.waiting_on is Party.VENDOR:
        if ticket.warnings_sent == 0:
            return Timer(TimerEvent.INACTIVITY_WARNING, last + policy.FIRST_WARNING_AFTER)
        if ticket.warnings_sent == 1:
            return Timer(TimerEvent.INACTIVITY_WARNING, last + policy.SECOND_WARNING_AFTER)
        return Timer(
            TimerEvent.INACTIVITY_CLOSE,
            calendar.defer_off_weekend(last + policy.VENDOR_SILENCE_CLOSE_AFTER),
        )
    if ticket.warnings_sent == 0:
        return Timer(
            TimerEvent.INACTIVITY_WARNING,
            calendar.add_weekdays(last, policy.CUSTOMER_SILENCE_WARNING_WEEKDAYS),
        )
    return Timer(
        TimerEvent.INACTIVITY_CLOSE,
        calendar.defer_off_weekend(
            calendar.add_weekdays(last, policy.CUSTOMER_SILENCE_CLOSE_WEEKDAYS)
        ),
    )


def _touched(ticket: Ticket, by: Party, now: datetime) -> Ticket:
    """Activity by one party restarts the ladder and hands the turn to the other."""
    waiting_on = Party.CUSTOMER if by is Party.VENDOR else Party.VENDOR
    return replace(ticket, last_activity_at=now, waiting_on=waiting_on, warnings_sent=0)


def _with_comment(
    ticket: Ticket,
    by: Party,
    text: str,
    attachments: Sequence[Attachment],
    now: datetime,
    sender: Sender | None,
) -> Ticket:
    """The ticket with what `by` wrote, and who wrote it when an email says so."""
    if not text.strip() and not attachments:
        return ticket
    writer = sender or Sender()
    comment = Comment(by, text.strip(), now, tuple(attachments), writer.email, writer.name)
    return replace(ticket, comments=(*ticket.comments, comment))


def _heard_from(ticket: Ticket, by: Party, sender: Sender | None) -> Ticket:
    """A customer's email tells the zone the customer reads times in: its `Date` offset."""
    if by is not Party.CUSTOMER or sender is None:
        return ticket
    offset = zones.usable_utc_offset(sender.utc_offset)
    if offset is None or offset == ticket.customer_utc_offset:
        return ticket
    return replace(ticket, customer_utc_offset=offset)


def _closed(ticket: Ticket, reason: CloseReason, now: datetime) -> Ticket:
    return replace(
        ticket,
        status=TicketStatus.CLOSED,
        closed_at=now,
        close_reason=reason,
        awaiting_approval=False,
    )


def latest_comment(ticket: Ticket) -> Comment | None:
    return ticket.comments[-1] if ticket.comments else None


__all__ = ["Facts", "Transition", "apply", "latest_comment", "open_ticket"]
