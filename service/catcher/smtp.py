"""The catcher's SMTP side: accept every message and keep it in a `Mailbox`.

`CatcherHandler` is an aiosmtpd handler with one hook, `handle_DATA`, which
stores the message bytes exactly as received and answers `250`.
`serve_catcher_smtp()` runs aiosmtpd's `SMTP` protocol on the *current*
asyncio event loop (not in aiosmtpd's `Controller` thread), so the catcher
shares one loop with the web server, the tests and anything else in an anyio
task group.

What this module must never do:

- relay, forward or deliver anything: caught mail stays in the mailbox;
- refuse a message for its content: malformed mail is caught like any other
  (reading it is the mailbox's job, and that never raises);
- leave a listener or a client connection open after its context exits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiosmtpd.smtp import SMTP, Envelope, Session

from service.catcher.mailbox import Mailbox
from service.inbound.smtp_server import serve_smtp

ACCEPTED = "250 Message accepted for delivery"
"""The only reply the catcher gives to DATA: every message is kept."""

SERVER_HOSTNAME = "maildesk-catcher"
"""Named in the greeting; set so aiosmtpd does not ask DNS for this machine's FQDN."""

SERVER_IDENT = "maildesk catcher"

MAX_MESSAGE_SIZE = 32 * 1024 * 1024
"""aiosmtpd's own default: a test harness should catch whatever maildesk sends."""


class CatcherHandler:
    """Keeps every message delivered over SMTP in `mailbox`. Implements only DATA."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if raw is None:  # older aiosmtpd: only `content`, maybe decoded to str
            content = envelope.content or b""
            raw = (
                content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
            )
        self.mailbox.add(bytes(raw), _reverse_path(envelope.mail_from), list(envelope.rcpt_tos))
        return ACCEPTED


def _reverse_path(mail_from: str | None) -> str:
    """The envelope sender; "" for the null sender `<>` of bounces and auto-replies."""
    if not mail_from or mail_from == "<>":
        return ""
    return mail_from


@asynccontextmanager
async def serve_catcher_smtp(
    mailbox: Mailbox, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[tuple[str, int]]:
    """Listen for SMTP on `host`:`port` while the context is open; yields the bound (host, port).

    Port 0 picks a free port. The same server loop as maildesk's own listener,
    with the catcher's handler and a generous size limit.
    """
    async with serve_smtp(
        CatcherHandler(mailbox),
        host,
        port,
        hostname=SERVER_HOSTNAME,
        ident=SERVER_IDENT,
        data_size_limit=MAX_MESSAGE_SIZE,
        grace=0,
        setting="--smtp-port",
    ) as bound:
        yield bound
