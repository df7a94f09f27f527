"""`maildesk backup FILE`: a consistent copy of a SQLite database, while `serve` runs.

SQLite's online backup API (the standard library's `Connection.backup`)
copies page by page and starts again over any page a writer changed
meanwhile, so the copy is one moment's database even under load; copying
the file with `cp` is not (a write in the middle, the `-wal` file beside
it). The copy holds the signing secret and customers' mail, so it is
written readable by its owner only, and never over an existing file.
PostgreSQL has its own tool for this, `pg_dump` (docs/operations.md).
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from service.config import ConfigError
from service.private_files import write_owner_only


async def cmd_backup(args: argparse.Namespace) -> int:
    return backup(args.db, Path(args.file))


def backup(database: str, target: Path) -> int:
    if database.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            "maildesk backup copies a SQLite database; for PostgreSQL use pg_dump, e.g. "
            "`pg_dump --format=custom --file=maildesk.dump DATABASE-URL` (docs/operations.md)"
        )
    source_path = Path(database)
    if not source_path.is_file():
        raise ConfigError(f"--db {database!r}: no such database file")
    if target.exists():
        raise ConfigError(f"{target} already exists; give a new file name (backups are kept)")
    write_owner_only(target, b"")  # created 0600 before SQLite writes a byte of it
    source = sqlite3.connect(f"file:{source_path.resolve()}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy, pages=1024)
        check = copy.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.Error as error:
        copy.close()
        target.unlink(missing_ok=True)
        raise ConfigError(f"backup of {database} failed: {error}") from None
    finally:
        source.close()
    copy.close()
    if check is None or check[0] != "ok":
        raise ConfigError(f"the copy in {target} does not pass SQLite's integrity check: {check}")
    print(
        f"backed up {database} to {target} ({target.stat().st_size:,} bytes, readable by you only)"
    )
    return 0
