"""One mailbox address: what may and may not sit in an envelope."""

from __future__ import annotations

import sys

import pytest

from service.domain.mailbox import is_addr_spec


@pytest.mark.parametrize(
    "address",
    ["jane@example.test", "o'brien+tag@mail.example.test", "a@b", "x\x7fy@example.test"],
)
def test_an_address_with_both_parts_is_a_mailbox(address: str) -> None:
    assert is_addr_spec(address)


@pytest.mark.parametrize(
    "address", ["", "jane", "@example.test", "jane@", "<jane@example.test>", "j ane@example.test"]
)
def test_an_address_without_both_parts_or_with_brackets_or_spaces_is_not(address: str) -> None:
    assert not is_addr_spec(address)


def test_every_character_refused_is_whitespace_a_bracket_ufffd_or_a_control() -> None:
    """Every code point, against the rule as written out character by character."""
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        refused = ch.isspace() or ch in "<>\ufffd" or code < 32
        assert is_addr_spec(f"a{ch}b@example.test") is not refused, hex(code)
