"""What counts as one mailbox address: the shape every address maildesk mails must have.

Pure and tiny on purpose: the inbound parser uses it to decide whether a
`From` names a sender at all, the import to refuse a vendor or customer that
could never be mailed, and the funnel to refuse queueing mail nobody can
receive (issue #13: an empty address once sat in the outbox failing forever).
"""

from __future__ import annotations

import re

_UNSENDABLE = re.compile(r"[\s<>\ufffd\x00-\x1f]")
"""What cannot sit in an envelope: whitespace (`str.isspace`'s, which `\\s` matches),
angle brackets, U+FFFD (a byte that was not text), control characters. One regular
expression search, not a Python test per character: an import checks a million."""


def is_addr_spec(address: str) -> bool:
    """`local@domain` with both parts present and nothing that cannot sit in an envelope."""
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain) and _UNSENDABLE.search(address) is None
