"""what the desk sees: stories (near-duplicates), per-ticker sentiment, analyst feedback

Revision ID: desk_0005_stories_feedback
Revises: ops_0004_partitions
Create Date: 2026-12-02

- documents: ``story_id`` and ``story_signature`` (MinHash of the text, ``finsent.stories``);
  ``story_bands``: the LSH bands that find a text's copies; ``story_scopes``: which document
  counted a story in each scope, per model version.
- rollups and rollups_hourly: ``duplicates``, the copies of a story already counted in that scope;
  the partial covering index of the 'all' scope holds it too, so the alert cycle's check for
  changed hours stays an index-only scan.
- scores: ``ticker_sentiments``, each ticker's own sentiment when a text names several.
- feedback: analysts' corrections of labels.

Adding a column with a constant default changes only the catalogue (PostgreSQL 11+), partitioned
tables included: no table is rewritten. Existing documents keep a NULL story: each counts alone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from finsent.tables import JSONType, UTCDateTime

revision = "desk_0005_stories_feedback"
down_revision = "ops_0004_partitions"
branch_labels = None
depends_on = None

_ALL = "scope_kind = 'all'"


def _all_scope_index(with_duplicates: bool) -> None:
    columns = ["model_version", "minute", "negative", "neutral", "positive"] + (["duplicates"] if with_duplicates else [])
    op.drop_index("ix_rollups_all_scope_counts", table_name="rollups")
    op.create_index(
        "ix_rollups_all_scope_counts",
        "rollups",
        columns,
        postgresql_where=sa.text(_ALL),
        sqlite_where=sa.text(_ALL),
    )


def upgrade() -> None:
    op.add_column("documents", sa.Column("story_id", sa.String(64), nullable=True))
    op.add_column("documents", sa.Column("story_signature", sa.LargeBinary(), nullable=True))
    op.create_index("ix_documents_story_id", "documents", ["story_id"])
    op.add_column("scores", sa.Column("ticker_sentiments", JSONType, nullable=True))
    for table in ("rollups", "rollups_hourly"):
        op.add_column(table, sa.Column("duplicates", sa.Integer(), nullable=False, server_default=sa.text("0")))
    _all_scope_index(with_duplicates=True)

    op.create_table(
        "story_bands",
        sa.Column("band", sa.BigInteger(), nullable=False),
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name="fk_story_bands_document_id_documents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("band", "document_id", name="pk_story_bands"),
    )
    op.create_index("ix_story_bands_document_id", "story_bands", ["document_id"])
    op.create_table(
        "story_scopes",
        sa.Column("model_version", sa.String(120), nullable=False),
        sa.Column("story_id", sa.String(64), nullable=False),
        sa.Column("scope_kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name="fk_story_scopes_document_id_documents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("model_version", "story_id", "scope_kind", "scope", name="pk_story_scopes"),
    )
    op.create_index("ix_story_scopes_document_id", "story_scopes", ["document_id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(120), nullable=False),
        sa.Column("field", sa.String(16), nullable=False),
        sa.Column("ticker", sa.String(16), nullable=True),
        sa.Column("model_label", sa.String(80), nullable=True),
        sa.Column("label", sa.String(80), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name="fk_feedback_document_id_documents", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_document_id", "feedback", ["document_id"])
    op.create_index("ix_feedback_model_version", "feedback", ["model_version"])


def downgrade() -> None:
    op.drop_index("ix_feedback_model_version", table_name="feedback")
    op.drop_index("ix_feedback_document_id", table_name="feedback")
    op.drop_table("feedback")
    op.drop_index("ix_story_scopes_document_id", table_name="story_scopes")
    op.drop_table("story_scopes")
    op.drop_index("ix_story_bands_document_id", table_name="story_bands")
    op.drop_table("story_bands")
    _all_scope_index(with_duplicates=False)
    # Plain DROP COLUMN (SQLite 3.35+ has it): a batch rebuild of the partitioned tables is not wanted.
    op.drop_column("rollups_hourly", "duplicates")
    op.drop_column("rollups", "duplicates")
    op.drop_column("scores", "ticker_sentiments")
    op.drop_index("ix_documents_story_id", table_name="documents")
    op.drop_column("documents", "story_signature")
    op.drop_column("documents", "story_id")
