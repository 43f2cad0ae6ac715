"""``finsent alerts``: run the evaluator, operate on alerts and silences, backtest rules, benchmark a cycle."""

from __future__ import annotations

import getpass
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from finsent.cli.context import settings_of
from finsent.cli.help import App

if TYPE_CHECKING:
    from finsent.alerts.operations import AlertView, SilenceView
    from finsent.settings import Settings

__all__ = ["alerts_app", "register"]

alerts_app = App(
    help="Negative-sentiment spike alerts: evaluation, operations (list/ack/silence), backtest and benchmark.",
    no_args_is_help=True,
)

RulesOption = Annotated[
    Optional[Path],
    typer.Option("--rules", help="Rules file (TOML/YAML); default FINSENT_ALERTS_RULES_FILE or the shipped rules.", exists=True),
]
VersionOption = Annotated[
    Optional[str], typer.Option("--model-version", help="Evaluate this model version (default: the one that scored last).")
]
ByOption = Annotated[Optional[str], typer.Option("--by", help="Who is acting (default: your login name).")]


def _factory(settings: Settings):  # type: ignore[no-untyped-def]
    from finsent.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.database))


def _now() -> datetime:
    from finsent.messages import utcnow

    return utcnow()


def _when(value: str) -> datetime:
    """ISO date/time (UTC unless it says otherwise), or a duration ago such as 2h or 7d."""
    from finsent.alerts.rules import parse_duration

    try:
        return _now() - parse_duration(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is neither an ISO date/time nor a duration like 6h or 7d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _who(by: str | None) -> str:
    return by or getpass.getuser()


def _fmt(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "-"


def _alert_line(a: AlertView) -> str:
    v = a.value
    flags = "".join(["A" if a.acked_at else "-", "S" if a.silenced else "-"])
    stats = f"{100 * v.get('rate', 0):.0f}% of {v.get('volume', 0)} vs {100 * v.get('baseline_rate', 0):.0f}%  z={v.get('z', 0):.1f}"
    scope = a.scope if a.scope_kind == "all" else f"{a.scope_kind}:{a.scope}"
    return f"{a.id:>6}  {a.state:<8} {flags}  {a.severity:<8} {_fmt(a.started_at):<16}  {_fmt(a.resolved_at):<16}  {a.rule:<24} {scope:<28} {stats}"


def _silence_line(s: SilenceView) -> str:
    state = "active" if s.active else ("expired" if s.expired_by or s.ends_at <= _now() else "pending")
    return f"{s.id:>5}  {state:<8} {_fmt(s.starts_at)} .. {_fmt(s.ends_at)}  by {s.created_by:<12} {' '.join(s.matchers)}  {s.comment}"


@alerts_app.command("run")
def run(
    ctx: typer.Context,
    rules: RulesOption = None,
    model_version: VersionOption = None,
    once: Annotated[bool, typer.Option("--once", help="One evaluation and one dispatch, then exit (for cron).")] = False,
) -> None:
    """Evaluate the rules every FINSENT_ALERTS_INTERVAL_S seconds and send notifications, until SIGTERM."""
    from finsent.alerts.scheduler import run_forever
    from finsent.alerts.wiring import build_cycle

    settings = settings_of(ctx)
    import os

    # The rules file names environment variables for per-receiver webhook URLs and secrets: read here, at the edge.
    cycle = build_cycle(
        settings.alerts, _factory(settings), rules_path=rules, model_version=model_version, env=dict(os.environ)
    )
    if once:
        result = cycle.evaluate()
        report = cycle.dispatch()
        typer.echo(
            f"model {result.model_version}: {result.observations} scopes tested, {result.firing} firing, "
            f"{sum(t.kind == 'fired' for t in result.transitions)} fired, "
            f"{sum(t.kind == 'resolved' for t in result.transitions)} resolved; "
            f"{report.sent} sent, {report.retried} to retry, {report.failed} failed ({result.elapsed_ms:.0f} ms)"
        )
        return
    from finsent.db import make_engine
    from finsent.messages import utcnow
    from finsent.retention import run_retention

    engine = make_engine(settings.database)
    run_forever(
        cycle,
        interval_s=settings.alerts.interval_s,
        dispatch_interval_s=settings.alerts.dispatch_interval_s,
        metrics_port=settings.alerts.metrics_port,
        metrics_bind=settings.alerts.metrics_bind,
        maintenance=lambda: run_retention(engine, settings.retention, now=utcnow()),
        maintenance_interval_s=settings.retention.interval_s,
    )


@alerts_app.command("list")
def list_(
    ctx: typer.Context,
    state: Annotated[str, typer.Option("--state", help="firing, resolved or all.")] = "all",
    since: Annotated[Optional[str], typer.Option("--since", help="Started after: ISO time or a duration ago (7d).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Alerts, firing first (flags: A = acknowledged, S = silenced)."""
    from dataclasses import asdict

    from finsent.alerts.operations import list_alerts

    settings = settings_of(ctx)
    with _factory(settings)() as session:
        alerts = list_alerts(
            session,
            now=_now(),
            state=None if state == "all" else state,
            since=_when(since) if since else None,
            limit=limit,
        )
    if as_json:
        for a in alerts:
            typer.echo(json.dumps(asdict(a), default=str))
        return
    if not alerts:
        typer.echo("no alerts")
        return
    typer.echo(f"{'id':>6}  {'state':<8} AS  {'severity':<8} {'started':<16}  {'resolved':<16}  {'rule':<24} {'scope':<28} now vs baseline")
    for a in alerts:
        typer.echo(_alert_line(a))


@alerts_app.command("show")
def show(ctx: typer.Context, alert_id: Annotated[int, typer.Argument(help="Alert id.")]) -> None:
    """One alert and its history."""
    from finsent.alerts.operations import alert_history, get_alert

    settings = settings_of(ctx)
    with _factory(settings)() as session:
        try:
            alert = get_alert(session, alert_id=alert_id, now=_now())
        except LookupError as exc:
            raise typer.BadParameter(str(exc)) from None
        events = alert_history(session, alert_id=alert_id)
    typer.echo(_alert_line(alert))
    typer.echo("labels: " + " ".join(f'{k}="{v}"' for k, v in sorted(alert.labels.items())))
    for e in events:
        who = f" by {e.actor}" if e.actor else ""
        detail = {k: v for k, v in e.detail.items() if k in ("reason", "receiver", "comment", "until", "sequence", "z", "rate")}
        typer.echo(f"  {_fmt(e.at)}  {e.kind:<9}{who} {json.dumps(detail, default=str) if detail else ''}")


@alerts_app.command("ack")
def ack_(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(help="Alert id (see `finsent alerts list`).")],
    by: ByOption = None,
    comment: Annotated[str, typer.Option("--comment")] = "",
) -> None:
    """Acknowledge a firing alert: it stops notifying (no repeats, no resolve notice)."""
    from finsent.alerts.operations import ack
    from finsent.db import session_scope

    settings = settings_of(ctx)
    try:
        with session_scope(_factory(settings)) as session:
            alert = ack(session, alert_id=alert_id, by=_who(by), now=_now(), comment=comment)
    except (LookupError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"acknowledged alert {alert.id} ({alert.rule} {alert.scope_kind}:{alert.scope}) by {alert.acked_by}")


@alerts_app.command("silence")
def silence_(
    ctx: typer.Context,
    alert_id: Annotated[Optional[int], typer.Argument(help="Silence this alert's rule and scope.")] = None,
    match: Annotated[
        Optional[list[str]], typer.Option("--match", "-m", help='Label matcher, repeatable: ticker="ACME", severity=~"warn.*".')
    ] = None,
    duration: Annotated[str, typer.Option("--for", help="How long: 30m, 2h, 1d.")] = "2h",
    by: ByOption = None,
    comment: Annotated[str, typer.Option("--comment")] = "",
) -> None:
    """Mute notifications for matching alerts for a while (an alert id, or --match matchers)."""
    from finsent.alerts.operations import silence, silence_alert
    from finsent.alerts.rules import parse_duration
    from finsent.db import session_scope

    if (alert_id is None) == (not match):
        raise typer.BadParameter("give either an alert id or --match matchers")
    try:
        ends_at = _now() + parse_duration(duration)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    settings = settings_of(ctx)
    try:
        with session_scope(_factory(settings)) as session:
            if alert_id is not None:
                row = silence_alert(session, alert_id=alert_id, ends_at=ends_at, by=_who(by), now=_now(), comment=comment)
            else:
                row = silence(session, matchers=match or [], ends_at=ends_at, by=_who(by), now=_now(), comment=comment)
    except (LookupError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"silence {row.id} until {_fmt(row.ends_at)} UTC: {' '.join(row.matchers)}")


@alerts_app.command("unsilence")
def unsilence_(
    ctx: typer.Context,
    silence_id: Annotated[int, typer.Argument(help="Silence id (see `finsent alerts silences`).")],
    by: ByOption = None,
) -> None:
    """Expire a silence now."""
    from finsent.alerts.operations import unsilence
    from finsent.db import session_scope

    settings = settings_of(ctx)
    try:
        with session_scope(_factory(settings)) as session:
            row = unsilence(session, silence_id=silence_id, by=_who(by), now=_now())
    except LookupError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"silence {row.id} expired: {' '.join(row.matchers)}")


@alerts_app.command("silences")
def silences(ctx: typer.Context, all_: Annotated[bool, typer.Option("--all", help="Include expired silences.")] = False) -> None:
    """Silences in force or scheduled."""
    from finsent.alerts.operations import list_silences

    settings = settings_of(ctx)
    with _factory(settings)() as session:
        rows = list_silences(session, now=_now(), include_expired=all_)
    for row in rows:
        typer.echo(_silence_line(row))
    if not rows:
        typer.echo("no silences")


@alerts_app.command("check")
def check(ctx: typer.Context, rules: RulesOption = None) -> None:
    """Validate a rules file and print the rules, routes and receivers it defines."""
    from finsent.alerts.errors import RulesError
    from finsent.alerts.rules import load_config

    settings = settings_of(ctx)
    try:
        config = load_config(rules or settings.alerts.rules_file)
    except RulesError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(config.model_dump(mode="json", by_alias=True), indent=2))


@alerts_app.command("backtest")
def backtest_(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="Start: ISO date/time or a duration ago (7d).")],
    until: Annotated[Optional[str], typer.Option("--until", help="End (default now).")] = None,
    step: Annotated[str, typer.Option("--step", help="Evaluate every: 1m, 5m, 15m.")] = "5m",
    rules: RulesOption = None,
    model_version: VersionOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List what the rules would have fired over stored history (nothing is written or sent)."""
    from finsent.alerts.backtest import backtest
    from finsent.alerts.cycle import active_model_version
    from finsent.alerts.rules import load_config, parse_duration

    settings = settings_of(ctx)
    config = load_config(rules or settings.alerts.rules_file)
    start, end = _when(since), _when(until) if until else _now()
    with _factory(settings)() as session:
        version = model_version or settings.alerts.model_version or active_model_version(session)
        if version is None:
            typer.echo("no scored data")
            raise typer.Exit(1)
        found = backtest(session, config, model_version=version, since=start, until=end, step=parse_duration(step))
    for a in found:
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "rule": a.rule,
                        "scope_kind": a.scope_kind,
                        "scope": a.scope,
                        "severity": a.severity,
                        "fired_at": a.fired_at.isoformat(),
                        "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
                        "first": a.first.as_dict(),
                        "peak": a.peak.as_dict(),
                    }
                )
            )
        else:
            scope = a.scope if a.scope_kind == "all" else f"{a.scope_kind}:{a.scope}"
            typer.echo(
                f"{_fmt(a.fired_at)} .. {_fmt(a.resolved_at):<16}  {a.severity:<8} {a.rule:<24} {scope:<28} "
                f"peak {100 * a.peak.rate:.0f}% of {a.peak.volume} vs {100 * a.peak.baseline_rate:.0f}%  z={a.peak.z:.1f}"
            )
    if not as_json:
        typer.echo(f"{len(found)} alert(s) would have fired between {_fmt(start)} and {_fmt(end)} UTC (model {version})")


@alerts_app.command("bench")
def bench(
    ctx: typer.Context,
    rows: Annotated[int, typer.Option("--rows", min=1000, help="Scored documents to seed.")] = 10_000_000,
    days: Annotated[float, typer.Option("--days", help="History they span.")] = 60.0,
    tickers: Annotated[int, typer.Option("--tickers")] = 500,
    topics: Annotated[int, typer.Option("--topics")] = 20,
    sources: Annotated[int, typer.Option("--sources")] = 12,
    cycles: Annotated[int, typer.Option("--cycles", min=1, help="Evaluation cycles to time.")] = 30,
    database_url: Annotated[
        Optional[str], typer.Option("--database-url", help="PostgreSQL server to create the bench database on.")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the bench database afterwards.")] = False,
) -> None:
    """Seed a fresh PostgreSQL database with ROWS scored documents and time evaluation cycles (target < 200 ms)."""
    from finsent.bench.alerts import BenchSpec, run_bench

    settings = settings_of(ctx)
    url = database_url or settings.database.url.get_secret_value()
    spec = BenchSpec(rows=rows, days=days, tickers=tickers, topics=topics, sources=sources, cycles=cycles)
    try:
        report = run_bench(url, spec, keep=keep, progress=lambda line: typer.echo(line, err=True))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(json.dumps(report, indent=2))


def register(app: typer.Typer) -> None:
    """Add ``finsent alerts``."""
    app.add_typer(alerts_app, name="alerts")
