"""How a caught message reads as JSON (SPEC §8), including mail that is broken on purpose."""

from __future__ import annotations

import json

import pytest

from service.catcher import Mailbox
from tests.catcher import mail

SPEC_KEYS = {
    "id",
    "from",
    "to",
    "subject",
    "date",
    "message_id",
    "headers",
    "text",
    "html",
    "attachments",
}


def read(raw: bytes) -> dict[str, object]:
    message = Mailbox().add(raw, "bounces@acme.test", [mail.RECIPIENT])
    return message.to_json()


def test_a_well_formed_message_reads_as_the_spec_shape() -> None:
    caught = read(mail.refund_notice())

    assert SPEC_KEYS <= caught.keys()
    assert caught["id"] == 1
    assert caught["from"] == mail.SENDER
    assert caught["to"] == [mail.RECIPIENT]
    assert caught["subject"] == mail.SUBJECT
    assert caught["date"] == "2026-11-02T10:00:00+00:00"
    assert caught["message_id"] == "<refund-1@acme.test>"
    assert caught["text"] == mail.TEXT
    assert caught["html"] == mail.HTML + "\n"
    assert caught["attachments"] == [
        {
            "filename": "Quittung-ä.pdf",
            "content_type": "application/pdf",
            "size": len(mail.ATTACHMENT),
        }
    ]
    assert caught["envelope_from"] == "bounces@acme.test"


def test_headers_are_name_value_pairs_in_order_with_encoded_words_decoded() -> None:
    headers = read(mail.refund_notice())["headers"]

    assert isinstance(headers, list)
    assert headers[:3] == [
        ["From", f"Acme Support <{mail.SENDER}>"],
        ["To", f"Jane Doe <{mail.RECIPIENT}>"],
        ["Subject", mail.SUBJECT],
    ]


def test_the_subject_on_the_wire_was_rfc_2047_encoded() -> None:
    assert b"Subject: =?utf-8?" in mail.refund_notice()


def test_an_attached_message_is_one_attachment_not_its_parts() -> None:
    raw = (
        b"From: a@example.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n"
        b"Subject: inner\r\nContent-Type: text/html\r\n\r\n<p>inner</p>\r\n--b--\r\n"
    )
    caught = read(raw)

    assert caught["text"] == "see attached"
    assert caught["html"] is None
    assert [a["content_type"] for a in caught["attachments"]] == ["message/rfc822"]  # type: ignore[attr-defined,index]


@pytest.mark.parametrize("name", sorted(mail.MALFORMED))
def test_malformed_mail_is_read_without_error_and_keeps_what_text_it_can(name: str) -> None:
    caught = read(mail.MALFORMED[name])

    assert SPEC_KEYS <= caught.keys()
    assert isinstance(caught["text"], str)
    if name not in mail.GARBLED_BODY:
        assert "the body survives" in caught["text"]
    json.dumps(caught, ensure_ascii=False).encode("utf-8")  # no lone surrogates


def test_split_encoded_words_join_into_one_character() -> None:
    assert read(mail.MALFORMED["split_encoded_words"])["subject"] == "Rück"


def test_raw_utf8_in_headers_is_shown_as_text() -> None:
    caught = read(mail.MALFORMED["raw_8bit_headers"])

    assert caught["from"] == "jane@example.test"
    assert ["From", "Jäne <jane@example.test>"] in caught["headers"]  # type: ignore[operator]


def test_an_unreadable_date_is_null_and_a_missing_from_falls_back_to_the_envelope() -> None:
    caught = read(mail.MALFORMED["bad_base64_and_bad_date"])
    assert caught["date"] is None

    assert read(mail.MALFORMED["no_headers_at_all"])["from"] == "bounces@acme.test"


def test_the_senders_display_name_and_reply_to_addresses_are_read() -> None:
    raw = (
        b'From: "Acme Software via maildesk" <support@desk.test>\r\n'
        b"Reply-To: Acme <reply+7-v-abc@desk.test>, second@desk.test\r\n\r\nhi\r\n"
    )
    caught = read(raw)

    assert caught["from"] == "support@desk.test"
    assert caught["from_name"] == "Acme Software via maildesk"
    assert caught["reply_to"] == ["reply+7-v-abc@desk.test", "second@desk.test"]


def test_an_encoded_display_name_is_decoded_and_a_bare_address_has_none() -> None:
    assert read(mail.refund_notice())["from_name"] == "Acme Support"
    assert read(mail.refund_notice())["reply_to"] == []
    assert read(b"From: a@example.test\r\n\r\n")["from_name"] is None
    named = read(b"From: =?utf-8?q?J=C3=A4ne?= <jane@example.test>\r\n\r\n")
    assert named["from_name"] == "Jäne"


@pytest.mark.parametrize("name", sorted(mail.MALFORMED))
def test_malformed_mail_still_reads_a_name_and_reply_to_of_the_right_type(name: str) -> None:
    caught = read(mail.MALFORMED[name])

    assert caught["from_name"] is None or isinstance(caught["from_name"], str)
    assert isinstance(caught["reply_to"], list)
    json.dumps(caught, ensure_ascii=False).encode("utf-8")
