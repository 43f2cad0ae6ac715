"""The alerts package's exceptions; third-party errors (smtplib, httpx) are mapped to these at the notifiers.

    AlertsError
    ├── RulesError                 the rules file is invalid (a reload keeps the old rules)
    └── DeliveryError              a notification could not be sent
        ├── TransientDeliveryError     retry later with backoff (server down, 4xx SMTP, 429/5xx HTTP)
        └── PermanentDeliveryError     retrying cannot help (5xx SMTP, 4xx HTTP, no such receiver)
"""

from __future__ import annotations

__all__ = [
    "AlertsError",
    "DeliveryError",
    "PermanentDeliveryError",
    "RulesError",
    "TransientDeliveryError",
]


class AlertsError(Exception):
    """Base of every error raised by the alerts package."""


class RulesError(AlertsError):
    """The rules file cannot be read or does not validate."""


class DeliveryError(AlertsError):
    """A notification could not be delivered."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TransientDeliveryError(DeliveryError):
    """Delivery failed for a reason that may go away: try again later."""


class PermanentDeliveryError(DeliveryError):
    """Delivery failed for a reason that retrying cannot fix."""
