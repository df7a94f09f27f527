"""new_text and parse_commands: what a reply says, and the commands in it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.actions import Action, command_words
from service.inbound.mail_text import html_to_text
from service.inbound.parse import parse_mail
from service.inbound.reply_text import _HEADER_BLOCK, _header_block, new_text, parse_commands

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mail"

QUOTE = "> Would you like us to refund order Q7K2M9XA?\n>\n> --\n> Acme Software\n"


# --- quoted history ------------------------------------------------------------------


def test_gmail_reply_drops_the_attribution_and_quote() -> None:
    body = f"Yes, please refund it.\n\nOn Mon, 2 Nov 2026 at 10:00, Jane <j@x> wrote:\n{QUOTE}"
    assert new_text(body) == "Yes, please refund it."


def test_gmail_attribution_wrapped_onto_two_lines_is_still_history() -> None:
    body = (
        "Yes, please refund it.\n\nOn Mon, 2 Nov 2026 at 10:00, Acme Software <\n"
        f"reply+t12-c-5e8b1c0f@support.maildesk.test> wrote:\n\n{QUOTE}"
    )
    assert new_text(body) == "Yes, please refund it."


def test_outlook_original_message_block_is_history() -> None:
    body = (
        "I still need help.\n\n-----Original Message-----\nFrom: Acme <help@acme.test>\n"
        "Sent: Monday, November 2, 2026 10:00 AM\nTo: Jane\nSubject: Ticket #12\n\nold text\n"
    )
    assert new_text(body) == "I still need help."


def test_outlook_from_sent_to_subject_block_is_history() -> None:
    body = (
        "I still need help.\n\nFrom: Acme <help@acme.test>\nSent: Monday, November 2, 2026\n"
        "To: Jane <jane@example.test>\nSubject: Ticket #12\n\nold text\n"
    )
    assert new_text(body) == "I still need help."


@pytest.mark.parametrize("gap", ["\r\n\r\n", "\r\n"])
def test_outlook_underscore_separator_and_header_block_are_history(gap: str) -> None:
    body = (
        f"I still need help.{gap}________________________________\r\n"
        "From: Acme <help@acme.test>\r\nSent: Monday, November 2, 2026 10:00 AM\r\n"
        "To: Jane <jane@example.test>\r\nSubject: Ticket #12\r\n\r\nold text\r\n"
    )
    assert new_text(body) == "I still need help."


def test_apple_mail_attribution_is_history() -> None:
    body = f"That worked, thank you!\n\nOn 2 Nov 2026, at 10:00, Jane <j@x> wrote:\n\n{QUOTE}"
    assert new_text(body) == "That worked, thank you!"


def test_iphone_signature_and_quoted_attribution_are_dropped() -> None:
    body = (
        "That worked, thank you!\n\nSent from my iPhone\n\n"
        "> On 2 Nov 2026, at 10:00, Jane <j@x> wrote:\n> \n" + QUOTE
    )
    assert new_text(body) == "That worked, thank you!"


def test_thunderbird_attribution_is_history() -> None:
    body = f"Here is the screenshot.\n\nOn 11/2/26 10:00 AM, Jane wrote:\n{QUOTE}"
    assert new_text(body) == "Here is the screenshot."


def test_german_attribution_is_history() -> None:
    body = f"Danke!\n\nAm 02.11.2026 um 10:00 schrieb Jane Doe <j@x>:\n{QUOTE}"
    assert new_text(body) == "Danke!"


def test_top_posted_text_above_a_quote_without_attribution_is_kept() -> None:
    assert new_text(f"My answer.\n\n{QUOTE}") == "My answer."


def test_bottom_posted_reply_keeps_the_text_under_the_quote() -> None:
    body = f"On Mon, 2 Nov 2026 at 10:00, Jane <j@x> wrote:\n{QUOTE}\nYes please.\n\n-- \nJane"
    assert new_text(body) == "Yes please."


def test_inline_answers_keep_every_unquoted_line() -> None:
    body = (
        "On Mon, 2 Nov 2026 at 10:00, Jane <j@x> wrote:\n"
        "> Which OS?\nmacOS 15\n> Which version?\n3.2\n"
    )
    assert new_text(body) == "macOS 15\n3.2"


def test_a_header_block_just_above_an_attribution_is_where_the_history_starts() -> None:
    body = (
        "I still need help.\n\nFrom: Acme <help@acme.test>\nSent: Monday\n"
        f"On Mon, 2 Nov 2026 at 10:00, Jane <j@x> wrote:\n{QUOTE}"
    )
    assert new_text(body) == "I still need help."


def test_a_header_block_inside_the_quoted_history_does_not_move_the_cut() -> None:
    body = (
        "Yes, please refund it.\n\nOn Mon, 2 Nov 2026 at 10:00, Jane <j@x> wrote:\n"
        "> From: Acme <help@acme.test>\n> Sent: Monday\n> To: Jane\n>\n" + QUOTE
    )
    assert new_text(body) == "Yes, please refund it."


def test_message_that_opens_with_an_outlook_header_block_has_no_new_text() -> None:
    body = "From: Acme <help@acme.test>\nSent: Monday\nTo: Jane\nSubject: x\n\nold text"
    assert new_text(body) == ""


def test_message_that_is_only_a_quote_has_no_new_text() -> None:
    assert new_text("> quoted\n> more\n") == ""


def test_converted_gmail_html_reply_drops_its_blockquote() -> None:
    html = (
        '<div dir="ltr">Yes please</div><br><div class="gmail_quote"><div class="gmail_attr">'
        "On Mon, 2 Nov 2026 at 10:00, Jane &lt;j@x&gt; wrote:<br></div>"
        '<blockquote class="gmail_quote">quoted text<br>more</blockquote></div>'
    )
    assert new_text(html_to_text(html)) == "Yes please"


def test_converted_outlook_web_html_reply_drops_the_rule_and_header_block() -> None:
    html = (
        "<div>I still need help</div><hr><div><b>From:</b> Acme &lt;help@acme.test&gt;<br>"
        "<b>Sent:</b> Monday, November 2, 2026 10:00 AM<br><b>To:</b> Jane<br>"
        "<b>Subject:</b> x</div><div>old</div>"
    )
    assert new_text(html_to_text(html)) == "I still need help"


# --- signatures ---------------------------------------------------------------------


def test_dash_dash_space_line_starts_the_signature() -> None:
    body = "My key does not work.\n\n-- \nJane Doe\nAcme Fan Club\n"
    assert new_text(body) == "My key does not work."


def test_sent_from_my_iphone_is_a_signature() -> None:
    assert new_text("Please refund.\n\nSent from my iPhone") == "Please refund."


def test_sign_off_followed_by_a_name_block_is_a_signature() -> None:
    body = "The installer fails.\n\nKind regards\nJane Doe\nExample Ltd.\n"
    assert new_text(body) == "The installer fails."


def test_sentence_starting_with_thanks_is_not_a_signature() -> None:
    body = "Hi,\n\nThanks, but the key still fails on my laptop. What now?\n\nBest regards,\nJane"
    assert new_text(body) == "Hi,\n\nThanks, but the key still fails on my laptop. What now?"


def test_closing_thanks_with_nothing_under_it_is_kept() -> None:
    assert new_text("Thanks, that worked!") == "Thanks, that worked!"
    assert new_text("Hi,\n\nThanks, that worked!\nJane") == "Hi,\n\nThanks, that worked!\nJane"


def test_bullet_lists_are_not_mistaken_for_signatures() -> None:
    body = "I tried:\n- reinstalling\n- rebooting\n\n-- \nJane"
    assert new_text(body) == "I tried:\n- reinstalling\n- rebooting"


def test_indentation_of_the_new_text_is_kept() -> None:
    body = "The log says:\n    error 0x80070005\n\nOn 11/2/26 10:00 AM, Jane wrote:\n> old\n"
    assert new_text(body) == "The log says:\n    error 0x80070005"


def test_text_without_history_or_signature_is_unchanged() -> None:
    assert new_text("Just one line") == "Just one line"
    assert new_text("") == ""


@pytest.mark.parametrize(
    "body",
    [
        ("On " + "x " * 200 + "\n") * 500,
        ("On " + "x" * 140 + "\n" + "y" * 140 + " wrote: z:\n") * 500,
        "On " + "a" * 200_000,
        "Hi\nThanks,\n" * 50_000,
        "\n" * 200_000,
    ],
    ids=["many-on-lines", "near-attributions", "one-long-line", "many-sign-offs", "blank"],
)
def test_hostile_text_is_handled_in_bounded_time(body: str) -> None:
    # CPU time, not the wall clock: a backtracking pattern burns CPU, while a loaded
    # machine only stretches the wall time of a quick pass (it failed once at load 8).
    started = time.thread_time()
    new_text(body)
    assert time.thread_time() - started < 2.0


# Lines a header block is made of, and lines that come close to one.
_BLOCK_LINES = st.sampled_from(
    [
        "From: Acme <help@acme.test>",
        "> From: Acme",
        "> > Sent: Monday",
        "*From:* Acme",
        "Von: Acme",
        "De : Acme",
        "  : x",
        "Da: Acme",
        "A: Jane",
        "To:",
        "Subject: Ticket #12",
        "-----Original Message-----",
        "----- Original Message -----",
        "-----",
        "From Acme",
        "Sent Monday: yes",
        "re: ticket",
        ">",
        "",
        "plain words",
        "On Mon, Jane wrote:",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(_BLOCK_LINES, st.text(alphabet="FromSent:>-* \nabc", max_size=30))),
    st.data(),
)
def test_header_block_finds_what_a_search_of_the_whole_text_finds(
    lines: list[str], data: st.DataObject
) -> None:
    # The view's lines hold no newline (they are split on it), whatever the text had.
    view = "\n".join(lines).split("\n")
    text = "\n".join(view)
    endpos = data.draw(st.integers(0, len(text)))
    before = data.draw(st.integers(0, len(text) + 1))
    expected = _HEADER_BLOCK.search(text, 0, endpos)
    if expected is not None and expected.start() >= before:
        expected = None
    found = _header_block(view, text, before, endpos)
    assert (found and found.span()) == (expected and expected.span())


# --- the fixtures, end to end ------------------------------------------------------------


def test_gmail_fixture_reply_is_its_sentence_and_a_refund_command() -> None:
    mail = parse_mail((FIXTURES / "reply-gmail.eml").read_bytes())
    assert parse_commands(new_text(mail.text)) == (
        "Yes, please go ahead with the refund.",
        (Action.CHANGE_TO_REFUND,),
    )


def test_outlook_fixture_reply_is_its_sentences_only() -> None:
    mail = parse_mail((FIXTURES / "reply-outlook.eml").read_bytes())
    assert new_text(mail.text) == (
        "I changed my mind, please keep the ticket open. The installer fails with\n"
        "error 0x80070005."
    )


# --- commands ------------------------------------------------------------------------


def test_command_lines_are_removed_and_returned_in_order() -> None:
    text, commands = parse_commands("Please refund.\n#refund\n#ESCALATE\n")
    assert text == "Please refund."
    assert commands == (Action.CHANGE_TO_REFUND, Action.ESCALATE)


@pytest.mark.parametrize("line", ["#close", "#CLOSE", "  #Close  ", "\t#close"])
def test_command_is_recognised_in_any_case_with_surrounding_whitespace(line: str) -> None:
    assert parse_commands(f"Done.\n{line}\nBye") == ("Done.\nBye", (Action.CLOSE,))


@pytest.mark.parametrize(
    "line", ["Please #close this", "#closed", "# close", "#close.", "#close now", "close"]
)
def test_command_word_that_is_not_alone_on_its_line_is_text(line: str) -> None:
    assert parse_commands(line) == (line, ())


def test_every_command_word_is_known() -> None:
    words = ["close", "refund", "cancel", "support", "approve", "escalate"]
    _, commands = parse_commands("\n".join(f"#{word}" for word in words))
    assert command_words(list(commands)) == words


def test_removing_a_command_does_not_leave_a_double_blank_line() -> None:
    text, _ = parse_commands("First.\n\n#close\n\nSecond.")
    assert text == "First.\n\nSecond."


def test_text_that_is_only_commands_leaves_empty_text() -> None:
    assert parse_commands("\n#approve\n") == ("", (Action.APPROVE,))
