"""STARTTLS on the listener: the certificate, TLS 1.2 or later, reloaded on SIGHUP.

A certificate renewed on disk (certbot, an ACME client) must be taken up
without a restart that would drop mail in flight. The listener keeps one
`ssl.SSLContext`; `reload` loads the files into that same context again, so
connections from then on get the new certificate while the ones already
encrypted keep theirs. A reload that fails (a half-written file, a key that
does not match) keeps the certificate that works and says why in the log.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field

from service.config import ConfigError

log = logging.getLogger(__name__)


@dataclass
class ListenerTls:
    """The listener's TLS context, built from `--tls-cert` and `--tls-key`."""

    cert_file: str
    key_file: str
    context: ssl.SSLContext = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(
                f"--tls-cert {self.cert_file!r} / --tls-key {self.key_file!r}: {error}; give "
                "the PEM certificate chain and its private key (e.g. Let's Encrypt's "
                "fullchain.pem and privkey.pem), readable by maildesk's user"
            ) from None

    def reload(self) -> bool:
        """Load the files again (SIGHUP); True when the new certificate is in use."""
        try:
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as error:
            log.error("TLS certificate not reloaded, the previous one stays in use: %s", error)
            return False
        log.warning("TLS certificate reloaded from %s", self.cert_file)
        return True
