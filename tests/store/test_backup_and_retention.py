"""`maildesk backup` copies a database consistently while it is written; raw mail retention."""

from __future__ import annotations

import sqlite3
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from service.cli import main
from service.clock import FakeClock
from service.retention import RawMailRetention
from service.store import InboundReceipt, Store

pytestmark = pytest.mark.anyio


def test_backup_is_consistent_while_a_writer_keeps_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "live.db"
    with sqlite3.connect(database) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE pairs (a INTEGER, b INTEGER)")
    stop = threading.Event()

    def write() -> None:
        # Each transaction adds two rows with the same number: a torn copy shows an odd count.
        writer = sqlite3.connect(database)
        n = 0
        while not stop.is_set():
            with writer:
                writer.execute("INSERT INTO pairs VALUES (?, 1)", (n,))
                writer.execute("INSERT INTO pairs VALUES (?, 2)", (n,))
            n += 1
        writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        for index in range(3):
            target = tmp_path / f"copy-{index}.db"
            assert main(["backup", str(target), "--db", str(database)]) == 0
            assert stat.S_IMODE(target.stat().st_mode) == 0o600
            with sqlite3.connect(target) as copy:
                (rows,) = copy.execute("SELECT COUNT(*) FROM pairs").fetchone()
            assert rows % 2 == 0
    finally:
        stop.set()
        thread.join()
    assert "readable by you only" in capsys.readouterr().out


def test_backup_never_overwrites_and_points_postgresql_to_pg_dump(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "d.db"
    sqlite3.connect(database).close()
    existing = tmp_path / "old.db"
    existing.write_text("an older backup")
    assert main(["backup", str(existing), "--db", str(database)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert existing.read_text() == "an older backup"
    assert main(["backup", str(tmp_path / "x.db"), "--db", "postgresql://h/db"]) == 2
    assert "pg_dump" in capsys.readouterr().err


async def test_raw_mail_older_than_the_retention_is_emptied_and_the_record_kept(
    store: Store, clock: FakeClock
) -> None:
    now = clock.now()
    async with store.transaction() as q:
        for age, message_id in ((40, "<old@x>"), (10, "<new@x>")):
            await q.inbound.record(
                InboundReceipt(
                    received_at=now - timedelta(days=age),
                    mail_from="jane@example.test",
                    rcpt_to="support@desk.test",
                    message_id=message_id,
                    body_hash=message_id,
                    raw=b"Subject: private\r\n\r\nmy address is ...\r\n",
                )
            )
    await RawMailRetention(store, clock, days=30).tick()
    async with store.reading() as q:
        kept = {row["message_id"]: row for row in await q.inbound.find()}
        assert await q.inbound.raw(kept["<old@x>"]["id"]) == b""
        assert await q.inbound.raw(kept["<new@x>"]["id"]) != b""
        assert "raw message removed" in kept["<old@x>"]["detail"]
        assert (await q.inbound.arrival("<old@x>", "support@desk.test", "<old@x>", "")).seen


async def test_no_retention_keeps_raw_mail_for_good(store: Store, clock: FakeClock) -> None:
    async with store.transaction() as q:
        await q.inbound.record(
            InboundReceipt(
                received_at=clock.now() - timedelta(days=4000),
                mail_from="a@b.test",
                rcpt_to="support@desk.test",
                message_id="<ancient@x>",
                body_hash="h",
                raw=b"Subject: x\r\n\r\nbody\r\n",
            )
        )
    await RawMailRetention(store, clock, days=0).tick()
    async with store.reading() as q:
        (row,) = await q.inbound.find()
        assert await q.inbound.raw(row["id"]) == b"Subject: x\r\n\r\nbody\r\n"
