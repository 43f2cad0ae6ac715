"""The dashboard's PostgreSQL sessions keep their planner settings across pool checkouts."""

from __future__ import annotations

from sqlalchemy import text

from finsent.dashboard import data


def test_planner_settings_survive_the_pool(pg_url: str) -> None:
    engine = data.engine(pg_url)
    try:
        for _ in range(3):  # the pool rolls back on every return; the settings must not go with it
            with engine.connect() as conn:
                assert conn.execute(text("SHOW random_page_cost")).scalar() == "1.1"
                assert conn.execute(text("SHOW jit")).scalar() == "off"
    finally:
        engine.dispose()
        data.engine.clear()
