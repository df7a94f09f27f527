"""Render one notification (SPEC §4) from the Jinja templates under `templates/email/`.

A `Renderer` turns a notification kind and a context into a `RenderedEmail`
(subject, text part, HTML part). Each kind has `email/<kind>.txt` and
`email/<kind>.html`, both extending the shared `email/_layout.*`; the subject
is the `subject` block of the `.txt` template, one line, and for ticket kinds
always starts with the ticket tag `[#1234] `.

The context contract (built from the database by the outbox; given here):

    kind           str, the notification kind (the `kind` argument wins)
    party          "customer" | "vendor": the recipient's role
    recipient      {"email", "name"}
    ticket         SPEC §8 Ticket JSON, or None for request_refused and
                   lookup_result: number, vendor, order, customer, type,
                   status, opened_by, opened_at, closed_at, close_reason,
                   due ({"event", "at"} or None), comments [{author,
                   author_email, author_name, text, at, attachments: [{id,
                   filename, content_type, size}]}], events [{kind, by, at}]
    order          SPEC §8 Order JSON, every item with a "name", plus
                   "license_key" and "download_url"; None when no order
                   was found (a refusal, a failed lookup)
    vendor         {"id", "name", "timezone"}
    facts          extra strings: "reason" (request_refused, ticket_closed,
                   a lookup that found nothing), "amount"/"currency"
                   (refund_processed), "from"/"to" (ticket_changed),
                   "waiting_on" (inactivity_warning), "reference" (what a
                   refused request named), "named" (what a lookup listing
                   every purchase named)
    ticket_url     this party's signed ticket link, or None
    reply_address  this party's reply address, or None
    actions        what this party may do now (`allowed_actions` values,
                   worked out by the funnel when the event happened);
                   the email lists them as `#commands`

Subscription kinds (SPEC §7: renewal_reminder, renewal_confirmation,
payment_declined, price_change, subscription_choice, renewal_requested,
subscription_ended, price_change_lapsed, subscription_refused) have
`ticket` None and add:

    subscription      SPEC §8 Subscription JSON as it was at the event
    choices           the customer's open choices then ([{"choice", "item"}],
                      `service.domain.subscription.choices`); [] for the vendor
    self_service_url  the customer's permanent page (/s/...), else None
    facts             the history entry's detail, "by" added (see
                      `service.domain.subscription.machine`)

`party`, `recipient`, `ticket`, `order`, `vendor` and `facts` must be
present (None where allowed): a missing one is an error, not a blank in
someone's mailbox. Times are ISO-8601 strings in UTC. Used when present,
never required: `purchase_url` (the customer's permanent purchase page),
`zone` (the reader's zone, a name from
`service.domain.zones.reader_zone`; else the vendor's), `processing`
({"rule", "weekend"}: why a pending processing time is what it is, from
`service.domain.policy.ProcessingReason`), `attached` (ids of the files
this email carries), `purchases` (a lookup's orders, each with its
"vendor_name"), ticket["awaiting_approval"], ticket["escalated_at"], an
event's "detail" ({"from", "to"} of a change), order["currency"], an item's
"kind" and "currency", a bill's "refunded_at", facts["by"] (who acted),
facts["type"] and facts["reference"] (what a refused request asked for).

Templates also see names derived here once per render: `customer_name`,
`vendor_name`, `product_name`, `type_label` (and the `type_labels` table),
`comments` (the ticket's comments as this reader sees them: each with `who`,
its writer's name for this reader, and `writer`, the vendor's agent as only
the vendor's copies name it), `newest_comment` (the last of them), `names`
(comment author -> display name), `actor` (the party whose action caused
this email) and `actor_label` (it, as the start of a sentence to this
recipient: "You", "Your customer Jane Doe", ...), `due_text` (in the
reader's zone), `awaiting_approval`, `physical`, `commands` (the email
commands for `actions`), `subscription_commands` (the email commands for
`choices`: [{"line", "choice", "item"}]), `renew_now` (the page offers
renewing now), `items_named` (the subscription items an event is about, by
name), `payment_url` (the self-service page's way to the vendor's payment
page), `currency`, `zone`, `vendor_zone`, and, in the
bodies, `subject`; and the filters `when` (give it `zone`), `day`, `money`,
`filesize`, `humanize`, `payment`, `para` (wrap one prose paragraph of the
text part) and `nl2br` (HTML).

This module must never read the database, send mail or change a ticket; it
only turns a context into text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

import service
from service.domain.actions import Action, command_words
from service.domain.subscription.choices import Choice, Offer, command_line
from service.outbound.email_environment import SECTIONS, SharedSections, email_environment
from service.outbound.filters import when
from service.tracing import traced

TICKET_TYPE_LABELS: Mapping[str, str] = {
    "refund": "refund request",
    "cancelation": "cancelation request",
    "support": "support ticket",
}

_CLOSERS: Mapping[str, str] = {"closed_by_customer": "customer", "closed_by_vendor": "vendor"}
_KIND = re.compile(r"[a-z][a-z0-9_]*")
_BLANK_LINE_RUNS = re.compile(r"\n\n\n+")


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


class UnknownNotificationKind(LookupError):
    """No templates for a notification kind in the templates directory."""


class RenderError(RuntimeError):
    """A template failed on a context (a missing key, a template bug)."""


def default_templates_dir() -> Path:
    """The installed templates: inside the package (wheel) or beside it (source checkout)."""
    package = Path(service.__file__).resolve().parent
    installed = package / "templates"
    if installed.is_dir():
        return installed
    return package.parent / "templates"


@functools.cache
def _built_in_environment(*, html: bool, inline_macros: bool) -> jinja2.Environment:
    """The built-in templates' environments, one of each per process: they never change
    while it runs (`auto_reload=False`), so every `Renderer` shares what they compiled."""
    return email_environment(default_templates_dir(), html=html, inline_macros=inline_macros)


class Renderer:
    """Renders notifications from one templates directory; templates are loaded once."""

    def __init__(
        self, templates_dir: Path | str | None = None, *, inline_macros: bool = True
    ) -> None:
        self.templates_dir = Path(templates_dir) if templates_dir else default_templates_dir()
        environment = (
            _built_in_environment
            if self.templates_dir == default_templates_dir()
            else functools.partial(email_environment, self.templates_dir)
        )
        self._text = environment(html=False, inline_macros=inline_macros)
        self._html = environment(html=True, inline_macros=inline_macros)

    def kinds(self) -> frozenset[str]:
        """The kinds with templates in this directory (`email/<kind>.txt`)."""
        email_dir = self.templates_dir / "email"
        if not email_dir.is_dir():
            return frozenset()
        return frozenset(
            path.stem for path in email_dir.glob("*.txt") if _KIND.fullmatch(path.stem)
        )

    def check(self, kinds: Sequence[str]) -> None:
        """Load every template of `kinds` now, so a broken `--templates DIR` fails at start."""
        for kind in kinds:
            self._templates(kind)

    def compile_all(self) -> None:
        """Compile every email template of the folder now, the shared pieces (`_layout`,
        `_order`, …) too, which a kind's template loads only when it first renders.

        Raises `RenderError` naming the file and line of the first that does not compile.
        """
        self.check(sorted(self.kinds()))
        for path in sorted((self.templates_dir / "email").glob("_*.*")):
            environment = {".txt": self._text, ".html": self._html}.get(path.suffix)
            if environment is None:
                continue
            try:
                environment.get_template(f"email/{path.name}")
            except jinja2.TemplateSyntaxError as error:
                raise _syntax_error(error) from error

    @traced("Renderer.render (Jinja, text + HTML)")
    def render(
        self, kind: str, context: Mapping[str, Any], sections: SharedSections | None = None
    ) -> RenderedEmail:
        """Subject, text and HTML of one notification to one party.

        `sections` keeps the `{% shared %}` sections rendered for one event, so
        the other party's copy reuses them; give each event its own (or None).
        Raises `UnknownNotificationKind` when the directory has no templates
        for `kind`, and `RenderError` when the templates fail on `context`.
        """
        text_template, html_template = self._templates(kind)
        subject_block = text_template.blocks.get("subject")
        if subject_block is None:
            raise RenderError(
                f"{self.templates_dir / 'email' / (kind + '.txt')} has no "
                "{% block subject %}; every kind needs one"
            )
        token = SECTIONS.set(sections)
        try:
            variables = _variables(kind, context)
            subject = _subject(
                "".join(subject_block(text_template.new_context(variables))), variables
            )
            variables["subject"] = subject
            text = text_template.render(variables)
            html = html_template.render(variables)
        except (jinja2.TemplateError, LookupError, AttributeError, TypeError, ValueError) as error:
            party = context.get("party")
            raise RenderError(f"rendering {kind!r} for the {party} failed: {error}") from error
        finally:
            SECTIONS.reset(token)
        return RenderedEmail(subject, _tidy_text(text), html)

    def _templates(self, kind: str) -> tuple[jinja2.Template, jinja2.Template]:
        if not _KIND.fullmatch(kind):
            raise UnknownNotificationKind(f"not a notification kind: {kind!r}")
        try:
            return (
                self._text.get_template(f"email/{kind}.txt"),
                self._html.get_template(f"email/{kind}.html"),
            )
        except jinja2.TemplateNotFound as missing:
            raise UnknownNotificationKind(
                f"no template {missing.name!r} for notification kind {kind!r} in "
                f"{self.templates_dir} (each kind needs email/{kind}.txt and email/{kind}.html)"
            ) from None
        except jinja2.TemplateSyntaxError as error:
            raise _syntax_error(error) from error


def _syntax_error(error: jinja2.TemplateSyntaxError) -> RenderError:
    """A template that does not compile, named with its file and line."""
    return RenderError(f"{error.filename or error.name}, line {error.lineno}: {error.message}")


# --- derived names -------------------------------------------------------------


def _variables(kind: str, context: Mapping[str, Any]) -> dict[str, Any]:
    variables = dict(context)
    variables["kind"] = kind
    for key in ("party", "recipient", "ticket", "order", "vendor", "facts"):
        if key not in variables:
            raise RenderError(f"the context for {kind!r} has no {key!r}")
    variables.setdefault("ticket_url", None)
    variables.setdefault("reply_address", None)
    variables.setdefault("subscription", None)
    variables.setdefault("self_service_url", None)
    variables.setdefault("purchase_url", None)
    if variables["facts"] is None:
        variables["facts"] = {}
    ticket: Mapping[str, Any] | None = variables["ticket"]
    order: Mapping[str, Any] | None = variables["order"]
    facts: Mapping[str, Any] = variables["facts"]
    vendor: Mapping[str, Any] = variables["vendor"]

    customer_name = _customer_name(ticket, order)
    vendor_name = str(vendor.get("name") or vendor.get("id") or "the seller")
    party = str(variables["party"])
    ticket_type = str(ticket["type"]) if ticket else str(facts.get("type") or "")
    names = {
        "customer": customer_name,
        "vendor": vendor_name,
        "system": "maildesk",
        "operator": "the maildesk operator",
    }
    vendor_zone = str(vendor.get("timezone") or "UTC")
    zone = str(variables.get("zone") or vendor_zone)
    comments = reader_comments(ticket, party, names)
    actor = _actor(kind, ticket, facts)
    variables.update(
        customer_name=customer_name,
        vendor_name=vendor_name,
        product_name=_product_name(order, facts),
        type_label=TICKET_TYPE_LABELS.get(ticket_type, "request"),
        type_labels=TICKET_TYPE_LABELS,
        comments=comments,
        newest_comment=comments[-1] if comments else None,
        names=names,
        actor=actor,
        actor_label=_actor_label(actor, party, names),
        zone=zone,
        vendor_zone=vendor_zone,
        shared_view="\x00".join([zone, *(c["who"] for c in comments)]),
        due_text=_due_text(ticket, zone),
        processing=variables.get("processing"),
        attached=list(variables.get("attached") or ()),
        purchases=list(variables.get("purchases") or ()),
        awaiting_approval=_awaiting_approval(ticket),
        physical=_physical(order),
        commands=command_words([Action(a) for a in variables.get("actions") or ()]),
        currency=str(facts.get("currency") or (order.get("currency") if order else None) or ""),
        **_subscription_variables(variables),
    )
    return variables


def _subscription_variables(variables: Mapping[str, Any]) -> dict[str, Any]:
    """The customer's choices as `#commands` and buttons, and the payment page's way in."""
    offers = [
        Offer(Choice(str(choice["choice"])), choice.get("item"))
        for choice in variables.get("choices") or ()
    ]
    subscription = variables.get("subscription") or {}
    single = len(subscription.get("items") or ()) == 1  # "#renew off" says it all
    lines = [(command_line(Offer(offer.choice) if single else offer), offer) for offer in offers]
    page = variables.get("self_service_url")
    facts = variables.get("facts") or {}
    numbers = str(facts.get("items") or facts.get("item") or "").split(",")
    items = {str(item.get("number")): item for item in subscription.get("items") or ()}
    named = [str(items[n].get("name") or items[n].get("sku")) for n in numbers if n in items]
    return {
        "items_named": ", ".join(named) or _product_name(variables.get("order"), facts),
        "subscription_commands": [
            {"line": line, "choice": offer.choice.value, "item": offer.item}
            for line, offer in lines
            if line is not None
        ],
        "renew_now": any(offer.choice is Choice.RENEW_NOW for offer in offers),
        "payment_url": f"{page}/payment" if page else None,
    }


def _awaiting_approval(ticket: Mapping[str, Any] | None) -> bool:
    """Whether an open refund waits for the vendor's approval (SPEC §2), as the ticket says."""
    return bool(ticket and ticket.get("status") == "open" and ticket.get("awaiting_approval"))


def _actor(kind: str, ticket: Mapping[str, Any] | None, facts: Mapping[str, Any]) -> str:
    """Who caused this notification (`facts["by"]` wins), as a party name.

    The close reason says who closed a ticket, the newest comment who replied;
    otherwise the newest event's `by`; "system" when nothing says.
    """
    if facts.get("by"):
        return str(facts["by"])
    if ticket is None:
        return "system"
    if kind == "ticket_closed":
        reason = facts.get("reason") or ticket.get("close_reason")
        return _CLOSERS.get(str(reason), "system")
    comments = ticket.get("comments") or []
    if kind == "reply" and comments:
        return str(comments[-1].get("author") or "system")
    events = ticket.get("events") or []
    return str(events[-1].get("by") or "system") if events else "system"


def _actor_label(actor: str, party: str, names: Mapping[str, str]) -> str:
    """The actor as the start of a sentence written to `party`."""
    if actor == party:
        return "You"
    if actor == "customer":
        return f"Your customer {names['customer']}"
    if actor == "operator":
        return "The maildesk operator"
    return names.get(actor, actor)


def reader_comments(
    ticket: Mapping[str, Any] | None, party: str, names: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The ticket's comments as `party` reads them, each with `who` wrote it and the `writer`.

    The vendor's copies name the person behind a vendor comment ("Anna
    (agent@acme.test)"): which agent answered is the vendor's business, so
    the customer's copies name the vendor alone, and `writer` is "" there.
    """
    found: list[dict[str, Any]] = []
    for comment in (ticket.get("comments") or []) if ticket else []:
        author = str(comment.get("author") or "system")
        writer = writer_label(comment) if party == "vendor" and author == "vendor" else ""
        found.append(
            {
                **comment,
                "author": author,
                "who": writer or names.get(author, author),
                "writer": writer,
            }
        )
    return found


def writer_label(comment: Mapping[str, Any]) -> str:
    """ "Anna Agent (agent@acme.test)", the address alone, or "" when no email said who wrote it."""
    email = str(comment.get("author_email") or "")
    name = " ".join(str(comment.get("author_name") or "").split())
    if not email:
        return ""
    return f"{name} ({email})" if name and name.lower() != email.lower() else email


def _due_text(ticket: Mapping[str, Any] | None, zone: str) -> str:
    """When the pending timer fires, in the reader's zone."""
    due = ticket.get("due") if ticket else None
    if not ticket or not due:
        return ""
    return when(due.get("at"), zone)


def _customer_name(ticket: Mapping[str, Any] | None, order: Mapping[str, Any] | None) -> str:
    for person in (order.get("customer") if order else None, ticket and ticket.get("customer")):
        if isinstance(person, Mapping):
            name = person.get("name") or person.get("email")
            if name:
                return str(name)
        elif isinstance(person, str) and person:
            return person
    return "the customer"


def _physical(order: Mapping[str, Any] | None) -> bool:
    """Whether the order holds shipped goods (their refunds wait 19 days, SPEC §2)."""
    items = (order.get("items") or []) if order else []
    return any(item.get("kind") == "physical" for item in items)


def _product_name(order: Mapping[str, Any] | None, facts: Mapping[str, Any]) -> str:
    if order:
        names = [str(item.get("name") or item.get("sku")) for item in order.get("items") or []]
        if names:
            return ", ".join(dict.fromkeys(names))
        return f"order {order.get('reference')}"
    reference = facts.get("reference")
    return f"order {reference}" if reference else "your purchase"


def _subject(rendered: str, variables: Mapping[str, Any]) -> str:
    """One line, tagged `[#1234] ` for ticket kinds (also when a template forgot the tag)."""
    subject = " ".join(rendered.split())
    ticket = variables["ticket"]
    if ticket:
        tag = f"[#{ticket['number']}]"
        if not subject.startswith(tag):
            subject = f"{tag} {subject}"
    return subject


def _tidy_text(text: str) -> str:
    """At most one blank line in a row, no leading blank lines, one final newline.

    `\\n\\n\\n+` rather than `\\n{3,}`: with a literal prefix the regex engine
    skips ahead to each run instead of trying at every character, a dozen
    times faster over a long text part.
    """
    return _BLANK_LINE_RUNS.sub("\n\n", text).strip("\n") + "\n"
