"""What can happen to a ticket: the inputs of the state machine.

Every source of change (an email, a web form, the API, a timer) is turned
into one of these before it reaches the funnel, so the machine never needs to
know where a request came from, only who made it.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.records import Attachment, Party, Sender, TicketType, TimerEvent


@dataclass(frozen=True)
class Open:
    """Open a ticket of `type` on an order, with the opening message."""

    type: TicketType
    by: Party
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    sender: Sender | None = None


@dataclass(frozen=True)
class _Said:
    """An event a party causes by writing: who, the words sent with it, any files, and the email."""

    by: Party
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    sender: Sender | None = None


class Reply(_Said):
    """A comment on the ticket."""


@dataclass(frozen=True)
class ChangeType:
    """Turn the ticket into another type (a request into support, or back)."""

    by: Party
    type: TicketType
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    sender: Sender | None = None


class Close(_Said):
    """Close the ticket (for the customer, withdraw the request)."""


class Approve(_Said):
    """The vendor approves a refund that waits for its approval."""


class Escalate(_Said):
    """The customer asks the operator to review how the vendor closed or changed it."""


@dataclass(frozen=True)
class Fire:
    """A timer falling due; only the scheduler sends these."""

    event: TimerEvent
    by: Party = Party.SYSTEM


ActorEvent = Reply | ChangeType | Close | Approve | Escalate
TicketEvent = ActorEvent | Fire
Event = Open | TicketEvent
