"""Signed reply addresses, vendor command addresses and ticket links (SPEC §3, §5).

Every address and link maildesk hands out names what it is for (a ticket and a
party, or a vendor) and carries an HMAC-SHA256 signature under the deployment
secret (`MAILDESK_SECRET`), so inbound mail and web requests are checked
without a database read and nobody can guess another ticket's address.

Shapes (the signature is 20 characters of lower-case base32, 100 bits):

    reply address     t1234.c.<sig>@domain     (c = customer, v = vendor)
    subscription      s1001.<sig>@domain       (the customer's, SPEC §7)
    command address   v.acme.<sig>@domain      (one per vendor)
    ticket link       <base_url>/t/1234-c-<sig>

Each purpose signs with its own key derived from the secret, so a signature
made for one purpose never verifies for another (a reply address cannot be
turned into a ticket link). Everything is lower-case, because mail systems may
lower-case local parts; parsing lower-cases its input for the same reason.

This module must never read the database or the clock, never accept a
signature without `hmac.compare_digest`, and never decide whether a sender may
act: it only says which ticket and party (or vendor) an address names.
"""

from __future__ import annotations

import base64
import functools
import hmac
import re
from typing import Literal

PartyName = Literal["customer", "vendor"]

SIGNATURE_LENGTH = 20
"""Characters of base32 kept from the HMAC: 100 bits, short enough for a local part."""

_PARTY_CODES: dict[str, str] = {"customer": "c", "vendor": "v"}
_CODE_PARTIES: dict[str, PartyName] = {"c": "customer", "v": "vendor"}

_SIG = rf"[a-z2-7]{{{SIGNATURE_LENGTH}}}"
_NUMBER = r"[1-9][0-9]{0,17}"
_REPLY_LOCAL = re.compile(rf"t({_NUMBER})\.([cv])\.({_SIG})")
_LINK_TOKEN = re.compile(rf"({_NUMBER})-([cv])-({_SIG})")
_SUBSCRIPTION_LOCAL = re.compile(rf"s({_NUMBER})\.({_SIG})")
_COMMAND_LOCAL = re.compile(rf"v\.([a-z0-9][a-z0-9_-]{{0,39}})\.({_SIG})")
_VENDOR_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_BOUNCE_LOCAL = re.compile(rf"bounces\+({_NUMBER})\.({_SIG})")

# Distinct purposes: each derives its own key, so signatures never cross over.
_REPLY = b"reply-address"
_COMMAND = b"vendor-command-address"
_LINK = b"ticket-link"
_SUBSCRIPTION = b"subscription-reply-address"
_BOUNCE = b"bounce-address"


def reply_address(secret: bytes, domain: str, ticket_number: int, party: str) -> str:
    """The `Reply-To` of one party's notifications on one ticket."""
    code = _party_code(party)
    number = _ticket_number(ticket_number)
    return f"t{number}.{code}.{_sign(secret, _REPLY, f'{number}:{code}')}@{domain}"


def parse_reply_address(secret: bytes, address_or_local_part: str) -> tuple[int, PartyName] | None:
    """(ticket number, party) named by a genuine reply address, else None.

    Accepts a full address or its local part; the domain is not checked here
    (the caller knows which domains are ours).
    """
    return _ticket_party(secret, _REPLY, _REPLY_LOCAL, _local_part(address_or_local_part))


def subscription_reply_address(secret: bytes, domain: str, subscription_id: str) -> str:
    """The `Reply-To` of the customer's subscription emails: `#renew off`, `#accept` and the like.

    Only the customer has one: the vendor changes a subscription through its
    platform (the API), never by email.
    """
    number = _subscription_number(subscription_id)
    return f"s{number}.{_sign(secret, _SUBSCRIPTION, number)}@{domain}"


def parse_subscription_reply_address(secret: bytes, address: str) -> str | None:
    """The subscription id ("S1001") a genuine subscription reply address names, else None."""
    match = _SUBSCRIPTION_LOCAL.fullmatch(_local_part(address))
    if match is None:
        return None
    number, signature = match.groups()
    if not _verify(secret, _SUBSCRIPTION, number, signature):
        return None
    return f"S{number}"


def vendor_command_address(secret: bytes, domain: str, vendor_id: str) -> str:
    """The one address where a vendor's own mailboxes open vendor tickets.

    Vendor ids must be lower-case slugs (`[a-z0-9][a-z0-9_-]*`, at most 40
    characters): a mail system that lower-cases the local part must not change
    which vendor the address names.
    """
    if _VENDOR_ID.fullmatch(vendor_id) is None:
        raise ValueError(
            f"vendor id {vendor_id!r} cannot be put in an email address: use a lower-case "
            "slug of letters, digits, '-' and '_' (at most 40 characters)"
        )
    return f"v.{vendor_id}.{_sign(secret, _COMMAND, vendor_id)}@{domain}"


def parse_vendor_command_address(secret: bytes, address: str) -> str | None:
    """The vendor id named by a genuine command address (full address or local part)."""
    match = _COMMAND_LOCAL.fullmatch(_local_part(address))
    if match is None:
        return None
    vendor_id, signature = match.groups()
    if not _verify(secret, _COMMAND, vendor_id, signature):
        return None
    return vendor_id


def bounce_address(secret: bytes, domain: str, outbox_id: int) -> str:
    """The envelope sender of one notification (VERP): a bounce to it names that delivery.

    A bounce then tells which message and which address failed even when the
    remote server's report quotes neither; the signature keeps anyone else
    from marking an address as bouncing.
    """
    number = _ticket_number(outbox_id)
    return f"bounces+{number}.{_sign(secret, _BOUNCE, str(number))}@{domain}"


def parse_bounce_address(secret: bytes, address: str) -> int | None:
    """The outbox id named by a genuine bounce address (full address or local part)."""
    match = _BOUNCE_LOCAL.fullmatch(_local_part(address))
    if match is None:
        return None
    number, signature = match.groups()
    return int(number) if _verify(secret, _BOUNCE, number, signature) else None


def ticket_link_token(secret: bytes, ticket_number: int, party: str) -> str:
    """The path segment of one party's ticket page: `1234-c-<sig>`."""
    code = _party_code(party)
    number = _ticket_number(ticket_number)
    return f"{number}-{code}-{_sign(secret, _LINK, f'{number}:{code}')}"


def parse_ticket_link_token(secret: bytes, token: str) -> tuple[int, PartyName] | None:
    """(ticket number, party) named by a genuine ticket link token, else None."""
    return _ticket_party(secret, _LINK, _LINK_TOKEN, token.strip().lower())


def _ticket_party(
    secret: bytes, purpose: bytes, shape: re.Pattern[str], text: str
) -> tuple[int, PartyName] | None:
    """(ticket number, party) from `text` of `shape` (number, party code, signature) when the
    signature is genuine for `purpose`."""
    match = shape.fullmatch(text)
    if match is None:
        return None
    number, code, signature = match.groups()
    if not _verify(secret, purpose, f"{number}:{code}", signature):
        return None
    return int(number), _CODE_PARTIES[code]


def ticket_url(base_url: str, secret: bytes, ticket_number: int, party: str) -> str:
    """The full signed link to one party's ticket page."""
    return f"{base_url.rstrip('/')}/t/{ticket_link_token(secret, ticket_number, party)}"


# --- signing -----------------------------------------------------------------


def _sign(secret: bytes, purpose: bytes, message: str) -> str:
    digest = hmac.digest(_purpose_key(secret, purpose), message.encode(), "sha256")
    return base64.b32encode(digest[:_SIGNED_BYTES]).decode("ascii").lower()[:SIGNATURE_LENGTH]


_SIGNED_BYTES = 5 * -(-SIGNATURE_LENGTH // 8)
"""Whole 5-byte base32 groups covering the kept characters: the same prefix as encoding all."""


@functools.lru_cache(maxsize=64)
def _purpose_key(secret: bytes, purpose: bytes) -> bytes:
    """The key of one purpose, derived once per secret: every email signs two addresses."""
    if not secret:
        raise ValueError("the signing secret is empty; set MAILDESK_SECRET")
    return hmac.digest(secret, b"maildesk/" + purpose, "sha256")


def _verify(secret: bytes, purpose: bytes, message: str, signature: str) -> bool:
    return hmac.compare_digest(_sign(secret, purpose, message), signature)


def _party_code(party: str) -> str:
    try:
        return _PARTY_CODES[party]
    except KeyError:
        raise ValueError(
            f"only the customer and the vendor have reply addresses and links, not {party!r}"
        ) from None


def _ticket_number(ticket_number: int) -> int:
    if isinstance(ticket_number, bool) or ticket_number < 1 or ticket_number >= 10**18:
        raise ValueError(f"not a ticket number: {ticket_number!r}")
    return int(ticket_number)


def _subscription_number(subscription_id: str) -> str:
    match = re.fullmatch(rf"[Ss]({_NUMBER})", subscription_id)
    if match is None:
        raise ValueError(f"not a subscription id: {subscription_id!r} (expected S and digits)")
    return match.group(1)


def _local_part(address: str) -> str:
    """The local part of `addr`, `<addr>` or a bare local part, lower-cased."""
    address = address.strip().strip("<>").strip()
    return address.rpartition("@")[0].lower() if "@" in address else address.lower()
