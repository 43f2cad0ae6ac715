"""Retention: keep each kind of data only as long as configured, without ever blocking the writers.

Run by the alert scheduler every ``FINSENT_RETENTION_INTERVAL_S`` (and by ``finsent db purge``):

1. On PostgreSQL, the partitioned tables (migration ops_0004: scores by publication month,
   rollups and hourly rollups by month) get their partitions created ahead (``partitions_ahead``
   months), whether or not retention is set.
2. Whole months older than a cutoff are detached ``CONCURRENTLY`` (writers are not blocked)
   and dropped: that is most of the work, and it costs no row deletes.
3. What is left older than the cutoff (the month the cutoff falls in, the ``_old`` partition,
   every table on SQLite) is deleted in batches of ``batch_size`` rows, one short transaction
   each, so locks are held for milliseconds.

Documents go with their scores (foreign key ``ON DELETE CASCADE``); alerts with their history;
resolved alerts, sent or failed notifications and expired silences count as "alerts and
history".
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, bindparam, text

from finsent.settings import RetentionSettings
from finsent.tables import UTCDateTime

__all__ = [
    "PARTITIONED",
    "RetentionReport",
    "add_months",
    "ensure_partitions",
    "is_partition",
    "month_start",
    "run_retention",
]

log = logging.getLogger(__name__)

# Partitioned table -> its partition column (PostgreSQL, migration ops_0004).
PARTITIONED = {"scores": "published_at", "rollups": "minute", "rollups_hourly": "hour"}
_MONTHLY = re.compile(r"^(?P<table>[a-z_]+)_p(?P<year>\d{4})(?P<month>\d{2})$")


_PARTITION_NAME = re.compile(rf"^({'|'.join(PARTITIONED)})_(old|p\d{{6}})$")


def is_partition(table: str) -> bool:
    """Whether ``table`` is a partition of a partitioned table (kept out of Alembic's comparisons)."""
    return _PARTITION_NAME.match(table) is not None


@dataclass
class RetentionReport:
    """What one run did."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)


def month_start(at: datetime) -> datetime:
    """The first instant of ``at``'s UTC month."""
    return at.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(month: datetime, n: int) -> datetime:
    """``month`` (a month start) moved by ``n`` months."""
    index = month.year * 12 + month.month - 1 + n
    return month.replace(year=index // 12, month=index % 12 + 1)


def _monthly_partitions(engine: Engine, table: str) -> dict[datetime, str]:
    """Month start -> partition name, for ``table``'s monthly partitions."""
    sql = text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :table"
    )
    with engine.connect() as conn:
        names = conn.execute(sql, {"table": table}).scalars().all()
    out = {}
    for name in names:
        match = _MONTHLY.match(name)
        if match and match["table"] == table:
            out[datetime(int(match["year"]), int(match["month"]), 1, tzinfo=timezone.utc)] = name
    return out


def _partitioned(engine: Engine) -> list[str]:
    if engine.dialect.name != "postgresql":
        return []
    sql = text("SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid")
    with engine.connect() as conn:
        found = set(conn.execute(sql).scalars())
    return [t for t in PARTITIONED if t in found]


def _bound(at: datetime) -> str:
    return at.strftime("'%Y-%m-%d 00:00:00+00'")


def ensure_partitions(engine: Engine, *, now: datetime, ahead: int) -> list[str]:
    """Create every monthly partition missing from the newest existing one through ``ahead`` months after ``now``."""
    created = []
    target = add_months(month_start(now), ahead)
    for table in _partitioned(engine):
        existing = _monthly_partitions(engine, table)
        month = add_months(max(existing), 1) if existing else month_start(now)
        while month <= target:
            name = f"{table}_p{month:%Y%m}"
            with engine.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '5s'"))
                conn.execute(
                    text(
                        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                        f"FOR VALUES FROM ({_bound(month)}) TO ({_bound(add_months(month, 1))})"
                    )
                )
            created.append(name)
            month = add_months(month, 1)
    if created:
        log.info("partitions created", extra={"partitions": created})
    return created


def _drop_months_before(engine: Engine, table: str, cutoff: datetime) -> list[str]:
    """Detach (concurrently: writers go on) and drop the monthly partitions that end at or before ``cutoff``."""
    dropped = []
    for month, name in sorted(_monthly_partitions(engine, table).items()):
        if add_months(month, 1) > cutoff:
            break
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"ALTER TABLE {table} DETACH PARTITION {name} CONCURRENTLY"))
            conn.execute(text(f"DROP TABLE {name}"))
        dropped.append(name)
    return dropped


def _delete_in_batches(engine: Engine, table: str, key: str, where: str, params: dict, batch: int) -> int:
    """Delete the rows matching ``where`` ``batch`` at a time (by key), each batch its own transaction."""
    total = 0
    statement = text(
        f"DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {where} LIMIT :batch)"
    ).bindparams(bindparam("cutoff", type_=UTCDateTime()))  # stored as the ORM stores it (SQLite: UTC text)
    while True:
        with engine.begin() as conn:
            deleted = conn.execute(statement, {**params, "batch": batch}).rowcount
        total += deleted
        if deleted < batch:
            return total


_KEYS = {
    "documents": "id",
    "rollups": "model_version, scope_kind, scope, minute",
    "rollups_hourly": "model_version, scope_kind, scope, hour",
    "alerts": "id",
    "alert_outbox": "id",
    "alert_silences": "id",
}


def run_retention(engine: Engine, settings: RetentionSettings, *, now: datetime) -> RetentionReport:
    """One pass: partitions ahead, then expired months dropped and the rest deleted in batches."""
    report = RetentionReport(created=ensure_partitions(engine, now=now, ahead=settings.partitions_ahead))
    partitioned = set(_partitioned(engine))
    batch = settings.batch_size

    def cutoff(days: float | None) -> datetime | None:
        return now - timedelta(days=days) if days is not None else None

    # (table whose months may be dropped, rows to delete in batches: table, time column)
    plans = [
        (cutoff(settings.documents_days), "scores", "documents", "published_at"),
        (cutoff(settings.minute_rollups_days), "rollups", "rollups", "minute"),
        (cutoff(settings.hourly_rollups_days), "rollups_hourly", "rollups_hourly", "hour"),
    ]
    for limit, months_of, table, column in plans:
        if limit is None:
            continue
        if months_of in partitioned:
            report.dropped += _drop_months_before(engine, months_of, limit)
        report.deleted[table] = _delete_in_batches(
            engine, table, _KEYS[table], f"{column} < :cutoff", {"cutoff": limit}, batch
        )
    limit = cutoff(settings.alerts_days)
    if limit is not None:
        for table, where in (
            ("alerts", "state = 'resolved' AND resolved_at < :cutoff"),  # history goes with them (cascade)
            ("alert_outbox", "status <> 'pending' AND created_at < :cutoff"),
            ("alert_silences", "ends_at < :cutoff"),
        ):
            report.deleted[table] = _delete_in_batches(engine, table, _KEYS[table], where, {"cutoff": limit}, batch)
    if report.dropped or any(report.deleted.values()):
        log.info("retention", extra={"dropped": report.dropped, "deleted": report.deleted})
    return report
