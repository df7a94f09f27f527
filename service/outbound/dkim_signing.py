"""DKIM: signing every notification, and making the key and the DNS record to publish.

The big mailbox providers file unsigned mail from a domain with a DMARC
policy as spam, or refuse it; a DKIM signature under the support domain
(`d=`, the domain of `From`) is what aligns our mail with that domain. The
signature is made by dkimpy, the same library that verifies inbound mail
(`service.inbound.sender_auth`), so a test can check our own signatures with
the very verifier that judges others'.

Keys are RSA-2048 (PEM, PKCS#1, what dkimpy reads) or Ed25519 (the base64
32-byte seed, dkimpy's format; RFC 8463). Ed25519 signatures are small and
fast, but not every receiver checks them yet: RSA is the default, and a
domain may publish both under two selectors.

This module never reads the database and never sends anything.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from service.config import ConfigError

KEY_TYPES = ("rsa", "ed25519")

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"in-reply-to",
    b"references",
    b"auto-submitted",
    b"mime-version",
    b"content-type",
)
"""The headers a signature covers, when present: who, what, when, and the thread. `From` is
signed twice by dkimpy's default (over-signing), so a second `From` cannot be added later."""


@dataclass(frozen=True)
class DkimKey:
    """One signing key with its selector and domain (`--dkim-key`, `--dkim-selector`)."""

    selector: str
    domain: str
    algorithm: str  # "rsa-sha256" | "ed25519-sha256"
    private_key: bytes = field(repr=False)

    @classmethod
    def load(cls, path: str, selector: str, domain: str) -> DkimKey:
        """The key in `path`, as `maildesk dkim keygen` writes it; errors name the fix."""
        try:
            data = Path(path).read_bytes().strip()
        except OSError as error:
            raise ConfigError(
                f"--dkim-key {path!r}: {error.strerror}; make a key with "
                "`maildesk dkim keygen --selector NAME --out FILE`"
            ) from None
        if b"-----BEGIN" in data:
            return cls(selector, domain, "rsa-sha256", _rsa_pkcs1(data, path))
        try:
            seed = base64.b64decode(data, validate=True)
        except binascii.Error:
            seed = b""
        if len(seed) != 32:
            raise ConfigError(
                f"--dkim-key {path!r}: neither a PEM RSA key nor a base64 Ed25519 seed; make "
                "one with `maildesk dkim keygen --selector NAME --out FILE`"
            )
        return cls(selector, domain, "ed25519-sha256", data)

    def signature(self, message: bytes) -> bytes:
        """The `DKIM-Signature` header line for `message` (CRLF-ended), to put on top of it."""
        return bytes(
            dkim.sign(
                message,
                self.selector.encode("ascii"),
                self.domain.encode("ascii"),
                self.private_key,
                canonicalize=(b"relaxed", b"relaxed"),
                signature_algorithm=self.algorithm.encode("ascii"),
                include_headers=[h for h in SIGNED_HEADERS if _has_header(message, h)],
                linesep=b"\r\n",
            )
        )

    def sign(self, message: bytes) -> bytes:
        """`message` with its signature on top."""
        return self.signature(message) + message


def _has_header(message: bytes, name: bytes) -> bool:
    head = message.split(b"\r\n\r\n", 1)[0].lower()
    return head.startswith(name + b":") or b"\r\n" + name + b":" in head


def _rsa_pkcs1(data: bytes, path: str) -> bytes:
    """An RSA key in the PKCS#1 PEM form dkimpy reads, whatever PEM form it was given in."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"--dkim-key {path!r}: not a readable PEM key ({error})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"--dkim-key {path!r}: a PEM key for DKIM must be RSA")
    if key.key_size < 1024:
        raise ConfigError(f"--dkim-key {path!r}: {key.key_size} bits is too short; use 2048")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class NewKey:
    """A fresh key file's contents and the DNS TXT value that publishes its public half."""

    private_key: bytes
    txt_value: str

    def zone_line(self, selector: str, domain: str) -> str:
        """The record as a zone file line, split into strings of at most 255 bytes."""
        chunks = [self.txt_value[i : i + 255] for i in range(0, len(self.txt_value), 255)]
        quoted = " ".join(f'"{chunk}"' for chunk in chunks)
        return f"{selector}._domainkey.{domain}. IN TXT ( {quoted} )"


def generate_key(kind: str = "rsa") -> NewKey:
    """A new RSA-2048 or Ed25519 signing key, and its `v=DKIM1` record."""
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return NewKey(private, f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}")
    if kind == "ed25519":
        signing = ed25519.Ed25519PrivateKey.generate()
        seed = signing.private_bytes_raw()
        public = signing.public_key().public_bytes_raw()
        return NewKey(
            base64.b64encode(seed) + b"\n",
            f"v=DKIM1; k=ed25519; p={base64.b64encode(public).decode()}",
        )
    raise ConfigError(f"--type {kind!r}: expected one of {', '.join(KEY_TYPES)}")
