"""Handing a finished message to the next hop: an SMTP relay, or the built-in catcher.

A transport is one method, `send`. Whatever goes wrong below it is translated
here, once, into one of three answers the outbox knows how to act on:

    DeliveryError
     ├── TransientFailure   the relay itself is in trouble (refused or dropped
     │    │                 connection, 421, a timeout before the envelope): pause
     │    │                 every delivery and try again later
     │    ├── MessageDeferred   a 4xx to this message's MAIL, RCPT or DATA (a busy or
     │    │                     greylisting mailbox, a throttled message): retry this
     │    │                     message alone, later; the others keep flowing
     │    └── MaybeDelivered    the relay may have it (timeout after DATA): retry with
     │                          the same Message-ID, so a duplicate can be recognised
     └── PermanentFailure   give up and show the operator (5xx)
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Protocol

import aiosmtplib

from service.adapters.aiosmtplib import RelayClient
from service.catcher.mailbox import Mailbox
from service.config import Relay
from service.outbound.message import WireMessage
from service.tracing import traced


class DeliveryError(Exception):
    pass


class TransientFailure(DeliveryError):
    pass


class PermanentFailure(DeliveryError):
    pass


class MaybeDelivered(TransientFailure):
    pass


class MessageDeferred(TransientFailure):
    """This message was answered 4xx; the relay itself is fine."""


class MailTransport(Protocol):
    async def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None: ...


class CatcherTransport:
    """Delivers straight into the in-process catcher: the default, so mail never leaves."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        self.mailbox.add(message, sender, list(recipients))


class SmtpRelayTransport:
    """Delivers to an SMTP relay with aiosmtplib, reusing open connections.

    Connections are kept open between messages (one per concurrent sender, up
    to `pool_size` idle), which saves a TCP handshake, a greeting and an EHLO
    per email. A kept connection the relay has meanwhile closed is noticed
    before the content is sent and replaced once, without counting as a relay
    failure. The envelope goes as one pipelined group to a relay that offers
    PIPELINING, and the content as it is (`RelayClient.start_data_as_is` and
    `content_as_is`, `service.adapters.aiosmtplib`); only once the content is
    on its way may the relay have the message (`MaybeDelivered`).

    TLS (see `Relay`): `smtps://` wraps the connection from the start; for
    `smtp://` aiosmtplib upgrades with STARTTLS when the relay offers it
    (`auto`), always (`required`: a relay that does not offer it is refused)
    or never (`off`). A certificate that does not verify is the relay's
    trouble, like a refused connection: the outbox keeps the mail and the
    operator sees why in `maildesk outbox`. The login, when configured, runs
    after the upgrade, so a password never crosses the network in clear
    unless STARTTLS is switched off.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 30.0,
        pool_size: int = 16,
        relay: Relay | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.pool_size = pool_size
        self.relay = relay or Relay(host, port)
        self.local_hostname = local_hostname
        self._tls_context = _tls_context(self.relay.ca_file)
        self._idle: list[RelayClient] = []
        self._smtputf8: bool | None = None

    @classmethod
    def to(cls, relay: Relay, *, local_hostname: str, timeout: float = 30.0) -> SmtpRelayTransport:
        """The transport for `--relay`, greeting it as `local_hostname`."""
        return cls(
            relay.host, relay.port, timeout=timeout, relay=relay, local_hostname=local_hostname
        )

    @traced("SmtpRelayTransport.send (one message to the relay)")
    async def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        client, reused = await self._checkout()
        try:
            await self._transact(client, sender, recipients, message)
        except _StaleConnection:
            if not reused:
                raise TransientFailure("the relay closed the connection") from None
            client.close()
            client, _ = await self._checkout(fresh=True)
            try:
                await self._transact(client, sender, recipients, message)
            except _StaleConnection:
                client.close()
                raise TransientFailure("the relay closed a fresh connection") from None
            except DeliveryError:
                client.close()
                raise
        except MessageDeferred:
            await self._give_back(client, reset=True)
            raise
        except DeliveryError:
            client.close()
            raise
        await self._give_back(client)

    async def _give_back(self, client: RelayClient, *, reset: bool = False) -> None:
        """Keep a healthy connection for the next message (after RSET when one was refused)."""
        if reset and client.is_connected:
            try:
                await client.rset()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
                return
        if len(self._idle) < self.pool_size and client.is_connected:
            self._idle.append(client)
        else:
            await _quit(client)

    async def _checkout(self, *, fresh: bool = False) -> tuple[RelayClient, bool]:
        while self._idle and not fresh:
            client = self._idle.pop()
            if client.is_connected:
                return client, True
        relay = self.relay
        start_tls = {"auto": None, "required": True, "off": False}[relay.starttls]
        client = RelayClient(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            local_hostname=self.local_hostname,
            use_tls=relay.implicit_tls,
            start_tls=False if relay.implicit_tls else start_tls,
            tls_context=self._tls_context,
            username=relay.username,
            password=relay.password,
        )
        try:
            await client.connect()
            await client.ehlo()
        except aiosmtplib.SMTPAuthenticationError as error:
            client.close()
            raise TransientFailure(
                f"the relay refused the login ({error.code} {error.message}); check "
                "MAILDESK_RELAY_USER and MAILDESK_RELAY_PASSWORD"
            ) from error
        except aiosmtplib.SMTPResponseException as error:
            client.close()
            raise _classify(error) from error
        except ssl.SSLCertVerificationError as error:
            client.close()
            raise TransientFailure(
                f"the relay's certificate did not verify ({error.verify_message}); give its "
                "authority in MAILDESK_RELAY_CA_FILE if it is a private one"
            ) from error
        except (aiosmtplib.SMTPException, OSError) as error:
            client.close()
            raise TransientFailure(f"{type(error).__name__}: {error}") from error
        return client, False

    async def _transact(
        self, client: RelayClient, sender: str, recipients: Sequence[str], message: bytes
    ) -> None:
        data_sent = False
        international = not (sender.isascii() and all(r.isascii() for r in recipients))
        if international and not client.supports_extension("smtputf8"):
            raise PermanentFailure(
                "the relay does not offer SMTPUTF8, which an address with non-ASCII "
                f"characters needs ({', '.join(r for r in recipients if not r.isascii())})"
            )
        options = ["SMTPUTF8"] if international else []
        encoding = "utf-8" if international else "ascii"
        try:
            await client.start_data_as_is(sender, recipients, options=options, encoding=encoding)
            data_sent = True
            await client.content_as_is(message, crlf_only=isinstance(message, WireMessage))
        except aiosmtplib.SMTPServerDisconnected as error:
            if data_sent:
                raise MaybeDelivered(f"disconnected after DATA: {error}") from error
            raise _StaleConnection from error
        except aiosmtplib.SMTPResponseException as error:
            if error.code == 421 and not data_sent:  # the relay is closing this session
                raise _StaleConnection from error
            raise _classify(error, this_message=True) from error
        except aiosmtplib.SMTPTimeoutError as error:
            if data_sent:
                raise MaybeDelivered(f"timed out after DATA: {error}") from error
            raise TransientFailure(f"timed out: {error}") from error
        except (aiosmtplib.SMTPException, OSError) as error:
            if data_sent:
                raise MaybeDelivered(f"{type(error).__name__} after DATA: {error}") from error
            raise TransientFailure(f"{type(error).__name__}: {error}") from error

    async def offers_smtputf8(self) -> bool:
        """Whether the relay takes mail for non-ASCII addresses (asked once, then known).

        The listener asks before it accepts mail from such an address, so that
        it never accepts what it could not answer. Raises `TransientFailure`
        while the relay cannot be reached.
        """
        if self._smtputf8 is None:
            client, _ = await self._checkout()
            self._smtputf8 = client.supports_extension("smtputf8")
            await self._give_back(client)
        return self._smtputf8

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            await _quit(client)


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verified TLS 1.2 or later, against the system's authorities or the operator's own."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _StaleConnection(Exception):
    """A kept connection turned out closed before anything was sent on it."""


def _classify(
    error: aiosmtplib.SMTPResponseException, *, this_message: bool = False
) -> DeliveryError:
    """A relay's answer as the outbox's kind of failure.

    A 4xx to the greeting or EHLO is the relay's trouble; to one message's
    MAIL, RCPT or DATA (`this_message`) it is that message's alone, except
    421, which closes the session for everyone.
    """
    text = f"{error.code} {error.message}"
    if 400 <= error.code < 500:
        return (
            MessageDeferred(text) if this_message and error.code != 421 else TransientFailure(text)
        )
    return PermanentFailure(text)


async def _quit(client: RelayClient) -> None:
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
