"""Storage faults mid-run: a full disk answers 451, never 250, and recovers when space returns.

The database lives on a small tmpfs mounted for the test, so the faults are
real ones from the kernel, not mocks. When the fault clears, the same
message, sent again as any mail server would, is accepted and acted on once.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from service.store.sqlite import SqliteStore
from tests.conftest import DOMAIN
from tests.e2e.conftest import Served, serving

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs for the storage-fault tests: {done.stderr}")
        pytest.skip(f"mounting a tmpfs needs root: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
async def on_small_disk(small_disk: Path) -> AsyncIterator[Served]:
    store = await SqliteStore.open(small_disk / "maildesk.db")
    try:
        async with serving(store) as running:
            yield running
    finally:
        await store.close()


def raw_request(reference: str, sender: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: support@{DOMAIN}\r\nSubject: {reference} help\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@client.test>\r\n\r\nIt does not start.\r\n"
    ).encode()


async def test_a_full_disk_answers_451_and_the_retry_after_it_clears_acts_once(
    on_small_disk: Served, small_disk: Path
) -> None:
    served = on_small_disk
    filler = small_disk / "filler"
    await anyio.run_process(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], check=False)
    message = raw_request("B00K4JNE", "jane@example.test")
    results = []
    for _ in range(3):  # whatever state SQLite is in, a full disk never yields 250
        code, _ = await served.send("jane@example.test", f"support@{DOMAIN}", "", "", raw=message)
        results.append(code)
    assert results == [451, 451, 451]
    filler.unlink()
    code, text = await served.send("jane@example.test", f"support@{DOMAIN}", "", "", raw=message)
    assert code == 250, text
    again, _ = await served.send("jane@example.test", f"support@{DOMAIN}", "", "", raw=message)
    assert again == 250
    tickets = await served.tickets()
    assert [t["order"] for t in tickets] == ["B00K4JNE"]
