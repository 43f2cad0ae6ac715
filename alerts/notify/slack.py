"""Slack incoming webhooks: one JSON POST per message; the webhook URL is a secret and never logged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from finsent.alerts.errors import PermanentDeliveryError, TransientDeliveryError

__all__ = ["SlackNotifier"]


class SlackNotifier:
    """Posts rendered payloads to a webhook through an injected httpx client."""

    def __init__(self, client: httpx.Client, webhook_url: SecretStr, *, timeout_s: float = 10.0) -> None:
        self._client = client
        self._url = webhook_url
        self._timeout = timeout_s

    def _scrub(self, text: str) -> str:
        return text.replace(self._url.get_secret_value(), "<webhook>")

    def send(self, payload: Mapping[str, Any], *, key: str) -> None:
        try:
            response = self._client.post(self._url.get_secret_value(), json=payload["body"], timeout=self._timeout)
        except httpx.TransportError as exc:  # connect refused, reset, timeout
            raise TransientDeliveryError(f"Slack unreachable: {type(exc).__name__}: {self._scrub(str(exc))}") from None
        if response.status_code == 200:
            return
        detail = self._scrub(response.text[:200])
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = response.headers.get("Retry-After")
            raise TransientDeliveryError(
                f"Slack answered {response.status_code}: {detail}",
                retry_after_s=float(retry_after) if retry_after and retry_after.isdigit() else None,
            )
        # 400 invalid_payload, 403 action_prohibited, 404 no_service: resending the same thing cannot help.
        raise PermanentDeliveryError(f"Slack answered {response.status_code}: {detail}")
