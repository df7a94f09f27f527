"""Which history entries send which notifications: the rules of SPEC §4.

Modelled on Request Tracker's scrips: a rule pairs a kind of history entry
with a template and the parties who receive it. The state machine records
what happened; these rules turn that record into `Notify` effects. Adding a
notification is adding a rule here and a template, never editing the machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from service.domain.effects import Notify
from service.domain.records import HistoryEntry, Party

BOTH = (Party.CUSTOMER, Party.VENDOR)


@dataclass(frozen=True)
class Rule:
    on: str
    template: str
    parties: tuple[Party, ...] = BOTH


RULES: tuple[Rule, ...] = (
    Rule("opened", "ticket_opened"),
    Rule("replied", "reply"),
    Rule("changed", "ticket_changed"),
    Rule("closed", "ticket_closed"),
    Rule("inactivity_warning", "inactivity_warning"),
    Rule("refund_processed", "refund_processed"),
    Rule("cancelation_processed", "cancelation_processed"),
    Rule("escalated", "escalation_received"),
)

# Kinds sent without a ticket-changing history entry.
REQUEST_REFUSED = "request_refused"
LOOKUP_RESULT = "lookup_result"

TEMPLATE_KINDS: frozenset[str] = frozenset(
    {rule.template for rule in RULES} | {REQUEST_REFUSED, LOOKUP_RESULT}
)


def notifications_for(entries: Iterable[HistoryEntry]) -> Iterator[Notify]:
    for entry in entries:
        for rule in RULES:
            if rule.on == entry.kind:
                facts = {"by": entry.by.value, **entry.detail}
                for party in rule.parties:
                    yield Notify(rule.template, party, facts)
