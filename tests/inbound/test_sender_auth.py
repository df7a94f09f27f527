"""maildesk as the MX: SPF, DKIM and DMARC judged here, with no upstream Authentication-Results.

A running `serve` with `--sender-auth on` asks the tests' own DNS server
(dnslib on loopback) for SPF, DKIM and DMARC records of `example.test`, the
demo customers' domain. Messages are really DKIM-signed (dkimpy, a key made
here), sent over SMTP from 127.0.0.1, and judged as a receiving MX would:
pass, fail, none, `p=reject` and `p=none`, a forwarded message, a DNS
server that does not answer, and a forged `Authentication-Results`.
"""

from __future__ import annotations

import email.utils
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from service.cli import build_parser
from service.outbound.dkim_signing import DkimKey, generate_key
from service.serving.options import settings_from
from service.store import Store
from tests.conftest import DOMAIN
from tests.dns_server import Zone, dns_server
from tests.e2e.conftest import DEMO_START, Served, serving

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

MX = "mx.desk.test"
JANE = "jane@example.test"
REFUND = f"refund@{DOMAIN}"
SUPPORT = f"support@{DOMAIN}"
KEY = generate_key("rsa")


@pytest.fixture
def zone() -> Zone:
    zone = Zone()
    zone.set_txt("sel._domainkey.example.test", KEY.txt_value)
    return zone


@pytest.fixture
def nameserver(zone: Zone) -> Iterator[str]:
    with dns_server(zone) as address:
        yield address


@pytest.fixture
async def mx(store: Store, nameserver: str) -> AsyncIterator[Served]:
    async with serving(
        store, sender_auth=True, dns=(nameserver,), dns_timeout=1.0, hostname=MX
    ) as served:
        yield served


def message(sender: str, subject: str, body: str, *, extra: str = "") -> bytes:
    lines = [
        *([extra] if extra else []),
        f"From: {sender}",
        f"To: {REFUND}",
        f"Subject: {subject}",
        f"Message-ID: <{uuid.uuid4().hex}@example.test>",
        f"Date: {email.utils.format_datetime(DEMO_START)}",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
        "",
    ]
    return "\r\n".join(lines).encode()


def signed(raw: bytes, domain: str = "example.test") -> bytes:
    key = DkimKey("sel", domain, "rsa-sha256", KEY.private_key)
    return key.sign(raw)


async def kept_header(served: Served) -> str:
    """Our Authentication-Results on the newest kept message."""
    (newest, *_) = await served.inbound()
    raw = await served.inbound_raw(newest["id"])
    assert raw is not None
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    ours = [line for line in head.split("\r\n") if line.startswith(f"Authentication-Results: {MX}")]
    assert len(ours) == 1, head
    return ours[0]


async def test_a_signed_message_from_a_p_reject_domain_passes_and_acts(
    mx: Served, zone: Zone
) -> None:
    zone.set_txt("example.test", "v=spf1 -all")
    zone.set_txt("_dmarc.example.test", "v=DMARC1; p=reject")
    raw = signed(message(JANE, "Q7K2M9XA", "Please refund me"))
    code, reply = await mx.deliver(raw, REFUND, JANE)
    assert code == 250, reply
    assert len(await mx.tickets()) == 1
    header = await kept_header(mx)
    assert "dkim=pass header.d=example.test" in header
    assert "spf=fail" in header and "dmarc=pass (p=reject)" in header


async def test_a_forged_sender_on_a_p_reject_domain_is_refused(mx: Served, zone: Zone) -> None:
    zone.set_txt("example.test", "v=spf1 ip4:192.0.2.0/24 -all")
    zone.set_txt("_dmarc.example.test", "v=DMARC1; p=reject")
    code, reply = await mx.deliver(message(JANE, "Q7K2M9XA", "refund"), REFUND, JANE)
    assert code == 550 and "DMARC" in reply
    assert await mx.tickets() == []
    assert await mx.mail() == []  # nobody is told anything on a forger's behalf
    assert "dmarc=fail (p=reject)" in await kept_header(mx)


async def test_a_dmarc_failure_under_p_none_may_not_act_either(mx: Served, zone: Zone) -> None:
    zone.set_txt("example.test", "v=spf1 -all")
    zone.set_txt("_dmarc.example.test", "v=DMARC1; p=none")
    code, _ = await mx.deliver(message(JANE, "Q7K2M9XA", "refund"), REFUND, JANE)
    assert code == 550
    assert await mx.tickets() == []
    assert "dmarc=fail (p=none)" in await kept_header(mx)


async def test_a_tampered_signature_fails_dkim_and_so_dmarc(mx: Served, zone: Zone) -> None:
    zone.set_txt("example.test", "v=spf1 -all")
    zone.set_txt("_dmarc.example.test", "v=DMARC1; p=quarantine")
    raw = signed(message(JANE, "Q7K2M9XA", "Please refund me")).replace(b"refund me", b"refund all")
    code, _ = await mx.deliver(raw, REFUND, JANE)
    assert code == 550
    header = await kept_header(mx)
    assert "dkim=fail" in header and "dmarc=fail" in header


async def test_spf_alone_passes_dmarc_when_aligned(mx: Served, zone: Zone) -> None:
    zone.set_txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
    zone.set_txt("_dmarc.example.test", "v=DMARC1; p=reject; aspf=s")
    code, _ = await mx.deliver(message(JANE, "Q7K2M9XA", "refund"), REFUND, JANE)
    assert code == 250
    header = await kept_header(mx)
    assert "spf=pass smtp.mailfrom=example.test" in header and "dkim=none" in header


async def test_a_domain_without_dmarc_is_none_and_the_usual_rules_apply(
    mx: Served, zone: Zone
) -> None:
    code, _ = await mx.deliver(message(JANE, "Q7K2M9XA", "refund"), REFUND, JANE)
    assert code == 250
    assert len(await mx.tickets()) == 1
    assert "dmarc=none" in await kept_header(mx)


async def test_a_forwarded_message_passes_on_its_intact_signature(mx: Served, zone: Zone) -> None:
    # A forwarder relays from its own address (SPF fails for example.test) but keeps the
    # message intact, so the author's DKIM signature still aligns with From.
    zone.set_txt("example.test", "v=spf1 ip4:192.0.2.0/24 -all")
    zone.set_txt("_dmarc.example.test", "v=DMARC1; p=reject")
    original = signed(message(JANE, "Q7K2M9XA", "Please refund me"))
    forwarded = b"Received: from mail.example.test by forwarder.example.net; Mon, 23 Nov 2026\r\n"
    code, reply = await mx.deliver(forwarded + original, REFUND, "jane-fwd@forwarder.example.net")
    assert code == 250, reply
    header = await kept_header(mx)
    assert "dkim=pass" in header and "dmarc=pass" in header


async def test_a_dns_timeout_is_a_451_and_nothing_acts(mx: Served, zone: Zone) -> None:
    zone.silent.add("_dmarc.example.test")
    zone.set_txt("example.test", "v=spf1 -all")
    code, reply = await mx.deliver(message(JANE, "Q7K2M9XA", "refund"), REFUND, JANE)
    assert code == 451 and "DNS" in reply
    assert await mx.tickets() == []
    assert await mx.inbound() == []


async def test_a_forged_authentication_results_header_is_removed_and_not_believed(
    mx: Served, zone: Zone
) -> None:
    zone.set_txt("example.test", "v=spf1 ip4:192.0.2.0/24 -all")
    zone.set_txt("_dmarc.example.test", "v=DMARC1; p=reject")
    forged = f"Authentication-Results: {MX}; dmarc=pass header.from=example.test"
    raw = message(JANE, "Q7K2M9XA", "refund", extra=forged)
    code, _ = await mx.deliver(raw, REFUND, JANE)
    assert code == 550
    header = await kept_header(mx)  # exactly one of ours: the forged one is gone
    assert "dmarc=fail" in header


async def test_answers_are_cached_for_their_ttl(mx: Served, zone: Zone) -> None:
    zone.set_txt("_dmarc.example.test", "v=DMARC1; p=none")
    zone.set_txt("example.test", "v=spf1 ip4:127.0.0.1 -all")
    for _ in range(3):
        code, _ = await mx.deliver(message(JANE, "hello", "a question"), SUPPORT, JANE)
        assert code == 250
    assert zone.queries["_dmarc.example.test"] == 1


async def test_a_trusted_upstream_result_is_used_and_not_judged_again(
    store: Store, nameserver: str, zone: Zone
) -> None:
    async with serving(
        store,
        sender_auth=True,
        dns=(nameserver,),
        hostname=MX,
        trusted_authserv_ids=("mx.upstream.test",),
    ) as served:
        upstream = "Authentication-Results: mx.upstream.test; dmarc=pass header.from=example.test"
        raw = message(JANE, "Q7K2M9XA", "refund", extra=upstream)
        code, _ = await served.deliver(raw, REFUND, JANE)
        assert code == 250
        assert zone.queries["_dmarc.example.test"] == 0


@pytest.mark.parametrize(
    ("command", "flags", "judged"),
    [
        ("serve", [], False),  # a local installation needs no DNS
        ("serve", ["--relay", "smtp://127.0.0.1:2525"], True),  # mail leaves the machine
        ("serve", ["--relay", "127.0.0.1:2525", "--sender-auth", "off"], False),
        ("serve", ["--sender-auth", "on"], True),
        ("demo", ["--relay", "127.0.0.1:2525"], False),
    ],
)
async def test_sender_authentication_is_on_when_mail_leaves_the_machine(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    flags: list[str],
    judged: bool,
) -> None:
    monkeypatch.setenv("MAILDESK_SECRET", "a-long-enough-test-secret")
    monkeypatch.delenv("MAILDESK_SENDER_AUTH", raising=False)
    args = build_parser().parse_args([command, *flags])
    settings = await settings_from(args, store, mode="demo" if command == "demo" else "production")
    assert settings.sender_auth is judged
