"""The rule for where a webhook may go, address by address (`service/outbound/webhook_target.py`).

`tests/reliability/test_webhook_ssrf.py` attacks it through import and the
outbox; this file holds the rule's table, so a gap in it is seen by name.
"""

from __future__ import annotations

import ipaddress

import pytest

from service.config import ConfigError
from service.outbound.webhook_target import (
    AllowList,
    RefusedTarget,
    check_url,
    not_public,
    refusal,
)

NOT_PUBLIC = [
    ("127.0.0.1", "a loopback address"),
    ("127.255.0.9", "a loopback address"),
    ("::1", "a loopback address"),
    ("10.0.0.1", "a private address"),
    ("172.16.5.4", "a private address"),
    ("192.168.1.1", "a private address"),
    ("fc00::1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("169.254.169.254", "a cloud metadata address"),
    ("169.254.170.2", "a cloud metadata address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("100.100.100.200", "a cloud metadata address"),
    ("192.0.0.192", "a cloud metadata address"),
    ("169.254.1.1", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("100.64.0.1", "a carrier-grade NAT address (100.64.0.0/10)"),
    ("100.127.255.254", "a carrier-grade NAT address (100.64.0.0/10)"),
    ("0.0.0.0", "the unspecified address"),
    ("::", "the unspecified address"),
    ("224.0.0.1", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "a reserved address"),
    ("192.0.2.7", "a private address"),  # documentation ranges are not on the internet
    ("192.0.0.8", "not a public address"),  # IETF protocol assignments
    ("192.0.0.170", "a private address"),
]
CARRIED = [  # IPv6 addresses that reach an IPv4 one, judged by it
    ("::ffff:127.0.0.1", "a loopback address"),
    ("::ffff:10.0.0.1", "a private address"),
    ("::ffff:169.254.169.254", "a cloud metadata address"),
    ("64:ff9b::7f00:1", "a loopback address"),  # NAT64
    ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),
    ("2002:7f00:1::", "a loopback address"),  # 6to4
    ("2002:a00:1::", "a private address"),
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize(("address", "reason"), NOT_PUBLIC + CARRIED)
def test_an_address_that_is_not_public_is_refused_with_the_reason(
    address: str, reason: str
) -> None:
    refused = refusal(ipaddress.ip_address(address), "hooks.example.com", AllowList())
    assert refused is not None and refused.reason == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_a_public_address_is_admitted(address: str) -> None:
    assert refusal(ipaddress.ip_address(address), "hooks.example.com", AllowList()) is None


def test_the_allow_list_admits_names_addresses_and_networks() -> None:
    allow = AllowList.parse(" Hooks.Internal. , 127.0.0.1, 10.0.0.0/8 ,[::1],, 192.168.7.9/16")
    assert allow.entries() == ("hooks.internal", "127.0.0.1", "10.0.0.0/8", "::1", "192.168.0.0/16")
    private = ipaddress.ip_address("172.20.0.5")
    assert refusal(private, "HOOKS.internal", allow) is None  # the name, whatever it resolves to
    assert refusal(private, "other.internal", allow) is not None
    assert refusal(private, "sub.hooks.internal", allow) is not None  # exact names only
    for address in ("127.0.0.1", "::ffff:127.0.0.1", "10.200.0.1", "::1", "192.168.250.1"):
        assert refusal(ipaddress.ip_address(address), "x.test", allow) is None, address
    for address in ("127.0.0.2", "172.16.0.1", "169.254.169.254"):
        assert refusal(ipaddress.ip_address(address), "x.test", allow) is not None, address


@pytest.mark.parametrize("entry", ["http://hooks.internal", "hooks internal", "10.0.0.0/33", "*"])
def test_a_malformed_allow_list_entry_names_the_setting_and_an_example(entry: str) -> None:
    with pytest.raises(ConfigError) as error:
        AllowList.parse(f"127.0.0.1,{entry}")
    assert str(error.value).startswith(
        f"MAILDESK_WEBHOOK_ALLOW_HOSTS (--webhook-allow-hosts): {entry!r}"
    )
    assert "e.g. hooks.internal,10.0.0.5,10.0.0.0/8" in str(error.value)


@pytest.mark.parametrize(
    "url", ["http://127.1/", "http://2130706433/", "http://0x7f.0.0.1/", "http://017700000001/"]
)
def test_every_numeric_spelling_of_an_address_is_judged_as_that_address(url: str) -> None:
    with pytest.raises(RefusedTarget) as error:
        check_url(url)
    assert "points at 127.0.0.1, a loopback address" in str(error.value)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http:///hooks", "names no host"),
        ("https://hooks example.com/", "is not a valid host name"),
        ("ftp://hooks.example.com/", "is not an https:// or http:// URL"),
        ("javascript:alert(1)", "is not an https:// or http:// URL"),
        ("https://:pw@hooks.example.com/", "carries a user name or password"),
        ("https://user@hooks.example.com/", "carries a user name or password"),
    ],
)
def test_a_url_that_is_not_an_http_endpoint_is_refused(url: str, why: str) -> None:
    with pytest.raises(RefusedTarget) as error:
        check_url(url)
    assert why in str(error.value)


def test_metadata_addresses_are_never_suggested_for_the_allow_list() -> None:
    with pytest.raises(RefusedTarget) as metadata:
        check_url("http://169.254.169.254/latest/meta-data/")
    assert "MAILDESK_WEBHOOK_ALLOW_HOSTS" not in str(metadata.value)
    with pytest.raises(RefusedTarget) as internal:
        check_url("http://10.0.0.5:8080/hooks")
    assert "admit it with MAILDESK_WEBHOOK_ALLOW_HOSTS=10.0.0.5" in str(internal.value)


def test_a_public_https_url_keeps_its_host_for_the_header_and_the_certificate() -> None:
    target = check_url("https://Bücher.example:8443/hooks?v=1")
    assert target.host == "xn--bcher-kva.example" and target.port == 8443
    assert target.host_header == "xn--bcher-kva.example:8443"
    assert target.extensions() == {"sni_hostname": "xn--bcher-kva.example"}
    address = ipaddress.ip_address("2606:4700:4700::1111")
    assert str(target.url_at(address)) == "https://[2606:4700:4700::1111]:8443/hooks?v=1"
    assert not_public(address) is None
