"""Who may do what on a ticket, now: the one answer every door asks.

The state machine refuses an action with `refusal` before it changes
anything, and everything that offers actions (the command list in each
email, the buttons on each page, the API's 422 reasons) asks
`allowed_actions`, which is `refusal` asked for every action. A rule written
once cannot drift: an email never offers what the machine would refuse, and
the machine never refuses what was offered. (Both happened when pages and
emails worked the list out again from JSON.)

`request_refusal` is the same question for opening a refund or cancelation
on an order, or changing a ticket into one.

Pure: no I/O, no clock. What a reply *says* (an empty one is refused) is
the machine's business, not a permission.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from service.domain import policy
from service.domain.events import ActorEvent, Approve, ChangeType, Close, Escalate, Reply
from service.domain.facts import Facts
from service.domain.policy import Refusal
from service.domain.records import Attachment, Party, Sender, Ticket, TicketType


class Action(StrEnum):
    """What a party can do to an existing ticket. The values are the page buttons' and API's."""

    REPLY = "reply"
    CLOSE = "close"
    CHANGE_TO_REFUND = "change-to-refund"
    CHANGE_TO_CANCELATION = "change-to-cancelation"
    CHANGE_TO_SUPPORT = "change-to-support"
    APPROVE = "approve"
    ESCALATE = "escalate"

    @property
    def target(self) -> TicketType | None:
        """The type a change action turns the ticket into; None for other actions."""
        return _TARGETS.get(self)


_TARGETS = {
    Action.CHANGE_TO_REFUND: TicketType.REFUND,
    Action.CHANGE_TO_CANCELATION: TicketType.CANCELATION,
    Action.CHANGE_TO_SUPPORT: TicketType.SUPPORT,
}
_CHANGES = {target: action for action, target in _TARGETS.items()}


COMMAND_WORDS: dict[str, Action] = {
    "close": Action.CLOSE,
    "refund": Action.CHANGE_TO_REFUND,
    "cancel": Action.CHANGE_TO_CANCELATION,
    "support": Action.CHANGE_TO_SUPPORT,
    "approve": Action.APPROVE,
    "escalate": Action.ESCALATE,
}
"""The `#word` lines of an email reply (SPEC §3), and the list each notification offers."""

WORDS_OF_ACTIONS: dict[Action, str] = {action: word for word, action in COMMAND_WORDS.items()}


def command_words(allowed: tuple[Action, ...] | list[Action]) -> list[str]:
    """The email commands for `allowed` actions, in `Action` order (a reply needs none)."""
    return [WORDS_OF_ACTIONS[action] for action in allowed if action in WORDS_OF_ACTIONS]


def change_to(ticket_type: TicketType) -> Action:
    """The action that turns a ticket into `ticket_type`."""
    return _CHANGES[ticket_type]


def event_for(
    action: Action,
    by: Party,
    text: str = "",
    attachments: tuple[Attachment, ...] = (),
    sender: Sender | None = None,
) -> ActorEvent:
    """The event that carries out `action`, with the text and files sent beside it."""
    if action is Action.REPLY:
        return Reply(by, text, attachments, sender)
    if action is Action.CLOSE:
        return Close(by, text, attachments, sender)
    if action is Action.APPROVE:
        return Approve(by, text, attachments, sender)
    if action is Action.ESCALATE:
        return Escalate(by, text, attachments, sender)
    target = action.target
    assert target is not None  # every remaining action is a change
    return ChangeType(by, target, text, attachments, sender)


def action_of(event: ActorEvent) -> Action:
    """The action an event carries out (the inverse of `event_for`)."""
    if isinstance(event, Reply):
        return Action.REPLY
    if isinstance(event, Close):
        return Action.CLOSE
    if isinstance(event, Approve):
        return Action.APPROVE
    if isinstance(event, Escalate):
        return Action.ESCALATE
    return change_to(event.type)


def allowed_actions(
    ticket: Ticket, party: Party, facts: Facts, now: datetime
) -> tuple[Action, ...]:
    """Every action `party` may take on `ticket` now, in `Action` order."""
    return tuple(action for action in Action if refusal(ticket, action, party, facts, now) is None)


def refusal(
    ticket: Ticket, action: Action, party: Party, facts: Facts, now: datetime
) -> Refusal | None:
    """Why `party` may not take `action` on `ticket` now, or None when it may."""
    if party is Party.SYSTEM:
        return Refusal("not_allowed", "The system only acts through timers.")
    if action is Action.ESCALATE:
        return _escalation_refusal(ticket, party, now)
    if not ticket.is_open:
        return Refusal(
            "ticket_closed",
            f"Ticket #{ticket.number} is closed. To ask for something new, open a new ticket.",
        )
    if action is Action.REPLY:
        return None
    if action is Action.CLOSE:
        return _save_refusal(ticket, party, facts) if ticket.type.is_request else None
    if action is Action.APPROVE:
        return _approval_refusal(ticket, party)
    target = action.target
    assert target is not None
    return _change_refusal(ticket, target, party, facts, now)


def request_refusal(
    ticket_type: TicketType, party: Party, facts: Facts, now: datetime
) -> Refusal | None:
    """Why `party` may not open (or change a ticket into) a `ticket_type` now, or None."""
    if not ticket_type.is_request:
        return None
    found = policy.refusal_for(ticket_type, facts.order, facts.vendor, party, now)
    if found is not None:
        return found
    if facts.open_request is not None:
        return Refusal(
            "request_open",
            f"A refund or cancelation request for order {facts.order.reference} is already "
            f"open as ticket #{facts.open_request}.",
        )
    return None


def requestable_types(party: Party, facts: Facts, now: datetime) -> tuple[TicketType, ...]:
    """The ticket types `party` may open on `facts.order` now (support always)."""
    return tuple(t for t in TicketType if request_refusal(t, party, facts, now) is None)


def is_vendor_save(ticket: Ticket, action: Action, party: Party) -> bool:
    """Whether the vendor is closing or changing a customer's request: a save to escalate."""
    return (
        party is Party.VENDOR
        and ticket.type.is_request
        and action in (Action.CLOSE, Action.CHANGE_TO_SUPPORT)
    )


# --- each rule ------------------------------------------------------------------------


def _escalation_refusal(ticket: Ticket, party: Party, now: datetime) -> Refusal | None:
    if party is not Party.CUSTOMER:
        return Refusal("not_allowed", "Only the customer can escalate a ticket.")
    if ticket.escalated_at is not None:
        return Refusal("already_escalated", f"Ticket #{ticket.number} was already escalated.")
    if not policy.may_escalate(ticket.vendor_saved_at, now):
        return Refusal(
            "not_escalatable",
            f"Ticket #{ticket.number} can be escalated only within "
            f"{policy.ESCALATION_WINDOW.days} days after the vendor closed it or changed "
            "your refund or cancelation request.",
        )
    return None


def _approval_refusal(ticket: Ticket, party: Party) -> Refusal | None:
    if party is not Party.VENDOR:
        return Refusal("not_allowed", "Only the vendor can approve a refund.")
    if not ticket.awaiting_approval:
        return Refusal(
            "nothing_to_approve", f"Ticket #{ticket.number} is not waiting for an approval."
        )
    return None


def _change_refusal(
    ticket: Ticket, target: TicketType, party: Party, facts: Facts, now: datetime
) -> Refusal | None:
    if ticket.type is target:
        return Refusal("no_change", f"Ticket #{ticket.number} is already a {target.value} ticket.")
    if party is Party.VENDOR and ticket.type.is_request:
        saved = _save_refusal(ticket, party, facts)
        if saved is not None:
            return saved
        if target.is_request:
            return Refusal(
                "not_allowed",
                f"A vendor can change a {ticket.type.value} ticket only to support, with the "
                "customer's consent.",
            )
    return request_refusal(target, party, facts, now)


def _save_refusal(ticket: Ticket, party: Party, facts: Facts) -> Refusal | None:
    """A vendor marked as abusing the save-the-sale window may no longer close or change."""
    if party is Party.VENDOR and facts.vendor.abusing:
        return Refusal(
            "save_not_allowed",
            f"Ticket #{ticket.number} will be processed as requested; your account can no "
            "longer close or change refund and cancelation tickets.",
        )
    return None
