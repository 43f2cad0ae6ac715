"""HTTP receivers: Slack webhooks per receiver, generic webhooks (Alertmanager's webhook_config JSON, optionally
signed) and an existing Alertmanager (POST /api/v2/alerts). URLs are secrets: looked up when sending, never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from finsent.alerts.errors import PermanentDeliveryError, TransientDeliveryError

__all__ = ["HttpNotifier", "SIGNATURE_HEADER", "Target", "post", "signature"]

# The body's HMAC-SHA256 under the receiver's secret, hex: "sha256=<hex>" (GitHub's convention).
SIGNATURE_HEADER = "X-Finsent-Signature"


class Target(Protocol):
    """What HttpNotifier needs of an integration (dispatch.Integration)."""

    url: SecretStr | None
    secret: SecretStr | None


def signature(secret: SecretStr, body: bytes) -> str:
    """The value of the signature header for ``body``."""
    return "sha256=" + hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()


def post(
    client: httpx.Client,
    url: SecretStr,
    body: bytes,
    *,
    name: str,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    ok: Callable[[int], bool] = lambda status: 200 <= status < 300,
) -> None:
    """POST JSON bytes; 429/5xx and network errors are transient, other refusals permanent; the URL never shows."""
    secret_url = url.get_secret_value()

    def scrub(text: str) -> str:
        return text.replace(secret_url, "<url>")

    try:
        response = client.post(
            secret_url, content=body, headers={"Content-Type": "application/json", **(headers or {})}, timeout=timeout_s
        )
    except httpx.TransportError as exc:  # connect refused, reset, timeout
        raise TransientDeliveryError(f"{name} unreachable: {type(exc).__name__}: {scrub(str(exc))}") from None
    if ok(response.status_code):
        return
    detail = scrub(response.text[:200])
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = response.headers.get("Retry-After")
        raise TransientDeliveryError(
            f"{name} answered {response.status_code}: {detail}",
            retry_after_s=float(retry_after) if retry_after and retry_after.isdigit() else None,
        )
    raise PermanentDeliveryError(f"{name} answered {response.status_code}: {detail}")


class HttpNotifier:
    """Sends one kind of HTTP notification to the URL of the receiver config that recorded it."""

    def __init__(
        self,
        client: httpx.Client,
        kind: str,
        lookup: Callable[[str, str, int], Target | None],
        *,
        timeout_s: float = 10.0,
    ) -> None:
        self._client = client
        self._kind = kind  # slack | webhook | alertmanager
        self._lookup = lookup
        self._timeout = timeout_s

    def send(self, payload: Mapping[str, Any], *, key: str) -> None:
        receiver, index = payload.get("target") or ("", 0)
        target = self._lookup(receiver, self._kind, int(index))
        if target is None or target.url is None:
            raise PermanentDeliveryError(f"receiver {receiver!r} has no {self._kind} config {index} any more")
        body = json.dumps(payload["body"], separators=(",", ":"), sort_keys=True).encode()
        headers = {"Idempotency-Key": key}
        if target.secret is not None:
            headers[SIGNATURE_HEADER] = signature(target.secret, body)
        url = target.url
        if self._kind == "alertmanager":
            url = SecretStr(url.get_secret_value().rstrip("/") + "/api/v2/alerts")
        ok = (lambda status: status == 200) if self._kind == "slack" else (lambda status: 200 <= status < 300)
        post(self._client, url, body, name=self._kind.capitalize(), timeout_s=self._timeout, headers=headers, ok=ok)
