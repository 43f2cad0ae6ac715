"""Notifiers: deliver one rendered outbox message over one integration, raising DeliveryError on failure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["Notifier"]


class Notifier(Protocol):
    """Sends one message; raises TransientDeliveryError or PermanentDeliveryError, nothing else."""

    def send(self, payload: Mapping[str, Any], *, key: str) -> None: ...
