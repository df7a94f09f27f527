"""What the customer may choose on a subscription now, and why not (SPEC §7).

The one answer every door asks: the self-service page shows these buttons,
each email lists these `#commands`, and the machine refuses anything else
with the reason given here, so the three can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from service.domain.policy import Refusal
from service.domain.subscription.events import (
    AnswerChange,
    CustomerChoice,
    RequestRenewal,
    SetAutoRenew,
)
from service.domain.subscription.records import Renewal, Subscription


class Choice(StrEnum):
    RENEW_OFF = "renew_off"
    RENEW_ON = "renew_on"
    ACCEPT = "accept"
    DECLINE = "decline"
    RENEW_NOW = "renew_now"


COMMAND_WORDS: dict[Choice, str] = {
    Choice.RENEW_OFF: "#renew off",
    Choice.RENEW_ON: "#renew on",
    Choice.ACCEPT: "#accept",
    Choice.DECLINE: "#decline",
}
"""The email commands (a reply to a subscription email); renewing now is a page's button."""


@dataclass(frozen=True)
class Offer:
    """One choice open to the customer, for one item or (None) the whole subscription."""

    choice: Choice
    item: int | None = None


def choice_of(event: CustomerChoice) -> Offer:
    if isinstance(event, SetAutoRenew):
        return Offer(Choice.RENEW_ON if event.on else Choice.RENEW_OFF, event.item)
    if isinstance(event, AnswerChange):
        return Offer(Choice.ACCEPT if event.accept else Choice.DECLINE, event.item)
    return Offer(Choice.RENEW_NOW)


def event_for(offer: Offer) -> CustomerChoice:
    """The event a customer's choice becomes."""
    if offer.choice in (Choice.RENEW_ON, Choice.RENEW_OFF):
        return SetAutoRenew(offer.choice is Choice.RENEW_ON, offer.item)
    if offer.choice in (Choice.ACCEPT, Choice.DECLINE):
        return AnswerChange(offer.choice is Choice.ACCEPT, offer.item)
    return RequestRenewal()


def allowed_choices(subscription: Subscription) -> tuple[Offer, ...]:
    """Every choice open now: per item, then for the whole subscription."""
    offers = [
        Offer(choice, item.number)
        for item in subscription.items
        for choice in Choice
        if choice is not Choice.RENEW_NOW
        and refusal(subscription, Offer(choice, item.number)) is None
    ]
    if refusal(subscription, Offer(Choice.RENEW_NOW)) is None:
        offers.append(Offer(Choice.RENEW_NOW))
    return tuple(offers)


def refusal(subscription: Subscription, offer: Offer) -> Refusal | None:
    """Why the customer may not make this choice now, or None when they may."""
    if not subscription.is_active:
        return Refusal(
            "ended", "This subscription has ended, so nothing on it can be changed any more."
        )
    if offer.item is not None and subscription.item(offer.item) is None:
        count = len(subscription.items)
        known = "item 1" if count == 1 else f"items 1 to {count}"
        return Refusal(
            "no_such_item", f"Your subscription has no item {offer.item}; it has {known}."
        )
    items = [subscription.item(offer.item)] if offer.item is not None else subscription.items
    if offer.choice in (Choice.RENEW_ON, Choice.RENEW_OFF):
        if subscription.renewal is Renewal.MANUAL:
            return Refusal(
                "manual_renewal",
                "This subscription renews only when you renew it, so it has no automatic "
                "renewal to turn on or off.",
            )
        wanted = offer.choice is Choice.RENEW_ON
        if all(item is not None and item.auto_renew == wanted for item in items):
            state = "on" if wanted else "off"
            which = f"item {offer.item}" if offer.item is not None else "every item"
            return Refusal("unchanged", f"Automatic renewal is already {state} for {which}.")
        return None
    if offer.choice in (Choice.ACCEPT, Choice.DECLINE):
        if not any(
            item is not None and item.change and item.change.awaits_consent for item in items
        ):
            return Refusal("nothing_to_answer", "No price change is waiting for your answer.")
        return None
    if subscription.renewal is Renewal.AUTO:
        return Refusal(
            "renews_automatically",
            "This subscription renews automatically at its billing date; there is nothing to do.",
        )
    return None


def command_line(offer: Offer) -> str | None:
    """`#renew off 2`: how to make this choice by email, or None when only the page can."""
    word = COMMAND_WORDS.get(offer.choice)
    if word is None:
        return None
    return word if offer.item is None else f"{word} {offer.item}"
