"""Slack incoming webhooks: one JSON POST per message; the webhook URL is a secret and never logged."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from finsent.alerts.notify.http import post

__all__ = ["SlackNotifier"]


class SlackNotifier:
    """Posts rendered payloads to one webhook through an injected httpx client."""

    def __init__(self, client: httpx.Client, webhook_url: SecretStr, *, timeout_s: float = 10.0) -> None:
        self._client = client
        self._url = webhook_url
        self._timeout = timeout_s

    def send(self, payload: Mapping[str, Any], *, key: str) -> None:
        # 400 invalid_payload, 403 action_prohibited, 404 no_service: resending the same thing cannot help.
        body = json.dumps(payload["body"]).encode()
        post(self._client, self._url, body, name="Slack", timeout_s=self._timeout, ok=lambda status: status == 200)
