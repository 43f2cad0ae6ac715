"""The front door: the ``finsent`` command line and the demo supervisor, on top of every other package."""

from finsent.cli.main import app, main

__all__ = ["app", "main"]
