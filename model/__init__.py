"""finsent model."""
