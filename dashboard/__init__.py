"""finsent dashboard."""
