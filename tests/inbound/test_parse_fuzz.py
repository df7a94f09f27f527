"""Property tests: no bytes make the inbound parsing layer raise.

Bounded (a few hundred examples each, no deadline) so the file runs in seconds.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from service.adapters.mailparser import scan_mailboxes
from service.inbound.guard import auto_generated_reason, delivery_report, dmarc_failed
from service.inbound.parse import _SIMPLE_MAILBOX, InboundMail, parse_mail
from service.inbound.reply_text import new_text, parse_commands

CHARSETS = [
    "utf-8",
    "UTF-8",
    "us-ascii",
    "iso-8859-1",
    "windows-1252",
    "iso-2022-jp",
    "utf-16",
    "utf-7",
    "x-unknown",
    "unicode_escape",
    "undefined",
    "base64",
    "idna",
    "",
    '"',
]
ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus", ""]
SUBTYPES = [
    "text/plain",
    "text/html",
    "text/plain; format=flowed; delsp=yes",
    "application/octet-stream",
    "application/ms-tnef",
    "image/png",
    "message/rfc822",
    "message/delivery-status",
    "text/rfc822-headers",
    "multipart/alternative",
    "multipart/report; report-type=delivery-status",
    "text",
    "",
]
HEADER_NAMES = [
    "From",
    "To",
    "Subject",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Auto-Submitted",
    "Precedence",
    "Authentication-Results",
    "Content-Disposition",
    "X-Auto-Response-Suppress",
    "List-Id",
]

header_text = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda charset, kind, text: f"=?{charset}?{kind}?{text}?=",
        st.sampled_from(CHARSETS),
        st.sampled_from(["B", "Q", "b", "x"]),
        st.text(alphabet="ABCXYZabcxyz0189+/=_?", max_size=30),
    ),
    st.sampled_from(["<>", "jane@example.test, bob@example.test", '"a@b" <c@d>', "dmarc=fail"]),
)
payload = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda text: text.encode("utf-8", errors="surrogatepass")),
)


@st.composite
def header_lines(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_text), max_size=6))
    raw = "".join(f"{name}: {value}\n" for name, value in lines)
    return raw.encode("utf-8", errors="surrogatepass") + draw(
        st.sampled_from([b"", b"\xff: \xe9\n"])
    )


@st.composite
def mime_part(draw: st.DrawFn, depth: int = 0) -> bytes:
    """A MIME entity with random types, charsets, encodings and (mis)matched boundaries."""
    content_type = draw(st.sampled_from(SUBTYPES))
    charset = draw(st.sampled_from(CHARSETS))
    head = draw(header_lines())
    head += f"Content-Type: {content_type}; charset={charset}\n".encode()
    head += f"Content-Transfer-Encoding: {draw(st.sampled_from(ENCODINGS))}\n".encode()
    if draw(st.booleans()):
        head += b'Content-Disposition: attachment; filename="../' + draw(payload)[:20] + b'"\n'
    if content_type.startswith("multipart") and depth < 3:
        boundary = draw(st.sampled_from(["b", "b", "", '"b"', "--"]))
        head = head.replace(b"charset=", f"boundary={boundary}; charset=".encode(), 1)
        children = draw(st.lists(mime_part(depth + 1), max_size=3))
        body = b"".join(b"--b\n" + child + b"\n" for child in children)
        body += draw(st.sampled_from([b"--b--\n", b"", b"--c--\n"]))
    else:
        body = draw(payload)
    return head + draw(st.sampled_from([b"\n", b"\r\n", b""])) + body


def assert_storable(mail: InboundMail) -> None:
    """Every text the parser returns can be stored as UTF-8 text, NUL-free."""
    texts = [mail.message_id, mail.from_address, mail.from_name, mail.subject, mail.text]
    texts += [mail.html, *mail.in_reply_to, *mail.references, *mail.to_addresses, *mail.defects]
    texts += [a.filename for a in mail.attachments] + [v for pair in mail.headers for v in pair]
    for text in texts:
        assert "\x00" not in text
        text.encode("utf-8")


def check_layer(raw: bytes) -> None:
    mail = parse_mail(raw)
    assert isinstance(mail, InboundMail)
    assert_storable(mail)
    parse_commands(new_text(mail.text))
    auto_generated_reason(mail, "")
    delivery_report(mail)
    dmarc_failed(mail)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_mail_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    check_layer(raw)


@settings(max_examples=300, deadline=None)
@given(mime_part())
def test_parse_mail_never_raises_on_structured_but_broken_mime(raw: bytes) -> None:
    check_layer(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_new_text_and_parse_commands_never_raise_on_any_text(text: str) -> None:
    remaining, _ = parse_commands(new_text(text))
    assert isinstance(remaining, str)


def test_absurd_mime_nesting_falls_back_to_the_raw_text_instead_of_raising() -> None:
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(5000)
    )
    raw = (head + "Content-Type: text/plain\n\ndeep\n").encode()
    check_layer(raw)
    mail = parse_mail(raw)
    assert mail.defects == ("unparseable message (RecursionError); kept its raw text only",)
    assert mail.text.endswith("deep")


_WORD = st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True)
_ATOM = st.from_regex(r"[A-Za-z0-9_+-]{1,6}", fullmatch=True)
_LABEL = st.from_regex(r"[A-Za-z0-9-]{1,6}", fullmatch=True)
_PLAIN_ADDRESS = st.builds(
    "{}@{}".format,
    st.lists(_ATOM, min_size=1, max_size=3).map(".".join),
    st.lists(_LABEL, min_size=2, max_size=4).map(".".join),
)
_PLAIN_MAILBOX = _PLAIN_ADDRESS | st.builds(
    "{} <{}>".format, st.lists(_WORD, min_size=1, max_size=4).map(" ".join), _PLAIN_ADDRESS
)


@settings(max_examples=500, deadline=None)
@given(_PLAIN_MAILBOX | st.text(alphabet='aZ09_+-.@ <>"(),;:\\', max_size=30))
def test_the_plain_mailbox_shortcut_reads_what_mail_parser_reads(value: str) -> None:
    """`parse_mail` skips mail-parser for one plain mailbox: it must be mail-parser's answer."""
    simple = _SIMPLE_MAILBOX.fullmatch(value)
    if simple is None:
        return
    pairs, problems = scan_mailboxes(value)  # what parse_mail does without the shortcut
    assert pairs == [(simple["name"] or "", simple["address"] or simple["bare"])]
    assert problems == []
    mail = parse_mail(f"From: {value}\nTo: {value}\n\nhi\n".encode())
    assert (mail.from_address, mail.from_name) == (pairs[0][1].lower(), pairs[0][0])
    assert mail.to_addresses == (pairs[0][1].lower(),)
