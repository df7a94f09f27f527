"""Permanent self-service links (SPEC §7, seed 004): secured by an id plus a random secret.

`/s/<id>-<secret>` is a subscription's self-service page (`-<n>` opens it at
item n), `/p/<reference>-<secret>` a purchase's page. Unlike the signed ticket
links these carry a stored secret, so an operator can rotate one (and every
old link stops working) without touching anything else. The secret is 20
characters of [A-Za-z0-9], about 119 bits.
"""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass

SECRET = re.compile(r"[A-Za-z0-9]{8,64}")
"""What a secret may look like: generated ones, and those the platform imports (its own)."""
SUBSCRIPTION_ID = re.compile(r"S[0-9]{1,18}")
_ALPHABET = string.ascii_letters + string.digits
_SUBSCRIPTION_TOKEN = re.compile(r"(S[0-9]{1,18})-([A-Za-z0-9]{8,64})(?:-([1-9][0-9]{0,3}))?")
_PURCHASE_TOKEN = re.compile(r"([^\x00-\x1f\x7f/]{1,128})-([A-Za-z0-9]{8,64})")


_UNBIASED = 256 - 256 % len(_ALPHABET)
"""Bytes below this map evenly onto the 62 characters (248 = 4 x 62); the others are skipped."""
_CHARACTER_OF = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) for b in range(256))
_SKIPPED = bytes(range(_UNBIASED, 256))


def new_secret() -> str:
    """20 random characters of [A-Za-z0-9]: 40 random bytes, each kept byte one character."""
    return new_secrets(1)[0]


def new_secrets(count: int) -> list[str]:
    """`count` secrets of 20 random characters of [A-Za-z0-9], from one draw of random bytes.

    Not `secrets.choice` per character, nor a Python step per byte, nor a draw per secret:
    an import makes one per order, and that was a fifth of a big import's time.
    `bytes.translate` maps each byte to its character and drops the skipped ones in one
    call; every kept byte is one uniform character, so consecutive twenties are secrets.
    """
    wanted = 20 * count
    kept = b""
    while len(kept) < wanted:
        draw = max(40, (wanted - len(kept)) * 33 // 32)  # 1 byte in 32 is skipped
        kept += secrets.token_bytes(draw).translate(_CHARACTER_OF, _SKIPPED)
    text = kept.decode("ascii")
    return [text[start : start + 20] for start in range(0, wanted, 20)]


@dataclass(frozen=True)
class LinkToken:
    """What a link names: the record's id, the secret it offers, and maybe an item."""

    id: str
    secret: str
    item: int | None = None


def subscription_token(token: str) -> LinkToken | None:
    """`S1001-<secret>` or `S1001-<secret>-2`, else None (a malformed link is a 404)."""
    match = _SUBSCRIPTION_TOKEN.fullmatch(token)
    if match is None:
        return None
    subscription_id, secret, item = match.groups()
    return LinkToken(subscription_id, secret, int(item) if item else None)


def purchase_token(token: str) -> LinkToken | None:
    """`<reference>-<secret>`: the secret is what follows the last `-`."""
    match = _PURCHASE_TOKEN.fullmatch(token)
    return LinkToken(match.group(1), match.group(2)) if match else None


def subscription_url(
    base_url: str, subscription_id: str, secret: str, item: int | None = None
) -> str:
    suffix = f"-{item}" if item is not None else ""
    return f"{base_url.rstrip('/')}/s/{subscription_id}-{secret}{suffix}"


def purchase_url(base_url: str, reference: str, secret: str) -> str:
    return f"{base_url.rstrip('/')}/p/{reference}-{secret}"
