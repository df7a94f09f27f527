"""Text out of mail's encodings: RFC 2047 encoded-words, charsets, HTML, storable strings.

Every function here is total: unknown charsets, broken encodings and hostile
HTML degrade to the text that can be recovered, and a note goes to the
message's `defects` for the operator; nothing raises.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

import html2text

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_QP_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def decode_words(value: str, defects: list[str] | None = None) -> str:
    """Decode the RFC 2047 encoded-words in a header value. Never raises.

    Tolerates what real senders produce: adjacent words of one charset are
    decoded together (a character split across two words comes back whole, so
    does a base64 text split mid-group), unknown or absent charsets are read
    as UTF-8 or windows-1252, bad base64 is decoded as far as it goes, a
    `charset*language` suffix is ignored, and words glued to text are decoded.
    """
    if "=?" not in value:
        return value
    sink = defects if defects is not None else []
    out: list[str] = []
    run: list[tuple[str, str]] = []  # (encoding, encoded text) of one charset
    run_charset = ""
    position = 0

    def flush() -> None:
        if run:
            out.append(decode_bytes(_decode_run(run), run_charset, sink, "encoded-word"))
            run.clear()

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        charset = match.group(1).split("*", 1)[0].lower()
        adjacent = bool(run) and not between.strip(" \t")  # the space between is dropped
        if not (adjacent and charset == run_charset):
            flush()
            if not adjacent:
                out.append(between)
            run_charset = charset
        run.append((match.group(2).lower(), match.group(3)))
        position = match.end()
    flush()
    out.append(value[position:])
    return "".join(out)


def _decode_run(words: list[tuple[str, str]]) -> bytes:
    data = bytearray()
    pending_b64 = ""
    for encoding, text in words:
        if encoding == "b":
            pending_b64 += re.sub(r"[^A-Za-z0-9+/]", "", text)
            if text.rstrip().endswith("=") or len(pending_b64) % 4 == 0:
                data += _b64(pending_b64)
                pending_b64 = ""
        else:
            data += _b64(pending_b64)
            pending_b64 = ""
            raw = text.replace("_", " ").encode("utf-8", errors="surrogateescape")
            data += _QP_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
    return bytes(data + _b64(pending_b64))


def _b64(text: str) -> bytes:
    if len(text) % 4 == 1:  # one stray character cannot carry a byte
        text = text[:-1]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return b""


# --- charsets ---------------------------------------------------------------------

# Python codecs no mail client means, some of which can yield lone surrogates.
_REFUSED_CODECS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined", "mbcs", "oem"}
)


def decode_bytes(data: bytes, charset: str | None, defects: list[str], where: str) -> str:
    """Text from `data` in `charset`; never raises.

    No charset, US-ASCII and unknown or unusable charsets are read as UTF-8 when
    the bytes are valid UTF-8, else as windows-1252. A known charset is decoded
    with replacement characters where the bytes do not fit.
    """
    name = (charset or "").strip().strip('"').lower()
    codec = None
    if name:
        try:
            codec = codecs.lookup(name).name
        except LookupError:
            defects.append(f"unknown charset {name!r} in {where}; read as UTF-8")
    if codec in _REFUSED_CODECS:
        defects.append(f"charset {name!r} refused in {where}; read as UTF-8")
        codec = None
    if codec is None or codec == "ascii":
        try:
            return clean_text(data.decode("utf-8"))
        except UnicodeDecodeError:
            if name and codec != "ascii":
                defects.append(f"{where} is not UTF-8 either; read as windows-1252")
            return clean_text(data.decode("cp1252", errors="replace"))
    try:
        return clean_text(data.decode(codec, errors="replace"))
    except Exception:
        defects.append(f"charset {name!r} failed in {where}; read as UTF-8")
        return clean_text(data.decode("utf-8", errors="replace"))


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text that every store accepts: no NUL (PostgreSQL refuses it), no lone surrogates.

    ASCII text (known at once: CPython records it) holds no surrogate, and a NUL
    is a C-speed `in`; only the rest pays for the regex, which is called for
    every header and body part of every message.
    """
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub("\ufffd", text)


_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")
_TABLE_RULE = re.compile(r"^[\s|:-]*---[\s|:-]*$")


def html_to_text(html: str, defects: list[str] | None = None) -> str:
    """Readable text from an HTML body: links kept as `[text](url)`, no images.

    html2text writes Markdown; its backslash escapes (`1\\.`, `\\-`), hard-break
    spaces and table rules are noise in a ticket comment, so they are removed.
    """
    converter = html2text.HTML2Text(bodywidth=0)
    converter.unicode_snob = True  # keep "é", not "e"
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.single_line_break = True  # Gmail and Outlook put every line in a block
    converter.ul_item_mark = "-"
    try:
        markdown = str(converter.handle(html))
    except Exception as exc:
        if defects is not None:
            defects.append(f"HTML could not be converted ({type(exc).__name__}); tags stripped")
        markdown = re.sub(r"<[^>]*>", " ", html)
    lines = []
    for line in _MARKDOWN_ESCAPE.sub(r"\1", markdown).split("\n"):
        line = line.rstrip().replace("\xa0", " ")
        if not _TABLE_RULE.match(line) or "|" not in line:
            lines.append(line if line.strip() else "")
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    return clean_text(text.strip("\n"))
