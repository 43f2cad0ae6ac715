"""story look-ups read a band's newest members only

Revision ID: perf_0006_story_band_recent
Revises: desk_0005_stories_feedback
Create Date: 2026-12-02

The fault suite's 100,000-message crash loop (templated headlines: one ticker and a number
apart) slowed to 8 messages a second: every new document's bands matched every earlier copy in
the story window, so each batch read and compared a growing share of the table. The look-up now
joins, per band, only the newest ``StoryOptions.max_candidates`` (8) members in the window, ranked in
this index (band, published_at).
"""

from __future__ import annotations

from alembic import op

revision = "perf_0006_story_band_recent"
down_revision = "desk_0005_stories_feedback"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_story_bands_band_published_at", "story_bands", ["band", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_story_bands_band_published_at", table_name="story_bands")
