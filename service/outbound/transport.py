"""Handing a finished message to the next hop: an SMTP relay, or the built-in catcher.

A transport is one method, `send`. Whatever goes wrong below it is translated
here, once, into one of three answers the outbox knows how to act on:

    DeliveryError
     ├── TransientFailure   try again later (4xx, refused connection, timeout before DATA)
     ├── PermanentFailure   give up and show the operator (5xx)
     └── MaybeDelivered     the relay may have it (timeout after DATA): retry with the
                            same Message-ID, so a duplicate can be recognised
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Protocol

import aiosmtplib

from service.catcher.mailbox import Mailbox


class DeliveryError(Exception):
    pass


class TransientFailure(DeliveryError):
    pass


class PermanentFailure(DeliveryError):
    pass


class MaybeDelivered(TransientFailure):
    pass


class MailTransport(Protocol):
    async def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None: ...


class CatcherTransport:
    """Delivers straight into the in-process catcher: the default, so mail never leaves."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        self.mailbox.add(message, sender, list(recipients))


class SmtpRelayTransport:
    """Delivers to an SMTP relay with aiosmtplib, one connection per message."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    async def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        client = aiosmtplib.SMTP(
            hostname=self.host, port=self.port, timeout=self.timeout, start_tls=False
        )
        data_sent = False
        try:
            await client.connect()
            await client.ehlo()
            await client.mail(sender)
            for recipient in recipients:
                await client.rcpt(recipient)
            data_sent = True
            await client.data(message)
        except aiosmtplib.SMTPResponseException as error:
            text = f"{error.code} {error.message}"
            if 400 <= error.code < 500:
                raise TransientFailure(text) from error
            raise PermanentFailure(text) from error
        except aiosmtplib.SMTPTimeoutError as error:
            if data_sent:
                raise MaybeDelivered(f"timed out after DATA: {error}") from error
            raise TransientFailure(f"timed out: {error}") from error
        except (aiosmtplib.SMTPException, OSError, socket.gaierror) as error:
            if data_sent and isinstance(error, aiosmtplib.SMTPServerDisconnected):
                raise MaybeDelivered(f"disconnected after DATA: {error}") from error
            raise TransientFailure(f"{type(error).__name__}: {error}") from error
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
