"""`find_order`: the first word that is one of the requester's orders, wherever it stands."""

from __future__ import annotations

from typing import Any

import pytest

from service.desk import Desk
from service.usecases.requests import (
    FIRST_LOOKUP,
    MAX_CANDIDATES,
    CustomerAt,
    OperatorOnBehalf,
    VendorNamed,
    find_order,
)

pytestmark = pytest.mark.anyio

FILLER = [f"word{n:04d}" for n in range(MAX_CANDIDATES)]


@pytest.mark.parametrize("at", [0, FIRST_LOOKUP - 1, FIRST_LOOKUP, 57, MAX_CANDIDATES - 1])
async def test_a_reference_is_found_at_any_word_that_is_looked_up(
    desk: Desk, catalog: dict[str, Any], at: int
) -> None:
    words = [*FILLER[:at], "book0001", *FILLER[at:]]
    assert await find_order(desk, CustomerAt("jane@example.test"), words) == "BOOK0001"


async def test_words_past_the_last_one_looked_up_are_not_read(
    desk: Desk, catalog: dict[str, Any]
) -> None:
    words = [*FILLER, "BOOK0001"]
    assert await find_order(desk, CustomerAt("jane@example.test"), words) is None


@pytest.mark.parametrize("first", [1, FIRST_LOOKUP + 3])
async def test_the_earliest_of_the_requesters_orders_wins_over_a_later_one(
    desk: Desk, catalog: dict[str, Any], first: int
) -> None:
    words = [*FILLER[:first], "SUB00001", *FILLER[first:40], "BOOK0001"]
    assert await find_order(desk, CustomerAt("jane@example.test"), words) == "SUB00001"


async def test_another_customers_order_early_on_does_not_hide_ones_own_later(
    desk: Desk, catalog: dict[str, Any]
) -> None:
    words = ["MUG00001", *FILLER[:30], "BOOK0001"]
    assert await find_order(desk, CustomerAt("jane@example.test"), words) == "BOOK0001"
    assert await find_order(desk, CustomerAt("bob@example.test"), words) == "MUG00001"


async def test_a_vendor_and_the_operator_find_orders_past_the_first_words(
    desk: Desk, catalog: dict[str, Any]
) -> None:
    words = [*FILLER[:20], "GLX00001", "BOOK0001"]
    assert await find_order(desk, VendorNamed("acme"), words) == "BOOK0001"
    assert await find_order(desk, OperatorOnBehalf(), words) == "GLX00001"
