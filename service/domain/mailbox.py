"""What counts as one mailbox address: the shape every address maildesk mails must have.

Pure and tiny on purpose: the inbound parser uses it to decide whether a
`From` names a sender at all, the import to refuse a vendor or customer that
could never be mailed, and the funnel to refuse queueing mail nobody can
receive (issue #13: an empty address once sat in the outbox failing forever).
"""

from __future__ import annotations


def is_addr_spec(address: str) -> bool:
    """`local@domain` with both parts present and nothing that cannot sit in an envelope."""
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain) and not any(
        ch.isspace() or ch in "<>\ufffd" or ord(ch) < 32 for ch in address
    )
