"""Alembic environment: URL from the caller's config (built from finsent settings), metadata from tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from finsent.db import make_engine
from finsent.retention import is_partition
from finsent.tables import metadata

config = context.config
target_metadata = metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Partitions (scores_p202611, rollups_old, ...) are the scheduler's, not the models': autogenerate skips them."""
    return not (type_ == "table" and name is not None and is_partition(name))


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        compare_type=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    engine.pool = pool.NullPool(engine.pool._creator)  # one-shot: no pooled connections left behind
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            include_name=include_name,
            # SQLite cannot ALTER most things; batch mode rebuilds tables there.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
