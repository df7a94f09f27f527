"""Every SMTP reply maildesk's listener gives, in one place (RFC 5321 codes, RFC 3463 status).

A reply is a value (`SmtpReply`) until the moment it goes on the wire, so the
intake can tell an acceptance from a refusal without reading its text.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SmtpReply:
    code: int
    status: str
    """The enhanced status code (RFC 3463), e.g. `5.7.1`."""
    text: str

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300

    def __str__(self) -> str:
        return f"{self.code} {self.status} {self.text}"


ACCEPTED = SmtpReply(250, "2.0.0", "OK: message accepted")
DUPLICATE = SmtpReply(250, "2.0.0", "OK: already received; nothing more to do")
IGNORED_LOOP = SmtpReply(
    250, "2.0.0", "OK: kept, but too many replies this hour; nothing was changed"
)
IGNORED_AUTOMATIC = SmtpReply(250, "2.0.0", "OK: automatic mail noted; it does not act on tickets")
RECIPIENT_OK = SmtpReply(250, "2.1.5", "OK")
SENDER_OK = SmtpReply(250, "2.1.0", "OK")
SHUTTING_DOWN = SmtpReply(421, "4.3.2", "Shutting down; please try again shortly")
TIMED_OUT = SmtpReply(
    421, "4.4.2", "Timeout: nothing complete received in time; closing the connection"
)
TOO_MANY_CONNECTIONS = SmtpReply(421, "4.7.0", "Too many connections; please try again later")
TOO_MANY_RECIPIENTS = SmtpReply(
    452, "4.5.3", "Too many recipients in one message; send the rest separately"
)
DMARC_FAILED = SmtpReply(
    550,
    "5.7.1",
    "The sender's domain failed DMARC (the From address is not proven to be the sender's); "
    "nothing was changed",
)
DNS_UNAVAILABLE = SmtpReply(
    451,
    "4.4.3",
    "Could not check the sender's SPF, DKIM or DMARC records (a DNS lookup failed); "
    "please retry later",
)
CANNOT_ANSWER = SmtpReply(
    553,
    "5.6.7",
    "Your address has non-ASCII characters, and our outgoing mail server cannot send to "
    "such an address, so we could never answer you; please write from an ASCII address. "
    "Nothing was changed",
)
UNREADABLE_SENDER = SmtpReply(
    550,
    "5.1.7",
    "The From header must name exactly one sender address we can read and answer; "
    "nothing was changed",
)
TRY_LATER = SmtpReply(
    451, "4.3.0", "Temporary failure on our side; the message is kept, please retry later"
)


def not_ours(address: str) -> SmtpReply:
    return SmtpReply(
        550, "5.1.1", f"<{address}>: no such mailbox here (this server is not a relay)"
    )


def not_authorised(reason: str) -> SmtpReply:
    return SmtpReply(550, "5.7.1", f"{reason}; nothing was changed")


def rate_limited(address: str) -> SmtpReply:
    return SmtpReply(
        451, "4.7.1", f"Too many new requests from <{address}> in the last hour; try again later"
    )
