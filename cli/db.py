"""``finsent db``: schema migrations."""

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


def register(app: typer.Typer) -> None:
    """Add ``finsent db``."""
    app.add_typer(db_app, name="db")
