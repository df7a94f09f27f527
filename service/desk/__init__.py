"""The funnel (`Desk`): every change goes through it, one transaction each.

requests.py   what it is asked (OpenRequest, TicketAction, TimerDue) and answers
funnel.py     Desk: the transaction, the writes that belong to no record, commit hooks
tickets.py    the ticket as the funnel handles it: load, machine, store, effects
subscriptions.py  the subscription likewise: load, machine, store, its bill, its timer
outgoing.py   the outbox rows an event queues (emails, webhooks), thread roots
"""

from __future__ import annotations

from service.desk.funnel import Committed, Desk
from service.desk.outgoing import LEGACY_THREAD_ROOT, legacy_thread_root
from service.desk.requests import (
    DeskError,
    DuplicateDelivery,
    MailIdentity,
    OpenRequest,
    OrderNotFound,
    Outcome,
    Request,
    SubscriptionAction,
    SubscriptionNotFound,
    TicketAction,
    TicketNotFound,
    TimerDue,
    UndeliverableAddress,
)

__all__ = [
    "LEGACY_THREAD_ROOT",
    "Committed",
    "Desk",
    "DeskError",
    "DuplicateDelivery",
    "MailIdentity",
    "OpenRequest",
    "OrderNotFound",
    "Outcome",
    "Request",
    "SubscriptionAction",
    "SubscriptionNotFound",
    "TicketAction",
    "TicketNotFound",
    "TimerDue",
    "UndeliverableAddress",
    "legacy_thread_root",
]
