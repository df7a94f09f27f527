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
CUSTOMER = (Party.CUSTOMER,)
VENDOR = (Party.VENDOR,)
Requester = Literal["requester"]
REQUESTER: Requester = "requester"
"""A rule's recipient: whoever asked (for refusals)."""

REFUSED = "refused"
"""The entry kind of a refused request: it tells the requester, and the ticket keeps none."""

# Kinds sent without a ticket-changing history entry.
REQUEST_REFUSED = "request_refused"
LOOKUP_RESULT = "lookup_result"
SIGNIN = "signin"
"""A one-time sign-in link to the desk or the console (issue #17): mail to an address."""

SUBSCRIPTION_REFUSED = "subscription_refused"
"""A refused choice or report on a subscription (see `service.domain.subscription.machine`)."""
SUBSCRIPTION_UPDATED = "subscription.updated"
CHOICES = ("auto_renew_on", "auto_renew_off", "price_change_accepted", "price_change_declined")
"""The entry kinds of the customer's choices: confirmed to both parties, and a webhook."""

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


def _customer_not_answered(occurrence: Occurrence) -> bool:
    """A customer's choice by email or on a page; the platform's reports are the API's alone."""
    return occurrence.requester is Party.CUSTOMER and not occurrence.answered_directly


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
    # --- subscriptions (SPEC §7) ---
    Rule("renewal_reminder", "renewal_reminder", CUSTOMER),
    Rule("renewed", "renewal_confirmation", CUSTOMER),
    Rule("payment_declined", "payment_declined", CUSTOMER),
    Rule("price_change", "price_change", CUSTOMER),
    Rule("price_change_withdrawn", "price_change", CUSTOMER),
    *(
        rule
        for kind in CHOICES
        for rule in (
            Rule(kind, "subscription_choice"),
            Rule(kind, SUBSCRIPTION_UPDATED, VENDOR, Channel.WEBHOOK, _vendor_has_webhook),
        )
    ),
    Rule("renewal_requested", "renewal_requested"),
    Rule(
        "renewal_requested",
        "subscription.renewal_requested",
        VENDOR,
        Channel.WEBHOOK,
        _vendor_has_webhook,
    ),
    Rule("subscription_ended", "subscription_ended"),
    Rule("subscription_ended", SUBSCRIPTION_UPDATED, VENDOR, Channel.WEBHOOK, _vendor_has_webhook),
    Rule("price_change_lapsed", "price_change_lapsed"),
    Rule("price_change_lapsed", SUBSCRIPTION_UPDATED, VENDOR, Channel.WEBHOOK, _vendor_has_webhook),
    Rule(SUBSCRIPTION_REFUSED, "subscription_refused", CUSTOMER, condition=_customer_not_answered),
)

TEMPLATE_KINDS: frozenset[str] = frozenset(
    {rule.template for rule in RULES if rule.channel is Channel.EMAIL} | {LOOKUP_RESULT, SIGNIN}
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
            if rule.channel is Channel.WEBHOOK:
                facts["entry"] = entry.kind  # what happened, for the vendor's systems
            parties = (requester,) if rule.recipients == REQUESTER else rule.recipients
            for party in parties:
                yield Notify(rule.template, party, facts, rule.channel)
