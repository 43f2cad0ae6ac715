"""``finsent dashboard``: run the Streamlit dashboard; ``seed-bench`` and ``bench`` for its speed check."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated, Optional

import typer

from finsent.cli.context import invocation_of, settings_of
from finsent.cli.help import App
from finsent.dashboard.access import AccessError, check_listen
from finsent.dashboard.serve import APP_PATH, streamlit_command

__all__ = ["register"]

log = logging.getLogger(__name__)

dashboard_app = App(
    help=(
        "The dashboard: `finsent dashboard` serves it (Streamlit) on FINSENT_DASHBOARD_HOST:PORT "
        "(default 127.0.0.1:8501). On any address but loopback it refuses to start without "
        "FINSENT_DASHBOARD_TOKEN, and viewers must enter that token."
    ),
    invoke_without_command=True,
)


@dashboard_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    host: Annotated[
        Optional[str], typer.Option(help="Listen address (default: FINSENT_DASHBOARD_HOST).")
    ] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default: FINSENT_DASHBOARD_PORT, 8501).")] = None,
) -> None:
    """Serve the dashboard until Ctrl-C (the process becomes the Streamlit server)."""
    if ctx.invoked_subcommand is not None:
        return
    invocation = invocation_of(ctx)
    settings = invocation.settings
    host = host or settings.dashboard.host
    port = port or settings.dashboard.port
    try:
        check_listen(host, settings.dashboard.token)
    except AccessError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    # The Streamlit process builds its settings from the same environment (and --config, passed on
    # as FINSENT_CONFIG); host and port given here override them there too.
    env = invocation.child_env(os.environ)
    env.update(
        FINSENT_DASHBOARD_HOST=host,
        FINSENT_DASHBOARD_PORT=str(port),
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
    )
    command = streamlit_command(host, port)
    log.info(
        "dashboard starting",
        extra={"host": host, "port": port, "token": settings.dashboard.token is not None},
    )
    typer.echo(f"finsent dashboard on http://{host}:{port}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child: Ctrl-C and SIGTERM reach Streamlit directly and nothing is left behind.
    os.execve(command[0], command, env)


@dashboard_app.command("seed-bench")
def seed_bench_command(
    ctx: typer.Context,
    rows: Annotated[int, typer.Option(help="Scored documents to generate.")] = 10_000_000,
    days: Annotated[float, typer.Option(help="Spread them over this many days up to now.")] = 365.0,
) -> None:
    """Fill an EMPTY PostgreSQL database (FINSENT_DATABASE_URL) with generated scored documents and rollups.

    Everything is generated inside PostgreSQL (INSERT ... SELECT generate_series, rollups by
    INSERT ... SELECT ... GROUP BY); 10 million rows take roughly 20-40 minutes on 2 cores and
    about 14 GB of disk. Migrations are applied first.
    """
    from finsent import migrations
    from finsent.bench.dashboard import seed_bench
    from finsent.db import make_engine

    url = settings_of(ctx).database.url.get_secret_value()
    migrations.upgrade(url)
    engine = make_engine(url)
    try:
        timings = seed_bench(engine, rows=rows, days=days, progress=lambda m: typer.echo(m, err=True))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    typer.echo(" ".join(f"{k}={v:.0f}s" for k, v in timings.items()))


@dashboard_app.command("bench")
def bench_command(
    ctx: typer.Context,
    warm_runs: Annotated[int, typer.Option(help="Warm (cached) runs per page after the cold one.")] = 3,
) -> None:
    """Time every page's render with Streamlit's AppTest on the configured database.

    Each page in its default view and its heaviest choice (a year of the index, tickers over
    7 vs 28 days, a search matching nothing over 30 days). 'cold' clears the data cache first,
    so every query hits the database; 'warm' is the best rerun served from the cache. The
    view is pinned to the newest data (?asof=).
    """
    from finsent.bench.dashboard import time_pages
    from finsent.dashboard import queries
    from finsent.db import make_engine

    url = settings_of(ctx).database.url.get_secret_value()
    engine = make_engine(url)
    with engine.connect() as conn:
        versions = queries.model_versions(conn)
        asof = queries.latest_minute(conn, model_version=versions[0]) if versions else None
        scored = queries.version_summary(conn, model_version=versions[0]).counts.volume if versions else 0
    engine.dispose()
    if asof is None:
        typer.echo("error: no scored documents in the database", err=True)
        raise typer.Exit(2)
    timings = time_pages(str(APP_PATH), asof=asof, warm_runs=warm_runs)
    typer.echo(f"{scored:,} scored documents ({engine.dialect.name}), pinned to {asof:%Y-%m-%d %H:%M} UTC")
    typer.echo(f"| {'page':<28} | {'cold s':>7} | {'warm s':>7} | errors |")
    typer.echo(f"|{'-' * 30}|{'-' * 8}:|{'-' * 8}:|-------:|")
    for t in timings:
        typer.echo(f"| {t.name:<28} | {t.cold_s:>7.3f} | {t.warm_s:>7.3f} | {t.exceptions:>6} |")
    if any(t.exceptions for t in timings):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``finsent dashboard``."""
    app.add_typer(dashboard_app, name="dashboard")
