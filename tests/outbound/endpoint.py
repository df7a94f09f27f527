"""A vendor's webhook endpoint for tests: a real HTTP(S) server on 127.0.0.1 that keeps requests.

The endpoint is outside the product, so the tests bring their own; it is a
real server on a real socket, so what maildesk connects to, the `Host` it
sends and the TLS name it asks for (SNI) are what a vendor would see.
"""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    """Lower-case names."""
    body: bytes


@dataclass
class Endpoint:
    """Fails `failures` times with `status`, then answers 204 (or redirects, when told to)."""

    failures: int = 0
    status: int = 503
    redirect_to: str | None = None
    tls: ssl.SSLContext | None = None
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    """The TLS server name (SNI) each connection asked for."""

    def url(self, host: str = "127.0.0.1", path: str = "/maildesk") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def _answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        self.requests.append(
            Received(
                handler.path,
                {k.lower(): v for k, v in handler.headers.items()},
                handler.rfile.read(length),
            )
        )
        if self.redirect_to is not None:
            handler.send_response(302)
            handler.send_header("Location", self.redirect_to)
        elif len(self.requests) <= self.failures:
            handler.send_response(self.status)
        else:
            handler.send_response(204)
        handler.send_header("Content-Length", "0")
        handler.end_headers()


@contextmanager
def running(endpoint: Endpoint) -> Iterator[Endpoint]:
    """Serve `endpoint` on 127.0.0.1 (a free port, set on it) until the block ends."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            endpoint._answer(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that refused our certificate: the test looks at what arrived

    server = Server(("127.0.0.1", 0), Handler)
    if endpoint.tls is not None:

        def note_name(conn: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
            endpoint.server_names.append(name)

        endpoint.tls.sni_callback = note_name  # type: ignore[assignment]
        server.socket = endpoint.tls.wrap_socket(server.socket, server_side=True)
    endpoint.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass(frozen=True)
class Certificates:
    """A throwaway certificate authority, and a server certificate it signed for one name."""

    authority: Path
    certificate: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """What a client that trusts this authority (and nothing else) verifies with."""
        return ssl.create_default_context(cafile=str(self.authority))


def certificates_for(name: str, folder: Path) -> Certificates:
    """Made with the `openssl` command: the test's own CA, and a certificate naming `name`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, request, certificate = (
        folder / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)

    openssl(
        "req", "-x509", *curve, "-keyout", str(ca_key), "-out", str(ca), "-days", "2",
        "-subj", "/CN=maildesk test authority",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    openssl("req", *curve, "-keyout", str(key), "-out", str(request), "-subj", f"/CN={name}")
    extensions = folder / "server.ext"
    extensions.write_text(
        f"subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=critical,CA:FALSE\n"
    )
    openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(certificate), "-days", "2",
        "-extfile", str(extensions),
    )  # fmt: skip
    return Certificates(ca, certificate, key)
