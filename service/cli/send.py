"""`maildesk send`: hand an .eml file to an SMTP listener, as a mail server would."""

from __future__ import annotations

import argparse
import sys
from email.parser import BytesParser
from email.utils import getaddresses

import aiosmtplib
import anyio

from service.config import ConfigError, parse_port


async def cmd_send(args: argparse.Namespace) -> int:
    path = anyio.Path(args.file)
    if not await path.exists():
        raise ConfigError(f"{path}: no such file")
    raw = await path.read_bytes()
    headers = BytesParser().parsebytes(raw, headersonly=True)
    sender = args.sender or (getaddresses([headers.get("From", "")])[0][1])
    recipients = args.to or [a for _, a in getaddresses(headers.get_all("To", []))]
    if not sender or not recipients:
        raise ConfigError(f"{path}: give --from and --to; the file's headers name none")
    port = parse_port("smtp-port", args.smtp_port)
    try:
        _, reply = await aiosmtplib.send(
            raw,
            sender=sender,
            recipients=recipients,
            hostname=args.smtp_host,
            port=port,
            start_tls=False,
        )
    except aiosmtplib.SMTPRecipientsRefused as refused:
        for each in refused.recipients:
            print(
                f"maildesk send: {each.recipient} refused: {each.code} {each.message}",
                file=sys.stderr,
            )
        return 1
    except aiosmtplib.SMTPResponseException as error:
        print(f"maildesk send: refused: {error.code} {error.message}", file=sys.stderr)
        return 1
    except (aiosmtplib.SMTPException, OSError) as error:
        print(
            f"maildesk send: cannot reach an SMTP listener at {args.smtp_host}:{port} ({error}); "
            "is `maildesk serve` running, and on that port (--smtp-port)?",
            file=sys.stderr,
        )
        return 1
    print(f"sent {path.name} from {sender} to {', '.join(recipients)}: {reply}")
    return 0
