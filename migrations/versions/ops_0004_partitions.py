"""monthly partitions on PostgreSQL: scores by published_at, rollups by minute, rollups_hourly by hour

Revision ID: ops_0004_partitions
Revises: 0003
Create Date: 2026-12-02

Retention can then drop a whole month instead of deleting rows one by one. A partitioned
table's primary key must contain its partition key, so scores' key becomes (document_id,
model_version, published_at); a score's published_at is its document's (the store writes it
from the stored document on a replay), so the key still means "one score per document and
model version" and ``ON CONFLICT`` keeps the replay idempotent. The rollups' keys contain
their time already.

Existing rows are copied into the partitioned tables in this migration's transaction. The
partitions: ``<table>_old`` for everything before the month of the oldest row (or this month
on an empty database), then one per month through three months ahead; ``finsent alerts run``
creates the later ones (``finsent.retention``). There is no DEFAULT partition, so a month can
be detached CONCURRENTLY. SQLite keeps plain tables: this migration does nothing there.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "ops_0004_partitions"
down_revision = "0003"
branch_labels = None
depends_on = None

_AHEAD = 3  # months created ahead of the current one

# table -> (partition column, primary key, [(index name, columns, where)]), as migrations 0001-0003 made them
_TABLES: dict[str, tuple[str, list[str], list[tuple[str, str, str | None]]]] = {
    "scores": (
        "published_at",
        ["document_id", "model_version", "published_at"],
        [("ix_scores_model_version_published_at", "model_version, published_at", None)],
    ),
    "rollups": (
        "minute",
        ["model_version", "scope_kind", "scope", "minute"],
        [
            ("ix_rollups_minute", "model_version, minute", None),
            ("ix_rollups_all_scope_counts", "model_version, minute, negative, neutral, positive", "scope_kind = 'all'"),
        ],
    ),
    "rollups_hourly": (
        "hour",
        ["model_version", "scope_kind", "scope", "hour"],
        [("ix_rollups_hourly_hour", "model_version, hour", None)],
    ),
}


def _month(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next(month: datetime, n: int = 1) -> datetime:
    index = month.year * 12 + month.month - 1 + n
    return month.replace(year=index // 12, month=index % 12 + 1)


def _bound(at: datetime) -> str:
    return at.strftime("'%Y-%m-%d 00:00:00+00'")


def _partitioned(table: str, bind: sa.Connection) -> bool:
    return bool(
        bind.execute(
            sa.text("SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = :t"),
            {"t": table},
        ).first()
    )


def _keys_and_indexes(table: str, key: list[str], indexes: list[tuple[str, str, str | None]]) -> None:
    """The primary key, the scores' foreign key and the indexes, as migrations 0001-0003 name them."""
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({', '.join(key)})")
    if table == "scores":
        op.execute(
            "ALTER TABLE scores ADD CONSTRAINT fk_scores_document_id_documents "
            "FOREIGN KEY (document_id) REFERENCES documents (id) ON DELETE CASCADE"
        )
    for name, columns, where in indexes:
        op.execute(f"CREATE INDEX {name} ON {table} ({columns})" + (f" WHERE {where}" if where else ""))


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    now = datetime.now(timezone.utc)
    for table, (column, key, indexes) in _TABLES.items():
        if _partitioned(table, bind):
            continue
        old = f"{table}_unpartitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{table} TO pk_{old}")
        for name, _, _ in indexes:
            op.execute(f"ALTER INDEX {name} RENAME TO {name}_unpartitioned")
        if table == "scores":
            op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT fk_scores_document_id_documents TO fk_{old}_document")
        op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE ({column})")
        _keys_and_indexes(table, key, indexes)

        oldest, newest = bind.execute(sa.text(f"SELECT min({column}), max({column}) FROM {old}")).one()
        first = _month(oldest) if oldest is not None else _month(now)
        last = max(_next(_month(now), _AHEAD), _month(newest) if newest is not None else first)
        op.execute(f"CREATE TABLE {table}_old PARTITION OF {table} FOR VALUES FROM (MINVALUE) TO ({_bound(first)})")
        month = first
        while month <= last:
            op.execute(
                f"CREATE TABLE {table}_p{month:%Y%m} PARTITION OF {table} "
                f"FOR VALUES FROM ({_bound(month)}) TO ({_bound(_next(month))})"
            )
            month = _next(month)
        op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
        op.execute(f"DROP TABLE {old}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, (_, key, indexes) in _TABLES.items():
        if not _partitioned(table, bind):
            continue
        plain = f"{table}_plain"
        op.execute(f"CREATE TABLE {plain} (LIKE {table} INCLUDING DEFAULTS)")
        op.execute(f"INSERT INTO {plain} SELECT * FROM {table}")
        op.execute(f"DROP TABLE {table}")  # its partitions go with it
        op.execute(f"ALTER TABLE {plain} RENAME TO {table}")
        _keys_and_indexes(table, key[:2] if table == "scores" else key, indexes)  # scores: (document_id, model_version)
