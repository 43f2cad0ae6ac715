"""The ``finsent`` command: every package contributes its subcommands here.

Heavy imports (torch, faust, streamlit) happen inside the commands, so ``--help`` is instant.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from finsent.logs import configure_logging
from finsent.settings import Settings, get_settings

__all__ = ["app", "main", "settings_from"]

app = typer.Typer(
    name="finsent",
    help=(
        "finsent: financial-sentiment monitoring. News and comments flow from Kafka through a "
        "FinBERT-style classifier into PostgreSQL; alerts fire on negative-sentiment spikes; a "
        "dashboard shows the trends. Configuration comes from FINSENT_* environment variables "
        "or a TOML file (--config)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global(
    config: Annotated[
        Optional[Path], typer.Option("--config", "-c", help="TOML settings file (same as FINSENT_CONFIG).", exists=True)
    ] = None,
    log_level: Annotated[
        Optional[str], typer.Option("--log-level", help="DEBUG, INFO, WARNING (default) or ERROR.")
    ] = None,
) -> None:
    if config is not None:
        os.environ["FINSENT_CONFIG"] = str(config)
    if log_level is not None:
        os.environ["FINSENT_LOG_LEVEL"] = log_level
    get_settings.cache_clear()
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)


def settings_from(_: typer.Context | None = None) -> Settings:
    """The settings the global options produced (for subcommands)."""
    return get_settings()


def _register() -> None:
    # Each package owns its commands; registration order is the order --help lists them.
    from finsent.alerts.cli import register as alerts_commands
    from finsent.dashboard.cli import register as dashboard_commands
    from finsent.db_cli import register as db_commands
    from finsent.demo import register as demo_commands
    from finsent.ingest.cli import register as ingest_commands
    from finsent.model.cli import register as model_commands
    from finsent.stream.cli import register as stream_commands

    for register in (
        demo_commands,
        stream_commands,
        ingest_commands,
        model_commands,
        alerts_commands,
        dashboard_commands,
        db_commands,
    ):
        register(app)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
