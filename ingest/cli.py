"""Command-line entry points of the ingest package."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add this package's commands to the finsent CLI."""
