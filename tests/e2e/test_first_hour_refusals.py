"""Issue #15, errors and refusals: each refusal written for the door it came through.

"No purchase found" repeats the reference it read (or says there was none)
and gives its advice once: for an email, about the address and the subject;
for the web form, about what was typed; for a vendor's command, about the
command. A lookup that names none of the sender's orders lists them all, to
the sender alone.
"""

from __future__ import annotations

import pytest

from tests.conftest import DOMAIN
from tests.e2e.conftest import Served, text_of
from tests.web.support import post_form

pytestmark = pytest.mark.anyio

REFUND = f"refund@{DOMAIN}"
LOOKUP = f"lookup@{DOMAIN}"
JANE = "jane@example.test"
BOB = "bob@example.test"
STRANGER = "mallory@evil.test"
ACME = "help@acme.test"


def words(mail: object) -> str:
    return " ".join(text_of(mail).split())


async def only_answer_to(served: Served, address: str) -> str:
    (answer,) = await served.mail()
    assert answer.to[0][1] == address
    return words(answer)


async def test_no_purchase_found_repeats_the_reference_it_read_and_advises_once(
    served: Served,
) -> None:
    code, _ = await served.send(BOB, REFUND, "Refund Q7K2M9XA", "I want my money back.")

    assert code == 250
    text = await only_answer_to(served, BOB)
    assert "no purchase for bob@example.test with the order reference Q7K2M9XA" in text
    assert text.count("Write from the email address you bought with") == 1
    assert text.count("order reference from your receipt") == 1
    assert "Jane" not in text  # the order is someone else's: nothing of it is told


async def test_no_purchase_found_without_a_reference_says_none_was_read(served: Served) -> None:
    code, _ = await served.send(STRANGER, REFUND, "Money back please", "It broke.")

    assert code == 250
    text = await only_answer_to(served, STRANGER)
    assert "found no order reference in your message" in text
    assert "the reference in your message" not in text
    assert text.count("order reference from your receipt") == 1


async def test_the_refund_forms_refusal_advises_about_the_form_not_an_email(
    served: Served,
) -> None:
    response = await post_form(
        served.http,
        "/refund",
        "/refund",
        {"email": BOB, "reference": "Q7K2M9XA", "reason": "Duplicate order", "details": ""},
    )

    assert response.status_code == 200
    text = await only_answer_to(served, BOB)
    assert "with the order reference Q7K2M9XA" in text
    assert "you typed" in text and "send the form again" in text
    assert "subject" not in text and "Write from" not in text


async def test_a_vendors_command_naming_no_order_of_its_own_gets_command_advice_once(
    served: Served,
) -> None:
    command = await served.command_address("acme")

    code, _ = await served.send(ACME, command, "refund GLX75DAY", "Refund this.")

    assert code == 250
    (answer,) = await served.mail()
    assert answer.to[0][1] == ACME
    text = words(answer)
    assert "None of your orders has the reference GLX75DAY" in text
    assert text.count('"refund Q7K2M9XA"') == 1
    assert "purchase" not in text  # a vendor bought nothing: no customer's advice
    assert "opened no ticket" in text and answer.subject == "Command not carried out"


async def test_a_lookup_without_a_reference_lists_every_purchase_of_the_sender(
    served: Served,
) -> None:
    code, _ = await served.send(JANE, LOOKUP, "My keys please", "I lost my receipts.")

    assert code == 250
    (answer,) = await served.mail()
    assert answer.to[0][1] == JANE and answer.subject == "Your purchases"
    text = words(answer)
    for reference, key in (("Q7K2M9XA", "ACME-PRO-7Q2K-M9XA"), ("B00K4JNE", "BOOK-4JNE")):
        assert f"Order {reference} from Acme Software" in text and key in text
    assert "https://acme.test/dl/handbook" in text and "https://acme.test/dl/pro" in text
    assert "no purchase" not in text.lower()
    assert "MUG2B0BX" not in text and "Bob" not in text  # only the sender's own


async def test_a_lookup_naming_someone_elses_order_lists_the_senders_own_purchases(
    served: Served,
) -> None:
    code, _ = await served.send(BOB, LOOKUP, "B00K4JNE", "Send me the key.")

    assert code == 250
    text = await only_answer_to(served, BOB)
    assert "naming B00K4JNE, which is not an order bought with bob@example.test" in text
    assert "Order MUG2B0BX from Acme Software" in text
    assert "BOOK-4JNE" not in text and "Jane" not in text


async def test_a_lookup_by_an_address_without_purchases_says_so_once(served: Served) -> None:
    code, _ = await served.send(STRANGER, LOOKUP, "Hello", "Where is my key?")

    assert code == 250
    text = await only_answer_to(served, STRANGER)
    assert "We found no purchases made with mallory@evil.test" in text
    assert text.count("Write from the email address you") == 1


async def test_the_lookup_forms_no_purchase_advises_about_the_form(served: Served) -> None:
    response = await post_form(
        served.http, "/lookup", "/lookup", {"email": BOB, "reference": "Q7K2M9XA"}
    )

    assert response.status_code == 200
    text = await only_answer_to(served, BOB)
    assert "no purchase for bob@example.test with the order reference Q7K2M9XA" in text
    assert "you typed" in text and "subject" not in text
