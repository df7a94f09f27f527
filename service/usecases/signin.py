"""Signing in to the vendor's desk and the operator's console (issue #17), for the web door.

No passwords: a person asks for a link at an address maildesk knows (a
vendor's account or agent email, or one of `MAILDESK_OPERATOR_EMAILS`); the
link is emailed through the outbox, works once, for `LINK_LIFE`; spending
it starts a session. The operator may also sign in with the admin token.
Only SHA-256 hashes of link tokens and session ids are kept in their tables (the
email carrying a link waits in the outbox like any email; the link dies in 15 minutes).

A session ends when its holder signs out (for every browser that holds it),
after `IDLE_LIMIT` without a request, or `SESSION_LIMIT` after it began,
whichever comes first. Asking for a link always answers the same, so the
form never tells anyone which addresses may sign in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from service.desk import Desk
from service.desk.outgoing import address_email
from service.domain.mailbox import is_addr_spec
from service.domain.notifications import SIGNIN
from service.domain.records import Party
from service.store.access import SigninGrant, WebSession

LINK_LIFE = timedelta(minutes=15)
IDLE_LIMIT = timedelta(hours=8)
SESSION_LIMIT = timedelta(days=7)
TOUCH_EVERY = timedelta(minutes=5)
"""How stale `last_seen_at` may get before a request writes it again (one write, not one per
request)."""
MAX_VENDORS_PER_ADDRESS = 10
OPERATOR = "operator"
ADMIN_TOKEN_SIGNIN = "admin token"
"""The `email` of an operator session started with the admin token."""
VENDOR = "vendor"


def digest(secret_value: str) -> str:
    """What is stored of a link token or a session id."""
    return hashlib.sha256(secret_value.encode("ascii", "replace")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SignedIn:
    """A new session: the id the browser keeps (never stored) and whom it lets in."""

    session_id: str
    grant: SigninGrant


async def send_signin_links(
    desk: Desk,
    *,
    email: str,
    base_url: str,
    operator_emails: tuple[str, ...],
    then: str = "",
) -> int:
    """Email a link for each desk and console `email` may sign in to; how many were sent.

    `then` (a path the door checked) is where the link leads after signing in.

    The caller answers the same whatever this returns.
    """
    address = email.strip().lower()
    if not is_addr_spec(address):
        return 0
    async with desk.store.reading() as q:
        vendors = await q.vendors.signing_in_as(address)
    grants = [
        (SigninGrant(VENDOR, v.id, address), v.name) for v in vendors[:MAX_VENDORS_PER_ADDRESS]
    ]
    if address in operator_emails:
        grants.append((SigninGrant(OPERATOR, None, address), ""))
    now = desk.clock.now()
    for grant, vendor_name in grants:
        token = new_secret()
        facts = {
            "link": f"{base_url.rstrip('/')}/desk/signin/{token}"
            + (f"?next={quote(then, safe='/')}" if then else ""),
            "minutes": str(int(LINK_LIFE.total_seconds() // 60)),
            "place": "console" if grant.role == OPERATOR else "desk",
            "vendor_name": vendor_name,
        }
        party = Party.OPERATOR if grant.role == OPERATOR else Party.VENDOR
        item = address_email(address, SIGNIN, facts, None, now, desk.identity.domain, party=party)
        await desk.issue_signin_link(digest(token), grant, now + LINK_LIFE, item)
    return len(grants)


async def link_is_live(desk: Desk, token: str) -> bool:
    async with desk.store.reading() as q:
        return await q.access.link_is_live(digest(token), desk.clock.now())


async def redeem_link(desk: Desk, token: str) -> SignedIn | None:
    """A new session for the link's holder; None when the link is unknown, spent or expired."""
    session_id = new_secret()
    grant = await desk.redeem_signin_link(digest(token), digest(session_id))
    return SignedIn(session_id, grant) if grant is not None else None


async def sign_in_with_admin_token(desk: Desk) -> SignedIn:
    """A new operator session; the door has checked the token (in constant time)."""
    session_id = new_secret()
    grant = SigninGrant(OPERATOR, None, ADMIN_TOKEN_SIGNIN)
    await desk.start_session(digest(session_id), grant)
    return SignedIn(session_id, grant)


async def current_session(desk: Desk, session_id: str) -> WebSession | None:
    """The live session this id names, noting that it was used; None when it has ended."""
    hashed = digest(session_id)
    async with desk.store.reading() as q:
        session = await q.access.session(hashed)
    if session is None:
        return None
    now = desk.clock.now()
    if now - session.last_seen_at > IDLE_LIMIT or now - session.created_at > SESSION_LIMIT:
        await desk.end_session(hashed)
        return None
    if now - session.last_seen_at > TOUCH_EVERY:
        await desk.touch_session(hashed)
    return session


async def sign_out(desk: Desk, session_id: str) -> None:
    await desk.end_session(digest(session_id))
