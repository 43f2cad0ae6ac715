"""Ingest: the sources that feed the raw topic (feeds, APIs, comments, files, simulator), and backfill."""
