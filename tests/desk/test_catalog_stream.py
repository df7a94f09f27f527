"""An import read as a stream (issue #19): the same result as a whole one, in one transaction.

Small batches make a small file behave as a big one: a bad field many
batches in imports nothing, a subscription id named twice far apart is
refused before anything is written, and an id maildesk makes up never takes
one the file names further down.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from service.catalog import ImportError_, import_catalog
from service.catalog.stream import UnreadableImport, import_file, write_stream
from service.clock import FakeClock
from service.representations import subscription_json
from service.store import Store
from tests.conftest import START, small_catalog

pytestmark = pytest.mark.anyio

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo.json"


async def _stream(store: Store, data: Any, batch: int = 2) -> dict[str, int]:
    source = io.BytesIO(json.dumps(data).encode())
    async with store.transaction() as q:
        counts, _ = await write_stream(q, source, START, batch=batch)
    return counts


async def test_a_streamed_file_imports_what_the_whole_file_imports(
    store: Store, tmp_path: Path
) -> None:
    counts = await import_file(store, DEMO, clock=FakeClock(START))
    assert counts == {"vendors": 2, "products": 5, "orders": 11}
    async with store.reading() as q:
        streamed = await q.subscriptions.get("S1003")
    assert streamed is not None
    assert [i.quantity for i in streamed.items] == [3, 1]
    again = await import_catalog(store, json.loads(DEMO.read_text()), clock=FakeClock(START))
    assert again == counts  # idempotent, whichever way it came in
    async with store.reading() as q:
        after = await q.subscriptions.get("S1003")
    assert after is not None and subscription_json(after) == subscription_json(streamed)


async def test_a_bad_field_batches_in_imports_nothing_and_names_its_place(store: Store) -> None:
    data = small_catalog()
    data["orders"] += [
        copy.deepcopy(data["orders"][1]) | {"reference": f"MORE{i:04d}"} for i in range(6)
    ]
    data["orders"][8]["bills"][0]["amount"] = "abc"
    with pytest.raises(ImportError_, match=r"orders\[8\] \(MORE0004\)\.bills\[0\]\.amount"):
        await _stream(store, data, batch=2)
    async with store.reading() as q:
        assert await q.vendors.all() == []
        assert await q.orders.get("MORE0000") is None


async def test_a_subscription_id_named_twice_far_apart_is_refused_first(store: Store) -> None:
    data = small_catalog()
    data["orders"][0]["subscription"] = {"id": "S2000"}
    data["orders"].append(dict(data["orders"][0], reference="SUB00009"))
    with pytest.raises(ImportError_, match="S2000 appears twice"):
        await _stream(store, data, batch=1)
    async with store.reading() as q:
        assert await q.vendors.all() == []


async def test_a_made_up_id_never_takes_one_named_further_down(store: Store) -> None:
    data = small_catalog()
    later = dict(data["orders"][0], reference="SUB00009", subscription={"id": "S1001"})
    data["orders"].append(later)  # SUB00001 first, without an id
    await _stream(store, data, batch=1)
    async with store.reading() as q:
        assert await q.subscriptions.id_of_order("SUB00009") == "S1001"
        assert await q.subscriptions.id_of_order("SUB00001") == "S1002"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b'{"vendors": [], "extra": 1}', "import.extra: unknown section"),
        (b'{"vendors": [', "not valid JSON"),
        (b"[1, 2]", "expected an object"),
        (b'{"orders": {}}', "import.orders: expected a list"),
        (b'{"vendors": [{"id": "a\\u0000b"}]}', "NUL"),
    ],
)
async def test_a_file_that_cannot_be_imported_says_why(
    store: Store, text: bytes, words: str
) -> None:
    with pytest.raises(ImportError_, match=words):
        async with store.transaction() as q:
            await write_stream(q, io.BytesIO(text), START)


async def test_not_json_is_unreadable_rather_than_a_field_to_fix(store: Store) -> None:
    with pytest.raises(UnreadableImport):
        async with store.transaction() as q:
            await write_stream(q, io.BytesIO(b"\xff\xfe{}"), START)


async def test_a_quantity_no_column_holds_is_refused_without_escapes_to_look_for(
    store: Store,
) -> None:
    data = small_catalog()
    data["orders"][1]["items"][0]["quantity"] = 10**25
    with pytest.raises(ImportError_, match=r"orders\[1\] \(BOOK0001\)\.items\[0\]\.quantity"):
        await _stream(store, data)


@pytest.mark.parametrize("batch", [1, 50])
async def test_an_order_named_twice_ends_as_its_last_copy_whether_batches_apart_or_not(
    store: Store, batch: int
) -> None:
    data = small_catalog()
    first = data["orders"][0]
    again = copy.deepcopy(first)
    again["items"] = [dict(first["items"][0], quantity=first["items"][0].get("quantity", 1) + 2)]
    data["orders"].append(again)
    counts = await _stream(store, data, batch=batch)
    assert counts["orders"] == len(data["orders"])
    async with store.reading() as q:
        stored = await q.orders.get(first["reference"])
    assert stored is not None
    assert [i.quantity for i in stored.items] == [again["items"][0]["quantity"]]
