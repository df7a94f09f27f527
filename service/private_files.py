"""Files only maildesk's own user may read: the SQLite database and the spool of raw mail.

The database holds the signing secret, the admin token and every customer's
mail; the spool holds raw messages the database could not take. Left to the
umask (022 on most systems, 000 in some containers) they would be readable,
even writable, by every local user. So they are made with exact modes, `0600`
for files and `0700` for folders, set with `fchmod`/`chmod` after creation so
that no umask widens or narrows them, and a file or folder found open to
others is closed up.

This module never widens a mode and never deletes anything.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

OWNER_ONLY_FILE = 0o600
OWNER_ONLY_FOLDER = 0o700
OTHERS = 0o077
"""The group and world bits: any of them set means someone else may read, write or enter."""


def create_owner_only(path: str | Path) -> int | None:
    """Make sure the file exists and is private; return the mode it had if others had access.

    A file created here is exactly 0600, whatever the umask. An existing file
    is tightened to 0600 only when its group or others have any access: one
    that its owner made stricter (0400, say) is left as it is.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_FILE)
    except FileExistsError:
        return tighten_if_present(path)
    try:
        os.fchmod(fd, OWNER_ONLY_FILE)
    finally:
        os.close(fd)
    return None


def tighten_if_present(path: str | Path) -> int | None:
    """Make an existing file 0600 if others have access; return the mode it had, if changed."""
    try:
        before = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None
    if not before & OTHERS:
        return None
    os.chmod(path, OWNER_ONLY_FILE)
    return before


def owner_only_folder(path: Path) -> None:
    """Create the folder 0700 (and its missing parents the usual way), or close an open one."""
    path.mkdir(mode=OWNER_ONLY_FOLDER, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != OWNER_ONLY_FOLDER:
        os.chmod(path, OWNER_ONLY_FOLDER)


def write_owner_only(path: Path, data: bytes) -> None:
    """Write a new file that only the owner can read; an existing file is never overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_FILE)
    try:
        os.fchmod(fd, OWNER_ONLY_FILE)
        with os.fdopen(fd, "wb", closefd=False) as file:
            file.write(data)
    finally:
        os.close(fd)
