"""Signed reply addresses, vendor command addresses and ticket links (SPEC §3, §5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.outbound.addresses import (
    SIGNATURE_LENGTH,
    parse_reply_address,
    parse_ticket_link_token,
    parse_vendor_command_address,
    reply_address,
    ticket_link_token,
    ticket_url,
    vendor_command_address,
)

SECRET = b"unit-test-secret"
OTHER_SECRET = b"another-deployment"
DOMAIN = "desk.example.test"


def _flip(char: str) -> str:
    return "a" if char != "a" else "b"


def _signature(address: str) -> str:
    return address.split("@")[0].rsplit(".", 1)[1]


class TestReplyAddress:
    @pytest.mark.parametrize("party", ["customer", "vendor"])
    def test_round_trips_ticket_and_party(self, party: str) -> None:
        address = reply_address(SECRET, DOMAIN, 1234, party)
        assert address.endswith(f"@{DOMAIN}")
        assert parse_reply_address(SECRET, address) == (1234, party)

    def test_local_part_alone_and_angle_brackets_are_accepted(self) -> None:
        address = reply_address(SECRET, DOMAIN, 7, "customer")
        local = address.split("@")[0]
        assert parse_reply_address(SECRET, local) == (7, "customer")
        assert parse_reply_address(SECRET, f" <{address}> ") == (7, "customer")

    def test_is_lower_case_and_still_verifies_when_a_mail_system_changes_case(self) -> None:
        address = reply_address(SECRET, DOMAIN, 42, "vendor")
        assert address == address.lower()
        assert parse_reply_address(SECRET, address.upper()) == (42, "vendor")

    def test_signature_is_long_enough_to_be_unguessable(self) -> None:
        assert SIGNATURE_LENGTH >= 16
        assert len(_signature(reply_address(SECRET, DOMAIN, 1, "customer"))) == SIGNATURE_LENGTH

    def test_tampered_signature_is_rejected(self) -> None:
        address = reply_address(SECRET, DOMAIN, 1234, "customer")
        local, _, domain = address.partition("@")
        tampered = local[:-1] + _flip(local[-1])
        assert parse_reply_address(SECRET, f"{tampered}@{domain}") is None

    def test_truncated_signature_is_rejected(self) -> None:
        local = reply_address(SECRET, DOMAIN, 1234, "customer").split("@")[0]
        assert parse_reply_address(SECRET, local[:-1]) is None
        assert parse_reply_address(SECRET, local[:-8]) is None

    def test_other_partys_address_does_not_verify_as_this_party(self) -> None:
        customer = reply_address(SECRET, DOMAIN, 1234, "customer")
        forged_vendor = customer.replace(".c.", ".v.", 1)
        assert parse_reply_address(SECRET, forged_vendor) is None

    def test_signature_of_one_ticket_does_not_open_another(self) -> None:
        address = reply_address(SECRET, DOMAIN, 1234, "customer")
        assert parse_reply_address(SECRET, address.replace("t1234.", "t1235.", 1)) is None

    def test_another_deployments_secret_does_not_verify(self) -> None:
        address = reply_address(OTHER_SECRET, DOMAIN, 1234, "customer")
        assert parse_reply_address(SECRET, address) is None

    @pytest.mark.parametrize(
        "address",
        ["", "support@desk.example.test", "t.c.x@d", "t0.c.aaaaaaaaaaaaaaaaaaaa", "t12.x.abc"],
    )
    def test_unknown_shapes_are_not_reply_addresses(self, address: str) -> None:
        assert parse_reply_address(SECRET, address) is None

    def test_only_customer_and_vendor_have_reply_addresses(self) -> None:
        with pytest.raises(ValueError, match="operator"):
            reply_address(SECRET, DOMAIN, 1, "operator")

    def test_an_empty_secret_is_refused(self) -> None:
        with pytest.raises(ValueError, match="MAILDESK_SECRET"):
            reply_address(b"", DOMAIN, 1, "customer")

    @given(number=st.integers(min_value=1, max_value=10**17), vendor=st.booleans())
    def test_every_ticket_number_round_trips(self, number: int, vendor: bool) -> None:
        party = "vendor" if vendor else "customer"
        assert parse_reply_address(SECRET, reply_address(SECRET, DOMAIN, number, party)) == (
            number,
            party,
        )


class TestTicketLink:
    @pytest.mark.parametrize("party", ["customer", "vendor"])
    def test_round_trips_ticket_and_party(self, party: str) -> None:
        token = ticket_link_token(SECRET, 99, party)
        assert parse_ticket_link_token(SECRET, token) == (99, party)

    def test_url_puts_the_token_under_t(self) -> None:
        url = ticket_url("https://desk.example.test/", SECRET, 99, "vendor")
        assert url == f"https://desk.example.test/t/{ticket_link_token(SECRET, 99, 'vendor')}"

    def test_reply_address_signature_is_not_a_valid_link_token(self) -> None:
        signature = _signature(reply_address(SECRET, DOMAIN, 1234, "customer"))
        assert parse_ticket_link_token(SECRET, f"1234-c-{signature}") is None

    def test_link_token_signature_is_not_a_valid_reply_address(self) -> None:
        signature = ticket_link_token(SECRET, 1234, "customer").rsplit("-", 1)[1]
        assert parse_reply_address(SECRET, f"t1234.c.{signature}@{DOMAIN}") is None

    def test_other_partys_link_does_not_verify_as_this_party(self) -> None:
        token = ticket_link_token(SECRET, 1234, "customer")
        assert parse_ticket_link_token(SECRET, token.replace("-c-", "-v-")) is None

    def test_tampered_and_truncated_tokens_are_rejected(self) -> None:
        token = ticket_link_token(SECRET, 1234, "vendor")
        assert parse_ticket_link_token(SECRET, token[:-1] + _flip(token[-1])) is None
        assert parse_ticket_link_token(SECRET, token[:-1]) is None
        assert parse_ticket_link_token(SECRET, token + "a") is None


class TestVendorCommandAddress:
    def test_round_trips_the_vendor_id(self) -> None:
        address = vendor_command_address(SECRET, DOMAIN, "acme-soft_2")
        assert parse_vendor_command_address(SECRET, address) == "acme-soft_2"
        assert parse_vendor_command_address(SECRET, address.upper()) == "acme-soft_2"

    def test_one_vendors_signature_does_not_name_another(self) -> None:
        address = vendor_command_address(SECRET, DOMAIN, "acme")
        assert parse_vendor_command_address(SECRET, address.replace("v.acme.", "v.evil.")) is None

    def test_tampered_signature_is_rejected(self) -> None:
        local = vendor_command_address(SECRET, DOMAIN, "acme").split("@")[0]
        assert parse_vendor_command_address(SECRET, local[:-1] + _flip(local[-1])) is None
        assert parse_vendor_command_address(SECRET, local[:-1]) is None

    def test_is_not_a_reply_address_and_a_reply_address_is_not_a_command_address(self) -> None:
        command = vendor_command_address(SECRET, DOMAIN, "acme")
        reply = reply_address(SECRET, DOMAIN, 5, "vendor")
        assert parse_reply_address(SECRET, command) is None
        assert parse_vendor_command_address(SECRET, reply) is None

    @pytest.mark.parametrize("vendor_id", ["Acme", "acme.inc", "", "a" * 41, "acme@x"])
    def test_vendor_ids_that_a_mail_system_could_change_are_refused(self, vendor_id: str) -> None:
        with pytest.raises(ValueError, match="slug"):
            vendor_command_address(SECRET, DOMAIN, vendor_id)

    def test_local_part_fits_the_64_character_limit(self) -> None:
        address = vendor_command_address(SECRET, DOMAIN, "a" * 40)
        assert len(address.split("@")[0]) <= 64
