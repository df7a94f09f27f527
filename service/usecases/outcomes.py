"""What a use case answers: typed outcomes that each door turns into its own reply.

The SMTP door turns them into reply codes, the API into HTTP statuses and
JSON, the pages into a page or a redirect. No door works out a rule again; it
only chooses words and codes for an outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from service.domain.policy import Refusal
from service.domain.records import Ticket


class Door(StrEnum):
    """How a request came in, and so how it is answered."""

    EMAIL = "email"
    """Answered by email: a refusal or "no purchase found" is mailed to the sender."""
    WEB = "web"
    """A page or a form: it shows the answer; what the rules send by email is sent too."""
    API = "api"
    """Answered in the response alone: a refusal queues no email."""


@dataclass(frozen=True)
class Opened:
    """The request opened a ticket."""

    ticket: Ticket


@dataclass(frozen=True)
class Done:
    """A party's action on a ticket was carried out."""

    ticket: Ticket


@dataclass(frozen=True)
class Refused:
    """The rules said no; `refusals` say why (the first is the one to show)."""

    refusals: tuple[Refusal, ...]
    ticket: Ticket | None = None

    @property
    def refusal(self) -> Refusal:
        return self.refusals[0]


@dataclass(frozen=True)
class NoPurchaseFound:
    """No order of this requester matched; `reference` is what was read, None if nothing."""

    reference: str | None


@dataclass(frozen=True)
class TicketMissing:
    """There is no such ticket (or it is not this caller's)."""

    number: int


@dataclass(frozen=True)
class LookupAnswered:
    """A lookup result went to the address asked about: its order, all its purchases, or none."""

    reference: str | None
    purchases: tuple[str, ...] = ()


OpenOutcome = Opened | Refused | NoPurchaseFound
CommandOutcome = Done | Refused | TicketMissing
