"""`maildesk dkim keygen`: a signing key for notifications, and the DNS record that publishes it.

The key file is written readable by its owner only and never over an
existing file (a replaced key breaks every signature still in flight);
what to publish and how to start `serve` with it is printed for the person
at the terminal.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from service.config import ConfigError
from service.outbound.dkim_signing import generate_key
from service.private_files import write_owner_only

_SELECTOR = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


async def cmd_dkim(args: argparse.Namespace) -> int:
    return keygen(args)


def keygen(args: argparse.Namespace) -> int:
    selector = args.selector.strip().lower()
    if not _SELECTOR.fullmatch(selector):
        raise ConfigError(f"--selector {args.selector!r}: letters, digits and hyphens, e.g. md2026")
    out = Path(args.out or f"dkim-{selector}.key")
    if out.exists():
        raise ConfigError(
            f"{out} already exists; a new key needs a new selector (publish both records "
            "until mail signed with the old one has been delivered), or remove the file first"
        )
    key = generate_key(args.type)
    try:
        write_owner_only(out, key.private_key)
    except OSError as error:
        raise ConfigError(f"cannot write {out}: {error.strerror}") from None
    domain = args.domain.lower()
    print(f"Wrote the {args.type} signing key to {out} (readable by you only).")
    print(f"\nPublish this TXT record in the DNS of {domain}:\n")
    print(f"  {key.zone_line(selector, domain)}")
    print("\nthen sign every notification with:\n")
    print(f"  maildesk serve --dkim-key {out} --dkim-selector {selector} ...")
    return 0
