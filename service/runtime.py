"""One running maildesk: every long-lived part, built once from the settings.

`Runtime` wires the store, the clock, the funnel, the scheduler, the outbox
worker, the intake and the built-in catcher together; `serve` runs its
loops, the web app reads from it, and tests build one around a temporary
database. Nothing here holds business rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from service.catcher.mailbox import Mailbox
from service.clock import Clock, FakeClock, SystemClock
from service.config import Settings
from service.desk import Committed, Desk, MailIdentity
from service.inbound.intake import Intake, IntakeSettings
from service.inbound.route import Router
from service.inbound.sender_auth import Resolver, SenderAuthenticator
from service.inbound.smtp import ListenerHandler
from service.inbound.tls import ListenerTls
from service.metrics import Metrics
from service.outbound.compose import Composer, MailSettings
from service.outbound.dkim_signing import DkimKey
from service.outbound.outbox import OutboxWorker
from service.outbound.render import Renderer
from service.outbound.transport import (
    CatcherTransport,
    DeliveryError,
    MailTransport,
    SmtpRelayTransport,
)
from service.outbound.webhook import WebhookSender
from service.outbound.webhook_target import AllowList
from service.scheduler import Scheduler
from service.store import Store, open_store

FAKE_CLOCK_KEY = "fake_clock_now"


@dataclass
class Runtime:
    settings: Settings
    store: Store
    clock: Clock
    desk: Desk
    scheduler: Scheduler
    outbox: OutboxWorker
    intake: Intake
    router: Router
    listener: ListenerHandler
    mailbox: Mailbox
    renderer: Renderer
    tls: ListenerTls | None = None
    """The listener's STARTTLS certificate (`--tls-cert`), reloaded on SIGHUP."""
    metrics: Metrics = field(default_factory=Metrics)
    """What `/metrics` shows; the listener, the outbox and the web app count into it."""

    @property
    def webhook_allow(self) -> AllowList:
        """The internal webhook targets the operator admits (`MAILDESK_WEBHOOK_ALLOW_HOSTS`)."""
        return AllowList.parse(self.settings.webhook_allow_hosts)

    @property
    def fake_clock(self) -> FakeClock | None:
        return self.clock if isinstance(self.clock, FakeClock) else None

    async def move_clock(
        self, *, to: datetime | None = None, by: timedelta | None = None
    ) -> tuple[datetime, int]:
        """Set or advance the fake clock, fire what fell due, and queue its emails."""
        clock = self.fake_clock
        if clock is None:
            raise RuntimeError("the clock can only be moved with --fake-clock")
        if to is not None:
            clock.set(to)
        if by is not None:
            clock.advance(by)
        async with self.store.transaction() as q:
            await q.settings.set(FAKE_CLOCK_KEY, clock.now().isoformat())
        fired = await self.scheduler.run_due()
        self.outbox.wake()
        return clock.now(), fired

    async def close(self) -> None:
        closing = getattr(self.outbox.transport, "aclose", None)
        if closing is not None:
            await closing()
        await self.outbox.webhooks.aclose()
        await self.store.close()


async def build_runtime(
    settings: Settings,
    *,
    store: Store | None = None,
    mailbox: Mailbox | None = None,
    clock: Clock | None = None,
) -> Runtime:
    """Everything `settings` describe; `clock`, when given, instead of the one they describe."""
    store = store or await open_store(settings.db)
    if clock is None:
        clock = await clock_for(settings, store)
    mailbox = mailbox or Mailbox()
    metrics = Metrics()
    transport: MailTransport = (
        SmtpRelayTransport.to(settings.relay, local_hostname=settings.host_name)
        if settings.relay
        else CatcherTransport(mailbox)
    )
    renderer = Renderer(settings.templates)
    desk = Desk(store, clock, MailIdentity(settings.domain))
    router = Router(settings.domain, settings.secret)
    dkim = (
        DkimKey.load(settings.dkim_key, settings.dkim_selector, settings.domain)
        if settings.dkim_key and settings.dkim_selector
        else None
    )
    composer = Composer(
        store,
        renderer,
        MailSettings(settings.secret, settings.domain, settings.public_base_url, dkim=dkim),
    )
    intake = Intake(
        desk,
        store,
        router,
        clock,
        IntakeSettings(
            new_tickets_per_hour=settings.new_tickets_per_hour,
            spool_dir=_spool_dir(settings.db),
            trusted_authserv_ids=settings.trusted_authserv_ids,
        ),
        answerable=partial(_answerable, transport),
        authenticator=(
            SenderAuthenticator(
                settings.host_name, Resolver(settings.dns, timeout=settings.dns_timeout)
            )
            if settings.sender_auth
            else None
        ),
    )
    scheduler = Scheduler(store, desk, clock)
    outbox = OutboxWorker(
        store,
        clock,
        transport,
        composer,
        webhooks=WebhookSender(AllowList.parse(settings.webhook_allow_hosts)),
        metrics=metrics,
    )
    desk.on_commit(lambda done: _wake(done, scheduler, outbox))
    return Runtime(
        settings=settings,
        store=store,
        clock=clock,
        desk=desk,
        scheduler=scheduler,
        outbox=outbox,
        intake=intake,
        router=router,
        listener=ListenerHandler(intake, router, metrics=metrics),
        mailbox=mailbox,
        renderer=renderer,
        metrics=metrics,
        tls=ListenerTls(settings.tls_cert, settings.tls_key)
        if settings.tls_cert and settings.tls_key
        else None,
    )


async def _answerable(transport: MailTransport, address: str) -> bool | None:
    """Whether the transport can deliver to `address`; None while the relay cannot be asked."""
    if address.isascii() or not isinstance(transport, SmtpRelayTransport):
        return True  # the built-in catcher keeps any address
    try:
        return await transport.offers_smtputf8()
    except DeliveryError:
        return None


def _wake(done: Committed, scheduler: Scheduler, outbox: OutboxWorker) -> None:
    """A commit that queued deliveries wakes the outbox; one that set a timer, the scheduler."""
    if done.queued:
        outbox.wake()
    if done.timers:
        scheduler.wake()


async def clock_for(settings: Settings, store: Store) -> Clock:
    """The clock `settings` describe: the system's, or a fake one (resumed where it stopped)."""
    if not settings.fake_clock:
        return SystemClock()
    async with store.reading() as q:
        saved = await q.settings.get(FAKE_CLOCK_KEY)
    start = settings.fake_clock_start or (
        datetime.fromisoformat(saved) if saved else SystemClock().now()
    )
    return FakeClock(start)


async def stored_clock(store: Store) -> Clock:
    """The clock the database last served with: its fake clock where it stopped, else the
    system's. For commands that run beside a demo (`maildesk import`), so that what they
    schedule is scheduled on the demo's time."""
    async with store.reading() as q:
        saved = await q.settings.get(FAKE_CLOCK_KEY)
    return FakeClock(datetime.fromisoformat(saved)) if saved else SystemClock()


def _spool_dir(db: str) -> Path:
    """Where mail that could not even be stored in the database is kept: beside the database."""
    if db.startswith(("postgres://", "postgresql://")):
        return Path("maildesk-spool")
    path = Path(db.removeprefix("sqlite:///"))
    return path.parent / "maildesk-spool"
