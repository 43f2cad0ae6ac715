"""hourly rollups: the per-minute rollups summed by UTC hour, backfilled from the minutes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from finsent.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# The UTC hour of a rollup minute, stored exactly as the ORM stores it. PostgreSQL's two-argument
# date_trunc follows the session time zone, hence 'UTC'. SQLite keeps UTCDateTime values as
# 'YYYY-MM-DD HH:MM:SS.ffffff' text, and compares them as text: the fraction must be there.
_HOUR = {
    "postgresql": "date_trunc('hour', minute, 'UTC')",
    "sqlite": "strftime('%Y-%m-%d %H:00:00.000000', minute)",
}


def upgrade() -> None:
    op.create_table(
        "rollups_hourly",
        sa.Column("model_version", sa.String(120), nullable=False),
        sa.Column("scope_kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("hour", UTCDateTime(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("neutral", sa.Integer(), nullable=False),
        sa.Column("positive", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("model_version", "scope_kind", "scope", "hour", name="pk_rollups_hourly"),
    )
    op.create_index("ix_rollups_hourly_hour", "rollups_hourly", ["model_version", "hour"])
    hour = _HOUR[op.get_context().dialect.name]
    # One statement fills in the hours of every rollup already there.
    op.execute(
        sa.text(
            f"""
            INSERT INTO rollups_hourly (model_version, scope_kind, scope, hour, negative, neutral, positive)
            SELECT model_version, scope_kind, scope, {hour}, SUM(negative), SUM(neutral), SUM(positive)
            FROM rollups
            GROUP BY model_version, scope_kind, scope, {hour}
            """
        )
    )


def downgrade() -> None:
    op.drop_index("ix_rollups_hourly_hour", table_name="rollups_hourly")
    op.drop_table("rollups_hourly")
