"""What each history entry sends, to whom, by which channel: the rules of SPEC §4, in one table.

Modelled on Request Tracker's scrips: a rule pairs a kind of history entry
with a condition, its recipients, a template and a channel (an email, or a
webhook to the vendor's own systems). The state machine records what
happened; these rules, and nothing else, turn that record into `Notify`
effects, refusals and webhooks included. Adding a notification is adding a
rule here and a template, never editing the machine or the funnel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from service.domain.effects import Channel, Notify
from service.domain.records import HistoryEntry, Party, Vendor

BOTH = (Party.CUSTOMER, Party.VENDOR)
Requester = Literal["requester"]
REQUESTER: Requester = "requester"
"""A rule's recipient: whoever asked (for refusals)."""

REFUSED = "refused"
"""The entry kind of a refused request: it tells the requester, and the ticket keeps none."""

# Kinds sent without a ticket-changing history entry.
REQUEST_REFUSED = "request_refused"
LOOKUP_RESULT = "lookup_result"

WEBHOOK_KIND = "webhook"
"""The outbox kind of every webhook; the rule's template names the webhook event."""


@dataclass(frozen=True)
class Occurrence:
    """One history entry as the rules see it: what happened, who asked, and to whom."""

    entry: HistoryEntry
    requester: Party
    vendor: Vendor | None
    answered_directly: bool
    """The door answers the requester itself (the API's response), so no refusal email."""


def _always(occurrence: Occurrence) -> bool:
    return True


def _requester_not_answered(occurrence: Occurrence) -> bool:
    return occurrence.requester in BOTH and not occurrence.answered_directly


def _vendor_has_webhook(occurrence: Occurrence) -> bool:
    return occurrence.vendor is not None and bool(occurrence.vendor.webhook_url)


@dataclass(frozen=True)
class Rule:
    on: str
    template: str
    recipients: tuple[Party, ...] | Requester = BOTH
    channel: Channel = Channel.EMAIL
    condition: Callable[[Occurrence], bool] = _always


RULES: tuple[Rule, ...] = (
    Rule("opened", "ticket_opened"),
    Rule("replied", "reply"),
    Rule("changed", "ticket_changed"),
    Rule("closed", "ticket_closed"),
    Rule("inactivity_warning", "inactivity_warning"),
    Rule("refund_processed", "refund_processed"),
    Rule(
        "refund_processed",
        "refund.processed",
        (Party.VENDOR,),
        Channel.WEBHOOK,
        _vendor_has_webhook,
    ),
    Rule("cancelation_processed", "cancelation_processed"),
    Rule(
        "cancelation_processed",
        "cancelation.processed",
        (Party.VENDOR,),
        Channel.WEBHOOK,
        _vendor_has_webhook,
    ),
    Rule("escalated", "escalation_received"),
    Rule(REFUSED, REQUEST_REFUSED, REQUESTER, condition=_requester_not_answered),
)

TEMPLATE_KINDS: frozenset[str] = frozenset(
    {rule.template for rule in RULES if rule.channel is Channel.EMAIL} | {LOOKUP_RESULT}
)
"""Every email kind: each needs `email/<kind>.txt` and `.html`."""

WEBHOOK_EVENTS: frozenset[str] = frozenset(
    rule.template for rule in RULES if rule.channel is Channel.WEBHOOK
)


def notifications_for(
    entries: Iterable[HistoryEntry],
    requester: Party,
    vendor: Vendor | None = None,
    *,
    answered_directly: bool = False,
) -> Iterator[Notify]:
    """Every notification the rules send for `entries`, in rule order per entry."""
    for entry in entries:
        occurrence = Occurrence(entry, requester, vendor, answered_directly)
        for rule in RULES:
            if rule.on != entry.kind or not rule.condition(occurrence):
                continue
            facts = {"by": entry.by.value, **entry.detail}
            parties = (requester,) if rule.recipients == REQUESTER else rule.recipients
            for party in parties:
                yield Notify(rule.template, party, facts, rule.channel)
