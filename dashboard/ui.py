"""What every page shares: the access gate, the sidebar, the page context and small formatters."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import NoReturn
from datetime import datetime, timedelta

import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from finsent.dashboard import data
from finsent.dashboard.access import AccessError, check_listen, token_matches, token_required
from finsent.dashboard.ranges import parse_asof
from finsent.logs import configure_logging, settings_secrets
from finsent.messages import utcnow
from finsent.settings import Settings

__all__ = [
    "Context",
    "context",
    "database_unavailable",
    "empty_state",
    "fmt_pct",
    "fmt_signed",
    "gate",
    "scope_link",
    "setup",
    "sidebar",
    "since_label",
]

log = logging.getLogger(__name__)

_CTX_KEY = "finsent_context"
_AUTH_KEY = "finsent_authenticated"


@dataclass(frozen=True)
class Context:
    """What a page needs to know to read: which database, which model version, and when 'now' is."""

    url: str
    settings: Settings
    model_version: str | None
    versions: tuple[str, ...]
    pinned: datetime | None  # the ?asof= time, when the view is pinned to the past
    auto_refresh: bool

    @property
    def refresh_s(self) -> int:
        return self.settings.dashboard.refresh_s

    def now(self) -> datetime:
        """The pinned time, or the wall clock (read afresh on every call, for auto-refresh)."""
        return self.pinned or utcnow()


@st.cache_resource(show_spinner=False)
def _logging_once(level: str, fmt: str, _settings: Settings) -> bool:
    configure_logging(level, fmt, secrets=settings_secrets(_settings))
    return True


def setup(settings: Settings) -> None:
    """Page config and logging; first thing the entry script does."""
    st.set_page_config(page_title="finsent", page_icon=":chart_with_downwards_trend:", layout="wide")
    _logging_once(settings.log_level, settings.log_format, settings)


def gate(settings: Settings) -> None:
    """Stop the run unless this viewer may see the pages (see ``dashboard.access``)."""
    # The address Streamlit really binds; None means every interface.
    host = st.get_option("server.address")
    token = settings.dashboard.token
    try:
        check_listen(host, token)
    except AccessError as exc:
        log.error("dashboard refused", extra={"reason": str(exc)})
        st.error(f"This dashboard is not configured safely: {exc}")
        st.stop()
    if not token_required(host, token) or st.session_state.get(_AUTH_KEY) is True:
        return
    st.title("finsent")
    with st.form("login"):
        given = st.text_input("Access token", type="password", key="login_token")
        submitted = st.form_submit_button("Open dashboard")
    if submitted:
        if token_matches(given, token):
            st.session_state[_AUTH_KEY] = True
            st.rerun()
        time.sleep(1.0)  # slows guessing down
        log.warning("wrong dashboard token")
        st.error("That token is not right.")
    st.stop()


def _pinned() -> datetime | None:
    raw = st.query_params.get("asof")
    if not raw:
        return None
    try:
        return parse_asof(str(raw), now=utcnow())
    except ValueError as exc:
        st.sidebar.warning(f"Ignoring asof={str(raw)[:40]!r}: {exc}; showing live data.")
        return None


def database_unavailable(settings: Settings, exc: BaseException) -> NoReturn:
    """Say the database cannot be reached (no traceback), retry every refresh, and show the page once it answers."""
    log.warning("database unavailable", extra={"error": f"{type(exc).__name__}: {str(exc)[:300]}"})
    st.error(
        "**Database unavailable.** The dashboard cannot reach its database right now; "
        "figures will show again once it answers. This page retries on its own."
    )

    url = settings.database.url.get_secret_value()

    @st.fragment(run_every=max(2, min(settings.dashboard.refresh_s, 15)))
    def _retry() -> None:
        if data.database_answers(url):
            st.rerun()

    _retry()
    st.stop()


def sidebar(settings: Settings) -> Context:
    """Model version and refresh controls; stores and returns the page context."""
    url = settings.database.url.get_secret_value()
    try:
        versions = tuple(data.model_versions(url))
    except SQLAlchemyError as exc:
        database_unavailable(settings, exc)
    pinned = _pinned()
    with st.sidebar:
        version = None
        if versions:
            version = st.selectbox(
                "Model version",
                versions,
                key="model_version",
                help="Scores from each model version are kept apart; the most recently active is first.",
            )
        auto = st.toggle(
            f"Auto-refresh every {settings.dashboard.refresh_s} s",
            value=pinned is None,
            disabled=pinned is not None,
            key="auto_refresh",
        )
        if pinned is not None:
            st.caption(f"Pinned to {pinned:%Y-%m-%d %H:%M} UTC (remove ?asof= to follow live).")
    ctx = Context(
        url=url,
        settings=settings,
        model_version=version,
        versions=versions,
        pinned=pinned,
        auto_refresh=bool(auto) and pinned is None,
    )
    st.session_state[_CTX_KEY] = ctx
    return ctx


def context() -> Context:
    """The context the entry script built for this run."""
    ctx = st.session_state.get(_CTX_KEY)
    if not isinstance(ctx, Context):
        st.error("Open the dashboard through its main page.")
        st.stop()
    return ctx


def scope_link() -> tuple[str, str] | None:
    """The (scope_kind, scope) a deep link asks for (``?scope_kind=ticker&scope=XOM``), if any."""
    kind, scope = st.query_params.get("scope_kind"), st.query_params.get("scope")
    return (kind, scope) if kind in ("topic", "ticker", "source") and scope else None


def empty_state() -> None:
    """What a page shows before anything has been scored."""
    st.info(
        "No scored documents yet. Start the pipeline (`finsent demo`, or `finsent worker` with a feed) "
        "and this page fills in as documents are scored."
    )


def fmt_pct(value: float | None, digits: int = 1) -> str:
    """0.237 -> '23.7%'; None -> '–'."""
    return "–" if value is None or pd.isna(value) else f"{value * 100:.{digits}f}%"


def fmt_signed(value: float | None, digits: int = 2) -> str:
    """0.1 -> '+0.10'; None -> '–'."""
    return "–" if value is None or pd.isna(value) else f"{value:+.{digits}f}"


def since_label(moment: datetime | None, reference: datetime | None = None) -> str:
    """'3 min ago' style label for a timestamp."""
    if moment is None:
        return "never"
    delta = (reference or utcnow()) - moment
    if delta < timedelta(minutes=1):
        return "just now"
    if delta < timedelta(hours=1):
        return f"{int(delta.total_seconds() // 60)} min ago"
    if delta < timedelta(days=2):
        return f"{delta.total_seconds() / 3600:.0f} h ago"
    return f"{delta.days} days ago"
