"""Numbered schema scripts, written once for both databases where they can be.

`NNN_name.sql` here is shared: its `${NAME}` placeholders become each
dialect's column types (`COLUMN_TYPES`), so a table is declared once and the
two schemas cannot drift. `<dialect>/NNN_name.sql` holds what one database
does its own way: run after the shared script of the same version, or alone
where the two must differ (SQLite rebuilds a table to change a column;
PostgreSQL alters it in place). A version's scripts run in one transaction.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.abc import Traversable

DIALECTS = ("sqlite", "postgresql")

COLUMN_TYPES: dict[str, dict[str, str]] = {
    # A moment: timestamptz, or UTC ISO-8601 text of fixed width (text order is time order).
    "TIME": {"postgresql": "TIMESTAMPTZ", "sqlite": "TEXT"},
    # An amount: exact decimal, never floating point.
    "MONEY": {"postgresql": "NUMERIC", "sqlite": "TEXT"},
    "BIGINT": {"postgresql": "BIGINT", "sqlite": "INTEGER"},
    "BYTES": {"postgresql": "BYTEA", "sqlite": "BLOB"},
    # A yes/no that starts as no.
    "FLAG": {
        "postgresql": "BOOLEAN NOT NULL DEFAULT FALSE",
        "sqlite": "INTEGER NOT NULL DEFAULT 0",
    },
    # A row id the database hands out (SQLite's INTEGER PRIMARY KEY is its rowid).
    "SERIAL_KEY": {"postgresql": "BIGSERIAL PRIMARY KEY", "sqlite": "INTEGER PRIMARY KEY"},
}

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def scripts(dialect: str) -> list[tuple[int, str]]:
    """The (version, SQL) pairs for `dialect`, oldest first."""
    if dialect not in DIALECTS:
        raise ValueError(f"no migrations for {dialect!r}; expected one of {', '.join(DIALECTS)}")
    root = resources.files(__name__)
    parts: dict[int, list[str]] = {}
    for folder, shared in ((root, True), (root / dialect, False)):
        for entry in sorted(_sql_files(folder), key=lambda e: e.name):
            version = int(entry.name.split("_", 1)[0])
            text = entry.read_text("utf-8")
            parts.setdefault(version, []).append(render(text, dialect) if shared else text)
    return [(version, "\n".join(parts[version])) for version in sorted(parts)]


def render(script: str, dialect: str) -> str:
    """`script` with each `${NAME}` replaced by the dialect's type; an unknown name is an error."""

    def column_type(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in COLUMN_TYPES:
            raise KeyError(f"unknown placeholder ${{{name}}}; known: {', '.join(COLUMN_TYPES)}")
        return COLUMN_TYPES[name][dialect]

    return _PLACEHOLDER.sub(column_type, script)


def _sql_files(folder: Traversable) -> list[Traversable]:
    return [entry for entry in folder.iterdir() if entry.name.endswith(".sql")]
