"""Small values a deployment keeps in its database: the local secret, the fake clock's time."""

from __future__ import annotations

from service.store.base import Repository


class SettingsRepository(Repository):
    async def get(self, key: str) -> str | None:
        value = await self.sql.fetchval("SELECT value FROM settings WHERE key = ?", key)
        return None if value is None else str(value)

    async def any(self) -> bool:
        """Whether anything at all was kept here (a new database keeps nothing)."""
        return await self.sql.fetchval("SELECT key FROM settings LIMIT 1") is not None

    async def set(self, key: str, value: str) -> None:
        await self.sql.execute(
            """INSERT INTO settings (key, value) VALUES (?, ?)
               ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
            key,
            value,
        )
