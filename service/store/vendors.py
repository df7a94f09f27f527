"""Vendors: their settings, their keys, and the operator's abuse mark."""

from __future__ import annotations

import json
from datetime import datetime

from service.domain.records import RefundCategory, RefundPolicy, Vendor
from service.store.base import Repository, Row, as_time


class VendorRepository(Repository):
    async def get(self, vendor_id: str) -> Vendor | None:
        row = await self.sql.fetchrow("SELECT * FROM vendors WHERE id = ?", vendor_id)
        return vendor_from(row) if row else None

    async def by_api_key(self, api_key: str) -> Vendor | None:
        row = await self.sql.fetchrow("SELECT * FROM vendors WHERE api_key = ?", api_key)
        return vendor_from(row) if row else None

    async def signing_in_as(self, email: str) -> list[Vendor]:
        """The vendors whose account email or one of whose agent emails is `email`."""
        address = email.strip().lower()
        rows = await self.sql.fetch(
            """SELECT * FROM vendors WHERE LOWER(account_email) = ?
                   OR LOWER(agent_emails) LIKE ? ORDER BY id""",
            address,
            f'%"{address}"%',
        )
        found = [vendor_from(r) for r in rows]  # LIKE is a sieve ('_' matches any character)
        return [
            v
            for v in found
            if v.account_email.lower() == address or address in (a.lower() for a in v.agent_emails)
        ]

    async def search(self, text: str, *, limit: int = 100) -> list[Vendor]:
        """Vendors whose id, name or an address contains `text` (all when it is empty)."""
        pattern = f"%{text.strip().lower()}%"
        rows = await self.sql.fetch(
            """SELECT * FROM vendors WHERE LOWER(id) LIKE ? OR LOWER(name) LIKE ?
                   OR LOWER(account_email) LIKE ? OR LOWER(COALESCE(support_email, '')) LIKE ?
               ORDER BY id LIMIT ?""",
            pattern,
            pattern,
            pattern,
            pattern,
            limit,
        )
        return [vendor_from(r) for r in rows]

    async def all(self) -> list[Vendor]:
        return [vendor_from(r) for r in await self.sql.fetch("SELECT * FROM vendors ORDER BY id")]

    async def upsert(self, vendor: Vendor) -> None:
        await self.sql.execute(
            """INSERT INTO vendors (id, name, account_email, support_email, agent_emails,
                   timezone, policy_category, policy_days, api_key, webhook_url, abusing,
                   renewal_reminder_days, remind_auto_renewals, payment_update_url)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET name = excluded.name,
                   account_email = excluded.account_email,
                   support_email = excluded.support_email,
                   agent_emails = excluded.agent_emails, timezone = excluded.timezone,
                   policy_category = excluded.policy_category,
                   policy_days = excluded.policy_days, api_key = excluded.api_key,
                   webhook_url = excluded.webhook_url,
                   renewal_reminder_days = excluded.renewal_reminder_days,
                   remind_auto_renewals = excluded.remind_auto_renewals,
                   payment_update_url = excluded.payment_update_url""",
            vendor.id,
            vendor.name,
            vendor.account_email,
            vendor.support_email,
            json.dumps(list(vendor.agent_emails)),
            vendor.timezone,
            vendor.refund_policy.category.value,
            vendor.refund_policy.days,
            vendor.api_key,
            vendor.webhook_url,
            vendor.abusing,
            vendor.renewal_reminder_days,
            vendor.remind_auto_renewals,
            vendor.payment_update_url,
        )

    async def set_abusing(
        self, vendor_id: str, abusing: bool, *, at: datetime | None = None, by: str = ""
    ) -> bool:
        """Set or clear the mark; with `at`, also note it in the vendor's mark history."""
        found = await self.sql.fetchval(
            "UPDATE vendors SET abusing = ? WHERE id = ? RETURNING id", abusing, vendor_id
        )
        if found is not None and at is not None:
            await self.sql.execute(
                "INSERT INTO abuse_marks (vendor_id, abusing, at, by_whom) VALUES (?, ?, ?, ?)",
                vendor_id,
                abusing,
                at,
                by,
            )
        return found is not None

    async def abuse_marks(self, vendor_id: str) -> list[tuple[bool, datetime, str]]:
        """The vendor's marks, oldest first: (abusing, when, by whom)."""
        rows = await self.sql.fetch(
            "SELECT abusing, at, by_whom FROM abuse_marks WHERE vendor_id = ? ORDER BY at, id",
            vendor_id,
        )
        return [(bool(r["abusing"]), as_time(r["at"]), r["by_whom"]) for r in rows]


def vendor_from(row: Row) -> Vendor:
    return Vendor(
        id=row["id"],
        name=row["name"],
        account_email=row["account_email"],
        support_email=row["support_email"],
        agent_emails=tuple(json.loads(row["agent_emails"] or "[]")),
        timezone=row["timezone"],
        refund_policy=RefundPolicy(RefundCategory(row["policy_category"]), row["policy_days"]),
        api_key=row["api_key"],
        webhook_url=row["webhook_url"],
        abusing=bool(row["abusing"]),
        renewal_reminder_days=int(row["renewal_reminder_days"]),
        remind_auto_renewals=bool(row["remind_auto_renewals"]),
        payment_update_url=row["payment_update_url"],
    )
