"""Settings from `MAILDESK_*` variables: the HTTP limits, and errors that name the variable."""

from __future__ import annotations

import pytest

from service.config import ConfigError, HttpLimits, http_limits_from_env


def test_the_http_limits_default_and_come_from_their_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HEADER_TIMEOUT", "KEEP_ALIVE_TIMEOUT", "MAX_CONNECTIONS"):
        monkeypatch.delenv(f"MAILDESK_HTTP_{name}", raising=False)
    assert http_limits_from_env() == HttpLimits(10.0, 5.0, 1000)
    monkeypatch.setenv("MAILDESK_HTTP_HEADER_TIMEOUT", "2.5")
    monkeypatch.setenv("MAILDESK_HTTP_KEEP_ALIVE_TIMEOUT", "1")
    monkeypatch.setenv("MAILDESK_HTTP_MAX_CONNECTIONS", "50")
    assert http_limits_from_env() == HttpLimits(2.5, 1.0, 50)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAILDESK_HTTP_HEADER_TIMEOUT", "soon"),
        ("MAILDESK_HTTP_HEADER_TIMEOUT", "0"),
        ("MAILDESK_HTTP_KEEP_ALIVE_TIMEOUT", "-1"),
        ("MAILDESK_HTTP_MAX_CONNECTIONS", "many"),
        ("MAILDESK_HTTP_MAX_CONNECTIONS", "0"),
    ],
)
def test_a_bad_http_limit_is_an_error_that_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        http_limits_from_env()


def test_the_ehlo_name_is_the_machine_s_dns_name_never_localhost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service import config

    monkeypatch.setattr(config.socket, "getfqdn", lambda: "localhost")
    assert config.default_hostname("support.example.com") == "support.example.com"
    monkeypatch.setattr(config.socket, "getfqdn", lambda: "box.localdomain")
    assert config.default_hostname("support.example.com") == "support.example.com"
    monkeypatch.setattr(config.socket, "getfqdn", lambda: "MX1.Example.com")
    assert config.default_hostname("support.example.com") == "mx1.example.com"
    assert config.Settings(hostname="mx9.example.com").host_name == "mx9.example.com"
