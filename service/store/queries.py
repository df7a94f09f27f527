"""`Queries`: one repository per record family, bound to one connection or transaction.

A `Store` hands one out for each unit of work; everything read or written
through it shares that connection, so a funnel transaction that touches a
ticket, its order, its timer and the outbox commits all of it or none. Each
repository knows its tables, not rules: it never decides whether a refund is
allowed, it only records one.
"""

from __future__ import annotations

from functools import cached_property

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
    statement that belongs to no family (tests that set up odd states use it too).

    Each repository is made when first used: a unit of work uses one to three of the ten,
    and a message opens several units (3.7 µs each when all ten were made up front).
    """

    def __init__(self, sql: SqlConnection) -> None:
        self.sql = sql

    @cached_property
    def vendors(self) -> VendorRepository:
        return VendorRepository(self.sql)

    @cached_property
    def orders(self) -> OrderRepository:
        return OrderRepository(self.sql)

    @cached_property
    def tickets(self) -> TicketRepository:
        return TicketRepository(self.sql)

    @cached_property
    def subscriptions(self) -> SubscriptionRepository:
        return SubscriptionRepository(self.sql)

    @cached_property
    def timers(self) -> TimerRepository:
        return TimerRepository(self.sql)

    @cached_property
    def outbox(self) -> OutboxRepository:
        return OutboxRepository(self.sql)

    @cached_property
    def inbound(self) -> InboundRepository:
        return InboundRepository(self.sql)

    @cached_property
    def settings(self) -> SettingsRepository:
        return SettingsRepository(self.sql)

    @cached_property
    def access(self) -> AccessRepository:
        return AccessRepository(self.sql)

    @cached_property
    def desk(self) -> DeskRepository:
        return DeskRepository(self.sql)
