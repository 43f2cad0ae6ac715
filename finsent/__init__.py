"""finsent's shared contracts: settings, the wire schema, the table schema, and the store."""

__version__ = "0.1.0"
