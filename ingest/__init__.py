"""finsent ingest."""
