"""finsent alerts."""
