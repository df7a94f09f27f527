"""Every SMTP reply maildesk's listener gives, in one place (RFC 5321 codes, RFC 3463 status)."""

from __future__ import annotations

ACCEPTED = "250 2.0.0 OK: message accepted"
DUPLICATE = "250 2.0.0 OK: already received; nothing more to do"
IGNORED_LOOP = "250 2.0.0 OK: kept, but too many replies this hour; nothing was changed"
IGNORED_AUTOMATIC = "250 2.0.0 OK: automatic mail noted; it does not act on tickets"
RECIPIENT_OK = "250 2.1.5 OK"
SENDER_OK = "250 2.1.0 OK"
SHUTTING_DOWN = "421 4.3.2 Shutting down; please try again shortly"
TIMED_OUT = "421 4.4.2 Timeout: nothing complete received in time; closing the connection"
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections; please try again later"
NOT_OURS = "550 5.1.1 <{address}>: no such mailbox here (this server is not a relay)"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients in one message; send the rest separately"
NOT_AUTHORISED = "550 5.7.1 {reason}; nothing was changed"
DMARC_FAILED = (
    "550 5.7.1 The sender's domain failed DMARC at the receiving server; nothing was changed"
)
UNREADABLE_SENDER = (
    "550 5.1.7 The From header must name exactly one sender address we can read and "
    "answer; nothing was changed"
)
RATE_LIMITED = "451 4.7.1 Too many new requests from <{address}> in the last hour; try again later"
TRY_LATER = "451 4.3.0 Temporary failure on our side; the message is kept, please retry later"
