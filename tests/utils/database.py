"""Throw-away PostgreSQL databases for tests on the server at FINSENT_TEST_PG.

The session migrates one template database once; each test gets a copy of it
(``CREATE DATABASE ... TEMPLATE``), which takes a fraction of running every migration again.
"""

from __future__ import annotations

import os
import uuid

from sqlalchemy.engine import make_url

from finsent.db import create_database, drop_database

__all__ = ["ADMIN_URL", "count_scores", "drop_test_database", "new_test_database"]

# trust auth on loopback; each database the tests create there is dropped again.
ADMIN_URL = os.environ.get("FINSENT_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def new_test_database(prefix: str, *, template: str | None = None) -> str:
    """A new database on the test server, empty or a copy of the database named ``template``; its URL."""
    return create_database(ADMIN_URL, f"{prefix}_{uuid.uuid4().hex[:10]}", template=template)


def drop_test_database(url: str) -> None:
    """Drop the test database ``url`` points at."""
    drop_database(ADMIN_URL, str(make_url(url).database))


def count_scores(url: str) -> int:
    """How many score rows the database at ``url`` holds."""
    from sqlalchemy import create_engine, func, select

    from finsent.tables import Score

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(Score.__table__)).scalar_one()
    finally:
        engine.dispose()
