"""Notification text: one group's firing and resolved alerts as an email and as a Slack message.

Pure: everything shown (statistics, headlines, links) is passed in, so a retried message is
byte-for-byte the message that was recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from finsent.alerts.headlines import Headline

__all__ = [
    "Notice",
    "NoticeAlert",
    "dashboard_link",
    "render_alertmanager",
    "render_email",
    "render_slack",
    "render_webhook",
    "summary",
]


@dataclass(frozen=True)
class NoticeAlert:
    """One alert as a notification shows it."""

    id: int
    rule: str
    scope_kind: str
    scope: str
    severity: str
    direction: str
    state: str
    started_at: datetime
    resolved_at: datetime | None
    value: dict[str, Any]
    peak: dict[str, Any]
    headlines: Sequence[Headline] = ()
    labels: dict[str, str] = field(default_factory=dict)
    fingerprint: str = ""


@dataclass(frozen=True)
class Notice:
    """What one notification of one group says."""

    receiver: str
    group_labels: dict[str, str]
    firing: Sequence[NoticeAlert]
    resolved: Sequence[NoticeAlert]
    dashboard_url: str
    created_at: datetime
    alert_ids: list[int] = field(default_factory=list)


def _pct(x: Any) -> str:
    return f"{100 * float(x):.0f}%"


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _span_minutes(value: dict[str, Any], start: str, end: str) -> str:
    minutes = int((datetime.fromisoformat(value[end]) - datetime.fromisoformat(value[start])).total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440} day{'s' if minutes != 1440 else ''}"
    if minutes % 60 == 0:
        return f"{minutes // 60} hour{'s' if minutes != 60 else ''}"
    return f"{minutes} minutes"


def _scope_text(alert: NoticeAlert) -> str:
    return "all documents" if alert.scope_kind == "all" else f"{alert.scope_kind} {alert.scope}"


def dashboard_link(base: str, alert: NoticeAlert) -> str:
    """The dashboard, opened on the alert's scope."""
    query = {"scope_kind": alert.scope_kind, "scope": alert.scope, "alert": alert.id}
    return f"{base.rstrip('/')}/?{urlencode(query)}"


def summary(notice: Notice) -> str:
    """The subject line: counts, then what the group is about."""
    counts = []
    if notice.firing:
        counts.append(f"FIRING:{len(notice.firing)}")
    if notice.resolved:
        counts.append(f"RESOLVED:{len(notice.resolved)}")
    first = (list(notice.firing) + list(notice.resolved))[0]
    about = f"{first.direction} sentiment spike on {_scope_text(first)}"
    others = len(notice.firing) + len(notice.resolved) - 1
    more = f" and {others} more" if others else ""
    return f"[{', '.join(counts)}] {about}{more} ({first.severity})"


def _firing_lines(alert: NoticeAlert) -> list[str]:
    v = alert.value
    lines = [
        f"FIRING  {_scope_text(alert)}  [{alert.rule}, {alert.severity}]",
        f"  {alert.direction.capitalize()} rate now: {_pct(v['rate'])} "
        f"({v['hits']} of {v['volume']} documents in the {_span_minutes(v, 'window_start', 'window_end')} "
        f"to {_when(datetime.fromisoformat(v['window_end']))})",
        f"  Baseline: {_pct(v['baseline_rate'])} ({v['baseline_volume']} documents in the "
        f"{_span_minutes(v, 'baseline_start', 'baseline_end')} before)   z = {float(v['z']):.1f}, "
        f"at least {float(v['lift']):.1f}x the baseline",
        f"  Firing since {_when(alert.started_at)}",
    ]
    if alert.headlines:
        lines.append(f"  Top {alert.direction} headlines:")
        for h in alert.headlines:
            link = f"  {h.url}" if h.url else ""
            lines.append(f"   - {h.title} ({h.source}, {h.published_at:%H:%M}){link}")
    return lines


def _resolved_lines(alert: NoticeAlert) -> list[str]:
    v, peak = alert.value, alert.peak or alert.value
    lasted = int(((alert.resolved_at or alert.started_at) - alert.started_at).total_seconds() // 60)
    return [
        f"RESOLVED  {_scope_text(alert)}  [{alert.rule}, {alert.severity}]",
        f"  Fired {_when(alert.started_at)}, resolved after {lasted} minutes.",
        f"  {alert.direction.capitalize()} rate now {_pct(v['rate'])} of {v['volume']} documents "
        f"(baseline {_pct(v['baseline_rate'])}); peak was {_pct(peak['rate'])} of {peak['volume']}, "
        f"z = {float(peak['z']):.1f}.",
    ]


def render_email(notice: Notice, *, to: Sequence[str]) -> dict[str, Any]:
    """The outbox payload of an email: recipients, subject and plain text."""
    blocks: list[str] = []
    for alert in notice.firing:
        blocks.append("\n".join([*_firing_lines(alert), f"  Dashboard: {dashboard_link(notice.dashboard_url, alert)}"]))
    for alert in notice.resolved:
        blocks.append("\n".join(_resolved_lines(alert)))
    footer = f"-- finsent alerts, receiver {notice.receiver}. Dashboard: {notice.dashboard_url}"
    return {
        "to": list(to),
        "subject": summary(notice),
        "text": "\n\n".join([*blocks, footer]) + "\n",
        "date": notice.created_at.isoformat(),
        "alert_ids": notice.alert_ids,
    }


def _mrkdwn(text: str) -> str:
    # Slack's three control characters; everything else is literal.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_firing(alert: NoticeAlert, dashboard_url: str) -> str:
    v = alert.value
    lines = [
        f":rotating_light: *{_mrkdwn(_scope_text(alert))}*  `{_mrkdwn(alert.rule)}`  _{alert.severity}_",
        f"*{alert.direction.capitalize()} now:* {_pct(v['rate'])} of {v['volume']} docs "
        f"(last {_span_minutes(v, 'window_start', 'window_end')})   "
        f"*Baseline:* {_pct(v['baseline_rate'])} of {v['baseline_volume']} "
        f"({_span_minutes(v, 'baseline_start', 'baseline_end')})   *z* = {float(v['z']):.1f}",
    ]
    for h in alert.headlines:
        title = _mrkdwn(h.title[:150])
        lines.append(f"• <{h.url}|{title}> ({_mrkdwn(h.source)})" if h.url else f"• {title} ({_mrkdwn(h.source)})")
    lines.append(f"<{dashboard_link(dashboard_url, alert)}|Open in the dashboard>")
    return "\n".join(lines)[:2900]


def _slack_resolved(alert: NoticeAlert) -> str:
    v, peak = alert.value, alert.peak or alert.value
    return (
        f":white_check_mark: *Resolved: {_mrkdwn(_scope_text(alert))}*  `{_mrkdwn(alert.rule)}`\n"
        f"{alert.direction.capitalize()} rate back to {_pct(v['rate'])} (baseline {_pct(v['baseline_rate'])}); "
        f"peak {_pct(peak['rate'])} of {peak['volume']} docs, z = {float(peak['z']):.1f}. "
        f"Fired {_when(alert.started_at)}."
    )


def render_slack(notice: Notice) -> dict[str, Any]:
    """The outbox payload of a Slack message: ``body`` is what is posted to the webhook."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": summary(notice)[:150]}},
    ]
    for alert in notice.firing:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _slack_firing(alert, notice.dashboard_url)}})
    for alert in notice.resolved:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _slack_resolved(alert)}})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"finsent · <{notice.dashboard_url}|dashboard>"}],
        }
    )
    return {"body": {"text": summary(notice), "blocks": blocks[:50]}, "alert_ids": notice.alert_ids}


def _annotations(alert: NoticeAlert) -> dict[str, str]:
    v = alert.value
    return {
        "summary": f"{alert.direction} sentiment spike on {_scope_text(alert)}",
        "description": (
            f"{alert.direction} rate {_pct(v.get('rate', 0))} of {v.get('volume', 0)} documents vs baseline "
            f"{_pct(v.get('baseline_rate', 0))}, z = {float(v.get('z', 0)):.1f}"
        ),
    }


def _iso(at: datetime | None) -> str:
    return at.isoformat().replace("+00:00", "Z") if at else "0001-01-01T00:00:00Z"


def _am_alert(alert: NoticeAlert, dashboard_url: str) -> dict[str, Any]:
    """One alert in Alertmanager's own shape (labels, annotations, startsAt, endsAt, generatorURL)."""
    return {
        "status": alert.state,
        "labels": {"alertname": alert.rule, **alert.labels},
        "annotations": _annotations(alert),
        "startsAt": _iso(alert.started_at),
        "endsAt": _iso(alert.resolved_at) if alert.state == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": dashboard_link(dashboard_url, alert),
        "fingerprint": alert.fingerprint,
    }


def render_webhook(notice: Notice, *, group_key: str, max_alerts: int = 0) -> dict[str, Any]:
    """The outbox payload of a webhook: ``body`` is Alertmanager's webhook_config JSON (version 4)."""
    alerts = [_am_alert(a, notice.dashboard_url) for a in [*notice.firing, *notice.resolved]]
    shown = alerts[:max_alerts] if max_alerts else alerts
    labels = [a["labels"] for a in alerts]
    common = {k: v for k, v in labels[0].items() if all(other.get(k) == v for other in labels)} if labels else {}
    body = {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": len(alerts) - len(shown),
        "status": "firing" if notice.firing else "resolved",
        "receiver": notice.receiver,
        "groupLabels": dict(notice.group_labels),
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": notice.dashboard_url,
        "alerts": shown,
    }
    return {"body": body, "alert_ids": notice.alert_ids}


def render_alertmanager(notice: Notice) -> dict[str, Any]:
    """The outbox payload for Alertmanager's POST /api/v2/alerts: firing alerts, and resolved ones with endsAt."""
    alerts = []
    for alert in [*notice.firing, *notice.resolved]:
        shaped = _am_alert(alert, notice.dashboard_url)
        entry = {k: shaped[k] for k in ("labels", "annotations", "startsAt", "generatorURL")}
        if alert.state == "resolved":
            entry["endsAt"] = shaped["endsAt"]  # Alertmanager resolves an alert whose endsAt has passed
        alerts.append(entry)
    return {"body": alerts, "alert_ids": notice.alert_ids}
