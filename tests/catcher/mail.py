"""Messages the catcher tests send: one well-formed, one hostile, several malformed."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage

SUBJECT = "Rückerstattung für Bestellung Q7K2M9XA ✓"
TEXT = "Hallo Jane,\nIhre Rückerstattung ist unterwegs. ✓\n"
HTML = "<p>Hallo <b>Jane</b>,</p><p>Ihre Rückerstattung ist unterwegs. ✓</p>"
ATTACHMENT = b"%PDF-1.4\n% a receipt\n"
SENDER = "help@acme.test"
RECIPIENT = "jane@example.test"

HOSTILE = "<script>alert('caught')</script>"


def refund_notice() -> bytes:
    """Text and HTML alternatives, an RFC 2047 subject and a PDF attachment, as sent over SMTP."""
    message = EmailMessage()
    message["From"] = f"Acme Support <{SENDER}>"
    message["To"] = f"Jane Doe <{RECIPIENT}>"
    message["Subject"] = SUBJECT
    message["Date"] = "Mon, 02 Nov 2026 10:00:00 +0000"
    message["Message-ID"] = "<refund-1@acme.test>"
    message.set_content(TEXT)
    message.add_alternative(HTML, subtype="html")
    message.add_attachment(
        ATTACHMENT, maintype="application", subtype="pdf", filename="Quittung-ä.pdf"
    )
    return message.as_bytes(policy=policy.SMTP)


def hostile_message() -> bytes:
    """Script in the subject, the From name, the text, the HTML and an attachment's name."""
    message = EmailMessage()
    message["From"] = f'"{HOSTILE}" <evil@attacker.test>'
    message["To"] = RECIPIENT
    message["Subject"] = f"Hi {HOSTILE}"
    message.set_content(f"text {HOSTILE}")
    message.add_alternative(
        f'<p onclick="steal()">html</p>{HOSTILE}<img src="https://tracker.test/p.gif">',
        subtype="html",
    )
    message.add_attachment(b"x", maintype="text", subtype="plain", filename=f"{HOSTILE}.txt")
    return message.as_bytes(policy=policy.SMTP)


MALFORMED = {
    "multipart_without_boundary": (
        b"From: a@example.test\r\nSubject: no boundary\r\n"
        b"Content-Type: multipart/mixed\r\n\r\nthe body survives\r\n"
    ),
    "boundary_never_found": (
        b"From: a@example.test\r\nSubject: lost boundary\r\n"
        b'Content-Type: multipart/mixed; boundary="expected"\r\n\r\n'
        b"--other\r\nContent-Type: text/plain\r\n\r\nthe body survives\r\n--other--\r\n"
    ),
    "unknown_charset": (
        b"From: a@example.test\r\nSubject: =?x-no-such-charset?q?caf=E9?=\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nthe body survives \xe9\r\n"
    ),
    "raw_8bit_headers": (
        b"From: J\xc3\xa4ne <jane@example.test>\r\nSubject: Gr\xfc\xdfe \xff\r\n\r\n"
        b"the body survives \xff\xfe\r\n"
    ),
    "split_encoded_words": (
        b"From: a@example.test\r\nSubject: =?utf-8?q?R=C3?= =?utf-8?q?=BCck?=\r\n\r\n"
        b"the body survives\r\n"
    ),
    "bad_base64_and_bad_date": (
        b'From: "unterminated <a@example.test\r\nDate: yesterday-ish\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!! not base64 the body survives ===\r\n"
    ),
    "no_headers_at_all": b"the body survives, nothing else\r\n\xff\x00\r\n",
}

GARBLED_BODY = {"bad_base64_and_bad_date"}
"""Malformed cases whose body text is garbled by the (lenient) decoding: read, not legible."""
