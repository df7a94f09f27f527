"""Everything maildesk takes from mail-parser beyond its public API, in this one module.

mail-parser's public surface is what its package exports: `MailParser`,
the `parse_from_*` functions and `get_header`. `service.inbound.parse` needs
its structural address scanner instead, which is not among them: it never
promotes an address-looking display name (`"jane@example.test"
<evil@evil.test>` is evil's mail) and refuses ambiguous items, which
matters because `From` decides who may act. A release that changes it
breaks this one file, loudly: pyproject.toml pins the series this was
written against (`mail-parser~=4.8.0`), and
`tests/adapters/test_mailparser.py` checks the name, its signature and the
behaviour relied on.

Private names used (in a module the package does not export):

- `mailparser.utils.get_addresses(raw_header, *, defects=None,
  decode_names=False)`: (display name, address) pairs for a header value;
  `decode_names=True` decodes encoded words in names in their lexical
  context; each problem found is appended to `defects` as a dict whose
  `"reason"` key says what it was (`"invalid-display-name"`,
  `"ambiguous-angle-address"`, …). maildesk reads only that key.

Public, and so used where it is needed: `mailparser.parse_from_bytes`
(`service.bench.servers`, the benchmark's "parse with mail-parser" server).

What this module must never do: turn a scanner's refusal into an address,
or hide one of its problems.
"""

from __future__ import annotations

from mailparser.utils import get_addresses

UNNAMED_PROBLEM = "unreadable mailbox"
"""What a problem the scanner reports without a reason is called."""


def scan_mailboxes(value: str) -> tuple[list[tuple[str, str]], list[str]]:
    """mail-parser's reading of one address header value: (name, address) pairs and problems.

    Names have their encoded words decoded; a problem is the scanner's reason
    for it. Raises whatever the scanner raises: the caller records it.
    """
    problems: list[dict[str, object]] = []
    pairs = get_addresses(value, defects=problems, decode_names=True)
    reasons = [f"{problem.get('reason', UNNAMED_PROBLEM)}" for problem in problems]
    return [(name, address) for name, address in pairs], reasons
