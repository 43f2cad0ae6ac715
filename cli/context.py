"""What the global options produce, handed to every subcommand through Typer's context.

The root callback builds the settings once (``--config`` and ``--log-level`` included) and stores an
:class:`Invocation` in ``ctx.obj``; subcommands read it with :func:`settings_of`. Child processes
(the demo's services, the dashboard's Streamlit server) get the same options through their own
environment, never through this process's ``os.environ``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import typer

from finsent.settings import Settings, load_settings

__all__ = ["Invocation", "checked_bootstrap", "invocation_of", "settings_of"]


@dataclass(frozen=True)
class Invocation:
    """The settings of this run of ``finsent``, and the global options that produced them."""

    settings: Settings
    config: Path | None = None
    log_level: str | None = None

    def child_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` plus the global options, for a finsent process started from this one."""
        env = dict(base)
        if self.config is not None:
            env["FINSENT_CONFIG"] = str(self.config)
        if self.log_level is not None:
            env["FINSENT_LOG_LEVEL"] = self.log_level
        return env


def invocation_of(ctx: typer.Context) -> Invocation:
    """The root command's :class:`Invocation` (settings from the environment if there is none)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Invocation) else Invocation(load_settings())


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the global options produced."""
    return invocation_of(ctx).settings


def checked_bootstrap(settings: Settings) -> str:
    """The bootstrap servers, once a broker there accepted these security settings; else one line and exit 2.

    A wrong CA, password or protocol makes Kafka clients retry for ever or fail with a stack trace;
    this check (``finsent.kafka_security.check_broker``) says which setting is wrong instead.
    """
    from finsent.kafka import bootstrap_servers
    from finsent.kafka_security import KafkaSetupError, check_broker

    bootstrap = bootstrap_servers(settings.kafka)
    try:
        check_broker(settings.kafka, bootstrap)
    except KafkaSetupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return bootstrap
