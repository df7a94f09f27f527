"""Mailbox: ids, order, the bound, clearing, and waiting for mail without polling."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import anyio
import pytest

from service.catcher import Mailbox

pytestmark = pytest.mark.anyio


def test_ids_increase_from_one_and_messages_are_listed_oldest_first() -> None:
    mailbox = Mailbox()
    first = mailbox.add(b"Subject: one\r\n\r\n1", "a@example.test", ["b@example.test"])
    second = mailbox.add(b"Subject: two\r\n\r\n2", "a@example.test", ["c@example.test"])

    assert (first.id, second.id) == (1, 2)
    assert [message.id for message in mailbox.messages()] == [1, 2]
    assert mailbox.get(2) == second
    assert mailbox.get(3) is None


def test_the_envelope_and_raw_bytes_are_kept_unchanged() -> None:
    raw = b"Subject: x\r\n\r\nbody \xff\r\n"
    at = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    message = Mailbox(clock=lambda: at).add(raw, "", ["b@example.test", "c@example.test"])

    assert message.raw == raw
    assert message.mail_from == ""
    assert message.rcpt_tos == ("b@example.test", "c@example.test")
    assert message.received_at == at


def test_the_oldest_messages_are_dropped_past_the_bound() -> None:
    mailbox = Mailbox(max_messages=2)
    for n in range(5):
        mailbox.add(f"Subject: {n}\r\n\r\n".encode(), "a@example.test", ["b@example.test"])

    assert [message.id for message in mailbox.messages()] == [4, 5]
    assert mailbox.received == 5


def test_clear_forgets_everything_but_ids_are_never_reused() -> None:
    mailbox = Mailbox()
    mailbox.add(b"\r\n", "a@example.test", ["b@example.test"])
    mailbox.add(b"\r\n", "a@example.test", ["b@example.test"])

    assert mailbox.clear() == 2
    assert mailbox.messages() == []
    assert mailbox.add(b"\r\n", "a@example.test", ["b@example.test"]).id == 3


def test_an_empty_mailbox_is_still_truthy_so_it_is_never_swapped_for_a_new_one() -> None:
    shared = Mailbox()

    assert len(shared) == 0
    assert (shared or Mailbox()) is shared


def test_a_mailbox_must_keep_at_least_one_message() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Mailbox(max_messages=0)


async def test_wait_for_count_wakes_when_the_expected_mail_arrives() -> None:
    mailbox = Mailbox()

    async def deliver_later() -> None:
        for n in range(3):
            await anyio.sleep(0.01)
            mailbox.add(f"Subject: {n}\r\n\r\n".encode(), "a@example.test", ["b@example.test"])

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(deliver_later)
        with anyio.fail_after(2):
            messages = await mailbox.wait_for_count(3, timeout=2)

    assert [message.id for message in messages] == [1, 2, 3]


async def test_wait_for_count_returns_at_once_when_enough_mail_is_already_kept() -> None:
    mailbox = Mailbox()
    mailbox.add(b"\r\n", "a@example.test", ["b@example.test"])

    with anyio.fail_after(0.5):
        assert len(await mailbox.wait_for_count(1, timeout=0)) == 1


async def test_wait_for_count_times_out_saying_how_many_arrived() -> None:
    mailbox = Mailbox()
    mailbox.add(b"\r\n", "a@example.test", ["b@example.test"])

    with pytest.raises(TimeoutError, match=r"expected at least 2 .* only 1 arrived"):
        await mailbox.wait_for_count(2, timeout=0.05)


async def test_wait_for_count_refuses_a_count_the_bound_makes_impossible() -> None:
    with pytest.raises(ValueError, match="keeps at most 2"):
        await Mailbox(max_messages=2).wait_for_count(3, timeout=0.05)


async def test_wait_for_returns_the_first_matching_message_that_arrives() -> None:
    mailbox = Mailbox()
    mailbox.add(b"Subject: old\r\n\r\n", "a@example.test", ["someone@example.test"])

    async def deliver_later() -> None:
        await anyio.sleep(0.01)
        mailbox.add(b"Subject: other\r\n\r\n", "a@example.test", ["someone@example.test"])
        await anyio.sleep(0.01)
        mailbox.add(b"Subject: wanted\r\n\r\n", "a@example.test", ["jane@example.test"])

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(deliver_later)
        found = await mailbox.wait_for(lambda m: "jane@example.test" in m.rcpt_tos, timeout=2)

    assert found.subject == "wanted"


async def test_wait_for_times_out_saying_how_many_arrived_while_waiting() -> None:
    mailbox = Mailbox()
    mailbox.add(b"\r\n", "a@example.test", ["b@example.test"])

    async def deliver_later() -> None:
        await anyio.sleep(0.01)
        mailbox.add(b"\r\n", "a@example.test", ["b@example.test"])

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(deliver_later)
        with pytest.raises(TimeoutError, match="1 arrived while waiting, 2 kept"):
            await mailbox.wait_for(lambda m: m.subject == "never", timeout=0.1)


async def test_a_message_added_from_another_thread_wakes_the_waiter() -> None:
    mailbox = Mailbox()

    def deliver() -> None:
        time.sleep(0.05)  # so the waiter is already asleep
        mailbox.add(b"Subject: from a thread\r\n\r\n", "a@example.test", ["b@example.test"])

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(anyio.to_thread.run_sync, deliver)
        [message] = await mailbox.wait_for_count(1, timeout=2)

    assert message.subject == "from a thread"


def test_delete_forgets_one_message_and_its_id_is_never_reused() -> None:
    mailbox = Mailbox()
    for _ in range(3):
        mailbox.add(b"\r\n", "a@example.test", ["b@example.test"])

    assert mailbox.delete(2) is True
    assert mailbox.delete(2) is False
    assert mailbox.delete(99) is False
    assert [message.id for message in mailbox.messages()] == [1, 3]
    assert mailbox.get(2) is None
    assert mailbox.add(b"\r\n", "a@example.test", ["b@example.test"]).id == 4


def test_the_version_counts_every_change_to_what_is_kept() -> None:
    mailbox = Mailbox()
    assert mailbox.version == 0
    mailbox.add(b"\r\n", "a@example.test", ["b@example.test"])
    mailbox.add(b"\r\n", "a@example.test", ["b@example.test"])
    assert mailbox.version == 2
    mailbox.delete(1)
    assert mailbox.version == 3
    mailbox.delete(1)  # nothing deleted: nothing changed
    assert mailbox.version == 3
    mailbox.clear()
    assert mailbox.version == 4
    mailbox.clear()  # already empty
    assert mailbox.version == 4


async def test_wait_for_change_wakes_on_an_arrival_a_deletion_and_a_clearing() -> None:
    mailbox = Mailbox()
    mailbox.add(b"\r\n", "a@example.test", ["b@example.test"])
    changes = [
        lambda: mailbox.add(b"\r\n", "a@example.test", ["b@example.test"]),
        lambda: mailbox.delete(1),
        mailbox.clear,
    ]
    for change in changes:
        seen = mailbox.version

        async def change_later(change: object = change) -> None:
            await anyio.sleep(0.01)
            change()  # type: ignore[operator]

        async with anyio.create_task_group() as task_group:
            task_group.start_soon(change_later)
            with anyio.fail_after(2):
                assert await mailbox.wait_for_change(seen, timeout=5) == seen + 1


async def test_wait_for_change_returns_at_once_for_an_old_version_and_times_out_quietly() -> None:
    mailbox = Mailbox()
    mailbox.add(b"\r\n", "a@example.test", ["b@example.test"])

    with anyio.fail_after(0.5):
        assert await mailbox.wait_for_change(0, timeout=5) == 1
    assert await mailbox.wait_for_change(1, timeout=0.05) == 1


async def test_a_deletion_from_another_thread_wakes_the_waiter() -> None:
    mailbox = Mailbox()
    mailbox.add(b"\r\n", "a@example.test", ["b@example.test"])

    def delete() -> None:
        time.sleep(0.05)
        mailbox.delete(1)

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(anyio.to_thread.run_sync, delete)
        with anyio.fail_after(2):
            assert await mailbox.wait_for_change(1, timeout=5) == 2
