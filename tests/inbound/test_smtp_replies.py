"""What a receiving Postfix expects of an MX: enhanced status codes everywhere, DSN accepted."""

from __future__ import annotations

import pytest

from service.adapters.aiosmtpd import with_enhanced_code
from service.store import Store
from tests.conftest import DOMAIN
from tests.e2e.conftest import Served, serving
from tests.reliability.test_smtp_abuse import Wire

pytestmark = pytest.mark.anyio

JANE = "jane@example.test"
SUPPORT = f"support@{DOMAIN}"


async def test_ehlo_advertises_enhanced_status_codes_and_dsn(served: Served) -> None:
    async with Wire.open(served.smtp_port) as wire:
        await wire.reply()
        code, text = await wire.command(b"EHLO postfix.example.test")
    lines = text.split("\n")
    assert code == 250 and "250-ENHANCEDSTATUSCODES" in lines and "250-DSN" in lines


async def test_dsn_parameters_are_accepted_and_the_message_acts(served: Served) -> None:
    async with Wire.open(served.smtp_port) as wire:
        await wire.reply()
        await wire.command(b"EHLO postfix.example.test")
        code, text = await wire.command(
            f"MAIL FROM:<{JANE}> RET=HDRS ENVID=QQ314159 SIZE=300".encode()
        )
        assert code == 250 and text.startswith("250 2.1.0"), text
        code, text = await wire.command(
            f"RCPT TO:<{SUPPORT}> NOTIFY=FAILURE,DELAY ORCPT=rfc822;{SUPPORT}".encode()
        )
        assert code == 250, text
        code, _ = await wire.command(b"DATA")
        assert code == 354
        code, text = await wire.command(
            f"From: {JANE}\r\nSubject: Q7K2M9XA\r\nMessage-ID: <dsn-1@example.test>\r\n\r\n"
            "A question\r\n.".encode()
        )
        assert code == 250, text
    assert len(await served.tickets()) == 1


async def test_refusals_by_aiosmtpd_carry_enhanced_codes(served: Served) -> None:
    async with Wire.open(served.smtp_port) as wire:
        await wire.reply()
        await wire.command(b"EHLO postfix.example.test")
        code, text = await wire.command(f"MAIL FROM:<{JANE}> SIZE=999999999".encode())
        assert (code, text.split()[1]) == (552, "5.3.4"), text
        code, text = await wire.command(f"MAIL FROM:<{JANE}> FROB=1".encode())
        assert (code, text.split()[1]) == (555, "5.5.4"), text
        code, text = await wire.command(b"RCPT TO:<x@y.test>")
        assert (code, text.split()[1]) == (503, "5.5.1"), text
        code, text = await wire.command(b"NOOP")
        assert text == "250 2.0.0 OK"


def test_replies_that_have_a_code_or_must_not_have_one_are_left_alone() -> None:
    assert with_enhanced_code("550 5.1.1 no such mailbox") == "550 5.1.1 no such mailbox"
    assert with_enhanced_code("354 End data with <CR><LF>.<CR><LF>") == (
        "354 End data with <CR><LF>.<CR><LF>"
    )
    assert with_enhanced_code("250 HELP") == "250 HELP"  # the end of EHLO (RFC 2034 §3)
    assert with_enhanced_code("250-8BITMIME") == "250-8BITMIME"
    assert with_enhanced_code("552 Error: Too much mail data") == (
        "552 5.3.4 Error: Too much mail data"
    )


async def test_the_listener_names_itself_by_its_host_name(store: Store) -> None:
    async with serving(store, hostname="mx1.desk.test") as served:
        async with Wire.open(served.smtp_port) as wire:
            _, greeting = await wire.reply()
            _, text = await wire.command(b"EHLO postfix.example.test")
    assert greeting.startswith("220 mx1.desk.test ")
    assert text.split("\n")[0] == "250-mx1.desk.test"
