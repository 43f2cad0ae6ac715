"""The outbox: recorded first, retried with exponential backoff, sent once, failed when hopeless."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from finsent.alerts.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from finsent.alerts.outbox import RetryPolicy, deliver_due, enqueue, pending_count
from finsent.db import session_scope
from finsent.tables import OutboxMessage
from tests.utils.alert_history import T0

POLICY = RetryPolicy(initial=timedelta(seconds=10), maximum=timedelta(minutes=2), give_up_after=timedelta(hours=1))


class Scripted:
    """A notifier that fails as scripted, then succeeds; it records what it was given."""

    def __init__(self, *failures: DeliveryError) -> None:
        self.failures = list(failures)
        self.sent: list[str] = []

    def send(self, payload: Mapping[str, Any], *, key: str) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(key)


def _enqueue(factory: sessionmaker[Session], key: str = "k1", integration: str = "email") -> int:
    with session_scope(factory) as s:
        row = enqueue(s, key=key, receiver="desk", integration=integration, payload={"to": ["x"]}, alert_ids=[1], now=T0)
        s.flush()
        return row.id


def _row(factory: sessionmaker[Session], row_id: int) -> OutboxMessage:
    with factory() as s:
        row = s.get(OutboxMessage, row_id)
        assert row is not None
        return row


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [POLICY.delay(n).total_seconds() for n in range(1, 7)] == [10, 20, 40, 80, 120, 120]


def test_transient_failures_back_off_then_it_is_sent_exactly_once(db_factory: sessionmaker[Session]) -> None:
    row_id = _enqueue(db_factory)
    notifier = Scripted(TransientDeliveryError("down"), TransientDeliveryError("down"))
    notifiers = {"email": notifier}
    assert deliver_due(db_factory, notifiers, now=T0, policy=POLICY).retried == 1
    assert _row(db_factory, row_id).next_attempt_at == T0 + timedelta(seconds=10)
    assert deliver_due(db_factory, notifiers, now=T0 + timedelta(seconds=9), policy=POLICY).retried == 0  # not due yet
    assert deliver_due(db_factory, notifiers, now=T0 + timedelta(seconds=10), policy=POLICY).retried == 1
    assert _row(db_factory, row_id).next_attempt_at == T0 + timedelta(seconds=30)
    report = deliver_due(db_factory, notifiers, now=T0 + timedelta(seconds=30), policy=POLICY)
    assert (report.sent, report.retried, report.failed) == (1, 0, 0)
    for later in range(1, 5):
        assert deliver_due(db_factory, notifiers, now=T0 + timedelta(minutes=later), policy=POLICY).sent == 0
    assert notifier.sent == ["k1"]
    row = _row(db_factory, row_id)
    assert (row.status, row.attempts, row.sent_at, row.last_error) == ("sent", 3, T0 + timedelta(seconds=30), None)


def test_retry_after_from_the_server_is_respected(sqlite_factory: sessionmaker[Session]) -> None:
    row_id = _enqueue(sqlite_factory, integration="slack")
    deliver_due(sqlite_factory, {"slack": Scripted(TransientDeliveryError("429", retry_after_s=90))}, now=T0, policy=POLICY)
    assert _row(sqlite_factory, row_id).next_attempt_at == T0 + timedelta(seconds=90)


def test_permanent_failures_and_missing_notifiers_fail_at_once(sqlite_factory: sessionmaker[Session]) -> None:
    bad = _enqueue(sqlite_factory, "bad")
    orphan = _enqueue(sqlite_factory, "orphan", integration="slack")
    report = deliver_due(sqlite_factory, {"email": Scripted(PermanentDeliveryError("550 no such user"))}, now=T0, policy=POLICY)
    assert report.failed == 2
    assert _row(sqlite_factory, bad).last_error == "550 no such user"
    assert "no slack notifier" in (_row(sqlite_factory, orphan).last_error or "")


def test_a_notification_still_unsent_after_give_up_after_fails(sqlite_factory: sessionmaker[Session]) -> None:
    row_id = _enqueue(sqlite_factory)
    always_down = Scripted(*[TransientDeliveryError("down")] * 100)
    now = T0
    while now < T0 + timedelta(hours=2):
        deliver_due(sqlite_factory, {"email": always_down}, now=now, policy=POLICY)
        now += timedelta(minutes=1)
    row = _row(sqlite_factory, row_id)
    # Ticks each minute: attempts at 0, 1, 2, 3 and 5 min (backoff 10, 20, 40, 80 s), then every
    # 2 min (the cap) through 59 min, and the one at 61 min that gives up.
    assert row.status == "failed" and row.attempts == 5 + 27 + 1
    with sqlite_factory() as s:
        assert s.scalars(select(OutboxMessage.status)).all() == ["failed"]


def test_one_attempt_per_pass_while_a_server_is_down(sqlite_factory: sessionmaker[Session]) -> None:
    ids = [_enqueue(sqlite_factory, f"k{i}") for i in range(5)]
    slack_id = _enqueue(sqlite_factory, "s", integration="slack")
    email, slack = Scripted(*[TransientDeliveryError("timed out")] * 3), Scripted()
    report = deliver_due(sqlite_factory, {"email": email, "slack": slack}, now=T0, policy=POLICY)
    assert (report.retried, report.deferred, report.sent) == (1, 4, 1)  # Slack is not held up by email
    assert [_row(sqlite_factory, i).attempts for i in ids] == [1, 0, 0, 0, 0]
    assert _row(sqlite_factory, slack_id).status == "sent"
    email.failures.clear()  # the server is back
    report = deliver_due(sqlite_factory, {"email": email}, now=T0 + timedelta(seconds=10), policy=POLICY)
    assert report.sent == 5 and sorted(email.sent) == [f"k{i}" for i in range(5)]
    assert pending_count_is_zero(sqlite_factory)


def pending_count_is_zero(factory: sessionmaker[Session]) -> bool:
    with factory() as s:
        return pending_count(s) == 0
