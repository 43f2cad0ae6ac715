"""documents, scores and per-minute rollups

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from finsent.tables import JSONType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.Column("tickers", JSONType, nullable=False),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("ingested_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_documents"),
    )
    op.create_index("ix_documents_source", "documents", ["source"])
    op.create_index("ix_documents_published_at", "documents", ["published_at"])
    op.create_table(
        "scores",
        sa.Column("document_id", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(120), nullable=False),
        sa.Column("sentiment", sa.String(16), nullable=False),
        sa.Column("sentiment_score", sa.Float(), nullable=False),
        sa.Column("topic", sa.String(80), nullable=True),
        sa.Column("topic_score", sa.Float(), nullable=True),
        sa.Column("probabilities", JSONType, nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("scored_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("document_id", "model_version", name="pk_scores"),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name="fk_scores_document_id_documents", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_scores_model_version_published_at", "scores", ["model_version", "published_at"])
    op.create_table(
        "rollups",
        sa.Column("model_version", sa.String(120), nullable=False),
        sa.Column("scope_kind", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("minute", UTCDateTime(), nullable=False),
        sa.Column("negative", sa.Integer(), nullable=False),
        sa.Column("neutral", sa.Integer(), nullable=False),
        sa.Column("positive", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("model_version", "scope_kind", "scope", "minute", name="pk_rollups"),
    )
    op.create_index("ix_rollups_minute", "rollups", ["model_version", "minute"])


def downgrade() -> None:
    op.drop_table("rollups")
    op.drop_table("scores")
    op.drop_table("documents")
