"""What the worker does to one micro-batch, free of Faust: triage, score, persist.

Kept apart from the agent so it can be tested (and benchmarked) without a broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from finsent.db import session_scope
from finsent.messages import DeadLetter, InvalidMessage, NewsMessage, ScoredMessage, parse_raw, utcnow
from finsent.store import WriteResult, write_scored

__all__ = [
    "Predictor",
    "RawRecord",
    "Triage",
    "is_transient",
    "persist",
    "persist_with_retry",
    "score",
    "triage",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawRecord:
    """One consumed record, as bytes, with where it came from."""

    value: bytes | None
    topic: str
    partition: int
    offset: int
    key: bytes | None = None


@dataclass(frozen=True)
class Triage:
    valid: list[tuple[RawRecord, NewsMessage]]
    dead: list[DeadLetter]


class Predictor(Protocol):
    """What the worker needs of a classifier (see ``model.classifier.Classifier``)."""

    version: str

    def predict(self, texts: Sequence[str]) -> Sequence: ...


def triage(records: Sequence[RawRecord], *, max_bytes: int, max_text_chars: int) -> Triage:
    """Split a batch into valid messages and dead letters that say why."""
    valid: list[tuple[RawRecord, NewsMessage]] = []
    dead: list[DeadLetter] = []
    for record in records:
        try:
            valid.append((record, parse_raw(record.value, max_bytes=max_bytes, max_text_chars=max_text_chars)))
        except InvalidMessage as exc:
            dead.append(
                DeadLetter.of(
                    record.value or b"",
                    reason=exc.reason,
                    error=exc.detail,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                )
            )
    return Triage(valid, dead)


def score(predictor: Predictor, messages: Sequence[NewsMessage]) -> list[ScoredMessage]:
    """Run the classifier over a batch; blocking, so call it off the event loop."""
    if not messages:
        return []
    predictions = predictor.predict([m.text for m in messages])
    now = utcnow()
    scored: list[ScoredMessage] = []
    for message, p in zip(messages, predictions, strict=True):
        if p.sentiment is None:
            raise ValueError(f"model {predictor.version} has no sentiment head; the worker needs one")
        scored.append(
            ScoredMessage(
                **message.model_dump(),
                model_version=predictor.version,
                sentiment=p.sentiment,
                sentiment_score=p.sentiment_score,
                topic=p.topic,
                topic_score=p.topic_score,
                probabilities=p.probabilities,
                scored_at=now,
            )
        )
    return scored


def persist(factory: sessionmaker[Session], scored: Sequence[ScoredMessage]) -> WriteResult:
    """One transaction for the whole batch; blocking."""
    with session_scope(factory) as session:
        return write_scored(session, scored)


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying (the database is down or restarting) rather than blaming the data."""
    if isinstance(exc, (OperationalError, DisconnectionError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def persist_with_retry(
    factory: sessionmaker[Session],
    scored: Sequence[ScoredMessage],
    *,
    max_backoff_s: float,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[WriteResult, list[tuple[ScoredMessage, str]]]:
    """Write until durable. Transient errors back off and retry forever; a batch the database
    rejects is split in halves until the offending documents are isolated and returned as
    (item, error) so they can be dead-lettered instead of blocking the partition.
    """
    delay = 0.1
    while True:
        try:
            return persist(factory, scored), []
        except SQLAlchemyError as exc:
            if is_transient(exc):
                if should_stop():
                    raise
                log.warning("database unavailable; retrying", extra={"retry_in_s": round(delay, 2), "error": str(exc)[:200]})
                sleep(delay)
                delay = min(delay * 2, max_backoff_s)
                continue
            if len(scored) == 1:
                return WriteResult(0, 0), [(scored[0], f"{type(exc).__name__}: {str(exc)[:500]}")]
            mid = len(scored) // 2
            left, bad_left = persist_with_retry(factory, scored[:mid], max_backoff_s=max_backoff_s, should_stop=should_stop, sleep=sleep)
            right, bad_right = persist_with_retry(factory, scored[mid:], max_backoff_s=max_backoff_s, should_stop=should_stop, sleep=sleep)
            return WriteResult(left.documents + right.documents, left.scores + right.scores), bad_left + bad_right
