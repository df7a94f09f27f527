"""The benchmark's own data: a catalog to import, new-ticket mail, and replies.

Everything is generated, deterministically from a seed, so a run needs no
fixture and two runs send the same kind of mail:

- `make_catalog(n)`: an import document (SPEC §8 format) with four vendors
  (four time zones, three refund policies), eight products and `n` orders,
  two per customer, each bought a few days before the benchmark's fake clock
  (`START`) with one bill inside every refund window.
- `NewTickets`: new-ticket email to `refund@` or `support@` naming one of
  the sender's orders in the subject, half of them 2 KB text/plain and half
  20 KB multipart/alternative (text + quoted-printable HTML), with the
  headers a receiving MTA adds (`Received`, `Authentication-Results`,
  `DKIM-Signature`). Every message has its own Message-ID, so maildesk's
  dedupe never short-circuits one. A refund request uses an order no earlier
  message used (one open request per order), so it is never refused; half
  the mail asks for support instead, on any of the sender's orders.
- `replies_from(notifications)`: Gmail-style replies to real notifications
  caught from maildesk (to their `Reply-To`, with `In-Reply-To`,
  `References`, an "On … wrote:" attribution and the quoted history in both
  the text and the HTML part), alternating customer and vendor turns on
  each ticket, each turn quoting the one before.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import itertools
import random
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses, parseaddr
from typing import Any

from service.config import DEFAULT_DOMAIN

DOMAIN = DEFAULT_DOMAIN
START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
"""The fake clock's start: Monday 23 November 2026, 14:00 UTC."""

SMALL_BYTES = 2 * 1024
LARGE_BYTES = 20 * 1024
"""New-ticket mail cycles through four kinds in turn: refund@ 2 KB, support@ 2 KB, refund@
20 KB, support@ 20 KB. A refund names an order no earlier message named; when none is left,
support@ takes its turn."""

_VENDORS: tuple[dict[str, Any], ...] = (
    {
        "id": "acme",
        "name": "Acme Software",
        "account_email": "owner@acme.test",
        "support_email": "help@acme.test",
        "agent_emails": ["agent@acme.test"],
        "timezone": "America/New_York",
        "refund_policy": {"category": "within_days", "days": 30},
    },
    {
        "id": "globex",
        "name": "Globex GmbH",
        "account_email": "owner@globex.test",
        "support_email": "support@globex.test",
        "timezone": "Europe/Berlin",
        "refund_policy": {"category": "no_restrictions"},
    },
    {
        "id": "initech",
        "name": "Initech KK",
        "account_email": "owner@initech.test",
        "timezone": "Asia/Tokyo",
        "refund_policy": {"category": "approval_required"},
    },
    {
        "id": "umbrella",
        "name": "Umbrella Apps",
        "account_email": "owner@umbrella.test",
        "support_email": "care@umbrella.test",
        "timezone": "UTC",
    },
)

_SENTENCES = (
    "I bought {product} last week and the download link in the receipt does not work.",
    "When I click it the page says that the link has expired and I should contact the vendor.",
    "The license key {key} is rejected by the installer with an error about the activation.",
    "I tried on two different computers, with the firewall off, and it fails the same way.",
    "My order number is {ref}, it was paid with my credit card on the same day.",
    "Could you please look into it and tell me what I should do next?",
    "I was charged twice for the same order, once on the card and once through PayPal.",
    "The product does not do what the description on the website promised.",
    "In particular the export to PDF is missing, which was the reason I bought it.",
    "I have attached nothing this time, but I can send screenshots if that helps.",
    "Our accounts team needs an invoice with our company address for order {ref}.",
    "Please cancel the renewal, we are moving to another tool at the end of the month.",
    "I would like my money back, as I have not been able to use {product} at all.",
    "The support forum has an old thread about this problem but no answer in it.",
    "I am writing from the address I used to buy it, as your website asked me to.",
    "If a refund is not possible, a working version would be fine as well.",
    "The update that came out yesterday broke the settings page for me.",
    "We run it on a Mac with the latest system, and it worked until the update.",
    "Thank you for your help, I know you get many messages like this one.",
    "It is a bit urgent because I need it for a presentation on Thursday morning.",
    "I have read the refund policy and I think my case falls within it.",
    "My colleague bought the same product and has no such problem.",
    "The error message reads: 'Activation server unreachable (code 0x80072efd)'.",
    "I am not sure whether this is a problem with my account or with the product.",
)

_SIGN_OFFS = ("Best regards,", "Kind regards,", "Thanks,", "Many thanks,", "Cheers,")

_FIRST = ("Jane", "Bob", "Carol", "Dmitri", "Aiko", "Lena", "Omar", "Priya", "Tom", "Zoe")
_LAST = ("Doe", "Builder", "Smith", "Ivanov", "Tanaka", "Schulz", "Haddad", "Patel", "Nguyen")

_REF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class Job:
    """One SMTP transaction: envelope sender, one recipient, and the message bytes."""

    sender: str
    recipient: str
    raw: bytes
    kind: str


@dataclass(frozen=True)
class Customer:
    """One benchmark customer and the orders its mail names."""

    email: str
    name: str
    vendor_id: str
    orders: tuple[str, ...]


@dataclass
class Catalog:
    """An import document and the customers in it, with the orders still free for refunds."""

    document: dict[str, Any]
    customers: list[Customer]
    products: dict[str, str] = field(default_factory=dict)
    _unused_orders: list[tuple[Customer, str]] = field(default_factory=list)

    def take_unused_order(self) -> tuple[Customer, str] | None:
        """An order no message has named yet (for a refund request), or None when none is left."""
        return self._unused_orders.pop() if self._unused_orders else None

    @property
    def unused_orders(self) -> int:
        return len(self._unused_orders)


def make_catalog(orders: int, *, seed: int = 7, approval_vendor: bool = True) -> Catalog:
    """`orders` orders (two per customer) over four vendors, all refundable at `START`.

    With `approval_vendor=False` no vendor requires approval, so every refund
    request gets a processing timer (the scheduler benchmark wants that).
    """
    rng = random.Random(seed)
    vendors = [dict(v) for v in _VENDORS]
    if not approval_vendor:
        for vendor in vendors:
            if vendor.get("refund_policy", {}).get("category") == "approval_required":
                vendor["refund_policy"] = {"category": "no_restrictions"}
    products: list[dict[str, Any]] = []
    for vendor in vendors:
        products.append(
            {
                "sku": f"{vendor['id'].upper()}-APP",
                "vendor": vendor["id"],
                "name": f"{vendor['name'].split()[0]} Studio",
                "kind": "digital",
                "price": "49.00",
                "currency": "EUR" if vendor["id"] == "globex" else "USD",
            }
        )
        products.append(
            {
                "sku": f"{vendor['id'].upper()}-PRO",
                "vendor": vendor["id"],
                "name": f"{vendor['name'].split()[0]} Pro (monthly)",
                "kind": "subscription",
                "price": "19.95",
                "currency": "EUR" if vendor["id"] == "globex" else "USD",
                "interval": "P1M",
            }
        )
    product_names = {p["sku"]: p["name"] for p in products}
    seen: set[str] = set()
    customers: list[Customer] = []
    order_docs: list[dict[str, Any]] = []
    for c in range((orders + 1) // 2):
        vendor = vendors[c % len(vendors)]
        name = f"{_FIRST[c % len(_FIRST)]} {_LAST[(c // len(_FIRST)) % len(_LAST)]}"
        address = f"customer{c:06d}@mail{c % 37}.example.test"
        refs: list[str] = []
        for k in range(2 if 2 * c + 1 < orders else orders - 2 * c):
            ref = _reference(rng, seen)
            refs.append(ref)
            subscription = k == 1 and c % 3 == 0
            sku = f"{vendor['id'].upper()}-{'PRO' if subscription else 'APP'}"
            bought = START - timedelta(days=rng.randint(1, 20), minutes=rng.randint(0, 1439))
            order_docs.append(
                {
                    "reference": ref,
                    "vendor": vendor["id"],
                    "customer": {"email": address, "name": name},
                    "items": [{"sku": sku, "quantity": 1}],
                    "payment_method": "paypal" if c % 5 == 0 else "credit_card",
                    "purchased_at": _iso(bought),
                    "license_key": f"{ref[:4]}-{ref[4:]}-{rng.randint(1000, 9999)}",
                    "download_url": f"https://{vendor['id']}.test/dl/{ref.lower()}",
                    "bills": [
                        {"billed_at": _iso(bought), "amount": "19.95" if subscription else "49.00"}
                    ],
                }
            )
        customers.append(Customer(address, name, vendor["id"], tuple(refs)))
    document = {"vendors": vendors, "products": products, "orders": order_docs}
    unused = [(customer, ref) for customer in customers for ref in customer.orders]
    rng.shuffle(unused)
    return Catalog(document, customers, product_names, unused)


def _reference(rng: random.Random, seen: set[str]) -> str:
    while True:
        ref = "".join(rng.choice(_REF_ALPHABET) for _ in range(8))
        if ref not in seen:
            seen.add(ref)
            return ref


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- new tickets -------------------------------------------------------------


class NewTickets:
    """New-ticket messages on `catalog`'s orders: refunds on unused orders, support on any."""

    def __init__(self, catalog: Catalog, *, seed: int = 11, domain: str = DOMAIN) -> None:
        self.catalog = catalog
        self.domain = domain
        self._rng = random.Random(seed)
        self._support = itertools.cycle(range(len(catalog.customers)))
        self._count = 0

    def make(self, count: int, *, refunds: bool = True, large: bool = True) -> list[Job]:
        """`count` messages; `refunds=False` sends only support@, `large=False` only 2 KB mail."""
        return [self.one(refunds=refunds, large=large) for _ in range(count)]

    def one(self, *, refunds: bool = True, large: bool = True) -> Job:
        n = self._count
        self._count += 1
        is_large = large and (n // 2) % 2 == 1
        picked = self.catalog.take_unused_order() if refunds and n % 2 == 0 else None
        if picked is not None:
            customer, ref = picked
            mailbox = "refund"
        else:
            customer = self.catalog.customers[next(self._support)]
            ref = customer.orders[n % len(customer.orders)]
            mailbox = "support"
        return self._message(customer, ref, mailbox, is_large)

    def _message(self, customer: Customer, ref: str, mailbox: str, large: bool) -> Job:
        rng = self._rng
        product = self.catalog.products.get(f"{customer.vendor_id.upper()}-APP", "the app")
        recipient = f"{mailbox}@{self.domain}"
        subject = (
            f"Refund for order {ref}"
            if mailbox == "refund"
            else rng.choice(
                (
                    f"Question about my order {ref}",
                    f"Download link not working ({ref})",
                    f"{ref}: license key rejected",
                )
            )
        )
        values = {"ref": ref, "product": product, "key": f"{ref[:4]}-{ref[4:]}"}
        message_id = f"<{uuid.uuid4().hex}@mail.example.test>"
        headers = _mta_headers(rng, customer.email, recipient, self.domain)
        headers += [
            ("From", formataddr((customer.name, customer.email))),
            ("To", recipient),
            ("Subject", subject),
            ("Date", format_datetime(START)),
            ("Message-ID", message_id),
            ("MIME-Version", "1.0"),
        ]
        sign_off = f"{rng.choice(_SIGN_OFFS)}\n{customer.name.split()[0]}"
        if not large:
            body = _prose(rng, values, SMALL_BYTES - _size(headers) - 220, sign_off)
            headers += [
                ("Content-Type", 'text/plain; charset="UTF-8"'),
                ("Content-Transfer-Encoding", "7bit"),
            ]
            raw = _assemble(headers, body.replace("\n", "\r\n"))
            return Job(customer.email, recipient, raw, "new-2k")
        boundary = f"000000000000{uuid.uuid4().hex[:16]}"
        headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
        budget = LARGE_BYTES - _size(headers) - 300
        # The quoted-printable HTML part comes out about 1.65 times the size of the text.
        text = _prose(rng, values, int(budget / 2.7), sign_off)
        text_part, html_qp = text.replace("\n", "\r\n"), _qp(_html_of(text))
        while len(text_part) + len(html_qp) < budget:  # top up to the target size
            text = f"{text}\n\n{_prose(rng, values, 150, '').removeprefix('Hello,')}".rstrip()
            text_part, html_qp = text.replace("\n", "\r\n"), _qp(_html_of(text))
        body = "\r\n".join(
            [
                f"--{boundary}",
                'Content-Type: text/plain; charset="UTF-8"',
                "Content-Transfer-Encoding: 7bit",
                "",
                text_part,
                "",
                f"--{boundary}",
                'Content-Type: text/html; charset="UTF-8"',
                "Content-Transfer-Encoding: quoted-printable",
                "",
                html_qp,
                "",
                f"--{boundary}--",
                "",
            ]
        )
        return Job(customer.email, recipient, _assemble(headers, body), "new-20k")


def _mta_headers(
    rng: random.Random, sender: str, recipient: str, domain: str
) -> list[tuple[str, str]]:
    """What a receiving MTA (and the sender's) put on top of a message."""
    sender_domain = sender.rpartition("@")[2]
    queue_id = "".join(rng.choice(_REF_ALPHABET) for _ in range(12))
    when = format_datetime(START)
    signature = base64.b64encode(rng.randbytes(256)).decode()
    body_hash = base64.b64encode(rng.randbytes(32)).decode()
    return [
        (
            "Received",
            f"from smtp-out.{sender_domain} (smtp-out.{sender_domain}"
            f" [203.0.113.{rng.randint(1, 254)}])"
            f"\r\n\tby mx1.{domain} (Postfix) with ESMTPS id {queue_id}"
            f"\r\n\tfor <{recipient}>; {when}",
        ),
        (
            "Received",
            f"by smtp-out.{sender_domain} with SMTP id {queue_id.lower()}; {when}",
        ),
        (
            "Authentication-Results",
            f"mx1.{domain}; dkim=pass header.d={sender_domain} header.s=s1;"
            f"\r\n\tspf=pass smtp.mailfrom={sender}; dmarc=pass header.from={sender_domain}",
        ),
        (
            "DKIM-Signature",
            f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={sender_domain}; s=s1;"
            "\r\n\th=from:to:subject:date:message-id:mime-version;"
            f"\r\n\tbh={body_hash};\r\n\tb={_fold(signature)}",
        ),
    ]


def _fold(value: str, width: int = 70) -> str:
    return "\r\n\t ".join(value[i : i + width] for i in range(0, len(value), width))


def _size(headers: Sequence[tuple[str, str]]) -> int:
    return sum(len(name) + len(value) + 4 for name, value in headers)


def _assemble(headers: Sequence[tuple[str, str]], body: str) -> bytes:
    head = "\r\n".join(f"{name}: {value}" for name, value in headers)
    return f"{head}\r\n\r\n{body}".encode()


def _prose(rng: random.Random, values: dict[str, str], size: int, sign_off: str) -> str:
    """Paragraphs of customer-support prose, about `size` characters, then the sign-off."""
    paragraphs: list[str] = ["Hello,"]
    length = 8
    while length < size:
        sentences = [rng.choice(_SENTENCES).format(**values) for _ in range(rng.randint(2, 4))]
        paragraph = _wrap(" ".join(sentences))
        paragraphs.append(paragraph)
        length += len(paragraph) + 2
    if sign_off:
        paragraphs.append(sign_off)
    return "\n\n".join(paragraphs)


def _wrap(text: str, width: int = 76) -> str:
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _html_of(text: str) -> str:
    """The HTML part a mail client makes of `text`: one styled block per paragraph."""
    style = (
        "font-family:Arial,Helvetica,sans-serif;font-size:small;color:rgb(34,34,34);"
        "line-height:1.4;margin:0px 0px 12px"
    )
    blocks = [
        f'<div style="{style}">' + "<br>".join(_escape(line) for line in p.split("\n")) + "</div>"
        for p in text.split("\n\n")
    ]
    return '<div dir="ltr">\n' + "\n".join(blocks) + "\n</div>\n"


def _qp(text: str) -> str:
    """Quoted-printable UTF-8 with CRLF line ends."""
    encoded = binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii")
    return encoded.replace("\r\n", "\n").replace("\n", "\r\n")


# --- replies -------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """What a reply needs of one caught notification."""

    ticket: int
    party: str  # "c" or "v"
    to_address: str
    to_name: str
    reply_to: str
    message_id: str
    references: str
    subject: str
    from_header: str
    date: str
    text: str
    html: str


_REPLY_LOCAL = re.compile(r"^t(\d+)\.([cv])\.", re.IGNORECASE)


def read_notification(raw: bytes, rcpt: str) -> Notification | None:
    """The parts of a caught notification a reply quotes, or None if it has no reply address."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    reply_to = parseaddr(str(message.get("Reply-To", "")))[1]
    match = _REPLY_LOCAL.match(reply_to)
    if match is None:
        return None
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = text_part.get_content() if isinstance(text_part, EmailMessage) else ""
    html = html_part.get_content() if isinstance(html_part, EmailMessage) else ""
    to_name, to_address = (getaddresses([str(message.get("To", ""))]) or [("", rcpt)])[0]
    return Notification(
        ticket=int(match.group(1)),
        party=match.group(2).lower(),
        to_address=(rcpt or to_address).lower(),
        to_name=to_name,
        reply_to=reply_to,
        message_id=str(message.get("Message-ID", "")),
        references=str(message.get("References", "")),
        subject=str(message.get("Subject", "")),
        from_header=str(message.get("From", "")),
        date=str(message.get("Date", "")),
        text=str(text),
        html=str(html),
    )


_REPLY_TEXTS = {
    "c": (
        "Thanks for the quick answer. I tried what you suggested and it still fails.",
        "Here is more detail: the installer stops at 80% and shows the same error again.",
        "Could you tell me when I can expect the refund to show up on my statement?",
        "That worked, thank you. I will keep the ticket open until tomorrow to be sure.",
        "I still have not received the invoice with the company address on it.",
    ),
    "v": (
        "We have looked at the order and sent a new license key; please try it and tell us.",
        "Sorry for the trouble. A new build is available from the same link since this morning.",
        "Can you confirm which operating system and version you are using?",
        "Our billing team will send the invoice with your company address today.",
        "Could you send us the log file from the installer's folder?",
    ),
}


def replies_from(
    notifications: Sequence[Notification], per_ticket: int, *, seed: int = 13
) -> list[Job]:
    """Replies to the notifications: `per_ticket` turns on every ticket, round by round.

    Turns alternate customer, vendor, customer, …; a party's first turn quotes
    the notification it received, later turns quote the message before them.
    Rounds go over all tickets before the next turn on any one ticket, so the
    16 connections rarely wait on the same ticket.
    """
    rng = random.Random(seed)
    by_ticket: dict[int, dict[str, Notification]] = {}
    for n in notifications:
        by_ticket.setdefault(n.ticket, {})[n.party] = n
    tickets = sorted(t for t, parties in by_ticket.items() if {"c", "v"} <= parties.keys())
    last: dict[int, tuple[str, str, str, str]] = {}  # ticket -> (author line, date, text, html)
    jobs: list[Job] = []
    for turn in range(per_ticket):
        party = "c" if turn % 2 == 0 else "v"
        for ticket in tickets:
            note = by_ticket[ticket][party]
            if ticket in last and turn >= 2:
                author, date, quoted_text, quoted_html = last[ticket]
            else:
                author, date = note.from_header, note.date
                quoted_text, quoted_html = note.text, _inner_html(note.html)
            name = note.to_name or note.to_address.split("@")[0]
            new_text = " ".join(rng.sample(_REPLY_TEXTS[party], 2))
            new_text = f"{_wrap(new_text)}\n\n{rng.choice(_SIGN_OFFS)}\n{name.split()[0]}"
            raw = _reply(note, name, new_text, author, date, quoted_text, quoted_html)
            jobs.append(Job(note.to_address, note.reply_to, raw, "reply"))
            own_author = formataddr((name, note.to_address))
            text_now, html_now = _reply_bodies(new_text, author, date, quoted_text, quoted_html)
            last[ticket] = (own_author, format_datetime(START), text_now, html_now)
    return jobs


def _inner_html(html: str) -> str:
    found = re.search(r"<body[^>]*>(.*)</body>", html, re.DOTALL | re.IGNORECASE)
    return found.group(1) if found else html


def _attribution(author: str, date: str) -> str:
    try:
        moment = email.utils.parsedate_to_datetime(date)
    except (TypeError, ValueError):
        moment = START
    when = moment.strftime("%a, %b %d, %Y at %I:%M %p").replace(" 0", " ")
    return f"On {when} {author} wrote:"


def _reply_bodies(
    new_text: str, author: str, date: str, quoted_text: str, quoted_html: str
) -> tuple[str, str]:
    attribution = _attribution(author, date)
    quoted = "\n".join(f">{' ' if line else ''}{line}" for line in quoted_text.splitlines())
    text = f"{new_text}\n\n{attribution}\n\n{quoted}\n"
    html = (
        '<div dir="ltr">'
        + "<br>".join(_escape(line) for line in new_text.split("\n"))
        + '</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        + _escape(attribution)
        + '<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
        'border-left:1px solid rgb(204,204,204);padding-left:1ex">\n'
        + quoted_html
        + "\n</blockquote></div>\n"
    )
    return text, html


def _reply(
    note: Notification,
    name: str,
    new_text: str,
    author: str,
    date: str,
    quoted_text: str,
    quoted_html: str,
) -> bytes:
    text, html = _reply_bodies(new_text, author, date, quoted_text, quoted_html)
    subject = note.subject if note.subject.lower().startswith("re:") else f"Re: {note.subject}"
    encoded_subject = subject if subject.isascii() else Header(subject, "utf-8").encode()
    boundary = f"000000000000{uuid.uuid4().hex[:16]}"
    sender_domain = note.to_address.rpartition("@")[2]
    references = " ".join(x for x in (note.references, note.message_id) if x)
    headers = [
        (
            "Received",
            f"from smtp-out.{sender_domain} (smtp-out.{sender_domain} [203.0.113.9])"
            f"\r\n\tby mx1.{DOMAIN} (Postfix) with ESMTPS id {uuid.uuid4().hex[:12].upper()}"
            f"\r\n\tfor <{note.reply_to}>; {format_datetime(START)}",
        ),
        (
            "Authentication-Results",
            f"mx1.{DOMAIN}; dkim=pass header.d={sender_domain}; spf=pass"
            f" smtp.mailfrom={note.to_address}; dmarc=pass header.from={sender_domain}",
        ),
        ("MIME-Version", "1.0"),
        ("From", formataddr((name, note.to_address))),
        ("Date", format_datetime(START)),
        ("Message-ID", f"<CA+{uuid.uuid4().hex}@mail.gmail.com>"),
        ("Subject", encoded_subject),
        ("To", note.reply_to),
        ("In-Reply-To", note.message_id),
        ("References", references),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    body = "\r\n".join(
        [
            f"--{boundary}",
            'Content-Type: text/plain; charset="UTF-8"',
            "Content-Transfer-Encoding: quoted-printable",
            "",
            _qp(text),
            f"--{boundary}",
            'Content-Type: text/html; charset="UTF-8"',
            "Content-Transfer-Encoding: quoted-printable",
            "",
            _qp(html),
            f"--{boundary}--",
            "",
        ]
    )
    return _assemble(headers, body)


def cycle(jobs: Sequence[Job]) -> Iterator[Job]:
    """The same messages over and over (for the baselines, which keep nothing)."""
    return itertools.cycle(jobs)
