"""Migration 0002 matches the models on both backends, and the package's public surface is explicit."""

from __future__ import annotations

import importlib
import pkgutil

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from finsent import alerts, migrations
from finsent.db import make_engine
from finsent.retention import is_partition
from finsent.tables import metadata

ALERT_TABLES = {"alerts", "alert_events", "alert_silences", "alert_groups", "alert_outbox"}


def test_migration_matches_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        # Monthly partitions (migration ops_0004) are created by the scheduler, not declared in the models.
        skip = lambda name, kind, _: not (kind == "table" and name and is_partition(name))  # noqa: E731
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True, "include_name": skip}), metadata
        )
    engine.dispose()
    assert diff == []
    assert migrations.current(db_url) is not None


def test_downgrade_removes_only_the_alerts_schema(db_url: str) -> None:
    migrations.downgrade(db_url, "0001")
    engine = make_engine(db_url)
    from sqlalchemy import inspect

    tables = set(inspect(engine).get_table_names())
    indexes = {ix["name"] for ix in inspect(engine).get_indexes("rollups")}
    engine.dispose()
    assert not tables & ALERT_TABLES and {"documents", "scores", "rollups"} <= tables
    assert "ix_rollups_all_scope_counts" not in indexes
    migrations.upgrade(db_url)


def test_every_module_declares_a_sorted_complete_all() -> None:
    for info in pkgutil.walk_packages(alerts.__path__, "finsent.alerts."):
        module = importlib.import_module(info.name)
        exported = getattr(module, "__all__", None)
        assert exported is not None, info.name
        assert list(exported) == sorted(exported), info.name
        public = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and getattr(value, "__module__", None) == module.__name__
            and (callable(value) or isinstance(value, type))
        }
        assert public <= set(exported), (info.name, sorted(public - set(exported)))
