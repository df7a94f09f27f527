"""`Queries`: one repository per record family, bound to one connection or transaction.

A `Store` hands one out for each unit of work; everything read or written
through it shares that connection, so a funnel transaction that touches a
ticket, its order, its timer and the outbox commits all of it or none. Each
repository knows its tables, not rules: it never decides whether a refund is
allowed, it only records one.
"""

from __future__ import annotations

from service.store.access import AccessRepository
from service.store.base import SqlConnection
from service.store.desk import DeskRepository
from service.store.inbound import InboundRepository
from service.store.orders import OrderRepository
from service.store.outbox import OutboxRepository
from service.store.settings import SettingsRepository
from service.store.subscriptions import SubscriptionRepository
from service.store.tickets import TicketRepository
from service.store.timers import TimerRepository
from service.store.vendors import VendorRepository


class Queries:
    """The repositories of one unit of work. `sql` is the connection itself, for the rare
    statement that belongs to no family (tests that set up odd states use it too)."""

    def __init__(self, sql: SqlConnection) -> None:
        self.sql = sql
        self.vendors = VendorRepository(sql)
        self.orders = OrderRepository(sql)
        self.tickets = TicketRepository(sql)
        self.subscriptions = SubscriptionRepository(sql)
        self.timers = TimerRepository(sql)
        self.outbox = OutboxRepository(sql)
        self.inbound = InboundRepository(sql)
        self.settings = SettingsRepository(sql)
        self.access = AccessRepository(sql)
        self.desk = DeskRepository(sql)
