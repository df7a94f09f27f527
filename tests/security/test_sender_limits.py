"""The per-sender limit counts the identity a message acts as (issue #13, item 2).

It counted the envelope sender, while identity comes from `From`: 25 mails
`From: jane@…` with 25 different `MAIL FROM`s opened 25 tickets (limit 20),
each mailing Jane and her vendor. Now every new request (refund@, cancel@,
support@, lookup@, whatever came of it) counts against its `From` address and
against its envelope sender, and either reaching the limit stops it.
"""

from __future__ import annotations

import pytest

from tests.conftest import DOMAIN
from tests.e2e.conftest import Served

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

SUPPORT = f"support@{DOMAIN}"
LOOKUP = f"lookup@{DOMAIN}"
JANE = "jane@example.test"
LIMIT = 5  # the `served` fixture's MAILDESK_NEW_TICKETS_PER_HOUR


async def test_varying_the_envelope_sender_does_not_escape_the_limit_on_from(
    served: Served,
) -> None:
    codes = [
        (
            await served.send(
                JANE, SUPPORT, f"Q7K2M9XA question {n}", "Hello?", envelope_from=f"b{n}@relay.test"
            )
        )[0]
        for n in range(25)
    ]

    assert codes == [250] * LIMIT + [451] * (25 - LIMIT)
    assert len(await served.tickets()) == LIMIT
    assert len(await served.mail_to(JANE)) == LIMIT  # Jane was mailed once per ticket, no more


async def test_varying_from_does_not_escape_the_limit_on_the_envelope(served: Served) -> None:
    senders = [f"victim{n}@example.test" for n in range(10)]
    codes = [
        (await served.send(sender, SUPPORT, "Q7K2M9XA", "Hi", envelope_from="flood@relay.test"))[0]
        for sender in senders
    ]

    assert codes == [250] * LIMIT + [451] * (10 - LIMIT)


async def test_refused_requests_count_too_so_nobody_is_mailed_without_end(served: Served) -> None:
    """ "No purchase found" and lookup answers go to the `From` address: they count."""
    victim = "victim@example.test"
    codes = [
        (
            await served.send(
                victim,
                SUPPORT if n % 2 else LOOKUP,
                f"NOSUCH{n:02d}",
                "?",
                envelope_from=f"x{n}@r.test",
            )
        )[0]
        for n in range(12)
    ]

    assert codes == [250] * LIMIT + [451] * (12 - LIMIT)
    assert len(await served.mail_to(victim)) == LIMIT
