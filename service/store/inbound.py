"""Every received message as it came, with what was made of it; and addresses that bounce.

The raw message is always kept (SPEC §3), so an operator can read and replay
what was not acted on. The same rows answer the flood limits: new requests
per sender and hour, replies per reply address and hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from service.store.base import Repository, Row, as_time
from service.store.rows import InboundReceipt, TicketParties
from service.store.vendors import vendor_from

Count = Literal["new_requests", "replies"]

_BY_FROM = """(SELECT COUNT(*) FROM inbound_messages
                 WHERE sender = ? AND received_at >= ? AND new_request = ?)"""
_BY_ENVELOPE = """(SELECT COUNT(*) FROM inbound_messages
                     WHERE mail_from = ? AND received_at >= ? AND new_request = ?)"""
_REPLIES = """(SELECT COUNT(*) FROM inbound_messages
                 WHERE rcpt_to = ? AND received_at >= ? AND status = 'acted')"""


_SEEN_AND_BOUNCING = """SELECT EXISTS (SELECT 1 FROM inbound_messages
                        WHERE message_id = ? AND rcpt_to = ? AND body_hash = ?) AS seen,
               EXISTS (SELECT 1 FROM bouncing_addresses WHERE address = ?) AS bouncing"""
_ARRIVAL: dict[tuple[Count | None, bool], str] = {
    (None, False): _SEEN_AND_BOUNCING,
    ("new_requests", False): (
        f"{_SEEN_AND_BOUNCING}, {_BY_FROM} AS by_from, {_BY_ENVELOPE} AS by_envelope"
    ),
    ("replies", False): f"{_SEEN_AND_BOUNCING}, {_REPLIES} AS replies",
    ("replies", True): (
        f"{_SEEN_AND_BOUNCING}, {_REPLIES} AS replies, "
        "t.customer_email AS ticket_customer_email, v.* FROM (SELECT 1 AS one) AS one "
        "LEFT JOIN tickets t ON t.number = ? LEFT JOIN vendors v ON v.id = t.vendor_id"
    ),
}
"""The texts of `arrival`, fixed, so each is prepared once a connection."""


def _more(sender: str, by_from: int, by_envelope: int) -> int:
    """The flood count of `new_requests_from`: by `From` (when there is one) or by envelope."""
    return max(int(by_from) if sender else 0, int(by_envelope))


@dataclass(frozen=True)
class Arrival:
    """What is known of a message before acting on it."""

    seen: bool
    """This exact delivery was recorded before."""
    bouncing: bool
    """Its `From` address is marked as bouncing."""
    recent: int | None = None
    """The count its flood limit asked for, when one was asked."""
    parties: TicketParties | None = None
    """The parties of the ticket it replies to, when asked and the ticket exists."""


class InboundRepository(Repository):
    async def record(self, receipt: InboundReceipt) -> bool:
        """Keep a received message; False when this exact delivery was recorded before."""
        row_id = await self.sql.fetchval(
            """INSERT INTO inbound_messages (received_at, mail_from, rcpt_to, message_id,
                   body_hash, raw, status, detail, ticket_number, opened_ticket, sender,
                   new_request)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (message_id, rcpt_to, body_hash) DO NOTHING RETURNING id""",
            receipt.received_at,
            receipt.mail_from,
            receipt.rcpt_to,
            receipt.message_id,
            receipt.body_hash,
            receipt.raw,
            receipt.status,
            receipt.detail,
            receipt.ticket_number,
            receipt.opened_ticket,
            receipt.sender,
            receipt.new_request,
        )
        return row_id is not None

    async def arrival(
        self,
        message_id: str,
        rcpt_to: str,
        body_hash: str,
        sender: str,
        *,
        count: Count | None = None,
        mail_from: str = "",
        since: datetime | None = None,
        ticket: int | None = None,
    ) -> Arrival:
        """What the intake asks of every message before acting, in one statement (each was
        a round trip on PostgreSQL): a repeat delivery, a bouncing sender, and with `count`
        the hour's count of its flood limit since `since` (`new_requests_from` or
        `replies_to`, as they would answer); for a reply (`count="replies"`) with the
        parties of `ticket`, as `TicketRepository.parties` would answer."""
        args: list[object] = [message_id, rcpt_to, body_hash, sender.lower()]
        if count == "new_requests":
            args += [sender, since, True, mail_from, since, True]
        elif count == "replies":
            args += [rcpt_to, since]
        with_parties = count == "replies" and ticket is not None
        if with_parties:
            args.append(ticket)
        row = await self.sql.fetchrow(_ARRIVAL[count, with_parties], *args)
        assert row is not None
        recent = None
        if count == "new_requests":
            recent = _more(sender, row["by_from"], row["by_envelope"])
        elif count == "replies":
            recent = int(row["replies"])
        parties = None
        if with_parties and row["ticket_customer_email"] is not None:
            parties = TicketParties(row["ticket_customer_email"], vendor_from(row))
        return Arrival(bool(row["seen"]), bool(row["bouncing"]), recent, parties)

    async def new_requests_from(self, sender: str, envelope_from: str, since: datetime) -> int:
        """New requests since `since` from one identity: by `From` or by envelope, the more.

        A flood changes one of the two and keeps the other, so each is counted on
        its own; either reaching the limit stops it.
        """
        row = await self.sql.fetchrow(
            f"SELECT {_BY_FROM} AS by_from, {_BY_ENVELOPE} AS by_envelope",
            sender,
            since,
            True,
            envelope_from,
            since,
            True,
        )
        assert row is not None
        return _more(sender, row["by_from"], row["by_envelope"])

    async def replies_to(self, rcpt_to: str, since: datetime) -> int:
        """Messages that acted through one reply address since `since`."""
        return int(
            await self.sql.fetchval(
                f"SELECT {_REPLIES}",
                rcpt_to,
                since,
            )
        )

    async def find(self, status: str | None = None, limit: int = 100) -> list[Row]:
        """The newest received messages first, without their raw bytes."""
        return await self.sql.fetch(
            """SELECT id, received_at, mail_from, rcpt_to, message_id, status, detail,
                      ticket_number FROM inbound_messages
               WHERE CAST(? AS TEXT) IS NULL OR status = ? ORDER BY id DESC LIMIT ?""",
            status,
            status,
            limit,
        )

    async def forget_raw_before(self, cutoff: datetime) -> int:
        """Empty the kept raw message of every message received before `cutoff` (retention).

        The row stays (what it was, who sent it, what it did, its body hash
        for recognising a second delivery); only the customer's words go.
        """
        rows = await self.sql.fetch(
            """UPDATE inbound_messages SET raw = ?, detail = detail || ' (raw message removed)'
               WHERE received_at < ? AND LENGTH(raw) > 0 RETURNING id""",
            b"",
            cutoff,
        )
        return len(rows)

    async def raw(self, inbound_id: int) -> bytes | None:
        value = await self.sql.fetchval("SELECT raw FROM inbound_messages WHERE id = ?", inbound_id)
        return None if value is None else bytes(value)

    # --- addresses that bounce -------------------------------------------------------------

    async def mark_bouncing(self, address: str, since: datetime, detail: str) -> None:
        await self.sql.execute(
            """INSERT INTO bouncing_addresses (address, since, detail) VALUES (?, ?, ?)
               ON CONFLICT (address) DO UPDATE SET detail = excluded.detail""",
            address.lower(),
            since,
            detail,
        )

    async def bouncing(self, addresses: Sequence[str]) -> dict[str, tuple[datetime, str]]:
        """Which of `addresses` bounce hard: address → (since, what the bounce said)."""
        wanted = sorted({address.lower() for address in addresses})
        if not wanted:
            return {}
        among, args = self.one_of("address", wanted)
        rows = await self.sql.fetch(
            f"SELECT address, since, detail FROM bouncing_addresses WHERE {among}", *args
        )
        return {str(r["address"]): (as_time(r["since"]), str(r["detail"])) for r in rows}

    async def clear_bouncing(self, address: str) -> bool:
        """Forget the mark of an address that wrote in again; True when there was one."""
        rows = await self.sql.fetch(
            "DELETE FROM bouncing_addresses WHERE address = ? RETURNING address", address.lower()
        )
        return bool(rows)

    async def is_bouncing(self, address: str) -> bool:
        found = await self.sql.fetchval(
            "SELECT address FROM bouncing_addresses WHERE address = ?", address.lower()
        )
        return found is not None

    async def bouncing_addresses(self, limit: int = 500) -> list[Row]:
        """Every address marked as bouncing, newest first (the console's list)."""
        return await self.sql.fetch(
            "SELECT address, since, detail FROM bouncing_addresses ORDER BY since DESC LIMIT ?",
            limit,
        )

    async def release_for_replay(self, inbound_id: int) -> tuple[bytes, str, str] | None:
        """Mark a kept, not-acted-on message `replayed` and free its delivery key."""
        row = await self.sql.fetchrow(
            """UPDATE inbound_messages SET status = 'replayed',
                   body_hash = body_hash || '/replayed-' || CAST(id AS TEXT)
               WHERE id = ? AND status NOT IN ('acted', 'replayed')
               RETURNING raw, mail_from, rcpt_to""",
            inbound_id,
        )
        return (bytes(row["raw"]), row["mail_from"], row["rcpt_to"]) if row else None
