"""`Router`: what mail to each address means, asked again and again for the same addresses."""

from __future__ import annotations

from service.domain.records import Party, TicketType
from service.inbound.route import NewTicket, Router, TicketReply
from service.outbound.addresses import reply_address

DOMAIN = "support.maildesk.test"
SECRET = b"route-secret-0123456789abcdefghij"


def test_an_address_means_the_same_however_often_it_is_routed() -> None:
    router = Router(DOMAIN, SECRET)
    reply = reply_address(SECRET, DOMAIN, 12, "customer")
    for _ in range(3):
        assert router.route(reply) == TicketReply(12, Party.CUSTOMER)
        assert router.route(f"Support@{DOMAIN.upper()}") == NewTicket(TicketType.SUPPORT)
        assert router.route("support@elsewhere.test") is None


def test_a_router_with_another_secret_refuses_what_one_has_accepted() -> None:
    reply = reply_address(SECRET, DOMAIN, 12, "vendor")
    assert Router(DOMAIN, SECRET).route(reply) == TicketReply(12, Party.VENDOR)
    assert Router(DOMAIN, b"another-secret-0123456789abcdefgh").route(reply) is None


def test_a_tampered_reply_address_is_not_ours_even_after_the_genuine_one() -> None:
    router = Router(DOMAIN, SECRET)
    reply = reply_address(SECRET, DOMAIN, 12, "customer")
    assert router.route(reply) is not None
    tampered = reply.replace("t12.", "t13.", 1)
    assert router.route(tampered) is None
