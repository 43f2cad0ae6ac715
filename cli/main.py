"""The ``finsent`` command: every subcommand is registered here, and nothing below the CLI imports it.

Heavy imports (torch, faust, streamlit) happen inside the commands, so ``--help`` is instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from finsent import __version__
from finsent.cli import alerts, dashboard, db, demo, desk, faults, ingest, model, stream
from finsent.cli.context import Invocation
from finsent.cli.help import App
from finsent.logs import configure_logging, settings_secrets
from finsent.settings import load_settings

__all__ = ["app", "main"]

app = App(
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


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"finsent {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[
        Optional[Path], typer.Option("--config", "-c", help="TOML settings file (same as FINSENT_CONFIG).", exists=True)
    ] = None,
    log_level: Annotated[
        Optional[str], typer.Option("--log-level", help="DEBUG, INFO, WARNING (default) or ERROR.")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    settings = load_settings(config, **({"log_level": log_level} if log_level is not None else {}))
    configure_logging(settings.log_level, settings.log_format, secrets=settings_secrets(settings))
    ctx.obj = Invocation(settings, config=config, log_level=log_level)


# Each module owns one area's commands; registration order is the order --help lists them.
for _area in (demo, stream, ingest, model, alerts, dashboard, db, desk, faults):
    _area.register(app)


def main() -> None:
    """Run the ``finsent`` command line."""
    app()
