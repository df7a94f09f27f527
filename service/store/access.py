"""Sign-in links and browser sessions of the desk and the console (issue #17).

Rows are keyed by the SHA-256 of the secret a browser or an email holds, so
whoever reads the database cannot sign in with what it finds. Redeeming a
link is one statement that succeeds once (`used_at` is set only where it is
still empty and the link has not expired), so two clicks at the same moment
make one session. This module knows tables, not rules: how long a link or a
session lasts is decided by its caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from service.store.base import Repository, Row, as_time


@dataclass(frozen=True)
class SigninGrant:
    """Who a sign-in link (or the admin token) lets in: a vendor's person, or the operator."""

    role: str
    """'vendor' or 'operator'."""
    vendor_id: str | None
    email: str


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: who it is, since when, and when it was last seen."""

    id_hash: str
    role: str
    vendor_id: str | None
    email: str
    created_at: datetime
    last_seen_at: datetime


class AccessRepository(Repository):
    async def add_link(
        self, token_hash: str, grant: SigninGrant, now: datetime, expires_at: datetime
    ) -> None:
        await self.sql.execute(
            """INSERT INTO signin_links (token_hash, role, vendor_id, email, created_at,
                   expires_at) VALUES (?, ?, ?, ?, ?, ?)""",
            token_hash,
            grant.role,
            grant.vendor_id,
            grant.email,
            now,
            expires_at,
        )

    async def link_is_live(self, token_hash: str, now: datetime) -> bool:
        """Whether the link may still be used (unused and unexpired), without using it."""
        found = await self.sql.fetchval(
            "SELECT 1 FROM signin_links WHERE token_hash = ? AND used_at IS NULL "
            "AND expires_at > ?",
            token_hash,
            now,
        )
        return found is not None

    async def use_link(self, token_hash: str, now: datetime) -> SigninGrant | None:
        """Spend the link: its grant the first time within its life, None ever after."""
        row = await self.sql.fetchrow(
            """UPDATE signin_links SET used_at = ?
               WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
               RETURNING role, vendor_id, email""",
            now,
            token_hash,
            now,
        )
        return SigninGrant(row["role"], row["vendor_id"], row["email"]) if row else None

    async def forget_links_before(self, moment: datetime) -> None:
        """Drop links that expired before `moment`: they can never be used again."""
        await self.sql.execute("DELETE FROM signin_links WHERE expires_at < ?", moment)

    async def start_session(self, id_hash: str, grant: SigninGrant, now: datetime) -> None:
        await self.sql.execute(
            """INSERT INTO web_sessions (id_hash, role, vendor_id, email, created_at,
                   last_seen_at) VALUES (?, ?, ?, ?, ?, ?)""",
            id_hash,
            grant.role,
            grant.vendor_id,
            grant.email,
            now,
            now,
        )

    async def session(self, id_hash: str) -> WebSession | None:
        """A session that has not been ended (its age is the caller's to judge)."""
        row = await self.sql.fetchrow(
            "SELECT * FROM web_sessions WHERE id_hash = ? AND ended_at IS NULL", id_hash
        )
        return _session(row) if row else None

    async def touch_session(self, id_hash: str, now: datetime) -> None:
        await self.sql.execute(
            "UPDATE web_sessions SET last_seen_at = ? WHERE id_hash = ? AND ended_at IS NULL",
            now,
            id_hash,
        )

    async def end_session(self, id_hash: str, now: datetime) -> None:
        await self.sql.execute(
            "UPDATE web_sessions SET ended_at = ? WHERE id_hash = ? AND ended_at IS NULL",
            now,
            id_hash,
        )


def _session(row: Row) -> WebSession:
    return WebSession(
        id_hash=row["id_hash"],
        role=row["role"],
        vendor_id=row["vendor_id"],
        email=row["email"],
        created_at=as_time(row["created_at"]),
        last_seen_at=as_time(row["last_seen_at"]),
    )
