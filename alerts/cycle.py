"""One evaluation cycle (rules over rollups, then alert state, then the dispatcher's plan) and one dispatch tick.

This is all the scheduler calls. ``now`` comes from an injected clock or the caller, so tests
and the backtest drive simulated time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from finsent.alerts.counts import RollupReader
from finsent.alerts.dispatch import Dispatcher, resolve_integrations
from finsent.alerts.errors import RulesError
from finsent.alerts.evaluate import evaluate_rules
from finsent.alerts import metrics
from finsent.alerts.outbox import DeliveryReport, oldest_pending, pending_count
from finsent.alerts.rules import AlertsConfig, load_config
from finsent.alerts.state import Transition, apply_observations
from finsent.db import session_scope
from finsent.messages import utcnow
from finsent.settings import AlertSettings
from finsent.tables import Alert, Score

__all__ = ["AlertCycle", "CycleResult", "RulesSource", "active_model_version", "model_versions"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def model_versions(session: Session) -> list[str]:
    """Every model version with rollups (a loose index scan: one probe per version, not a table scan)."""
    sql = text(
        """
        WITH RECURSIVE d(v) AS (
            SELECT MIN(model_version) FROM rollups
            UNION ALL
            SELECT (SELECT MIN(model_version) FROM rollups WHERE model_version > d.v) FROM d WHERE d.v IS NOT NULL
        )
        SELECT v FROM d WHERE v IS NOT NULL
        """
    )
    return [row[0] for row in session.execute(sql)]


def active_model_version(session: Session) -> str | None:
    """The model version that scored most recently, judged on each version's newest publications (index-only)."""
    best: tuple[datetime, str] | None = None
    for version in model_versions(session):
        newest = (
            select(Score.scored_at)
            .where(Score.model_version == version)
            .order_by(Score.published_at.desc())
            .limit(200)
            .subquery()
        )
        latest = session.scalar(select(func.max(newest.c.scored_at)))
        if latest is not None and (best is None or (latest, version) > best):
            best = (latest, version)
    return best[1] if best else None


class RulesSource:
    """The rules file, re-read when it changes on disk; an invalid edit keeps the rules in force."""

    def __init__(self, path: str | Path | None = None, *, config: AlertsConfig | None = None) -> None:
        self._path = Path(path) if path else None
        self._config = config if config is not None else load_config(self._path)
        self._mtime = self._stat()

    def _stat(self) -> float | None:
        try:
            return self._path.stat().st_mtime if self._path else None
        except OSError:
            return None

    def current(self) -> tuple[AlertsConfig, bool]:
        """The rules to use now, and whether they changed since the last call."""
        mtime = self._stat()
        if self._path is None or mtime == self._mtime:
            return self._config, False
        self._mtime = mtime
        try:
            self._config = load_config(self._path)
        except RulesError as exc:
            log.error("rules file invalid; keeping the previous rules", extra={"error": str(exc)})
            return self._config, False
        log.warning("rules reloaded", extra={"path": str(self._path), "rules": len(self._config.rules)})
        return self._config, True


@dataclass(frozen=True)
class CycleResult:
    """What one evaluation cycle found and did."""

    at: datetime
    model_version: str | None
    observations: int
    firing: int
    transitions: list[Transition] = field(default_factory=list)
    planned: int = 0
    elapsed_ms: float = 0.0


class AlertCycle:
    """Evaluates every rule and hands the resulting alert state to the dispatcher."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        rules: RulesSource,
        dispatcher: Dispatcher,
        settings: AlertSettings,
        model_version: str | None = None,
        reader: RollupReader | None = None,
        clock: Clock = utcnow,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._factory = factory
        self._rules = rules
        self._dispatcher = dispatcher
        self._settings = settings
        self._model_version = model_version or settings.model_version
        self._reader = reader or RollupReader()
        self._clock = clock
        self._env = env  # where the rules file's named variables (webhook URLs, secrets) are read

    @property
    def config(self) -> AlertsConfig:
        return self._rules.current()[0]

    def evaluate(self, now: datetime | None = None) -> CycleResult:
        """Test every rule at ``now``; fire and resolve alerts; record due notifications, all in one transaction."""
        now = now or self._clock()
        started = time.perf_counter()
        config, changed = self._rules.current()
        if changed:
            self._dispatcher.configure(config, resolve_integrations(config, self._settings, self._env))
        with session_scope(self._factory) as session:
            version = self._model_version or active_model_version(session)
            firing = session.scalars(select(Alert).where(Alert.state == "firing")).all()
            transitions: list[Transition] = []
            observations = 0
            if version is not None:
                found = evaluate_rules(
                    session,
                    config.rules,
                    model_version=version,
                    now=now,
                    reader=self._reader,
                    firing=[(a.rule, (a.scope_kind, a.scope)) for a in firing],
                )
                observations = len(found)
                transitions = apply_observations(
                    session, found, rules=config.rules, model_version=version, now=now, firing_alerts=firing
                )
            planned = self._dispatcher.plan(session, now)
        still_firing = len(firing) + sum(1 if t.kind == "fired" else -1 for t in transitions)
        result = CycleResult(
            at=now,
            model_version=version,
            observations=observations,
            firing=still_firing,
            transitions=transitions,
            planned=len(planned),
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )
        log.info(
            "evaluation cycle",
            extra={
                "model_version": version,
                "observations": observations,
                "firing": still_firing,
                "fired": sum(t.kind == "fired" for t in transitions),
                "resolved": sum(t.kind == "resolved" for t in transitions),
                "planned": len(planned),
                "elapsed_ms": round(result.elapsed_ms, 1),
            },
        )
        return result

    def dispatch(self, now: datetime | None = None) -> DeliveryReport:
        """Flush group timers that came due since the last cycle, then send what the outbox holds."""
        now = now or self._clock()
        with session_scope(self._factory) as session:
            self._dispatcher.plan(session, now)
        report = self._dispatcher.deliver(self._factory, now)
        with self._factory() as session:
            oldest = oldest_pending(session)
            metrics.OUTBOX_PENDING.set(pending_count(session))
            metrics.OUTBOX_OLDEST_AGE.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        return report
