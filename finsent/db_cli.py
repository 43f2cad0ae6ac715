"""``finsent db``: schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["register"]

db_app = typer.Typer(help="Database schema: apply or inspect Alembic migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from finsent import migrations
    from finsent.cli import settings_from

    url = settings_from().database.url.get_secret_value()
    migrations.upgrade(url, revision)
    typer.echo(f"database at revision {migrations.current(url)}")


@db_app.command("downgrade")
def downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")]) -> None:
    """Revert migrations down to REVISION."""
    from finsent import migrations
    from finsent.cli import settings_from

    url = settings_from().database.url.get_secret_value()
    migrations.downgrade(url, revision)
    typer.echo(f"database at revision {migrations.current(url)}")


@db_app.command("current")
def current() -> None:
    """Print the database's current revision."""
    from finsent import migrations
    from finsent.cli import settings_from

    typer.echo(migrations.current(settings_from().database.url.get_secret_value()) or "empty (no migrations applied)")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
