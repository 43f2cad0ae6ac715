"""Shared fixtures: a real PostgreSQL database per session, SQLite files, an embedded broker, a tiny model.

PostgreSQL is expected at FINSENT_TEST_PG (default postgresql://postgres@127.0.0.1:5432/postgres,
trust auth); each test session creates its own throw-away database there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from finsent import migrations
from finsent.stream.broker import EmbeddedBroker
from tests.utils.tiny_model import build_tiny_checkpoint

ADMIN_URL = os.environ.get("FINSENT_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "artifacts"


def _create_pg_database(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    url = _create_pg_database("finsent_test")
    migrations.upgrade(url)
    yield url
    _drop_pg_database(url)


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, migrated SQLite file for one test."""
    url = f"sqlite:///{tmp_path / 'finsent.db'}"
    migrations.upgrade(url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs on both backends."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'finsent.db'}"
        migrations.upgrade(url)
        yield url
    else:
        url = _create_pg_database("finsent_test")
        migrations.upgrade(url)
        yield url
        _drop_pg_database(url)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """An embedded Tansu broker on a free loopback port, shared by the session (use unique topic names)."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as b:
        yield b


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random multi-task checkpoint: the real tokenizer, a 2-layer 32-wide encoder."""
    return build_tiny_checkpoint(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture()
def unique() -> str:
    """A short unique suffix for topic and group names on the shared broker."""
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave screenshots and reports for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
