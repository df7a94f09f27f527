"""Files that hold secrets and customers' mail are readable by maildesk's own user only.

The attack (issue #13, item 6): under the usual umask (022) the SQLite file
and its WAL came out 0644, so every local user could read the signing secret,
the admin token and every customer's mail in them; the spool folder of mail
the database could not take was as open. Each test sets a permissive umask
itself (022, and 000 where nothing else would stop a file being world-writable)
and then looks at the real files on disk.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.catalog import import_catalog
from service.config import Settings
from service.runtime import build_runtime
from service.store.sqlite import SqliteStore
from tests.conftest import DOMAIN, small_catalog

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def permissive_umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield int(request.param)
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(db: Path) -> dict[str, str]:
    """The mode of the database and each file SQLite and maildesk keep beside it, as octal."""
    files = [db, *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-writer.lock"))]
    return {f.name: oct(mode(f)) if f.exists() else "missing" for f in files}


def test_sqlite_gives_its_wal_and_shm_the_mode_of_the_database_file(
    tmp_path: Path, permissive_umask: int
) -> None:
    """What the fix relies on, checked on this machine: not the umask, the database file decides."""
    for wanted in (0o600, 0o644):
        db = tmp_path / f"{wanted:o}.db"
        db.touch()
        os.chmod(db, wanted)
        conn = sqlite3.connect(db)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("CREATE TABLE t (x)")
            conn.execute("INSERT INTO t VALUES (1)")
            conn.commit()
            for suffix in ("-wal", "-shm"):
                assert mode(db.with_name(db.name + suffix)) == wanted, suffix
        finally:
            conn.close()


async def test_the_database_its_wal_shm_and_writer_lock_are_0600_whatever_the_umask(
    tmp_path: Path, permissive_umask: int
) -> None:
    db = tmp_path / "maildesk.db"
    store = await SqliteStore.open(db)
    try:
        await import_catalog(store, small_catalog())
        async with store.transaction() as q:  # what `maildesk serve` keeps there in local mode
            await q.settings.set("local_secret", "a-secret-nobody-else-may-read")
            await q.settings.set("local_admin_token", "an-admin-token")
        checkpoint = sqlite3.connect(db)  # a backup script's checkpoint, while maildesk runs
        try:
            checkpoint.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            checkpoint.close()
        async with store.transaction() as q:
            await q.settings.set("after_checkpoint", "written to a reused WAL")
        assert modes(db) == {
            "maildesk.db": "0o600",
            "maildesk.db-wal": "0o600",
            "maildesk.db-shm": "0o600",
            "maildesk.db-writer.lock": "0o600",
        }
    finally:
        await store.close()


def test_maildesk_import_leaves_a_database_only_its_owner_reads(
    tmp_path: Path, permissive_umask: int
) -> None:
    db = tmp_path / "maildesk.db"
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "import", "fixtures/demo.json", "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["vendors"] == 2
    assert modes(db)["maildesk.db"] == "0o600"
    assert modes(db)["maildesk.db-writer.lock"] in ("0o600", "missing")


async def test_an_existing_database_open_to_others_is_tightened_on_open_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "maildesk.db"
    previous = os.umask(0o022)
    try:
        # A database made before the fix: 0644, with the -wal and -shm of a sqlite3 shell that
        # still has it open, and a lock file someone loosened.
        shell = sqlite3.connect(db)
        shell.execute("PRAGMA journal_mode = WAL")
        shell.execute("CREATE TABLE leftover (x)")
        shell.commit()
        lock = db.with_name("maildesk.db-writer.lock")
        lock.touch()
        os.chmod(lock, 0o644)
        assert set(modes(db).values()) == {"0o644"}
        with caplog.at_level(logging.INFO, logger="service.store"):
            store = await SqliteStore.open(db)
        await store.close()
        shell.close()
    finally:
        os.umask(previous)
    assert mode(db) == 0o600 and mode(lock) == 0o600
    said = [r for r in caplog.records if "0600" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in caplog.records]
    assert "maildesk.db" in said[0].getMessage() and said[0].levelno == logging.WARNING


def unstorable(reference: str) -> bytes:
    return (
        f"From: jane@example.test\r\nTo: support@{DOMAIN}\r\nSubject: {reference} help\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@client.test>\r\n\r\nA customer's private words.\r\n"
    ).encode()


@pytest.mark.parametrize("existing_folder", [None, 0o755], ids=["new-spool", "spool-was-0755"])
async def test_mail_kept_in_the_spool_is_0600_in_a_0700_folder_whatever_the_umask(
    tmp_path: Path, permissive_umask: int, existing_folder: int | None
) -> None:
    spool = tmp_path / "maildesk-spool"
    if existing_folder is not None:
        spool.mkdir()
        os.chmod(spool, existing_folder)
    db = tmp_path / "maildesk.db"
    settings = Settings(db=str(db), domain=DOMAIN, secret=b"s" * 32, mode="test")
    store = await SqliteStore.open(db)
    runtime = await build_runtime(settings, store=store)
    await store.close()  # the database is gone: the message can only go to the spool
    reply = await runtime.intake.receive(
        unstorable("B00K4JNE"), "jane@example.test", [f"support@{DOMAIN}"]
    )
    assert reply.code == 451
    (kept,) = spool.iterdir()
    assert b"A customer's private words." in kept.read_bytes()
    assert (oct(mode(spool)), oct(mode(kept))) == ("0o700", "0o600")
