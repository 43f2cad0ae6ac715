"""What the worker does to one micro-batch, free of Faust: triage, then (after scoring) persist.

Kept apart from the agent so it can be tested (and benchmarked) without a broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.orm import Session, sessionmaker

from finsent.db import session_scope
from finsent.messages import DeadLetter, InvalidMessage, NewsMessage, ScoredMessage, parse_raw
from finsent.stories import StoryOptions
from finsent.store import WriteResult, write_scored

__all__ = [
    "RawRecord",
    "Stopping",
    "Triage",
    "is_row_error",
    "is_transient",
    "persist",
    "persist_with_retry",
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


def triage(records: Sequence[RawRecord], *, max_bytes: int, max_text_chars: int) -> Triage:
    """Split a batch into valid messages and dead letters that say why."""
    valid: list[tuple[RawRecord, NewsMessage]] = []
    dead: list[DeadLetter] = []
    for record in records:
        try:
            valid.append((record, parse_raw(record.value, max_bytes=max_bytes, max_text_chars=max_text_chars)))
        except InvalidMessage as exc:
            dead.append(_dead_letter(record, reason=exc.reason, error=exc.detail))
        except Exception as exc:  # noqa: BLE001 - whatever one message does, it costs that message only
            dead.append(_dead_letter(record, reason="unparseable", error=f"{type(exc).__name__}: {str(exc)[:500]}"))
    return Triage(valid, dead)


def _dead_letter(record: RawRecord, *, reason: str, error: str) -> DeadLetter:
    return DeadLetter.of(
        record.value or b"", reason=reason, error=error,
        topic=record.topic, partition=record.partition, offset=record.offset,
    )  # fmt: skip


def persist(
    factory: sessionmaker[Session], scored: Sequence[ScoredMessage], *, stories: StoryOptions | None = None
) -> WriteResult:
    """One transaction for the whole batch; blocking. ``stories``: how copies are matched and counted."""
    with session_scope(factory) as session:
        return write_scored(session, scored, stories=stories)


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying (the database is down or restarting) rather than blaming the data."""
    if isinstance(exc, (OperationalError, DisconnectionError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


# What one bad row can cause: the database refusing a value, or the driver failing to bind it
# (psycopg2 raises ValueError for NUL, UnicodeEncodeError for a lone surrogate, OverflowError for
# dates). Anything else (a missing table, a permission) is the system's fault and must not be
# blamed on the data by dead-lettering a whole batch.
_ROW_ERRORS = (DataError, IntegrityError, ValueError, OverflowError, UnicodeError, TypeError)


def is_row_error(exc: BaseException) -> bool:
    """Errors that one document can cause, so bisecting the batch isolates it."""
    if "no partition of relation" in str(exc):
        # A month without its partition (PostgreSQL, finsent.retention): the system's fault, not the
        # row's. The worker exits unacked, and its restart creates the partitions it needs.
        return False
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        return isinstance(exc.orig, _ROW_ERRORS)  # binding a parameter failed
    return isinstance(exc, _ROW_ERRORS)


class Stopping(RuntimeError):
    """The process is asked to stop while the database is still unavailable; nothing was written."""


def persist_with_retry(
    factory: sessionmaker[Session],
    scored: Sequence[ScoredMessage],
    *,
    max_backoff_s: float,
    should_stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
    stories: StoryOptions | None = None,
) -> tuple[WriteResult, list[tuple[ScoredMessage, str]]]:
    """Write until durable.

    Transient errors back off (up to ``max_backoff_s``) and retry until the database answers, or
    raise ``Stopping`` once ``should_stop()`` says so. A batch the database rejects row-wise is
    split in halves until the offending documents are isolated and returned as (item, error),
    so they can be dead-lettered instead of blocking the partition. Any other error propagates.
    """
    delay = 0.1
    while True:
        try:
            return persist(factory, scored, stories=stories), []
        except Exception as exc:
            if isinstance(exc, SQLAlchemyError) and is_transient(exc):
                if should_stop():
                    raise Stopping("stop requested while the database is unavailable") from exc
                log.warning("database unavailable; retrying", extra={"retry_in_s": round(delay, 2), "error": str(exc)[:200]})
                sleep(delay)  # at most max_backoff_s, so a stop request is seen within that
                delay = min(delay * 2, max_backoff_s)
                continue
            if not is_row_error(exc):
                raise
            if len(scored) == 1:
                return WriteResult(0, 0), [(scored[0], f"{type(exc).__name__}: {str(exc)[:500]}")]
            mid = len(scored) // 2
            halves = [
                persist_with_retry(
                    factory, part, max_backoff_s=max_backoff_s, should_stop=should_stop, sleep=sleep, stories=stories
                )
                for part in (scored[:mid], scored[mid:])
            ]
            written = WriteResult(
                documents=sum(h[0].documents for h in halves),
                scores=sum(h[0].scores for h in halves),
                conflicts=tuple(c for h in halves for c in h[0].conflicts),
            )
            return written, [bad for _, rejected in halves for bad in rejected]

