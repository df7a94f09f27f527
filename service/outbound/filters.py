"""The Jinja filters of every notification and page: dates, money, sizes, prose.

Small pure functions, also used by the pages; `when` is cached because a
ticket's few timestamps recur in every email about it. `when` is the one
place a time becomes words: always in the reader's zone, always naming it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from markupsafe import Markup, escape

from service.domain.zones import zone_info

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT_WIDTH = 76


@functools.lru_cache(maxsize=4096)
def when(value: str | None, zone: str = "UTC") -> str:
    """An ISO-8601 time in `zone` (a name from `service.domain.zones.reader_zone`), zone named.

    `2026-11-02T10:00:00Z` -> `Mon 2 Nov 2026 10:00 UTC`; in "UTC+01:00" ->
    `Mon 2 Nov 2026 11:00 UTC+01:00`; in "America/New_York" -> `Mon 2 Nov
    2026 05:00 EST (America/New_York)`: the abbreviation people know, and
    the zone's name, which no two zones share. A time without an offset is
    read as UTC, as maildesk stores times; unparseable text as given.

    Cached: a ticket's few timestamps recur in every email about it (both
    parties, text and HTML, history and details), and parsing was a tenth
    of a render.
    """
    moment = _in_zone(value, zone)
    if moment is None:
        return value or ""
    return (
        f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} "
        f"{moment.year} {moment:%H:%M} {_zone_label(zone, moment)}"
    )


@functools.lru_cache(maxsize=1024)
def day(value: str | None, zone: str = "UTC") -> str:
    """The date alone, in `zone`: `Sat 2 Jan 2027`, for a subject line (the body gives the time)."""
    moment = _in_zone(value, zone)
    if moment is None:
        return value or ""
    return f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def _in_zone(value: str | None, zone: str) -> datetime | None:
    """An ISO-8601 time (UTC when it names no offset) in `zone`; None when it is not one."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone_info(zone))


def _zone_label(zone: str, moment: datetime) -> str:
    """ "UTC", "UTC+01:00", or "EST (America/New_York)": never an abbreviation alone."""
    if moment.tzinfo is UTC:  # "UTC", or a name no zone has
        return "UTC"
    if zone.startswith(("UTC+", "UTC-")):
        return zone
    abbreviation = moment.tzname() or ""
    if abbreviation.isalpha() and abbreviation != zone:
        return f"{abbreviation} ({zone})"
    return zone


def money(amount: object, currency: str | None = None) -> str:
    return f"{amount} {currency}" if currency else str(amount)


def filesize(size: int | None) -> str:
    if size is None:
        return ""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def humanize(value: str | None) -> str:
    """`credit_card` -> `credit card`."""
    return (value or "").replace("_", " ")


_PAYMENT_METHODS: Mapping[str, str] = {
    "paypal": "PayPal",
    "apple_pay": "Apple Pay",
    "alipay": "Alipay",
    "amazon_pay": "Amazon Pay",
}


def payment(method: str | None) -> str:
    """`credit_card` -> `credit card`, `paypal` -> `PayPal`."""
    return _PAYMENT_METHODS.get(method or "", humanize(method))


def para(text: str) -> str:
    """Wrap prose for the text part: each blank-line-separated paragraph filled to 76 columns.

    Cheap on the few sentences it is meant for; never apply it to comments
    or whole bodies. Long words (URLs, addresses) are never broken.
    """
    paragraphs = (chunk.split() for chunk in _PARAGRAPH_BREAK.split(text))
    return "\n\n".join(_fill(words, _TEXT_WIDTH) for words in paragraphs if words)


def _fill(words: Sequence[str], width: int) -> str:
    """Greedy fill of `words` into lines of at most `width` columns, long words on their own line.

    The same lines as `textwrap.fill(" ".join(words), width,
    break_long_words=False, break_on_hyphens=False)`, which it replaces
    because textwrap's general chunking cost a tenth of a whole render.
    """
    lines: list[str] = []
    line: list[str] = []
    length = -1
    for word in words:
        if line and length + 1 + len(word) > width:
            lines.append(" ".join(line))
            line, length = [], -1
        line.append(word)
        length += 1 + len(word)
    lines.append(" ".join(line))
    return "\n".join(lines)


def nl2br(text: str | None) -> Markup:
    """Escape `text` and keep its line breaks, for comments in the HTML part."""
    escaped = escape(text or "")
    return Markup(escaped.replace("\r\n", "\n").replace("\n", Markup("<br>\n")))
