"""Every notification is DKIM-signed, and our signatures verify with the verifier used inbound.

Keys are made by `maildesk dkim keygen` itself; its printed record is served
by the tests' own DNS server, and `SenderAuthenticator` (what judges inbound
mail) checks the signature of a notification caught from a running `serve`.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.cli import main
from service.config import ConfigError
from service.inbound.sender_auth import Client, Resolver, SenderAuthenticator
from service.outbound.dkim_signing import DkimKey, generate_key
from service.outbound.message import build_message
from service.outbound.render import RenderedEmail
from service.store import Store
from tests.conftest import DOMAIN
from tests.dns_server import Zone, dns_server
from tests.e2e.conftest import serving

pytestmark = pytest.mark.anyio


@pytest.fixture
def zone() -> Zone:
    return Zone()


@pytest.fixture
def nameserver(zone: Zone) -> Iterator[str]:
    with dns_server(zone) as address:
        yield address


def keygen(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """Run `maildesk dkim keygen`; return the key file and the TXT value it printed."""
    out = tmp_path / f"{kind}.key"
    assert (
        main(
            [
                "dkim",
                "keygen",
                "--selector",
                "md1",
                "--type",
                kind,
                "--out",
                str(out),
                "--domain",
                DOMAIN,
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert f"md1._domainkey.{DOMAIN}. IN TXT" in printed
    value = "".join(re.findall(r'"([^"]*)"', printed))
    return out, value


def sample_message() -> bytes:
    rendered = RenderedEmail(
        subject="[#7] Your refund", text="Hello Jane\n", html="<p>Hello Jane</p>"
    )
    return build_message(
        rendered,
        from_address=f"support@{DOMAIN}",
        from_name="Acme via maildesk",
        to_address="jane@example.test",
        to_name="Jane",
        reply_to=f"reply@{DOMAIN}",
        message_id=f"<a1@{DOMAIN}>",
        in_reply_to=None,
        references=[],
        date=datetime(2026, 11, 23, 14, 0, tzinfo=UTC),
        files=[],
    )


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_a_signed_message_verifies_and_a_changed_one_does_not(
    kind: str, tmp_path: Path, zone: Zone, nameserver: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, record = keygen(tmp_path, kind, capsys)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    zone.set_txt(f"md1._domainkey.{DOMAIN}", record)
    key = DkimKey.load(str(path), "md1", DOMAIN)
    signed = key.sign(sample_message())
    judge = SenderAuthenticator("mx.test", Resolver([nameserver], timeout=2))
    verdict = judge.check(signed, Client("192.0.2.1", "relay.test"), f"support@{DOMAIN}")
    assert [(d.result, d.domain) for d in verdict.dkim] == [("pass", DOMAIN)]
    tampered = signed.replace(b"Your refund", b"Your refusal")
    verdict = judge.check(tampered, Client("192.0.2.1", "relay.test"), f"support@{DOMAIN}")
    assert [d.result for d in verdict.dkim] == ["fail"]


def test_keygen_never_overwrites_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = keygen(tmp_path, "rsa", capsys)
    before = path.read_bytes()
    assert main(["dkim", "keygen", "--selector", "md1", "--out", str(path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_an_unreadable_key_names_the_fix(tmp_path: Path) -> None:
    junk = tmp_path / "junk.key"
    junk.write_text("not a key")
    with pytest.raises(ConfigError, match="maildesk dkim keygen"):
        DkimKey.load(str(junk), "md1", DOMAIN)


async def test_every_notification_of_a_running_desk_is_signed(
    store: Store, tmp_path: Path, zone: Zone, nameserver: str
) -> None:
    new = generate_key("ed25519")
    key_file = tmp_path / "desk-ed.key"
    key_file.write_bytes(new.private_key)
    zone.set_txt(f"md2._domainkey.{DOMAIN}", new.txt_value)
    judge = SenderAuthenticator("mx.test", Resolver([nameserver], timeout=2))
    async with serving(store, dkim_key=str(key_file), dkim_selector="md2") as served:
        code, _ = await served.send(
            "jane@example.test", f"refund@{DOMAIN}", "Q7K2M9XA", "Please refund me"
        )
        assert code == 250
        await served.flush()
        listed = (await served.http.get("/api/messages")).json()
        assert len(listed) >= 2
        for message in listed:
            raw = (await served.http.get(f"/api/messages/{message['id']}/raw")).content
            assert raw.startswith(b"DKIM-Signature:")
            verdict = judge.check(raw, Client("192.0.2.1", "relay.test"), f"support@{DOMAIN}")
            assert [(d.result, d.domain) for d in verdict.dkim] == [("pass", DOMAIN)]
