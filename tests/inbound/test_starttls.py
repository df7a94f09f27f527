"""STARTTLS on the listener: offered in EHLO, TLS 1.2 or later, optionally required, reloaded.

A running `serve` with `--tls-cert`/`--tls-key` made by the test's own
authority (trustme); clients are aiosmtplib and the standard library's ssl,
over loopback.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest
import trustme

from service.config import ConfigError
from service.inbound.tls import ListenerTls
from service.store import Store
from tests.conftest import DOMAIN
from tests.e2e.conftest import Served, serving
from tests.loops import anyio_backend_on_both_loops  # noqa: F401 (a fixture: both event loops)

pytestmark = pytest.mark.anyio

JANE = "jane@example.test"
SUPPORT = f"support@{DOMAIN}"
RAW = (
    f"From: {JANE}\r\nTo: {SUPPORT}\r\nSubject: Q7K2M9XA\r\nMessage-ID: <tls-1@example.test>\r\n"
    "\r\nA question over TLS\r\n"
).encode()


def write_pair(authority: trustme.CA, folder: Path) -> tuple[str, str]:
    issued = authority.issue_cert("localhost", "127.0.0.1")
    cert, key = folder / "cert.pem", folder / "key.pem"
    issued.private_key_pem.write_to_path(str(key))
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    return str(cert), str(key)


def client_context(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


@pytest.fixture
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_desk(store: Store, authority: trustme.CA, tmp_path: Path) -> AsyncIterator[Served]:
    cert, key = write_pair(authority, tmp_path)
    async with serving(store, tls_cert=cert, tls_key=key) as served:
        yield served


async def test_starttls_is_offered_and_mail_arrives_encrypted(
    tls_desk: Served, authority: trustme.CA
) -> None:
    client = aiosmtplib.SMTP(
        hostname="localhost",
        port=tls_desk.smtp_port,
        start_tls=False,
        tls_context=client_context(authority),
    )
    async with client:
        await client.ehlo()
        assert client.supports_extension("starttls")
        await client.starttls()
        await client.ehlo()
        assert not client.supports_extension("starttls")  # once encrypted, not offered again
        _, reply = await client.sendmail(JANE, [SUPPORT], RAW)
    assert "accepted" in reply
    assert len(await tls_desk.tickets()) == 1


async def test_tls_older_than_1_2_is_refused(tls_desk: Served, authority: trustme.CA) -> None:
    old = client_context(authority)
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with warnings.catch_warnings():  # the point is an old version
        warnings.simplefilter("ignore", DeprecationWarning)
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    client = aiosmtplib.SMTP(
        hostname="localhost", port=tls_desk.smtp_port, start_tls=False, tls_context=old
    )
    async with client:
        await client.ehlo()
        with pytest.raises((ssl.SSLError, aiosmtplib.SMTPException, OSError)):
            await client.starttls()


async def test_with_tls_required_mail_in_clear_is_refused(
    store: Store, authority: trustme.CA, tmp_path: Path
) -> None:
    cert, key = write_pair(authority, tmp_path)
    async with serving(store, tls_cert=cert, tls_key=key, smtp_require_tls=True) as served:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=served.smtp_port, start_tls=False)
        async with client:
            await client.ehlo()
            with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
                await client.mail(JANE)
            assert refused.value.code == 530
        assert await served.tickets() == []
        secure = aiosmtplib.SMTP(
            hostname="localhost",
            port=served.smtp_port,
            start_tls=True,
            tls_context=client_context(authority),
        )
        async with secure:
            await secure.sendmail(JANE, [SUPPORT], RAW)
        assert len(await served.tickets()) == 1


def test_reload_takes_a_renewed_certificate_and_keeps_the_old_one_on_a_bad_file(
    tmp_path: Path,
) -> None:
    first, second = trustme.CA(), trustme.CA()
    cert, key = write_pair(first, tmp_path)
    tls = ListenerTls(cert, key)
    write_pair(second, tmp_path)  # renewed in place, as certbot does
    assert tls.reload()
    Path(key).write_text("half-written")
    assert not tls.reload()


def test_a_missing_certificate_names_both_flags(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--tls-cert"):
        ListenerTls(str(tmp_path / "nope.pem"), str(tmp_path / "nope.key"))


def _peer_issuer(port: int, authority: trustme.CA) -> bool:
    """Whether the listener's certificate verifies under `authority` (via STARTTLS)."""
    import smtplib

    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        try:
            client.starttls(context=client_context(authority))
        except ssl.SSLCertVerificationError:
            return False
        return True


def test_sighup_reloads_the_certificate_of_a_running_serve(tmp_path: Path) -> None:
    first, second = trustme.CA(), trustme.CA()
    cert, key = write_pair(first, tmp_path)
    port_file = tmp_path / "ports"
    environment = {**os.environ, "MAILDESK_SECRET": "a-long-enough-test-secret"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--db",
            str(tmp_path / "d.db"),
            "--smtp-port",
            "0",
            "--http-port",
            "0",
            "--tls-cert",
            cert,
            "--tls-key",
            key,
        ],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = 0
        deadline = time.monotonic() + 30
        while not port and time.monotonic() < deadline:
            line = process.stdout.readline()
            if "SMTP" in line:
                port = int(line.split()[1].rpartition(":")[2])
        assert port, port_file
        assert _peer_issuer(port, first)
        write_pair(second, tmp_path)
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not _peer_issuer(port, second):
            assert time.monotonic() < deadline, "the renewed certificate was not taken up"
            time.sleep(0.1)
        assert process.poll() is None  # SIGHUP reloads; it does not stop serve
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
