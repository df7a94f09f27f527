"""parse_mail: raw bytes to InboundMail, tolerating what real senders produce."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from service.inbound.mail_text import decode_words, html_to_text
from service.inbound.parse import QUICK_PARSE_BYTES, InboundMail, parse_mail, parses_quickly

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mail"


def fixture(name: str) -> InboundMail:
    return parse_mail((FIXTURES / name).read_bytes())


def message(headers: str, body: str | bytes = "Hello\n") -> InboundMail:
    raw = headers.strip("\n").encode("utf-8", errors="surrogateescape") + b"\n\n"
    return parse_mail(raw + (body if isinstance(body, bytes) else body.encode()))


# --- fixtures --------------------------------------------------------------------


def test_plain_refund_request_gives_sender_recipient_subject_and_text() -> None:
    mail = fixture("refund-request.eml")
    assert mail.from_address == "jane@example.test"
    assert mail.from_name == "Jane Doe"
    assert mail.to_addresses == ("refund@support.maildesk.test",)
    assert mail.subject == "Q7K2M9XA refund please"
    assert mail.message_id == "<CAF7x1-refund-1@mail.example.test>"
    assert "I would like a refund, please." in mail.text
    assert mail.text.endswith("Jane Doe — jane@example.test")  # quoted-printable decoded
    assert mail.html == ""
    assert mail.attachments == ()
    assert mail.defects == ()


def test_html_only_mail_becomes_readable_text_with_links_and_without_markdown_escapes() -> None:
    mail = fixture("support-html-only.eml")
    assert mail.html.startswith("<html>")
    assert "The license key for order Q7K2M9XA is not accepted." in mail.text
    assert "[the help page](https://acme.test/help/keys?id=1&lang=en)" in mail.text
    assert '1. It says "invalid key"' in mail.text  # not "1\\."
    assert "Café owner, C:\\Users\\jane\\app_data" in mail.text  # unicode kept, no "\\_"
    assert "Q7K2M9XA" in mail.text and "**" not in mail.text
    assert "tracker" not in mail.text and "<" not in mail.text and "p { margin" not in mail.text


def test_alternative_mail_takes_the_plain_part_as_text_and_keeps_the_html() -> None:
    mail = fixture("reply-gmail.eml")
    assert mail.text.startswith("Yes, please go ahead with the refund.\n\n#refund")
    assert '<div dir="ltr">' in mail.html


def test_only_small_mail_with_a_plain_part_or_no_html_is_parsed_on_the_event_loop() -> None:
    """HTML turned into text costs ~1 ms a KB: HTML-only and big mail go to a worker thread."""
    assert parses_quickly((FIXTURES / "refund-request.eml").read_bytes())
    assert parses_quickly((FIXTURES / "reply-gmail.eml").read_bytes())  # plain and HTML
    assert not parses_quickly((FIXTURES / "support-html-only.eml").read_bytes())
    assert not parses_quickly(b"Content-Type: TEXT/HTML\n\n<p>hi</p>")  # names are any case
    big = b"Subject: long\n\n" + b"plain words\n" * (QUICK_PARSE_BYTES // 12)
    assert len(big) > QUICK_PARSE_BYTES and not parses_quickly(big)


def test_reply_ids_keep_their_angle_brackets_across_folded_references() -> None:
    mail = fixture("reply-gmail.eml")
    assert mail.in_reply_to == ("<notification-12-1@support.maildesk.test>",)
    assert mail.references == (
        "<ticket-12@support.maildesk.test>",
        "<notification-12-1@support.maildesk.test>",
    )


def test_attachments_are_decoded_bytes_with_a_safe_base_name() -> None:
    mail = fixture("attachment.eml")
    assert mail.text == "The invoice for Q7K2M9XA is attached; the VAT number is wrong."
    pdf = mail.attachments[0]
    assert pdf.filename == "invoice Q7K2M9XA.pdf"  # "../../" of the RFC 2231 name dropped
    assert pdf.content_type == "application/pdf"
    assert pdf.payload.startswith(b"%PDF-1.4\n") and pdf.size == len(pdf.payload)


def test_tnef_winmail_dat_is_kept_as_a_plain_attachment() -> None:
    tnef = fixture("attachment.eml").attachments[1]
    assert (tnef.filename, tnef.content_type) == ("winmail.dat", "application/ms-tnef")
    assert tnef.payload.startswith(b"\x78\x9f\x3e\x22")  # the TNEF signature, undecoded


def test_inline_image_without_a_filename_is_not_an_attachment() -> None:
    types = [a.content_type for a in fixture("attachment.eml").attachments]
    assert "image/png" not in types


def test_split_encoded_word_subject_is_rejoined_into_one_character() -> None:
    assert fixture("broken-encoding.eml").subject == (
        "Rückerstattung für Bestellung Q7K2M9XA — bitte"
    )


def test_unknown_body_charset_falls_back_to_windows_1252_with_a_defect() -> None:
    mail = fixture("broken-encoding.eml")
    assert mail.text == "Grüße aus Köln, bitte Rückerstattung für Q7K2M9XA."
    assert any("x-unknown" in defect for defect in mail.defects)


def test_8bit_latin1_display_name_is_read_as_windows_1252() -> None:
    mail = fixture("broken-encoding.eml")
    assert (mail.from_address, mail.from_name) == ("jorg@example.test", "Jörg Müller")


def test_report_parts_are_kept_as_attachments_not_body() -> None:
    mail = fixture("bounce-dsn.eml")
    assert [a.content_type for a in mail.attachments] == [
        "message/delivery-status",
        "message/rfc822",
    ]
    assert "We received your refund request" not in mail.text
    assert b"Action: failed" in mail.attachments[0].payload


# --- headers ---------------------------------------------------------------------


def test_header_lookup_is_case_insensitive_and_keeps_order() -> None:
    mail = message("X-Thing: one\nx-thing: two\nSubject: s")
    assert mail.headers.header("X-THING") == "one"
    assert mail.headers.header_all("x-Thing") == ["one", "two"]
    assert mail.headers.header("Missing") is None
    assert mail.headers.header_all("Missing") == []


def test_header_values_are_unfolded_and_encoded_words_decoded() -> None:
    mail = message("Subject: =?utf-8?q?Caf=C3=A9?=\n\tcontinued\nX-Long: a\n b")
    assert mail.headers.header("Subject") == "Café\tcontinued"
    assert mail.subject == "Café continued"
    assert mail.headers.header("X-Long") == "a b"


def test_raw_utf8_in_headers_is_read_as_utf8() -> None:
    mail = parse_mail("Subject: Rückerstattung\nFrom: Jörg <jorg@example.test>\n\nx".encode())
    assert mail.subject == "Rückerstattung"
    assert mail.from_name == "Jörg"
    assert mail.defects == ()


def test_missing_message_id_is_the_empty_string() -> None:
    assert message("Subject: s").message_id == ""


def test_bare_message_ids_get_their_angle_brackets_back() -> None:
    mail = message("Message-ID: abc@example.test\nIn-Reply-To: x@y.test (Jane's message)")
    assert mail.message_id == "<abc@example.test>"
    assert mail.in_reply_to == ("<x@y.test>",)


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("=?utf-8?B?w6k=?= =?utf-8?B?w6k=?=", "éé"),
        ("=?utf-8?B?4oK=?=\t=?UTF-8?B?rA==?=", "€"),  # one character split across words
        ("=?utf-8?B?4o?= =?utf-8?B?Ks?=", "€"),  # base64 split inside a 4-character group
        ("=?iso-8859-1?q?caf=E9?= =?utf-8?q?!?=", "café!"),  # space between words dropped
        ("Re: =?utf-8?q?hello_world?= again", "Re: hello world again"),
        ("=?utf-8*en?q?lang?=", "lang"),  # RFC 2231 language suffix
        ("=?x-unknown?q?caf=C3=A9?=", "café"),
        ("=?x-unknown?q?caf=E9?=", "café"),
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
        ("no words here", "no words here"),
    ],
)
def test_encoded_words_are_decoded_tolerantly(encoded: str, decoded: str) -> None:
    assert decode_words(encoded) == decoded


def test_encoded_word_with_broken_base64_does_not_raise() -> None:
    assert isinstance(decode_words("=?utf-8?B?!!!not*base64?="), str)
    assert message("Subject: =?utf-8?B?####?= tail").subject.endswith("tail")


def test_unknown_charset_in_an_encoded_word_is_recorded_as_a_defect() -> None:
    mail = message("Subject: =?x-unknown?q?caf=E9?=")
    assert mail.subject == "café"
    assert any("x-unknown" in defect for defect in mail.defects)


# --- the sender ---------------------------------------------------------------------


def test_from_address_is_the_lower_cased_bare_addr_spec() -> None:
    mail = message('From: "Doe, Jane" <Jane.Doe@Example.TEST> (home)')
    assert (mail.from_address, mail.from_name) == ("jane.doe@example.test", "Doe, Jane")


def test_encoded_display_name_is_decoded_but_cannot_forge_the_address() -> None:
    mail = message("From: =?utf-8?q?evil=40evil.test_=3Cx=40y.test=3E?= <jane@example.test>")
    assert mail.from_address == "jane@example.test"
    assert mail.from_name == "evil@evil.test <x@y.test>"


def test_address_looking_display_name_never_becomes_the_sender() -> None:
    assert message("From: jane@example.test <evil@evil.test>").from_address == "evil@evil.test"
    assert message('From: "jane@example.test" <evil@evil.test>').from_address == "evil@evil.test"


def test_address_with_8bit_bytes_that_are_not_utf8_is_never_guessed() -> None:
    mail = parse_mail(b"From: J\xf6rg <j\xf6rg@example.test>\n\nx")
    assert (mail.from_address, mail.from_name) == ("", "")
    assert any("sender left empty" in defect for defect in mail.defects)


def test_utf8_address_is_accepted_as_sent() -> None:
    mail = parse_mail("From: Jörg <Jörg@Exämple.test>\n\nx".encode())
    assert mail.from_address == "jörg@exämple.test"


def test_from_with_two_mailboxes_leaves_the_sender_empty() -> None:
    mail = message("From: jane@example.test, bob@example.test")
    assert mail.from_address == ""
    assert any("2 different mailboxes" in defect for defect in mail.defects)


def test_two_from_headers_naming_different_mailboxes_leave_the_sender_empty() -> None:
    assert message("From: jane@example.test\nFrom: evil@evil.test").from_address == ""


def test_unparseable_from_leaves_the_sender_empty_with_a_defect() -> None:
    for value in ("Jane Doe", "alice@example.test)<bob@example.test>", "<jane@example.test"):
        mail = message(f"From: {value}")
        assert mail.from_address == "", value
        assert mail.defects, value


def test_to_addresses_are_lower_cased_and_deduplicated() -> None:
    mail = message("To: A <Refund@Support.Maildesk.test>, refund@support.maildesk.test, b@x.test")
    assert mail.to_addresses == ("refund@support.maildesk.test", "b@x.test")


# --- bodies ------------------------------------------------------------------------


def test_forwarded_message_is_one_attachment_and_not_part_of_the_text() -> None:
    mail = message(
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nSee below.\n--b\nContent-Type: message/rfc822\n\n"
        "From: old@example.test\nSubject: old\n\nthe old body\n--b--\n",
    )
    assert mail.text == "See below."
    (forwarded,) = mail.attachments
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.filename.endswith(".eml")
    assert forwarded.payload == b"From: old@example.test\nSubject: old\n\nthe old body"


def test_seven_bit_iso_2022_jp_body_is_decoded() -> None:
    mail = message("Content-Type: text/plain; charset=iso-2022-jp", b"\x1b$B$3$s$K$A$O\x1b(B\n")
    assert mail.text == "こんにちは"


def test_base64_body_with_bad_padding_is_decoded_as_far_as_it_goes() -> None:
    body = base64.b64encode("Grüße".encode()).rstrip(b"=") + b"\n"
    mail = message(
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64", body
    )
    assert mail.text == "Grüße"


def test_eight_bit_body_without_charset_is_utf8_when_it_decodes() -> None:
    assert message("Subject: s", "Grüße\n".encode()).text == "Grüße"
    assert message("Subject: s", "Grüße\n".encode("latin-1")).text == "Grüße"


def test_escape_codec_charsets_are_refused() -> None:
    mail = message("Content-Type: text/plain; charset=unicode_escape", b"\\ud800 x\n")
    assert mail.text == "\\ud800 x"
    assert any("refused" in defect for defect in mail.defects)


def test_nul_bytes_never_reach_the_text() -> None:
    mail = message("Subject: a\x00b", b"one\x00two\n")
    assert "\x00" not in mail.text and "\x00" not in mail.subject
    assert mail.text == "one\ufffdtwo"


def test_multipart_without_a_boundary_is_read_as_text() -> None:
    mail = message("Content-Type: multipart/mixed", "just text\n")
    assert mail.text == "just text"
    assert any("NoBoundaryInMultipartDefect" in defect for defect in mail.defects)


def test_missing_closing_boundary_is_tolerated() -> None:
    mail = message(
        'Content-Type: multipart/mixed; boundary="b"', "--b\nContent-Type: text/plain\n\nhi\n"
    )
    assert mail.text == "hi"
    assert any("CloseBoundaryNotFoundDefect" in defect for defect in mail.defects)


def test_crlf_line_endings_are_normalised() -> None:
    raw = (FIXTURES / "reply-outlook.eml").read_bytes().replace(b"\n", b"\r\n")
    mail = parse_mail(raw)
    assert "\r" not in mail.text
    assert mail.subject == "RE: [#1] Reply from Acme Software"
    assert mail.from_address == "jane@example.test"


def test_format_flowed_soft_line_breaks_are_joined() -> None:
    mail = message(
        "Content-Type: text/plain; charset=utf-8; format=flowed; delsp=no",
        "This is one \nparagraph.\n>quoted \n>line\n-- \nsig\n",
    )
    assert mail.text == "This is one paragraph.\n> quoted line\n-- \nsig"


def test_deep_mime_nesting_is_cut_off_without_raising() -> None:
    depth = 60
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth)
    )
    mail = parse_mail((head + "Content-Type: text/plain\n\ndeep\n").encode())
    assert isinstance(mail, InboundMail)
    assert mail.defects


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_an_overlong_parameter_list_in_any_case_and_line_end_is_cut(newline: str) -> None:
    pieces = "".join(f";{newline} filename*{i}=p{i}" for i in range(60))
    raw = newline.join(
        [
            "From: jane@example.test",
            'Content-Type: multipart/mixed; boundary="b"',
            "",
            "--b",
            "Content-Type: text/plain",
            "",
            "see the file",
            "--b",
            "CONTENT-DISPOSITION: attachment" + pieces,
            "Content-Type: application/pdf",
            "",
            "data",
            "--b--",
            "",
        ]
    )
    mail = parse_mail(raw.encode())
    assert mail.text == "see the file"
    (attachment,) = mail.attachments
    assert attachment.filename == "".join(f"p{i}" for i in range(40))
    assert any("only its first 40 parameters" in d for d in mail.defects)


def test_garbage_bytes_fall_back_to_their_text() -> None:
    mail = parse_mail(b"\xff\xfe not a mail at all \x00")
    assert mail.subject == "" and mail.from_address == ""
    assert "not a mail at all" in mail.text


def test_empty_input_is_an_empty_mail() -> None:
    mail = parse_mail(b"")
    assert (mail.text, mail.subject, mail.message_id, mail.attachments) == ("", "", "", ())


def test_non_bytes_input_falls_back_instead_of_raising() -> None:
    mail = parse_mail("Subject: text given\n\nbody")  # type: ignore[arg-type]
    assert "body" in mail.text
    assert mail.defects


def test_html_to_text_drops_table_rules_and_hard_break_spaces() -> None:
    text = html_to_text("<table><tr><td>Order</td><td>Q7K2M9XA</td></tr></table>a<br>b")
    assert "---" not in text
    assert "Q7K2M9XA" in text
    assert all(line == line.rstrip() for line in text.split("\n"))
