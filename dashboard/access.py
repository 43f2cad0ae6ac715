"""Who may look: loopback is open, anything else needs the token from FINSENT_DASHBOARD_TOKEN.

Streamlit binds every interface when no address is given, so an unknown address counts as
public. A token, once set, is asked for on loopback too: the operator asked for it.
"""

from __future__ import annotations

import hmac
import ipaddress

from pydantic import SecretStr

__all__ = ["AccessError", "check_listen", "is_loopback", "token_matches", "token_required"]

_MIN_TOKEN_CHARS = 12
_PLACEHOLDERS = {"changeme", "change-me", "password", "secret", "token", "finsent"}


class AccessError(ValueError):
    """The dashboard must not start with this host and token."""


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'; False for '', '0.0.0.0' and any other address."""
    if not host:
        return False
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def _value(token: SecretStr | None) -> str:
    # An empty FINSENT_DASHBOARD_TOKEN= counts as unset, never as the password "".
    return token.get_secret_value() if token is not None else ""


def token_required(host: str | None, token: SecretStr | None) -> bool:
    """Whether viewers must enter the token before any page shows."""
    return bool(_value(token)) or not is_loopback(host)


def check_listen(host: str | None, token: SecretStr | None) -> None:
    """Raise AccessError when a non-loopback dashboard would have no usable token."""
    if is_loopback(host):
        return
    value = _value(token)
    if not value:
        raise AccessError(
            f"refusing to listen on {host or 'all interfaces'!r} without a token: "
            "set FINSENT_DASHBOARD_TOKEN (or listen on 127.0.0.1)"
        )
    if len(value) < _MIN_TOKEN_CHARS or value.lower() in _PLACEHOLDERS:
        raise AccessError(
            "FINSENT_DASHBOARD_TOKEN is too weak for a public address: "
            f"use {_MIN_TOKEN_CHARS}+ random characters"
        )


def token_matches(given: str, token: SecretStr | None) -> bool:
    """Constant-time comparison of what the viewer typed with the configured token."""
    expected = _value(token)
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
