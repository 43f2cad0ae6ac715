"""The outbox: notifications are rows first, sent second, and marked sent only after the server took them.

A row is written in the same transaction as the group state that decided to notify, so a
crash can lose neither. The dispatcher sends due rows one at a time (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so a second dispatcher skips rows in flight), retries transient
failures with exponential backoff and gives up after ``give_up_after``.

Delivery is exactly once while servers are merely down. It is at-least-once across a crash
in the instant between the server accepting a message and the ``sent`` mark committing: the
row is still pending after a restart and is sent again, with the same Message-ID (mail
clients fold such duplicates); Slack webhooks have no idempotency key, so Slack would show it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from finsent.alerts import metrics
from finsent.alerts.errors import DeliveryError, PermanentDeliveryError
from finsent.alerts.notify import Notifier
from finsent.db import session_scope
from finsent.tables import OutboxMessage

__all__ = ["DeliveryReport", "RetryPolicy", "deliver_due", "enqueue", "oldest_pending", "pending_count"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: initial, doubled per attempt, capped; give up when the row is this old."""

    initial: timedelta = timedelta(seconds=10)
    maximum: timedelta = timedelta(minutes=10)
    give_up_after: timedelta = timedelta(days=1)

    def delay(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th failed attempt."""
        return min(self.maximum, self.initial * (2 ** max(0, attempts - 1)))


@dataclass
class DeliveryReport:
    """What one dispatcher pass did."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0  # not tried: their integration failed earlier in the same pass


def enqueue(
    session: Session,
    *,
    key: str,
    receiver: str,
    integration: str,
    payload: dict[str, Any],
    alert_ids: list[int],
    now: datetime,
) -> OutboxMessage:
    """Record a notification to send; the caller's transaction commits it with the state that caused it."""
    row = OutboxMessage(
        key=key,
        receiver=receiver,
        integration=integration,
        payload=payload,
        alert_ids=alert_ids,
        status="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(row)
    return row


def pending_count(session: Session) -> int:
    """Notifications recorded but not yet sent (a gauge worth watching)."""
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")) or 0


def oldest_pending(session: Session) -> datetime | None:
    """When the oldest unsent notification was recorded (its age is a gauge worth alerting on)."""
    return session.scalar(select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status == "pending"))


def deliver_due(
    factory: sessionmaker[Session],
    notifiers: Mapping[str, Notifier],
    *,
    now: datetime,
    policy: RetryPolicy,
    limit: int = 100,
) -> DeliveryReport:
    """Send every pending notification whose time has come; one short transaction per message."""
    report = DeliveryReport()
    with factory() as session:
        due = session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
    down: set[str] = set()
    for message_id in due:
        with session_scope(factory) as session:
            row = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
                .with_for_update(skip_locked=True)
            ).one_or_none()
            if row is None:
                continue  # sent by another dispatcher meanwhile
            if row.integration in down:
                # Its server just failed: one attempt per pass is enough, and a server that
                # times out must not hold the (single) scheduler thread for every message.
                report.deferred += 1
                continue
            if not _attempt(row, notifiers, now=now, policy=policy, report=report):
                down.add(row.integration)
    return report


def _attempt(
    row: OutboxMessage, notifiers: Mapping[str, Notifier], *, now: datetime, policy: RetryPolicy, report: DeliveryReport
) -> bool:
    """Try to send one row and record the outcome; False when the failure was transient."""
    notifier = notifiers.get(row.integration)
    row.attempts += 1
    try:
        if notifier is None:
            raise PermanentDeliveryError(f"no {row.integration} notifier is configured")
        notifier.send(row.payload, key=row.key)
    except PermanentDeliveryError as exc:
        row.status, row.last_error = "failed", str(exc)
        report.failed += 1
        metrics.NOTIFICATIONS.labels(row.receiver, row.integration, "failed").inc()
        log.error("notification failed for good", extra={"outbox_id": row.id, "receiver": row.receiver, "error": str(exc)})
        return True
    except DeliveryError as exc:
        row.last_error = str(exc)
        if now - row.created_at >= policy.give_up_after:
            row.status = "failed"
            report.failed += 1
            metrics.NOTIFICATIONS.labels(row.receiver, row.integration, "failed").inc()
            log.error("notification given up", extra={"outbox_id": row.id, "attempts": row.attempts, "error": str(exc)})
            return False
        delay = policy.delay(row.attempts)
        if exc.retry_after_s is not None:
            delay = max(delay, timedelta(seconds=exc.retry_after_s))
        row.next_attempt_at = now + delay
        report.retried += 1
        metrics.NOTIFICATIONS.labels(row.receiver, row.integration, "retried").inc()
        log.warning(
            "notification will be retried",
            extra={"outbox_id": row.id, "attempts": row.attempts, "retry_in_s": delay.total_seconds(), "error": str(exc)},
        )
        return False
    else:
        row.status, row.sent_at, row.last_error = "sent", now, None
        report.sent += 1
        metrics.NOTIFICATIONS.labels(row.receiver, row.integration, "sent").inc()
        log.info("notification sent", extra={"outbox_id": row.id, "receiver": row.receiver, "integration": row.integration})
        return True
