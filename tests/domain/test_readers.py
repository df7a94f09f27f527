"""What the domain tells each reader (issue #15): why a date, who wrote, which zone.

The processing reason is answered once, by the rule that sets the time, and
kept with the history entry that scheduled it; comments remember the email
that wrote them; a customer's email sets the zone the customer reads times in.
"""

from __future__ import annotations

from service.domain import machine
from service.domain.events import ChangeType, Open, Reply
from service.domain.policy import (
    ProcessingReason,
    ProcessingRule,
    pending_processing_reason,
    processing,
)
from service.domain.records import Sender
from service.domain.zones import offset_zone_name, reader_zone, zone_info
from tests.domain.builders import (
    CUSTOMER,
    DAY,
    NEW_YORK,
    REFUND,
    SUPPORT,
    TICKET_NUMBER,
    VENDOR,
    accepted,
    act,
    at,
    facts,
    opened,
    order,
    vendor,
)

NY = vendor(tz=NEW_YORK)


def ny(text: str):
    return at(text, NEW_YORK)


# --- why the processing time is what it is -------------------------------------------


def test_a_physical_refund_ending_on_a_saturday_says_19_days_and_the_weekend_moved_it():
    goods = order(kind="physical", billed_at=ny("2026-11-10 07:00"))
    asked = ny("2026-11-23 09:00")  # Monday; 19 days later is Saturday 12 December
    reason = processing(REFUND, goods, NY, CUSTOMER, asked, NY_CALENDAR).reason
    assert reason == ProcessingReason(ProcessingRule.PHYSICAL_GOODS, weekend=True)
    assert processing(REFUND, goods, NY, CUSTOMER, asked, NY_CALENDAR).at == ny("2026-12-14 00:00")


def test_a_physical_refund_ending_on_a_weekday_keeps_its_19_days():
    goods = order(kind="physical", billed_at=ny("2026-11-10 07:00"))
    reason = processing(REFUND, goods, NY, CUSTOMER, ny("2026-11-25 09:00"), NY_CALENDAR).reason
    assert reason == ProcessingReason(ProcessingRule.PHYSICAL_GOODS, weekend=False)


def test_24_weekday_hours_say_so_and_whether_a_weekend_lengthened_them():
    digital = order(billed_at=ny("2026-11-10 07:00"))
    monday = processing(REFUND, digital, NY, CUSTOMER, ny("2026-11-23 09:00"), NY_CALENDAR).reason
    friday = processing(REFUND, digital, NY, CUSTOMER, ny("2026-11-27 15:00"), NY_CALENDAR).reason
    assert monday == ProcessingReason(ProcessingRule.SAVE_THE_SALE, weekend=False)
    assert friday == ProcessingReason(ProcessingRule.SAVE_THE_SALE, weekend=True)


def test_a_vendor_request_and_an_abusing_vendor_name_their_own_rules():
    digital = order(billed_at=ny("2026-11-10 07:00"))
    moment = ny("2026-11-28 09:00")  # a Saturday: neither rule minds
    assert processing(REFUND, digital, NY, VENDOR, moment, NY_CALENDAR).reason.rule is (
        ProcessingRule.VENDOR_REQUEST
    )
    abusing = vendor(tz=NEW_YORK, abusing=True)
    assert processing(REFUND, digital, abusing, CUSTOMER, moment, NY_CALENDAR).reason.rule is (
        ProcessingRule.AT_ONCE
    )


def test_the_reason_is_kept_with_the_entry_that_scheduled_the_processing():
    goods = facts(NY, order(kind="physical", billed_at=ny("2026-11-10 07:00")))
    ticket = opened(REFUND, CUSTOMER, ny("2026-11-23 09:00"), goods)
    assert ticket.history[0].detail == {
        "type": "refund",
        "processing": "physical_goods",
        "processing_weekend": "true",
    }
    assert pending_processing_reason(ticket) == ProcessingReason(
        ProcessingRule.PHYSICAL_GOODS, weekend=True
    )
    # A reply does not move the time, nor its reason; a change to support drops both.
    replied = accepted(ticket, Reply(VENDOR, "Can we help?"), ny("2026-11-23 10:00"), goods)
    assert pending_processing_reason(replied) == pending_processing_reason(ticket)
    saved = accepted(replied, ChangeType(CUSTOMER, SUPPORT), ny("2026-11-23 11:00"), goods)
    assert pending_processing_reason(saved) is None


# --- who wrote a comment, and the customer's zone ------------------------------------


def test_a_comment_remembers_which_address_and_name_wrote_it():
    agent = Sender("agent@acme.test", "Anna Agent", -300)
    ticket = opened(SUPPORT, CUSTOMER, ny("2026-11-23 09:00"), facts(NY))
    answered = accepted(
        ticket, Reply(VENDOR, "On it.", (), agent), ny("2026-11-23 10:00"), facts(NY)
    )
    comment = answered.comments[-1]
    assert (comment.author_email, comment.author_name) == ("agent@acme.test", "Anna Agent")
    # The vendor's Date header says nothing about the customer's zone.
    assert answered.customer_utc_offset is None


def test_each_customer_email_sets_the_zone_the_customer_reads_times_in():
    first = Sender("jane@example.test", "Jane Doe", 60)
    transition = machine.open_ticket(
        TICKET_NUMBER, Open(SUPPORT, CUSTOMER, "Help", (), first), ny("2026-11-23 09:00"), facts(NY)
    )
    assert transition.ticket is not None and transition.ticket.customer_utc_offset == 60
    travelling = Sender("jane@example.test", "Jane Doe", -480)
    later = accepted(
        transition.ticket,
        Reply(CUSTOMER, "Still?", (), travelling),
        ny("2026-11-24 09:00"),
        facts(NY),
    )
    assert later.customer_utc_offset == -480
    # A web form or the API has no Date header: the zone stays as the last email set it.
    web = accepted(later, Reply(CUSTOMER, "From the page."), ny("2026-11-24 10:00"), facts(NY))
    assert web.customer_utc_offset == -480


def test_a_refused_customer_email_changes_no_zone():
    ticket = opened(SUPPORT, CUSTOMER, ny("2026-11-23 09:00"), facts(NY))
    refused = act(
        ticket,
        Reply(CUSTOMER, "  ", (), Sender("jane@example.test", "", 60)),
        ny("2026-11-23 10:00"),
        facts(NY),
    )
    assert not refused.accepted and refused.ticket == ticket


def test_the_customer_reads_its_own_offset_else_the_vendors_zone_and_the_vendor_its_own():
    assert reader_zone(CUSTOMER, NEW_YORK, 60) == "UTC+01:00"
    assert reader_zone(CUSTOMER, NEW_YORK, -330) == "UTC-05:30"
    assert reader_zone(CUSTOMER, NEW_YORK, 0) == "UTC"
    assert reader_zone(CUSTOMER, NEW_YORK, None) == NEW_YORK
    assert reader_zone(CUSTOMER, NEW_YORK, 24 * 60) == NEW_YORK  # no zone is that far
    assert reader_zone(VENDOR, NEW_YORK, 60) == NEW_YORK


def test_offset_zone_names_are_the_zones_they_name():
    moment = ny("2026-11-23 09:00")
    for minutes in (-720, -330, 0, 60, 345, 840):
        name = offset_zone_name(minutes)
        assert moment.astimezone(zone_info(name)).utcoffset() == minutes * (DAY / 1440)


NY_CALENDAR = facts(NY).calendar
