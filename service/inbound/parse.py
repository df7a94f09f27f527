"""Raw inbound mail bytes → `InboundMail`, the values the rest of maildesk reads.

`parse_mail` is the only entry point. It turns whatever arrived over SMTP into
plain values: identifiers, the sender, the subject, the body as text, the
attachments and every header, plus a list of the defects it tolerated on the
way. It must never raise, whatever the bytes: a broken part, an unknown
charset or a malformed header is recorded as a defect and read as well as it
can be; at worst the subject is empty and the text is the raw message decoded
with replacement characters. It never touches the network, the database or
the file system, and it never authorises anything: it reports what the message
says, and the sender's identity it returns is only as good as the headers.

The header reading is here; the MIME parts are `mail_body`'s, and decoding
text (encoded-words, charsets, HTML) is `mail_text`'s.

How the work is split between libraries (each was read, not guessed):

- The MIME tree comes from the stdlib parser with the `compat32` policy, parsed
  once. It is the most tolerant one: it never raises on malformed headers,
  records defects instead, and keeps 8-bit header bytes as surrogate escapes
  so they can be decoded here. (`policy.default` is over ten times slower on
  a small message, and its structured-header parser is where the stdlib's
  crash bugs on malformed input have lived.)
- Address headers go through mail-parser's structural address scanner
  (`mailparser.utils.get_addresses`, through `service.adapters.mailparser`,
  since the package does not export it): it never promotes an address-looking
  display name (`"jane@example.test" <evil@evil.test>` is evil's mail) and
  refuses ambiguous items, which matters because `From` decides who may act.
  The rest of `mailparser.parse_from_bytes` is not used: it merges the body of
  an attached (forwarded) message into the text, returns ISO-2022-JP and other
  7-bit charsets undecoded, drops undecodable header bytes silently, and
  spends most of its time on `Received` and `Date` analysis we do not need.
- The stdlib parser compiles a regex for each multipart boundary (~85 us a
  message) and searches every position of a part for its last line end
  (~78 us); `service.adapters.feedparser` gives it a matcher and a search
  that answer the same without either (installed when this module is
  imported).
- RFC 2047 encoded-words are decoded here, because `email.header.decode_header`
  raises on a bad base64 word, fails on `charset*lang`, and cannot rejoin a
  base64 text that a sender split in the middle of a 4-character group.
- HTML-only mail is turned into text with html2text, then its Markdown escapes
  and hard-break spaces are taken out again.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import compat32

from service.adapters import feedparser
from service.adapters.mailparser import scan_mailboxes
from service.domain.mailbox import is_addr_spec
from service.inbound.mail_body import MAX_PARTS, InboundAttachment, MimeBody
from service.inbound.mail_text import clean_text, decode_words, html_to_text
from service.tracing import traced

feedparser.install()  # multipart boundaries without a regex compiled per message

__all__ = ["Headers", "InboundAttachment", "InboundMail", "parse_mail", "parses_quickly"]

# Limits on what is read of a message, each far beyond real mail and each there because
# the unlimited reading took seconds to minutes on one 10 MB message. What is not read
# is still in the raw message, which the intake keeps.
_MAX_PARAMETERS = 40  # of a Content-Type or Content-Disposition (RFC 2231 pieces included)
_MAX_PARAMETER_BYTES = 8192  # of the same headers, unfolded
_MAX_THREAD_IDS = 50  # message ids read from In-Reply-To and from References
_MAX_ADDRESS_TEXT = 32_768  # characters of a To header read; a longer From names nobody


@dataclass(frozen=True)
class Headers:
    """Every header of the message, in order, with case-insensitive lookup.

    Values are unfolded, 8-bit bytes are decoded (UTF-8, else windows-1252) and
    RFC 2047 encoded-words are decoded: they are for reading, not for re-parsing
    address structure (use `InboundMail.from_address` for that).
    """

    items: tuple[tuple[str, str], ...] = ()
    _by_name: dict[str, list[str]] = dataclasses.field(init=False, repr=False, compare=False)
    """Lower-case name to its values, top-most first: the intake's checks ask for a dozen
    headers a message, and a scan of every header for each was ~50 us of a message."""

    def __post_init__(self) -> None:
        by_name: dict[str, list[str]] = {}
        for key, value in self.items:
            by_name.setdefault(key.lower(), []).append(value)
        object.__setattr__(self, "_by_name", by_name)

    def header(self, name: str) -> str | None:
        """The first (top-most) value of header `name`, or None when absent."""
        values = self._by_name.get(name.lower())
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        """Every value of header `name`, top-most first."""
        return list(self._by_name.get(name.lower(), ()))

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items)


@dataclass(frozen=True)
class InboundMail:
    """What one inbound message says, as plain values. See `parse_mail`."""

    message_id: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_address: str
    from_name: str
    to_addresses: tuple[str, ...]
    subject: str
    text: str
    html: str
    attachments: tuple[InboundAttachment, ...]
    headers: Headers
    defects: tuple[str, ...]


QUICK_PARSE_BYTES = 32 * 1024
"""Up to this size a message with a plain-text body parses in about a millisecond or less."""


def parses_quickly(raw: bytes) -> bool:
    """Whether `parse_mail(raw)` is sure to be quick enough to run on the event loop.

    A worker thread does not make parsing cheaper or parallel (the GIL), it
    only lets the loop run between the thread's 5 ms turns, and the hop costs
    ~90 us of CPU, a twentieth of what a whole message costs maildesk. Worth
    it only where parsing can take long: a big message, or HTML that has to
    be turned into text (no text/plain part: ~1 ms a KB with html2text).
    """
    if len(raw) > QUICK_PARSE_BYTES:
        return False
    lowered = raw.lower()
    return b"text/html" not in lowered or b"text/plain" in lowered


@traced("parse_mail (on the loop, or a worker thread when big or HTML-only)")
def parse_mail(raw: bytes) -> InboundMail:
    """Parse one raw RFC 5322 message. Never raises.

    - `message_id`: the first `<…>` of `Message-ID` ("" when there is none).
    - `in_reply_to`, `references`: message ids with their angle brackets.
    - `from_address`: the lower-cased addr-spec of the single mailbox in the
      single `From` header; "" when it cannot be read or is ambiguous (several
      mailboxes, several `From` headers naming different ones, bytes that are
      not UTF-8 inside the address).
    - `to_addresses`: the lower-cased addresses of `To` (not `Cc`).
    - `text`: the text/plain body parts joined; for HTML-only mail, the HTML
      turned into readable text. Parts inside an attached message are not body.
    - `attachments`: every other leaf part, including forwarded messages
      (`message/rfc822`) and report parts; inline images without a file name
      are skipped; file names are reduced to a safe base name.
    """
    defects: list[str] = []
    try:
        return _parse(bytes(raw), defects)
    except Exception as exc:
        defects.append(f"unparseable message ({type(exc).__name__}); kept its raw text only")
        return _raw_fallback(raw, defects)


def _raw_fallback(raw: object, defects: list[str]) -> InboundMail:
    if isinstance(raw, bytes | bytearray | memoryview):
        text = bytes(raw).decode("utf-8", errors="replace")
    else:
        text = raw if isinstance(raw, str) else ""
    return InboundMail(
        message_id="",
        in_reply_to=(),
        references=(),
        from_address="",
        from_name="",
        to_addresses=(),
        subject="",
        text=clean_text(text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")),
        html="",
        attachments=(),
        headers=Headers(),
        defects=tuple(defects),
    )


def _parse(raw: bytes, defects: list[str]) -> InboundMail:
    message = BytesParser(policy=compat32).parsebytes(_bound_parameters(raw, defects))

    # Header values once: unfolded and 8-bit-decoded (for structure), then
    # encoded-words decoded (for reading).
    structural: list[tuple[str, str]] = []
    readable: list[tuple[str, str]] = []
    guessed_from = False  # a From header whose 8-bit bytes were not UTF-8
    for name, value in message.raw_items():
        name_text = clean_text(_text_from_8bit(str(name), defects, "header name")[0].strip())
        value_text, guessed = _text_from_8bit(_unfold(str(value)), defects, f"{name_text} header")
        value_text = clean_text(value_text)
        guessed_from = guessed_from or (guessed and name_text.lower() == "from")
        structural.append((name_text, value_text))
        readable.append((name_text, decode_words(value_text, defects)))
    headers = Headers(tuple(readable))

    from_address, from_name = _sender(structural, defects, ascii_only=guessed_from)
    body = MimeBody(defects)
    body.visit(message, 0)
    if body.leaves > MAX_PARTS:
        defects.append(f"{body.leaves:,} parts; those after the first {MAX_PARTS} were not read")

    text = "\n".join(body.plain).strip("\n")
    html = "\n".join(body.html)
    if not text.strip() and html.strip():
        text = html_to_text(html, defects)

    return InboundMail(
        message_id=_first_id(_first(structural, "message-id")),
        in_reply_to=_thread_ids(_first(structural, "in-reply-to"), defects, "In-Reply-To"),
        references=_thread_ids(_first(structural, "references"), defects, "References"),
        from_address=from_address,
        from_name=from_name,
        to_addresses=_addresses(_all(structural, "to"), defects, "To"),
        subject=" ".join((headers.header("Subject") or "").split()),
        text=text,
        html=html,
        attachments=tuple(body.attachments),
        headers=headers,
        defects=tuple(dict.fromkeys(defects)),
    )


# --- headers -----------------------------------------------------------------

# A Content-Type or Content-Disposition field anywhere in the message (any part, any line
# end), with its continuation lines.
_PARAMETRISED_FIELD = re.compile(
    rb"(?<![^\r\n])content-(?:type|disposition)[ \t]*:(?:[^\r\n]|(?:\r\n|\r|\n)[ \t])*",
    re.IGNORECASE,
)
_FOLD = re.compile(rb"(?:\r\n|\r|\n)(?=[ \t])")
_QUICK_FIELDS = 200  # "content-" occurrences looked at one by one (a few per MIME part)


def _bound_parameters(raw: bytes, defects: list[str]) -> bytes:
    """`raw` with every Content-Type and Content-Disposition cut to its first parameters.

    The stdlib splits parameters (for the boundary, the charset, the file name) by
    slicing the rest of the header again for each one: the cost grows with the square
    of the header's length, and a 5 MB Content-Type held the parser for minutes. Only
    the copy that is parsed is cut; a header this long is an attack, not a file name.
    """

    def bound(field: re.Match[bytes]) -> bytes:
        text = field.group(0)
        if len(text) <= _MAX_PARAMETER_BYTES and text.count(b";") <= _MAX_PARAMETERS:
            return text
        # Unfolding drops at most two bytes of every three: the start is enough.
        name, _, value = _FOLD.sub(b"", text[: 3 * _MAX_PARAMETER_BYTES]).partition(b":")
        kept = b";".join(value.split(b";", _MAX_PARAMETERS + 1)[: _MAX_PARAMETERS + 1])
        defects.append(
            f"{name.decode('ascii', 'replace')} header of {len(text):,} bytes: only its first "
            f"{_MAX_PARAMETERS} parameters within {_MAX_PARAMETER_BYTES:,} bytes were read"
        )
        return name + b":" + kept[:_MAX_PARAMETER_BYTES]

    fields = _parametrised_fields(raw)
    if fields is None:
        return _PARAMETRISED_FIELD.sub(bound, raw)
    pieces: list[bytes] = []
    position = 0
    for field in fields:
        pieces += [raw[position : field.start()], bound(field)]
        position = field.end()
    return b"".join([*pieces, raw[position:]]) if pieces else raw


def _parametrised_fields(raw: bytes) -> list[re.Match[bytes]] | None:
    """What `_PARAMETRISED_FIELD.finditer(raw)` finds, found in microseconds, or None.

    The pattern's look-behind makes a scan test every byte: 0.3 ms of a 13 KB
    reply, as much as parsing it. A field starts where "content-" does, which
    `bytes.find` finds at once in a lower-cased copy (ASCII case folding, as the
    pattern's); there the pattern itself decides. Matches cannot overlap (inside
    one, every line break is followed by a space or tab), so these are exactly
    the matches of the scan. None when there are more than `_QUICK_FIELDS`
    places to look (hostile input), where the scan is the faster way.
    """
    lowered = raw.lower()
    if lowered.count(b"content-") > _QUICK_FIELDS:
        return None
    found: list[re.Match[bytes]] = []
    position = lowered.find(b"content-")
    while position >= 0:
        field = _PARAMETRISED_FIELD.match(raw, position)
        if field is not None:
            found.append(field)
        position = lowered.find(b"content-", position + 1)
    return found


def _first(items: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in items if key.lower() == name), "")


def _all(items: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in items if key.lower() == name]


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", " ").replace("\n", " ")


def _text_from_8bit(value: str, defects: list[str], where: str) -> tuple[str, bool]:
    """Header text with its raw 8-bit bytes (kept as surrogates) decoded, and whether
    they had to be guessed (not UTF-8, so read as windows-1252)."""
    if value.isascii():
        return value, False
    data = value.encode("utf-8", errors="surrogateescape")
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        defects.append(f"8-bit {where} is not UTF-8; read as windows-1252")
        return data.decode("cp1252", errors="replace"), True


_ID = re.compile(r"<([^<>\s]+)>")


def _ids(value: str) -> tuple[str, ...]:
    """Message ids in `value`; bare `local@domain` tokens get their brackets back."""
    found = [f"<{token}>" for token in _ID.findall(value)]
    if not found:
        found = [f"<{token.strip('<>')}>" for token in value.split() if "@" in token]
    return tuple(dict.fromkeys(found))


def _thread_ids(value: str, defects: list[str], header: str) -> tuple[str, ...]:
    """The ids of In-Reply-To or References, at most `_MAX_THREAD_IDS` of them.

    Each id is looked up when a reply is matched to its ticket, so a header of a
    hundred thousand ids was a hundred thousand queries. References lists the
    thread root first and the message answered last; both ends are kept.
    """
    ids = _ids(value)
    if len(ids) <= _MAX_THREAD_IDS:
        return ids
    defects.append(f"{header} names {len(ids)} messages; only the first and the last were read")
    return ids[:1] + ids[1 - _MAX_THREAD_IDS :]


def _first_id(value: str) -> str:
    ids = _ids(value)
    return ids[0] if ids else ""


def _addresses(values: list[str], defects: list[str], header: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(address for address, _ in _mailboxes(values, defects, header)))


# A header value that is one plain mailbox: a dot-atom address, bare or after a name of
# plain words. Most From and To headers are; nothing in it is ambiguous (no quotes,
# comments, encoded words, lists, or "@" outside the address).
_PLAIN_ADDRESS = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_SIMPLE_MAILBOX = re.compile(
    rf"(?P<name>[A-Za-z0-9]+(?: [A-Za-z0-9]+)*) <(?P<address>{_PLAIN_ADDRESS})>"
    rf"|(?P<bare>{_PLAIN_ADDRESS})"
)


def _mailboxes(values: list[str], defects: list[str], header: str) -> list[tuple[str, str]]:
    """(lower-cased address, display name) of every readable mailbox in `values`.

    mail-parser's scanner reads every value but the plainest, which it would
    return unchanged: it costs 80 µs a header, and From and To are read for
    every message. A test holds the shortcut to the scanner's answer.
    """
    found: list[tuple[str, str]] = []
    for value in values:
        if len(value) > _MAX_ADDRESS_TEXT:
            defects.append(f"{header} header over {_MAX_ADDRESS_TEXT:,} characters; its start read")
            value = value[:_MAX_ADDRESS_TEXT].rpartition(",")[0]
        simple = _SIMPLE_MAILBOX.fullmatch(value)
        if simple is not None:  # what the scanner returns for it, without problems
            found.append(((simple["address"] or simple["bare"]).lower(), simple["name"] or ""))
            continue
        try:
            pairs, problems = scan_mailboxes(value)
        except Exception as exc:
            defects.append(f"{header} header could not be parsed ({type(exc).__name__})")
            continue
        for problem in problems:
            defects.append(f"{header} header: {problem}")
        for name, address in pairs:
            address = str(address).strip().lower()
            if is_addr_spec(address):
                # A display name is one line: an encoded line break must not become one.
                name = " ".join(clean_text(decode_words(str(name), defects)).split())
                found.append((address, name))
    return found


def _sender(
    structural: list[tuple[str, str]], defects: list[str], *, ascii_only: bool
) -> tuple[str, str]:
    """The one mailbox `From` names, or ("", "") when there is not exactly one.

    With `ascii_only` (the header's 8-bit bytes were not UTF-8, so they were
    guessed) an address holding non-ASCII characters is refused: identity is
    never guessed.
    """
    values = _all(structural, "from")
    if any(len(value) > _MAX_ADDRESS_TEXT for value in values):
        defects.append("From header too long to name one sender; sender left empty")
        return "", ""
    mailboxes = _mailboxes(values, defects, "From")
    if ascii_only and any(not address.isascii() for address, _ in mailboxes):
        defects.append("From address has 8-bit bytes that are not UTF-8; sender left empty")
        return "", ""
    addresses = {address for address, _ in mailboxes}
    if len(addresses) > 1:
        defects.append(f"From names {len(addresses)} different mailboxes; sender left empty")
        return "", ""
    if not mailboxes:
        if values:
            defects.append("From has no readable address")
        return "", ""
    return mailboxes[0]
