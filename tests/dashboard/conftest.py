"""Seeded databases for the dashboard's tests, and a factory for AppTest runs against them."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from finsent.dashboard.serve import APP_PATH
from finsent.settings import get_settings
from tests.utils.dashboard_seed import T0, Seeded, seeded_database
from tests.utils.database import drop_test_database, new_test_database

APP = str(APP_PATH)


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """The seeded history on each backend, shared by a module's read-only tests."""
    if request.param == "sqlite":
        yield seeded_database(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'finsent.db'}", T0)
        return
    url = new_test_database("finsent_dash", template=request.getfixturevalue("pg_template"))
    try:
        yield seeded_database(url, T0)
    finally:
        drop_test_database(url)


@pytest.fixture(scope="session")
def seeded_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded SQLite file for the session; tests that write get a copy."""
    path = tmp_path_factory.mktemp("dash-sqlite") / "finsent.db"
    seeded_database(f"sqlite:///{path}", T0)
    return path


@pytest.fixture()
def sqlite_copy(seeded_sqlite_file: Path, tmp_path: Path) -> str:
    """A private copy of the seeded SQLite database, for a test that acts (acks, silences)."""
    target = tmp_path / "finsent.db"
    shutil.copyfile(seeded_sqlite_file, target)
    return f"sqlite:///{target}"


@pytest.fixture()
def app_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set the environment the dashboard reads its settings from (and bind address) for AppTest."""
    previous = st_config.get_option("server.address")

    def configure(url: str, *, address: str | None = "127.0.0.1", **env: str) -> None:
        monkeypatch.setenv("FINSENT_DATABASE_URL", url)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        st_config.set_option("server.address", address)
        get_settings.cache_clear()

    yield configure
    st_config.set_option("server.address", previous)
    get_settings.cache_clear()
    st.cache_data.clear()


@pytest.fixture()
def make_app(app_env: Callable[..., None]) -> Callable[..., AppTest]:
    """An AppTest of the dashboard on a database, pinned to ``asof`` (default: the seed's T0)."""

    def build(url: str, *, asof: datetime | None = T0, page: str | None = None, **env: str) -> AppTest:
        app_env(url, **env)
        at = AppTest.from_file(APP, default_timeout=60)
        if asof is not None:
            at.query_params["asof"] = asof.isoformat()
        at.run()
        if page is not None:
            at.switch_page(page).run()
        return at

    return build


@pytest.fixture()
def seeded_url(seeded_sqlite_file: Path) -> str:
    """The shared seeded SQLite database (read-only tests)."""
    return f"sqlite:///{seeded_sqlite_file}"
