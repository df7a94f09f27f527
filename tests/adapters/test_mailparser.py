"""`service.adapters.mailparser` against the mail-parser installed: the scanner it relies on.

`parse_mail` reads every address header through `mailparser.utils.
get_addresses`, which the package does not export. If a release renames it,
changes its parameters, the shape of the problems it reports, or what it
makes of a forged display name, a test here fails naming it, instead of
`From` quietly meaning something else. Update the adapter and the pin in
pyproject.toml together, then this file.

The behaviour built on it is tested where it is used:
`tests/inbound/test_parse_fuzz.py` (`parse_mail`'s shortcut for plain
mailboxes gives the scanner's answer, a differential property test) and the
address tests of `tests/inbound/test_parse.py` (forged display names,
ambiguous and unparseable `From`).
"""

from __future__ import annotations

import inspect

import mailparser
import mailparser.utils
import pytest

from service.adapters.mailparser import scan_mailboxes
from tests.adapters.pins import assert_installed_in_pinned_series

KEYWORD = inspect.Parameter.KEYWORD_ONLY
PARAMETERS = {
    "raw_header": (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
    "defects": (KEYWORD, None),
    "decode_names": (KEYWORD, False),
}
"""`get_addresses`'s parameters as the adapter calls them: (kind, default)."""


def test_mail_parser_is_the_series_the_adapter_was_written_for() -> None:
    assert_installed_in_pinned_series("mail-parser", "service/adapters/mailparser.py")


def test_get_addresses_still_exists_with_the_same_parameters() -> None:
    scanner = getattr(mailparser.utils, "get_addresses", None)
    assert scanner is not None, "mailparser.utils.get_addresses is gone"
    found = {
        name: (parameter.kind, parameter.default)
        for name, parameter in inspect.signature(scanner).parameters.items()
    }
    assert found == PARAMETERS, f"mailparser.utils.get_addresses now takes {found}"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("<a@b.test> <c@d.test>", "ambiguous-angle-address"),
        ("jane@example.test <evil@evil.test>", "invalid-display-name"),
        ("x <a@b.test", "unclosed-delimiter"),
    ],
)
def test_each_problem_is_a_dict_with_a_reason(value: str, reason: str) -> None:
    problems: list[object] = []
    mailparser.utils.get_addresses(value, defects=problems, decode_names=True)
    assert problems, f"get_addresses no longer reports a problem with {value!r}"
    for problem in problems:
        assert isinstance(problem, dict) and isinstance(problem.get("reason"), str), problem
    assert scan_mailboxes(value)[1] == [reason]


@pytest.mark.parametrize(
    "value", ['"jane@example.test" <evil@evil.test>', "jane@example.test <evil@evil.test>"]
)
def test_an_address_looking_display_name_is_never_the_address(value: str) -> None:
    pairs, _ = scan_mailboxes(value)
    assert pairs == [("jane@example.test", "evil@evil.test")]


def test_ambiguous_mailboxes_give_no_address() -> None:
    pairs, problems = scan_mailboxes("<a@b.test> <c@d.test>")
    assert pairs == [("", "")] and problems


def test_encoded_words_in_names_are_decoded_and_plain_mailboxes_have_no_problems() -> None:
    assert scan_mailboxes("=?utf-8?q?J=C3=B6rg?= <j@example.test>") == (
        [("Jörg", "j@example.test")],
        [],
    )
    assert scan_mailboxes("Jane Doe <jane@example.test>") == (
        [("Jane Doe", "jane@example.test")],
        [],
    )
