"""Loopback is open; anything else needs a real token."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from finsent.dashboard.access import AccessError, check_listen, is_loopback, token_matches, token_required

STRONG = SecretStr("k3J9-x2LmQ0p-vR7t")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", [None, "", "0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "dashboard.example.com"]
)
def test_everything_else_is_public(host: str | None) -> None:
    assert not is_loopback(host)


def test_loopback_needs_no_token() -> None:
    check_listen("127.0.0.1", None)
    assert not token_required("127.0.0.1", None)
    assert not token_required("127.0.0.1", SecretStr(""))  # FINSENT_DASHBOARD_TOKEN= is unset


@pytest.mark.parametrize("host", [None, "0.0.0.0", "10.0.0.5"])
def test_public_without_token_is_refused(host: str | None) -> None:
    with pytest.raises(AccessError, match="FINSENT_DASHBOARD_TOKEN"):
        check_listen(host, None)
    with pytest.raises(AccessError):
        check_listen(host, SecretStr(""))


@pytest.mark.parametrize("weak", ["changeme", "short", "password"])
def test_public_with_a_weak_token_is_refused(weak: str) -> None:
    with pytest.raises(AccessError, match="too weak"):
        check_listen("0.0.0.0", SecretStr(weak))


def test_public_with_a_token_is_gated() -> None:
    check_listen("0.0.0.0", STRONG)
    assert token_required("0.0.0.0", STRONG)
    assert token_required("127.0.0.1", STRONG)  # a token, once set, is asked for on loopback too


def test_token_comparison() -> None:
    assert token_matches(STRONG.get_secret_value(), STRONG)
    assert not token_matches("k3J9-x2LmQ0p-vR7", STRONG)
    assert not token_matches("", STRONG)
    assert not token_matches("anything", None)
    assert not token_matches("", SecretStr(""))
