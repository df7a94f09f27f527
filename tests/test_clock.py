"""The fake clock as other processes see it, and the settings a helper process is handed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from service.clock import FakeClock, FollowingClock, SharedTime
from service.config import Relay, Settings

START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def test_a_following_clock_reads_every_move_of_the_fake_clock_it_shares() -> None:
    shared = SharedTime.create()
    clock = FakeClock(START)
    clock.share(shared)
    following = FollowingClock(SharedTime(os.dup(shared.fileno())))
    assert following.now() == START

    clock.advance(timedelta(days=1, microseconds=7))
    assert following.now() == START + timedelta(days=1, microseconds=7)
    clock.set(datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    assert following.now() == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_a_fake_clock_no_longer_shared_moves_alone_and_the_memory_closes() -> None:
    shared = SharedTime.create()
    clock = FakeClock(START)
    clock.share(shared)
    following = FollowingClock(SharedTime(os.dup(shared.fileno())))
    clock.share(None)
    shared.close()
    clock.advance(timedelta(hours=1))  # publishes nothing: the memory is closed
    assert clock.now() == START + timedelta(hours=1)
    assert following.now() == START  # what was shared last


def test_another_process_reads_the_shared_time_through_an_inherited_descriptor() -> None:
    shared = SharedTime.create()
    FakeClock(START).share(shared)
    script = (
        "import sys; from service.clock import FollowingClock, SharedTime; "
        "print(FollowingClock(SharedTime(int(sys.argv[1]))).now().isoformat())"
    )
    child = subprocess.run(
        [sys.executable, "-c", script, str(shared.fileno())],
        pass_fds=[shared.fileno()],
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == "2026-11-23T14:00:00+00:00"


def test_settings_survive_the_trip_to_a_helper_process() -> None:
    settings = Settings(
        db="/var/lib/maildesk/desk.db",
        relay=Relay("smtp.internal", 587),
        fake_clock=True,
        fake_clock_start=START,
        secret=b"\x00\xffnot text at all",
        smtp_processes=3,
        smtp_idle_timeout=12.5,
        templates="/etc/maildesk/templates",
        webhook_allow_hosts=("hooks.internal", "10.0.0.0/8"),
        max_api_body=4096,
        http_header_timeout=2.5,
        http_keep_alive_timeout=1.5,
        http_max_connections=7,
    )
    assert Settings.from_json(settings.to_json()) == settings
    assert Settings.from_json(Settings().to_json()) == Settings()
