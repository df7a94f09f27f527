"""Numbered schema scripts, one folder per dialect: `<dialect>/NNN_name.sql`."""

from __future__ import annotations

from importlib import resources


def scripts(dialect: str) -> list[tuple[int, str]]:
    """The (version, SQL) pairs shipped for `dialect`, oldest first."""
    folder = resources.files(__name__) / dialect
    found = [
        (int(entry.name.split("_", 1)[0]), entry.read_text("utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found)
