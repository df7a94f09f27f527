"""Rendering notifications from the templates (SPEC §4)."""

from __future__ import annotations

import copy
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.notifications import TEMPLATE_KINDS
from service.outbound.email_environment import SharedSections
from service.outbound.filters import para
from service.outbound.render import (
    RenderedEmail,
    Renderer,
    RenderError,
    UnknownNotificationKind,
    default_templates_dir,
)
from tests.outbound.samples import (
    ALL_KINDS,
    NO_TICKET_KINDS,
    PARTIES,
    SUBSCRIPTION_KINDS,
    TICKET_KINDS,
    sample_context,
)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def words(text: str) -> str:
    """Text with its wrapping undone, to look for a phrase."""
    return " ".join(text.split())


def render(renderer: Renderer, kind: str, party: str, **changes: Any) -> RenderedEmail:
    context = sample_context(kind, party)
    context.update(changes)
    return renderer.render(kind, context)


class TestTemplates:
    def test_every_notification_kind_of_the_rules_has_templates(self, renderer: Renderer) -> None:
        assert renderer.kinds() == TEMPLATE_KINDS == set(ALL_KINDS)

    def test_default_templates_are_found_from_any_working_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        assert (default_templates_dir() / "email" / "_layout.txt").is_file()
        assert Renderer().render("reply", sample_context("reply", "customer")).text

    def test_unknown_kind_names_the_templates_directory(self, renderer: Renderer) -> None:
        with pytest.raises(UnknownNotificationKind, match=str(renderer.templates_dir)):
            renderer.render("no_such_kind", sample_context("reply", "customer"))

    @pytest.mark.parametrize("kind", ["../secrets", "_layout", "Reply", ""])
    def test_a_kind_is_never_a_path_or_a_layout(self, renderer: Renderer, kind: str) -> None:
        with pytest.raises(UnknownNotificationKind):
            renderer.render(kind, sample_context("reply", "customer"))

    def test_compile_all_compiles_the_shared_pieces_too(self, tmp_path: Path) -> None:
        (tmp_path / "email").mkdir()
        (tmp_path / "email" / "reply.txt").write_text("{% block subject %}Re{% endblock %}")
        (tmp_path / "email" / "reply.html").write_text("<p>fine</p>")
        Renderer(tmp_path).compile_all()
        (tmp_path / "email" / "_layout.html").write_text("<p>{% endif %}</p>")
        with pytest.raises(RenderError, match=r"_layout.html, line 1"):
            Renderer(tmp_path).compile_all()

    def test_check_loads_every_template_up_front(self, renderer: Renderer) -> None:
        renderer.check(sorted(TEMPLATE_KINDS))
        with pytest.raises(UnknownNotificationKind):
            renderer.check(["reply", "no_such_kind"])

    def test_a_missing_context_key_is_an_error_not_a_blank(self, renderer: Renderer) -> None:
        context = sample_context("reply", "customer")
        del context["vendor"]
        with pytest.raises(RenderError, match="vendor"):
            renderer.render("reply", context)

    def test_a_template_with_a_syntax_error_names_its_file_and_line(self, tmp_path: Path) -> None:
        email = tmp_path / "email"
        email.mkdir()
        (email / "reply.txt").write_text("{% block subject %}x{% endblock %}\n{% if %}\n")
        (email / "reply.html").write_text("<p></p>")
        with pytest.raises(RenderError, match=r"reply\.txt, line 2"):
            Renderer(tmp_path).render("reply", sample_context("reply", "vendor"))

    def test_a_context_of_the_wrong_shape_is_a_render_error(self, renderer: Renderer) -> None:
        context = sample_context("reply", "customer")
        context["vendor"] = None
        with pytest.raises(RenderError, match="reply"):
            renderer.render("reply", context)

    def test_override_directory_gets_the_ticket_tag_even_if_its_subject_forgets_it(
        self, tmp_path: Path
    ) -> None:
        email = tmp_path / "email"
        email.mkdir()
        (email / "reply.txt").write_text("{% block subject %}New\nreply{% endblock %}Hi\n")
        (email / "reply.html").write_text("<p>{{ customer_name }}</p>")
        rendered = Renderer(tmp_path).render("reply", sample_context("reply", "vendor"))
        assert rendered.subject == "[#1234] New reply"
        assert rendered.html == "<p>Jane Doe</p>"


@pytest.mark.parametrize("party", PARTIES)
@pytest.mark.parametrize("kind", ALL_KINDS)
class TestEveryKind:
    def test_renders_text_html_and_a_one_line_subject(
        self, renderer: Renderer, kind: str, party: str
    ) -> None:
        rendered = render(renderer, kind, party)
        assert rendered.subject and "\n" not in rendered.subject
        assert rendered.text.strip() and rendered.text.endswith("\n")
        assert rendered.html.lstrip().startswith("<!DOCTYPE html>")
        assert "sent this to" in rendered.text

    def test_subject_is_tagged_with_the_ticket_number(
        self, renderer: Renderer, kind: str, party: str
    ) -> None:
        subject = render(renderer, kind, party).subject
        if kind in TICKET_KINDS:
            assert subject.startswith("[#1234] ")
        else:
            assert "[#" not in subject

    def test_text_part_fits_an_80_column_terminal(
        self, renderer: Renderer, kind: str, party: str
    ) -> None:
        for line in render(renderer, kind, party).text.splitlines():
            assert len(line) <= 80 or "https://" in line, line

    def test_renders_from_the_spec_fields_alone(
        self, renderer: Renderer, kind: str, party: str
    ) -> None:
        context = sample_context(kind, party)
        if context["ticket"]:
            context["ticket"].pop("due_local", None)
            for event in context["ticket"]["events"]:
                event.pop("detail", None)
        order = context["order"]
        order.pop("currency")
        for item in order["items"]:
            item.pop("kind", None)
        if kind not in SUBSCRIPTION_KINDS:  # there the facts are the event itself
            context["facts"] = {}
        assert renderer.render(kind, context).text

    def test_each_party_reads_its_own_copy(self, renderer: Renderer, kind: str, party: str) -> None:
        rendered = render(renderer, kind, party)
        other = "vendor" if party == "customer" else "customer"
        if kind in TICKET_KINDS:
            assert f"/t/1234-{party[0]}-" in rendered.text
            assert f"/t/1234-{other[0]}-" not in rendered.text + rendered.html


@pytest.mark.parametrize("party", PARTIES)
@pytest.mark.parametrize("kind", TICKET_KINDS)
def test_layout_order_why_newest_comment_link_details_order_history(
    renderer: Renderer, kind: str, party: str
) -> None:
    rendered = render(renderer, kind, party)
    context = sample_context(kind, party)
    newest = context["ticket"]["comments"][-1]["text"].splitlines()[0]
    link = context["ticket_url"]
    for body, ticket_heading, order_heading in (
        (rendered.text, "Ticket #1234\n----", "Order Q7K2M9XA\n----"),
        (rendered.html, ">Ticket #1234<", ">Order Q7K2M9XA<"),
    ):
        marks = [
            body.index("Latest comment"),
            body.index(newest),
            body.index(link),
            body.index(ticket_heading),
            body.index(order_heading),
        ]
        if len(context["ticket"]["comments"]) > 1:
            marks.append(body.index("History of ticket #1234"))
            assert body.rindex(newest) > marks[-1]  # the history repeats every comment
        else:  # the only comment is the latest one: no history to repeat it
            assert "History of ticket" not in body and body.count(newest) == 1
        assert marks == sorted(marks), body
        start = max(body.find("<body"), 0)  # past the HTML <title>
        assert "#1234" in body[start : marks[0]]  # why this email was sent comes first


def test_text_part_starts_with_why_it_was_sent(renderer: Renderer) -> None:
    text = render(renderer, "reply", "customer").text
    assert text.startswith("Acme Software replied on ticket #1234")


def test_html_escapes_a_script_in_a_comment(renderer: Renderer) -> None:
    context = sample_context("reply", "vendor")
    context["ticket"]["comments"][-1]["text"] = "<script>alert('x')</script>\nsecond line"
    context["order"]["customer"]["name"] = "<b>Jane</b>"
    rendered = renderer.render("reply", context)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;<br>" in rendered.html
    assert "<b>Jane</b>" not in rendered.html
    assert "<script>alert('x')</script>" in rendered.text  # plain text stays as written


def test_attachments_are_listed(renderer: Renderer) -> None:
    rendered = render(renderer, "ticket_opened", "vendor")
    for body in (rendered.text, rendered.html):
        assert "crash.log (text/plain, 2 KB)" in body


class TestPartyAwareWording:
    def test_customer_has_asked_for_a_refund_and_vendor_hears_the_customer_asked(
        self, renderer: Renderer
    ) -> None:
        customer = words(render(renderer, "ticket_opened", "customer").text)
        assert "You have asked for a refund" in customer
        vendor = words(render(renderer, "ticket_opened", "vendor").text)
        assert "Your customer asked for a refund" in vendor
        assert "save the sale" in vendor

    @pytest.mark.parametrize("waiting_on", ["vendor", "customer"])
    def test_inactivity_warning_tells_the_customer_to_reply_refund(
        self, renderer: Renderer, waiting_on: str
    ) -> None:
        facts = {"waiting_on": waiting_on}
        rendered = render(renderer, "inactivity_warning", "customer", facts=facts)
        assert "#refund" in rendered.text.split("Latest comment")[0]
        assert "<code>#refund</code>" in rendered.html
        assert "refund request" in rendered.text

    def test_inactivity_warning_tells_the_vendor_what_happens_next(
        self, renderer: Renderer
    ) -> None:
        text = render(renderer, "inactivity_warning", "vendor").text
        assert "Your customer Jane Doe is waiting for your answer" in words(text)
        assert "can turn this ticket into a refund request" in words(text)
        assert "another reminder on" in words(text)

    def test_inactivity_warning_physical_goods_mention_19_days(self, renderer: Renderer) -> None:
        context = sample_context("inactivity_warning", "customer")
        context["order"]["items"][0]["kind"] = "physical"
        assert "19 days later" in renderer.render("inactivity_warning", context).text

    def test_each_party_reads_times_in_its_own_zone_which_is_named(
        self, renderer: Renderer
    ) -> None:
        vendor = words(render(renderer, "ticket_opened", "vendor").text)
        customer = words(render(renderer, "ticket_opened", "customer").text)
        # Due 2026-12-04T09:00:00Z: 04:00 in New York, 10:00 at UTC+01:00.
        assert "processed on Fri 4 Dec 2026 04:00 EST (America/New_York)" in vendor
        assert "processed on Fri 4 Dec 2026 10:00 UTC+01:00" in customer
        assert "04:00" not in customer and "10:00 UTC+01:00" not in vendor

    def test_own_reply_is_confirmed_and_the_other_partys_reply_is_announced(
        self, renderer: Renderer
    ) -> None:
        own = render(renderer, "reply", "vendor").subject
        assert own == "[#1234] Your reply was sent — Acme Pro"
        customer = render(renderer, "reply", "customer").subject
        assert customer == "[#1234] Reply from Acme Software — Acme Pro"


class TestCommands:
    """The email lists exactly the actions the funnel found allowed (`allowed_actions`)."""

    def test_the_commands_are_the_allowed_actions(self, renderer: Renderer) -> None:
        context = sample_context("ticket_opened", "customer")
        context["actions"] = ["reply", "close", "change-to-cancelation", "change-to-support"]
        text = renderer.render("ticket_opened", context).text
        for command in ("#close", "#cancel", "#support"):
            assert f"  {command} " in text
        for command in ("#approve", "#refund", "#escalate", "#reply"):
            assert command not in text

    def test_vendor_of_a_refund_waiting_for_approval_is_offered_approve(
        self, renderer: Renderer
    ) -> None:
        context = sample_context("ticket_opened", "vendor")
        context["ticket"].update(due=None, awaiting_approval=True)
        context["actions"] = ["reply", "close", "change-to-support", "approve"]
        rendered = renderer.render("ticket_opened", context)
        assert "  #approve " in rendered.text
        assert "waits for your approval" in rendered.text

    def test_no_actions_no_command_list(self, renderer: Renderer) -> None:
        context = sample_context("ticket_closed", "customer")
        context["actions"] = []
        rendered = renderer.render("ticket_closed", context)
        assert not re.search(r"#(close|refund|cancel|support|approve|escalate)\b", rendered.text)
        assert not re.search(r"<code>#", rendered.html)


class TestWithoutTicket:
    @pytest.mark.parametrize("party", PARTIES)
    def test_request_refused_says_why(self, renderer: Renderer, party: str) -> None:
        rendered = render(renderer, "request_refused", party)
        assert rendered.subject == "Refund request not opened — Acme Pro"
        for body in (rendered.text, rendered.html):
            assert "The refund period of this order ended on 1 Jan 2027." in body
            assert "History of ticket" not in body

    def test_request_refused_without_an_order_gives_the_reasons_advice_once(
        self, renderer: Renderer
    ) -> None:
        reason = "We found no purchase for you. Put the order reference in the subject."
        rendered = render(
            renderer, "request_refused", "customer", order=None, facts={"reason": reason}
        )
        assert words(rendered.text).count("order reference") == 1
        assert "Q7K2M9XA" not in rendered.text + rendered.html

    def test_lookup_result_shows_license_key_and_download_link(self, renderer: Renderer) -> None:
        rendered = render(renderer, "lookup_result", "customer")
        for body in (rendered.text, rendered.html):
            assert "AAAA-BBBB-CCCC" in body
            assert "https://acme.test/dl/1" in body

    def test_lookup_without_an_order_shows_nothing_of_anyone(self, renderer: Renderer) -> None:
        rendered = render(renderer, "lookup_result", "customer", order=None)
        assert rendered.subject == "No purchase found"
        assert "no purchase was found" in rendered.text

    @pytest.mark.parametrize("kind", NO_TICKET_KINDS)
    def test_a_ticket_is_not_needed(self, renderer: Renderer, kind: str) -> None:
        context = copy.deepcopy(sample_context(kind, "customer"))
        assert context["ticket"] is None and context["ticket_url"] is None
        assert renderer.render(kind, context).text


_PROSE = st.lists(
    st.sampled_from(
        [
            "a",
            "to",
            "ticket",
            "x" * 75,
            "y" * 76,
            "z" * 90,
            "a-b-c",
            "\u00e9t\u00e9",
            "https://x.test/" + "p" * 70,
        ]
    )
    | st.sampled_from([" ", "  ", "\n", "\n\n", " \n \n ", "\t", "\xa0"]),
    max_size=60,
).map("".join)


@given(_PROSE)
def test_para_wraps_exactly_like_textwrap(text: str) -> None:
    """`para` replaced `textwrap.fill` for speed; every email must still wrap the same."""
    paragraphs = (" ".join(chunk.split()) for chunk in re.split(r"\n\s*\n", text))
    expected = "\n\n".join(
        textwrap.fill(p, 76, break_long_words=False, break_on_hyphens=False)
        for p in paragraphs
        if p
    )
    assert para(text) == expected


class TestSharedSections:
    """`{% shared %}` sections are rendered once per event and must read the same for everyone."""

    @pytest.mark.parametrize("kind", ALL_KINDS)
    def test_a_copy_reusing_the_other_partys_sections_is_the_copy_rendered_alone(
        self, renderer: Renderer, kind: str
    ) -> None:
        sections: SharedSections = {}
        shared = {
            party: renderer.render(kind, sample_context(kind, party), sections) for party in PARTIES
        }
        assert sections, "the layouts share the order and history sections"
        for party in PARTIES:
            assert shared[party] == renderer.render(kind, sample_context(kind, party))

    def test_a_shared_section_cannot_see_the_recipient(self, tmp_path: Path) -> None:
        templates_sharing(tmp_path, "{{ vendor_name }} for {{ party }}\n")
        with pytest.raises(RenderError, match="party"):
            Renderer(tmp_path).render("reply", sample_context("reply", "vendor"))

    def test_a_broken_shared_section_fails_at_check(self, tmp_path: Path) -> None:
        templates_sharing(tmp_path, "{% if %}\n")
        with pytest.raises(RenderError, match=r"_part\.txt, line 1"):
            Renderer(tmp_path).check(["reply"])


def templates_sharing(folder: Path, section: str) -> None:
    """A template folder whose `reply` text includes `{% shared "email/_part.txt" %}`."""
    email = folder / "email"
    email.mkdir()
    (email / "reply.txt").write_text(
        '{% block subject %}x{% endblock %}{% shared "email/_part.txt" %}\n'
    )
    (email / "reply.html").write_text("<p></p>")
    (email / "_part.txt").write_text(section)


class TestSubscriptionEmails:
    """SPEC §7: the customer's copy carries the self-service link and the open commands."""

    @pytest.mark.parametrize("kind", SUBSCRIPTION_KINDS)
    def test_only_the_customers_copy_has_the_link_and_commands(
        self, renderer: Renderer, kind: str
    ) -> None:
        customer = renderer.render(kind, sample_context(kind, "customer"))
        vendor = renderer.render(kind, sample_context(kind, "vendor"))
        assert "/s/S1001-" in customer.text and "/s/S1001-" in customer.html
        assert "/s/S1001-" not in vendor.text + vendor.html
        assert "#renew" not in vendor.text and "Subscription S1001" in vendor.text

    def test_a_price_rise_lists_accept_and_decline(self, renderer: Renderer) -> None:
        text = renderer.render("price_change", sample_context("price_change", "customer")).text
        assert "#accept" in text and "#decline" in text
        assert "24.95 USD" in text and "only if you accept it" in text

    def test_a_declined_payment_links_the_payment_page(self, renderer: Renderer) -> None:
        email = renderer.render("payment_declined", sample_context("payment_declined", "customer"))
        assert "/s/S1001-AbCdEfGhIjKlMnOpQrSt/payment" in email.text
        assert "the last payment was declined" in email.text

    def test_commands_name_the_item_when_there_are_several(self, renderer: Renderer) -> None:
        context = sample_context("price_change", "customer")
        second = dict(context["subscription"]["items"][0], number=2, name="Acme Cloud")
        context["subscription"]["items"].append(second)
        text = renderer.render("price_change", context).text
        assert "#renew off 1" in text and "item 1 (Acme Pro)" in text
