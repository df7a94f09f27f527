"""The SMTP listener: aiosmtpd hooks that keep the protocol visible and hand mail to `Intake`.

Thin on purpose. RCPT refuses any address that is not ours (never an open
relay) and caps the recipients of one message (452 for the rest); EHLO adds
PIPELINING to what aiosmtpd advertises; MAIL is refused with 421 once a
stop has begun, while transactions already open run to the end; DATA hands the message to the
intake and returns its reply, which is `250` only once everything the
message caused is committed. Message size is enforced by aiosmtpd itself
(`552`), before any of it is kept.
"""

from __future__ import annotations

import logging
import time
import weakref
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from service import logs
from service.inbound import codes
from service.inbound.intake import Intake
from service.inbound.route import Router
from service.inbound.sender_auth import Client
from service.metrics import Metrics

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 50


class ListenerHandler:
    def __init__(
        self,
        intake: Intake,
        router: Router,
        *,
        max_recipients: int = MAX_RECIPIENTS,
        metrics: Metrics | None = None,
    ) -> None:
        self.intake = intake
        self.metrics = metrics
        self.router = router
        self.max_recipients = max_recipients
        self.stopping = False
        # Transactions between MAIL and the reply to DATA. Weak, so an envelope that
        # RSET or a dropped connection abandons stops counting by itself.
        self._open: weakref.WeakSet[Envelope] = weakref.WeakSet()

    @property
    def in_flight(self) -> int:
        """Transactions a graceful stop must let finish."""
        return len(self._open)

    def stop_accepting(self) -> None:
        self.stopping = True

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Advertise PIPELINING (RFC 2920), ENHANCEDSTATUSCODES (RFC 2034) and DSN (RFC 3461).

        aiosmtpd already serves pipelining: commands are read from one buffered
        stream, in order, and each is answered in turn. Every reply carries an
        enhanced code (`GuardedSession.push`). DSN: its parameters are accepted
        (`GuardedSession.smtp_MAIL`/`smtp_RCPT`); a failure is always the SMTP
        reply itself, so the sending server writes the failure notice, and a
        `250` means the message was acted on (no success notice is sent).
        """
        session.host_name = hostname
        extensions = ["250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250-DSN"]
        return [*responses[:-1], *extensions, responses[-1]]

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.stopping:
            return str(codes.SHUTTING_DOWN)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        self._open.add(envelope)
        return str(codes.SENDER_OK)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.router.route(address) is None:
            return str(codes.not_ours(address))
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return str(codes.TOO_MANY_RECIPIENTS)
        envelope.rcpt_tos.append(address)
        return str(codes.RECIPIENT_OK)

    def _purposes(self, recipients: list[str]) -> str:
        """What the recipients are for, never the addresses: reply and command addresses are
        unguessable capabilities, and a log is read by more people than a mailbox."""
        return ", ".join(type(self.router.route(r)).__name__ for r in recipients) or "nobody"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw: Any = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        self._open.add(envelope)
        started = time.perf_counter()
        peer = session.peer
        client = Client(
            str(peer[0]) if isinstance(peer, tuple) and peer else "",
            str(session.host_name or ""),
        )
        try:
            with logs.context(request_id=logs.new_request_id()):
                reply = await self.intake.receive(
                    bytes(raw), envelope.mail_from or "", list(envelope.rcpt_tos), client
                )
                seconds = time.perf_counter() - started
                log.info(
                    "SMTP message from %s <%s> for %s answered %s %s in %.0f ms",
                    client.ip,
                    envelope.mail_from or "",
                    self._purposes(envelope.rcpt_tos),
                    reply.code,
                    reply.status,
                    seconds * 1000,
                )
            if self.metrics is not None:
                self.metrics.smtp_reply(reply.code, seconds)
            return str(reply)
        finally:
            self._open.discard(envelope)
