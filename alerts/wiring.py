"""Assembly at the entry point: notifiers, dispatcher and cycle built from settings and the rules file."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from finsent.alerts.counts import RollupReader
from finsent.alerts.cycle import AlertCycle, Clock, RulesSource
from finsent.alerts.dispatch import Dispatcher, resolve_integrations
from finsent.alerts.notify import Notifier
from finsent.alerts.notify.email import EmailNotifier, SmtpConfig, SmtpSender
from finsent.alerts.notify.http import HttpNotifier
from finsent.alerts.outbox import RetryPolicy
from finsent.alerts.rules import AlertsConfig
from finsent.messages import utcnow
from finsent.settings import AlertSettings

__all__ = ["build_cycle", "build_notifiers", "retry_policy", "without_jit"]


def without_jit(engine: Engine) -> None:
    """Turn PostgreSQL's JIT off on this engine's connections (once; idempotent)."""
    # A large rollup table pushes cost estimates past jit_above_cost, and compiling the plan
    # (hundreds of ms) would cost far more than these short queries take.
    if getattr(engine, "_finsent_no_jit", False):
        return

    @event.listens_for(engine, "connect")
    def _set(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET jit = off")
        dbapi_connection.commit()

    engine._finsent_no_jit = True  # type: ignore[attr-defined]
    engine.dispose()  # pooled connections made before this would still have JIT on


def retry_policy(settings: AlertSettings) -> RetryPolicy:
    """The outbox's backoff, from settings."""
    return RetryPolicy(
        initial=timedelta(seconds=settings.retry_initial_s),
        maximum=timedelta(seconds=settings.retry_max_s),
        give_up_after=timedelta(seconds=settings.give_up_after_s),
    )


def build_notifiers(
    settings: AlertSettings,
    lookup: Callable[[str, str, int], Any],
    *,
    http_client: httpx.Client | None = None,
    smtp_sender: Callable[[EmailMessage], None] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, Notifier]:
    """Email, and the HTTP kinds (Slack, webhook, Alertmanager), each sending to the URL of the config that recorded it.

    ``lookup(receiver, kind, index)`` finds that config's current integration (``Dispatcher.integration``).
    """
    sender = smtp_sender or SmtpSender(SmtpConfig.from_settings(settings), ssl_context=ssl_context)
    notifiers: dict[str, Notifier] = {"email": EmailNotifier(sender, email_from=settings.email_from)}
    client = http_client or httpx.Client(timeout=settings.send_timeout_s)
    for kind in ("slack", "webhook", "alertmanager"):
        notifiers[kind] = HttpNotifier(client, kind, lookup, timeout_s=settings.send_timeout_s)
    return notifiers


def build_cycle(
    settings: AlertSettings,
    factory: sessionmaker[Session],
    *,
    rules_path: str | Path | None = None,
    config: AlertsConfig | None = None,
    model_version: str | None = None,
    clock: Clock = utcnow,
    notifiers: dict[str, Notifier] | None = None,
    http_client: httpx.Client | None = None,
    ssl_context: ssl.SSLContext | None = None,
    reader: RollupReader | None = None,
    env: Mapping[str, str] | None = None,
) -> AlertCycle:
    """The evaluation cycle with its dispatcher, ready for the scheduler (or a test's simulated clock)."""
    engine = factory.kw.get("bind")
    if isinstance(engine, Engine) and engine.dialect.name == "postgresql":
        without_jit(engine)
    source = RulesSource(rules_path if rules_path is not None else settings.rules_file, config=config)
    current, _ = source.current()
    chosen: dict[str, Notifier] = {}
    dispatcher = Dispatcher(
        config=current,
        integrations=resolve_integrations(current, settings, env),
        notifiers=chosen,
        dashboard_url=settings.dashboard_url,
        policy=retry_policy(settings),
    )
    chosen.update(
        notifiers
        if notifiers is not None
        else build_notifiers(settings, dispatcher.integration, http_client=http_client, ssl_context=ssl_context)
    )
    return AlertCycle(
        factory,
        rules=source,
        dispatcher=dispatcher,
        settings=settings,
        model_version=model_version,
        reader=reader,
        clock=clock,
        env=env,
    )
