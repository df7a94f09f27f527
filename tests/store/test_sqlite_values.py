"""Values as the SQLite store writes them: times as fixed-width UTC text, so text order is
time order, whatever zone a time came in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from service.domain.records import SubscriptionStatus
from service.store.sqlite import SQLITE_TIME_FORMAT, encode


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 5, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
        datetime(1000, 1, 1, 0, 0, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, tzinfo=UTC),
    ],
)
def test_a_time_is_its_utc_text_in_the_one_format(moment: datetime) -> None:
    assert encode(moment) == moment.astimezone(UTC).strftime(SQLITE_TIME_FORMAT)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        encode(datetime(2026, 11, 2, 10, 0))


def test_other_values_are_stored_as_sqlite_takes_them() -> None:
    assert [encode(v) for v in ("a", 7, 1.5, None, b"x")] == ["a", 7, 1.5, None, b"x"]
    assert encode(Decimal("19.95")) == "19.95"
    assert encode(True) == 1 and type(encode(True)) is int
    assert encode(SubscriptionStatus.ACTIVE) == "active"
