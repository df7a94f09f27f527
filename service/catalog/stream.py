"""Importing a file of any size in bounded memory (issue #19): read as a stream, written in batches.

`json.loads` of a 325 MB file of a million orders held 2.8 GB of Python
objects. Here the file is read twice with ijson, a streaming JSON parser
(its C backend over yajl), and never whole:

1. the small sections (vendors, products), the names of the top-level keys,
   and the subscription ids the orders name, so a duplicate is refused
   before anything is written and an id maildesk makes up never takes one
   the file names further down;
2. the orders, `BATCH` at a time, each batch validated and written by the
   same `write_catalog` as a small import, with the paths of its errors
   counted from the start of the file.

All batches go into one transaction, as a small import does: a bad field in
the millionth order imports nothing, and what was written before it is
rolled back. The caller gives the transaction (`Desk.import_file` through
the funnel, `import_file` for a store alone).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

import ijson

from service.catalog.fields import ImportError_
from service.catalog.writing import IdNumbers, write_catalog
from service.clock import Clock, SystemClock
from service.outbound.webhook_target import NO_EXCEPTIONS, AllowList
from service.store import Queries, Store
from service.web.json_input import InvalidJson, check_value

BATCH = 2_000
"""Orders validated and written at a time: what the import holds in memory, with their rows."""

SECTIONS = ("vendors", "products", "orders")
_IN_ORDERS = "orders."
_SUBSCRIPTION_ID = "orders.item.subscription.id"


class UnreadableImport(ImportError_):
    """The file is not JSON at all (a 400 at the API, not a field to fix)."""


@dataclass
class Header:
    """What the first pass learned: the small sections, and the subscription ids named."""

    vendors: list[Any] = field(default_factory=list)
    products: list[Any] = field(default_factory=list)
    subscription_ids: set[str] = field(default_factory=set)


def read_header(source: IO[bytes]) -> Header:
    """The first pass: vendors, products, and every `orders[].subscription.id`, checked."""
    header = Header()
    builders: dict[str, ijson.ObjectBuilder] = {}
    try:
        for prefix, event, value in ijson.parse(source, use_float=False):
            if prefix.startswith(_IN_ORDERS):  # nearly every event: the orders' insides
                if prefix == _SUBSCRIPTION_ID and event == "string":
                    if value in header.subscription_ids:
                        raise ImportError_(f"import.orders: subscription id {value} appears twice")
                    header.subscription_ids.add(value)
                continue
            if prefix == "" and event == "map_key" and value not in SECTIONS:
                raise ImportError_(
                    f"import.{value}: unknown section; expected vendors, products, orders"
                )
            if prefix == "" and event not in ("start_map", "map_key", "end_map"):
                raise ImportError_("import: expected an object with vendors, products, orders")
            section = prefix.partition(".")[0]
            if section not in SECTIONS:
                continue
            if prefix == section:
                if event not in ("start_array", "end_array"):
                    raise ImportError_(f"import.{section}: expected a list")
                continue
            if section == "orders":
                continue
            item = f"{section}.item"
            builder = builders.get(section)
            if builder is None:
                if prefix == item and event not in ("start_map", "start_array"):
                    getattr(header, section).append(value)  # not an object: refused later
                    continue
                builder = builders[section] = ijson.ObjectBuilder()
            builder.event(event, value)
            if prefix == item and event in ("end_map", "end_array"):
                getattr(header, section).append(builder.value)
                del builders[section]
    except ijson.JSONError as error:
        raise UnreadableImport(f"import: not valid JSON ({error})") from None
    return header


def iter_orders(source: IO[bytes]) -> Iterator[Any]:
    """The second pass: each order as a plain value, one at a time."""
    try:
        yield from ijson.items(source, "orders.item", use_float=False)
    except ijson.JSONError as error:
        raise UnreadableImport(f"import: not valid JSON ({error})") from None


async def write_stream(
    q: Queries,
    source: IO[bytes],
    now: datetime,
    *,
    webhook_allow: AllowList = NO_EXCEPTIONS,
    batch: int = BATCH,
) -> tuple[dict[str, int], bool]:
    """Validate and write the import in `source` (seekable; read twice) through `q`, a
    batch of orders at a time."""
    escaped = _has_escapes(source)
    source.seek(0)
    header = read_header(source)
    _storable([header.vendors, header.products])
    numbers = IdNumbers()
    numbers.reserve(header.subscription_ids)
    first = {"vendors": header.vendors, "products": header.products, "orders": []}
    counts, timers = await write_catalog(q, first, now, webhook_allow=webhook_allow)
    source.seek(0)
    orders = iter_orders(source)
    offset = 0
    while chunk := list(islice(orders, batch)):
        if escaped:
            _storable(chunk)
        written, timer = await write_catalog(
            q,
            {"orders": chunk},
            now,
            webhook_allow=webhook_allow,
            first_order_index=offset,
            numbers=numbers,
        )
        counts["orders"] += written["orders"]
        timers = timers or timer
        offset += len(chunk)
    return counts, timers


async def import_file(
    store: Store,
    path: Path,
    *,
    clock: Clock | None = None,
    webhook_allow: AllowList = NO_EXCEPTIONS,
) -> dict[str, int]:
    """`import_catalog` for a file of any size: one transaction, memory bounded by `BATCH`."""
    now = (clock or SystemClock()).now()
    with path.open("rb") as source:
        async with store.transaction() as q:
            counts, _ = await write_stream(q, source, now, webhook_allow=webhook_allow)
    return counts


def _has_escapes(source: IO[bytes]) -> bool:
    """Whether the file has any `\\u` escape: only one can bring in a NUL or a lone
    surrogate (raw ones are not valid JSON), so without any the strings need no check.
    A scan of the bytes in C, a fraction of a second for hundreds of megabytes."""
    source.seek(0)
    tail = b""
    while block := source.read(1 << 20):
        if b"\\u" in tail + block:
            return True
        tail = block[-1:]
    return False


def _storable(values: list[Any]) -> None:
    """What `json.loads` lets through but no database stores (NUL, lone surrogates), refused
    with the same words as an API body (`service.web.json_input`)."""
    try:
        check_value(values)
    except InvalidJson as error:
        raise UnreadableImport(f"import: {error}".replace("the body", "the file")) from None
