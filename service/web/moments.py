"""Times on the desk's lists: relative ("in 3 hours") beside absolute in the vendor's zone."""

from __future__ import annotations

from datetime import datetime

from service.outbound.filters import when
from service.representations import iso


def relative(moment: datetime | None, now: datetime) -> str:
    """`moment` from `now`, in words a person reads at a glance."""
    if moment is None:
        return ""
    seconds = (moment - now).total_seconds()
    ahead = seconds >= 0
    span = abs(seconds)
    if span < 60:
        return "now"
    if span < 3600:
        amount, unit = int(span // 60), "minute"
    elif span < 48 * 3600:
        amount, unit = int(span // 3600), "hour"
    else:
        amount, unit = int(span // 86400), "day"
    words = f"{amount} {unit}{'s' if amount != 1 else ''}"
    return f"in {words}" if ahead else f"{words} ago"


def absolute(moment: datetime | None, zone: str) -> str:
    return when(iso(moment), zone) if moment is not None else ""
