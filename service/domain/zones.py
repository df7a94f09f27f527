"""Which time zone each reader sees times in, and how that zone is named.

Times are stored in UTC (SPEC §1); people read them in their own zone. The
vendor reads its IANA zone. The customer reads the zone of their own last
email: the UTC offset of its `Date` header, a fixed offset because that is all
a header says (named like "UTC+01:00"); before any such email (a web form, the
API, a header without a zone) the customer reads the vendor's zone. Every time
shown names its zone, so a reader is never left to guess.

Pure: the doors read the header, the funnel keeps the offset with the ticket,
and the outbound side and pages ask `reader_zone`.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service.domain.records import Party

MAX_UTC_OFFSET = 14 * 60
"""Minutes: no zone on Earth is further from UTC (Kiribati, +14:00; the far west is -12:00)."""

_OFFSET_NAME = re.compile(r"UTC([+-])(\d{2}):(\d{2})")


def offset_zone_name(minutes: int) -> str:
    """A fixed offset's name: 0 is "UTC", 60 is "UTC+01:00", -330 is "UTC-05:30"."""
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def usable_utc_offset(minutes: int | None) -> int | None:
    """`minutes` when it is an offset some zone really has, else None."""
    if minutes is None or abs(minutes) > MAX_UTC_OFFSET:
        return None
    return minutes


def reader_zone(party: Party, vendor_timezone: str, customer_utc_offset: int | None) -> str:
    """The zone `party` reads times in: the customer's own offset when known, else the vendor's."""
    if party is Party.CUSTOMER:
        offset = usable_utc_offset(customer_utc_offset)
        if offset is not None:
            return offset_zone_name(offset)
    return vendor_timezone or "UTC"


@functools.lru_cache(maxsize=256)
def zone_info(name: str) -> tzinfo:
    """The tzinfo of a name from `reader_zone` (an IANA zone or a fixed offset); UTC if unknown."""
    if name in ("", "UTC"):
        return UTC
    fixed = _OFFSET_NAME.fullmatch(name)
    if fixed is not None:
        sign, hours, minutes = fixed.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        return timezone(-offset if sign == "-" else offset, name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC
