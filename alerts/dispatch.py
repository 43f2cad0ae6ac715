"""The dispatcher: routes alerts into aggregation groups, decides when each group notifies, fills the outbox.

Alertmanager's timing, kept in ``alert_groups`` so a restart forgets nothing: a new group
waits ``group_wait`` (to gather alerts that fire together), then notifies; later it looks
again every ``group_interval`` and notifies when an alert joined, or one it had announced
resolved (integrations with ``send_resolved``), or ``repeat_interval`` passed while it still
fires. Silenced, inhibited and acknowledged alerts are left out, so they stop notifying.

``plan`` only writes rows (outbox and group state, in the caller's transaction);
``deliver`` sends what is due. Neither evaluates rules.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session, sessionmaker

from finsent.alerts.headlines import top_headlines
from finsent.alerts.matchers import Matcher, parse_matcher
from finsent.alerts.notify import Notifier
from finsent.alerts.outbox import DeliveryReport, RetryPolicy, deliver_due, enqueue
from pydantic import SecretStr
from finsent.alerts.render import Notice, NoticeAlert, render_alertmanager, render_email, render_slack, render_webhook
from finsent.alerts.routing import (
    RouteNode,
    build_tree,
    group_key,
    group_labels,
    inhibited,
    match_routes,
    silenced,
)
from finsent.alerts.rules import AlertsConfig
from finsent.logs import register_secrets
from finsent.settings import AlertSettings
from finsent.tables import Alert, AlertEvent, NotificationGroup, Silence

__all__ = ["Dispatcher", "Integration", "active_silences", "resolve_integrations"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Integration:
    """One usable config of a receiver (email, slack, webhook, alertmanager), with settings and secrets applied."""

    kind: str  # email | slack | webhook | alertmanager
    index: int
    send_resolved: bool
    to: tuple[str, ...] = ()
    url: SecretStr | None = field(default=None, repr=False)  # webhook URLs are secrets
    secret: SecretStr | None = field(default=None, repr=False)  # HMAC key of a signed webhook
    max_alerts: int = 0


def _secret(env: Mapping[str, str], name: str | None) -> SecretStr | None:
    value = env.get(name, "").strip() if name else ""
    register_secrets([value])  # masked in every log line from now on (httpx logs request URLs)
    return SecretStr(value) if value else None  # empty means not configured


def resolve_integrations(
    config: AlertsConfig, settings: AlertSettings, env: Mapping[str, str] | None = None
) -> dict[str, list[Integration]]:
    """Each receiver's integrations that can work with these settings; the rest are dropped with a warning.

    ``env`` is the environment the variables named in the rules file (webhook URLs, secrets) are
    read from; the entry point passes ``os.environ``.
    """
    env = env or {}
    out: dict[str, list[Integration]] = {}
    for receiver in config.receivers:
        usable: list[Integration] = []
        skip = lambda what: log.warning(what, extra={"receiver": receiver.name})  # noqa: E731
        for i, email in enumerate(receiver.email_configs):
            to = tuple(email.to or settings.email_to)
            if to:
                usable.append(Integration("email", i, email.send_resolved, to))
            else:
                skip("email config has no recipients (set FINSENT_ALERTS_EMAIL_TO)")
        for i, slack in enumerate(receiver.slack_configs):
            url = _secret(env, slack.webhook_url_env) if slack.webhook_url_env else settings.slack_webhook_url
            if url is not None:
                usable.append(Integration("slack", i, slack.send_resolved, url=url))
            else:
                skip(f"slack config has no webhook (set {slack.webhook_url_env or 'FINSENT_ALERTS_SLACK_WEBHOOK_URL'})")
        for i, hook in enumerate(receiver.webhook_configs):
            url = _secret(env, hook.url_env)
            secret = _secret(env, hook.hmac_secret_env)
            if url is None:
                skip(f"webhook config has no URL (set {hook.url_env})")
            elif hook.hmac_secret_env and secret is None:
                skip(f"webhook config names a signing secret that is not set ({hook.hmac_secret_env})")
            else:
                usable.append(Integration("webhook", i, hook.send_resolved, url=url, secret=secret, max_alerts=hook.max_alerts))
        for i, am in enumerate(receiver.alertmanager_configs):
            url = SecretStr(am.url) if am.url else _secret(env, am.url_env)
            if url is not None:
                usable.append(Integration("alertmanager", i, am.send_resolved, url=url))
            else:
                skip(f"alertmanager config has no URL (set {am.url_env})")
        out[receiver.name] = usable
    return out


def active_silences(session: Session, now: datetime) -> list[list[Matcher]]:
    """The matchers of every silence in force at ``now``."""
    rows = session.scalars(select(Silence).where(Silence.starts_at <= now, Silence.ends_at > now))
    return [[parse_matcher(m) for m in row.matchers] for row in rows]


@dataclass
class _Bucket:
    node: RouteNode
    labels: dict[str, str]
    alerts: list[Alert] = field(default_factory=list)


class Dispatcher:
    """Turns alert state into outbox rows (``plan``) and sends them (``deliver``)."""

    def __init__(
        self,
        *,
        config: AlertsConfig,
        integrations: Mapping[str, Sequence[Integration]],
        notifiers: Mapping[str, Notifier],
        dashboard_url: str,
        policy: RetryPolicy,
        headline_limit: int = 3,
    ) -> None:
        self.configure(config, integrations)
        self._notifiers = notifiers
        self._dashboard_url = dashboard_url
        self._policy = policy
        self._headline_limit = headline_limit

    def configure(self, config: AlertsConfig, integrations: Mapping[str, Sequence[Integration]]) -> None:
        """Swap in a reloaded configuration."""
        self._config = config
        self._tree = build_tree(config.route)
        self._integrations = integrations

    def plan(self, session: Session, now: datetime) -> list[int]:
        """Record the notifications due at ``now``; returns the new outbox ids (after the caller's flush)."""
        groups = {g.key: g for g in session.scalars(select(NotificationGroup))}
        announced = {i for g in groups.values() for i in g.notified_firing}
        alerts = list(
            session.scalars(
                select(Alert).where(or_(Alert.state == "firing", Alert.id.in_(announced) if announced else false()))
            )
        )
        firing_labels = [a.labels for a in alerts if a.state == "firing"]
        silences = active_silences(session, now)
        buckets: dict[str, _Bucket] = {}
        for alert in alerts:
            if alert.acked_at is not None or silenced(alert.labels, silences):
                continue
            if alert.state == "firing" and inhibited(alert.labels, firing_labels, self._config.inhibit_rules):
                continue
            for node in match_routes(self._tree, alert.labels):
                key = group_key(node, alert.labels)
                buckets.setdefault(key, _Bucket(node, group_labels(node, alert.labels))).alerts.append(alert)

        created: list[Any] = []
        for key in sorted(set(buckets) | set(groups)):
            bucket, group = buckets.get(key), groups.get(key)
            if bucket is None:
                # Nothing left to say: every alert it announced is muted, or routed elsewhere after a reload.
                if group is not None:
                    session.delete(group)
                continue
            created.extend(self._plan_group(session, key, bucket, group, now))
        session.flush()
        return [row.id for row in created]

    def _plan_group(
        self, session: Session, key: str, bucket: _Bucket, group: NotificationGroup | None, now: datetime
    ) -> list[Any]:
        node = bucket.node
        firing = sorted((a for a in bucket.alerts if a.state == "firing"), key=lambda a: a.id)
        if group is None:
            if not firing:
                return []
            group = NotificationGroup(
                key=key,
                route=node.path,
                receiver=node.receiver,
                labels=bucket.labels,
                created_at=now,
                # Timed from the first alert's start, so a planner that was down does not add its delay.
                due_at=min(a.started_at for a in firing) + node.group_wait,
                notified_firing=[],
                sequence=0,
            )
            session.add(group)
        if now < group.due_at:
            return []
        announced = set(group.notified_firing)
        resolved = sorted((a for a in bucket.alerts if a.state == "resolved" and a.id in announced), key=lambda a: a.id)
        firing_ids = {a.id for a in firing}
        joined = bool(firing_ids - announced)
        repeat = bool(firing) and (group.last_sent_at is None or now - group.last_sent_at >= node.repeat_interval)

        rows: list[Any] = []
        integrations = self._integrations.get(node.receiver, ())
        if joined or repeat or resolved:
            notice_firing = [self._notice_alert(session, a) for a in firing]
            notice_resolved = [self._notice_alert(session, a, headlines=False) for a in resolved]
            sequence = group.sequence + 1
            for integration in integrations:
                shown_resolved = notice_resolved if integration.send_resolved else []
                if not (joined or repeat) and not shown_resolved:
                    continue  # only resolutions to tell, and this integration does not want them
                notice = Notice(
                    receiver=node.receiver,
                    group_labels=bucket.labels,
                    firing=notice_firing,
                    resolved=shown_resolved,
                    dashboard_url=self._dashboard_url,
                    created_at=now,
                    alert_ids=[a.id for a in notice_firing] + [a.id for a in shown_resolved],
                )
                payload = self._render(notice, integration, key)
                rows.append(
                    enqueue(
                        session,
                        # Unique across a group's lifetimes: the same scope may spike again next week.
                        key=f"{key[:16]}-{group.created_at:%Y%m%dT%H%M%S%f}-{sequence}-{integration.kind}{integration.index}",
                        receiver=node.receiver,
                        integration=integration.kind,
                        payload=payload,
                        alert_ids=notice.alert_ids,
                        now=now,
                    )
                )
            for alert in [*firing, *resolved] if rows else []:
                session.add(
                    AlertEvent(
                        alert_id=alert.id,
                        at=now,
                        kind="notified",
                        detail={"receiver": node.receiver, "group": key, "sequence": sequence, "state": alert.state},
                    )
                )
            group.sequence = sequence
            if joined or repeat:
                group.last_sent_at = now
        group.notified_firing = sorted(firing_ids)
        group.due_at = now + node.group_interval
        if not firing:
            session.delete(group)  # all resolved and told: the next spike starts a fresh group
        return rows

    @staticmethod
    def _render(notice: Notice, integration: Integration, group: str) -> dict[str, Any]:
        if integration.kind == "email":
            payload = render_email(notice, to=integration.to)
        elif integration.kind == "slack":
            payload = render_slack(notice)
        elif integration.kind == "webhook":
            payload = render_webhook(notice, group_key=group, max_alerts=integration.max_alerts)
        else:
            payload = render_alertmanager(notice)
        # Which config of which receiver sends it: its URL is a secret and is looked up, never stored.
        return {**payload, "target": [notice.receiver, integration.index]}

    def integration(self, receiver: str, kind: str, index: int) -> Integration | None:
        """The current (possibly reloaded) integration a recorded notification is for."""
        return next(
            (i for i in self._integrations.get(receiver, ()) if i.kind == kind and i.index == index), None
        )

    def _notice_alert(self, session: Session, alert: Alert, *, headlines: bool = True) -> NoticeAlert:
        value = alert.value
        shown = []
        if headlines and value.get("window_start"):
            shown = top_headlines(
                session,
                model_version=value.get("model_version", alert.model_version),
                scope_kind=alert.scope_kind,
                scope=alert.scope,
                start=datetime.fromisoformat(value["window_start"]),
                end=datetime.fromisoformat(value["window_end"]),
                sentiment=alert.labels.get("direction", "negative"),
                limit=self._headline_limit,
            )
        return NoticeAlert(
            id=alert.id,
            rule=alert.rule,
            scope_kind=alert.scope_kind,
            scope=alert.scope,
            severity=alert.severity,
            direction=alert.labels.get("direction", "negative"),
            state=alert.state,
            started_at=alert.started_at,
            resolved_at=alert.resolved_at,
            value=value,
            peak=alert.peak,
            headlines=shown,
            labels=dict(alert.labels),
            fingerprint=alert.fingerprint,
        )

    def deliver(self, factory: sessionmaker[Session], now: datetime) -> DeliveryReport:
        """Send every outbox row that is due."""
        return deliver_due(factory, self._notifiers, now=now, policy=self._policy)
