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
    pass


@dataclass(frozen=True)
class ChangeType:
    by: Party
    type: TicketType
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    sender: Sender | None = None


class Close(_Said):
    pass


class Approve(_Said):
    pass


class Escalate(_Said):
    pass


@dataclass(frozen=True)
class Fire:
    """A timer falling due; only the scheduler sends these."""

    event: TimerEvent
    by: Party = Party.SYSTEM


ActorEvent = Reply | ChangeType | Close | Approve | Escalate
TicketEvent = ActorEvent | Fire
Event = Open | TicketEvent
