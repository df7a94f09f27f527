"""Permanent links (SPEC §7): their secrets, and reading a link back."""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterator

import pytest

from service.outbound import permanent_links
from service.outbound.permanent_links import (
    SECRET,
    new_secret,
    new_secrets,
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


def test_a_byte_is_one_character_unless_it_would_bias_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte b is character b % 62; the bytes from 248 up (which would favour the first eight
    characters) are skipped, and more are drawn until there are twenty characters."""
    draws: Iterator[bytes] = iter([bytes(range(240, 256)) + bytes([250] * 24), bytes(range(40))])
    monkeypatch.setattr(permanent_links.secrets, "token_bytes", lambda n: next(draws))
    alphabet = string.ascii_letters + string.digits
    kept = [alphabet[b % 62] for b in range(240, 248)] + list(alphabet[:12])
    assert new_secret() == "".join(kept)


def test_secrets_made_together_are_as_random_as_those_made_one_by_one() -> None:
    secrets = new_secrets(3000)
    assert len(secrets) == 3000
    assert all(len(s) == 20 and SECRET.fullmatch(s) for s in secrets)
    assert len(set(secrets)) == len(secrets)
    seen = Counter("".join(secrets))
    assert len(seen) == 62
    assert max(seen.values()) < 1.5 * min(seen.values())
    assert new_secrets(0) == []


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
