"""``finsent db``: schema migrations, retention, recounting rollups."""

from __future__ import annotations

from typing import Annotated

import typer

from finsent.cli.context import settings_of
from finsent.cli.help import App

__all__ = ["register"]

db_app = App(help="Database schema: apply or inspect Alembic migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(ctx: typer.Context, revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from finsent import migrations

    url = settings_of(ctx).database.url.get_secret_value()
    migrations.upgrade(url, revision)
    typer.echo(f"database at revision {migrations.current(url)}")


@db_app.command("downgrade")
def downgrade(ctx: typer.Context, revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")]) -> None:
    """Revert migrations down to REVISION."""
    from finsent import migrations

    url = settings_of(ctx).database.url.get_secret_value()
    migrations.downgrade(url, revision)
    typer.echo(f"database at revision {migrations.current(url)}")


@db_app.command("current")
def current(ctx: typer.Context) -> None:
    """Print the database's current revision."""
    from finsent import migrations

    typer.echo(migrations.current(settings_of(ctx).database.url.get_secret_value()) or "empty (no migrations applied)")


@db_app.command("purge")
def purge(ctx: typer.Context) -> None:
    """Apply retention once: create partitions ahead, drop expired months, delete the rest in small batches.

    `finsent alerts run` does this every FINSENT_RETENTION_INTERVAL_S; this is for cron or a one-off.
    Retention per kind: FINSENT_RETENTION_DOCUMENTS_DAYS, _MINUTE_ROLLUPS_DAYS, _HOURLY_ROLLUPS_DAYS, _ALERTS_DAYS.
    """
    from finsent.db import make_engine
    from finsent.messages import utcnow
    from finsent.retention import run_retention

    settings = settings_of(ctx)
    engine = make_engine(settings.database)
    try:
        report = run_retention(engine, settings.retention, now=utcnow())
    finally:
        engine.dispose()
    deleted = ", ".join(f"{table} {n}" for table, n in report.deleted.items()) or "nothing (no retention set)"
    typer.echo(
        f"partitions created: {len(report.created)}, dropped: {', '.join(report.dropped) or 'none'}; rows deleted: {deleted}"
    )


@db_app.command("rebuild-rollups")
def rebuild(
    ctx: typer.Context,
    model_version: Annotated[str, typer.Option(help="The model version whose rollups to recount.")],
    since: Annotated[str, typer.Option(help="Start (ISO, UTC), inclusive.")],
    until: Annotated[str, typer.Option(help="End (ISO, UTC), exclusive.")],
) -> None:
    """Recount one model version's rollups over [SINCE, UNTIL) from the scores, as FINSENT_STORIES_COUNT says.

    After changing FINSENT_STORIES_COUNT (stories or documents), history keeps its old count until this runs.
    Restart `finsent alerts run` afterwards: its cache of hourly sums is rebuilt on start.
    """
    from datetime import UTC, datetime

    from finsent.db import make_engine, make_sessionmaker, session_scope
    from finsent.store import rebuild_rollups

    def when(value: str) -> datetime:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at

    settings = settings_of(ctx)
    engine = make_engine(settings.database)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            rows = rebuild_rollups(
                session, model_version=model_version, since=when(since), until=when(until), count=settings.stories.count
            )
    finally:
        engine.dispose()
    typer.echo(f"{rows} minute rollup rows rewritten, counting {settings.stories.count}")


def register(app: typer.Typer) -> None:
    """Add ``finsent db``."""
    app.add_typer(db_app, name="db")
