"""Shared fixtures: PostgreSQL databases copied from one migrated template, SQLite files, an embedded broker, a tiny model.

PostgreSQL is expected at FINSENT_TEST_PG (default postgresql://postgres@127.0.0.1:5432/postgres,
trust auth). The session migrates one template database (and one SQLite file) and every test that
asks for a database gets a fresh copy; all of them are dropped at the end.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from finsent import migrations
from finsent.stream.broker import EmbeddedBroker
from tests.utils.database import drop_test_database, new_test_database
from tests.utils.tiny_model import build_tiny_checkpoint

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "artifacts"


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """The name of a PostgreSQL database migrated once per session, to copy."""
    url = new_test_database("finsent_template")
    try:
        migrations.upgrade(url)
        yield str(make_url(url).database)
    finally:
        drop_test_database(url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session, to copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "finsent.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture()
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    url = new_test_database("finsent_test", template=pg_template)
    yield url
    drop_test_database(url)


@pytest.fixture()
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh, migrated SQLite file for one test."""
    shutil.copyfile(sqlite_template, tmp_path / "finsent.db")
    return f"sqlite:///{tmp_path / 'finsent.db'}"


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on both backends."""
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "sqlite_url")


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
