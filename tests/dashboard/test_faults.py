"""The dashboard under bad input and a missing database: a clear message, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import pytest
from streamlit.testing.v1 import AppTest

from finsent.dashboard.ranges import parse_asof
from finsent.stream.broker import free_port

NOW = datetime(2026, 11, 2, 14, 0, tzinfo=timezone.utc)
PAGES = ("views/overview.py", "views/topics.py", "views/headlines.py", "views/model.py", "views/alerts.py")


@pytest.mark.parametrize(
    "raw", ["9999-12-31T23:59:00", "-1", "now", "2026-13-01", "", "1969-12-31T23:00:00", "2026-11-02T14:00:00+99:00"]
)
def test_bad_asof_values_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_asof(raw, now=NOW)


def test_good_asof_values_are_utc() -> None:
    assert parse_asof("2026-11-02T15:00:00+01:00", now=NOW) == NOW
    assert parse_asof("2026-11-02T14:00", now=NOW) == NOW
    assert parse_asof("2026-11-02T14:00:00Z", now=NOW) == NOW


@pytest.mark.parametrize("raw", ["9999-12-31T23:59:00", "-1", "0000-00-00", "2026-11-02T14:00:00; DROP TABLE scores"])
def test_bad_asof_shows_a_warning_and_the_live_page(make_app: Callable[..., AppTest], seeded_url: str, raw: str) -> None:
    for page in PAGES:
        at = make_app(seeded_url, asof=None)
        at.query_params["asof"] = raw
        at.run()
        at.switch_page(page).run()
        assert not at.exception, (page, [e.message for e in at.exception])
        assert any("Ignoring asof" in w.value for w in at.sidebar.warning), page


def test_database_unavailable_is_a_clear_state(make_app: Callable[..., AppTest]) -> None:
    # A real refused connection: nothing listens on this port.
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/finsent?connect_timeout=2"
    for page in PAGES:
        at = make_app(url, page=page)
        assert not at.exception, (page, [e.message for e in at.exception])
        assert any("Database unavailable" in e.value for e in at.error), page
        assert not at.metric


def test_tokens_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    from pydantic import SecretStr

    from finsent.dashboard import access

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(access.hmac, "compare_digest", spy)
    assert access.token_matches("correct-horse-battery", SecretStr("correct-horse-battery"))
    assert not access.token_matches("correct-horse-batterx", SecretStr("correct-horse-battery"))
    assert not access.token_matches("", SecretStr(""))  # no token configured: nothing matches
    assert len(calls) == 2  # every comparison went through hmac.compare_digest


@pytest.mark.parametrize(
    "search",
    ["'; DROP TABLE documents; --", "%", "_", "\\", "\x00", "' OR '1'='1", "AAPL' UNION SELECT * FROM alerts --"],
)
def test_filters_and_search_cannot_inject_sql(seeded_url: str, search: str) -> None:
    from datetime import timedelta

    from sqlalchemy import create_engine, func, select

    from finsent.dashboard import queries
    from finsent.tables import Document
    from tests.utils.dashboard_seed import T0

    engine = create_engine(seeded_url)
    try:
        with engine.connect() as conn:
            before = conn.execute(select(func.count()).select_from(Document.__table__)).scalar_one()
            version = queries.model_versions(conn)[0]
            found = queries.headlines(
                conn, model_version=version, start=T0 - timedelta(days=30), end=T0, search=search,
                sources=[search], topics=[search], ticker=search.replace("\x00", ""),
            )  # fmt: skip
            after = conn.execute(select(func.count()).select_from(Document.__table__)).scalar_one()
    finally:
        engine.dispose()
    assert found.empty  # matched literally: no headline holds these strings, and '%' is no wildcard
    assert before == after > 0


def test_the_dashboard_survives_a_database_outage_and_recovers(make_app: Callable[..., AppTest], pg_template: str) -> None:
    import streamlit as st
    from sqlalchemy.engine import make_url

    from finsent.bench.faults.proxy import TcpProxy
    from tests.utils.dashboard_seed import T0, seeded_database
    from tests.utils.database import drop_test_database, new_test_database

    url = new_test_database("finsent_dash_outage", template=pg_template)
    real = make_url(url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432).start()
    try:
        seeded_database(url, T0)
        through = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        at = make_app(through)
        assert not at.exception and at.title[0].value == "Market sentiment" and at.metric
        proxy.cut()  # the database goes away: open connections reset, new ones refused
        st.cache_data.clear()
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        assert any("Database unavailable" in e.value for e in at.error) and not at.metric
        proxy.restore()
        at.run()
        assert not at.exception and not at.error and at.metric  # back by itself, no restart
    finally:
        proxy.stop()
        drop_test_database(url)
