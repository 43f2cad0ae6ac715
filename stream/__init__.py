"""finsent stream."""
