"""Permanent links (SPEC §7): their secrets, and reading a link back."""

from __future__ import annotations

from collections import Counter

from service.outbound.permanent_links import (
    SECRET,
    new_secret,
    purchase_token,
    purchase_url,
    subscription_token,
    subscription_url,
)


def test_a_new_secret_is_twenty_letters_and_digits_all_of_them_used() -> None:
    secrets = [new_secret() for _ in range(3000)]
    assert all(len(s) == 20 and SECRET.fullmatch(s) for s in secrets)
    assert len(set(secrets)) == len(secrets)
    seen = Counter("".join(secrets))
    assert len(seen) == 62  # every character of the alphabet, none favoured much
    assert max(seen.values()) < 2 * min(seen.values())


def test_links_read_back_to_what_they_name() -> None:
    url = subscription_url("https://d.test/", "S1001", "AbCdEfGh12", 3)
    assert url == "https://d.test/s/S1001-AbCdEfGh12-3"
    token = subscription_token(url.rsplit("/", 1)[1])
    assert token is not None and (token.id, token.secret, token.item) == ("S1001", "AbCdEfGh12", 3)
    assert subscription_token("S1001-short") is None
    assert subscription_token("S1001-AbCdEfGh12-0") is None
    page = purchase_url("https://d.test", "ORDER-7", "AbCdEfGh12")
    parsed = purchase_token(page.rsplit("/", 1)[1])
    assert parsed is not None and (parsed.id, parsed.secret) == ("ORDER-7", "AbCdEfGh12")
