"""``finsent demo``: the whole system on embedded defaults, supervised in one terminal.

Starts the embedded broker (unless FINSENT_KAFKA_BOOTSTRAP is set), migrates the database
(a SQLite file unless FINSENT_DATABASE_URL is set), then runs the worker, the news
simulator, the alert scheduler and the dashboard as child processes. Ctrl-C (or SIGTERM)
stops them in reverse order, each given time to finish its batch.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Optional

import typer

from finsent.cli.context import checked_bootstrap, invocation_of

__all__ = ["Service", "Supervisor", "register"]

log = logging.getLogger(__name__)


@dataclass
class Service:
    """One child process of the demo."""

    name: str
    args: list[str]
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, env: dict[str, str], log_dir: Path) -> None:
        out = open(log_dir / f"{self.name}.log", "ab")
        # A separate process group: the terminal's Ctrl-C reaches only the supervisor, which
        # then stops the children in order instead of all of them racing.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "finsent.cli", *self.args], env=env, stdout=out, stderr=out, start_new_session=True
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@dataclass
class Supervisor:
    """Starts services in order, watches them, stops them in reverse order."""

    services: list[Service]
    env: dict[str, str]
    log_dir: Path

    def start(self) -> None:
        for service in self.services:
            service.start(self.env, self.log_dir)

    def first_dead(self) -> Service | None:
        return next((s for s in self.services if not s.alive()), None)

    def stop(self, timeout_s: float = 30.0) -> None:
        for service in reversed(self.services):
            service.stop(timeout_s)


def demo(
    ctx: typer.Context,
    rate: Annotated[Optional[float], typer.Option(help="Simulated messages per second (default: FINSENT_INGEST_SIMULATOR_RATE).")] = None,
    duration: Annotated[Optional[float], typer.Option(help="Stop by itself after this many seconds (default: run until Ctrl-C).")] = None,
    dashboard: Annotated[bool, typer.Option(help="Start the dashboard.")] = True,
    alerts: Annotated[bool, typer.Option(help="Start the alert scheduler.")] = True,
) -> None:
    """Run everything on embedded defaults: broker, database, worker, simulator, alerts, dashboard.

    Nothing to configure: the broker is the embedded one, the database a SQLite file under
    ./var (or FINSENT_DATABASE_URL), the model the shipped one. Logs go to ./var/demo/*.log.
    Ctrl-C stops everything cleanly.
    """
    from finsent import migrations
    from finsent.kafka import ensure_topics, topic_names
    from finsent.kafka_security import client_security
    from finsent.stream.broker import EmbeddedBroker

    invocation = invocation_of(ctx)
    settings = invocation.settings
    model_path = Path(settings.model.path)
    if not model_path.exists():
        raise typer.BadParameter(f"model not found at {model_path}; set FINSENT_MODEL_PATH or run `make model`")
    log_dir = Path(settings.data_dir) / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)

    broker = None
    bootstrap = settings.kafka.bootstrap
    if not bootstrap:
        broker = EmbeddedBroker(port=settings.kafka.embedded_port, log_path=log_dir / "broker.log").start()
        bootstrap = broker.bootstrap
    else:
        checked_bootstrap(settings)
    ensure_topics(
        bootstrap, topic_names(settings.kafka), partitions=settings.kafka.partitions, security=client_security(settings.kafka)
    )
    db_url = settings.database.url.get_secret_value()
    migrations.upgrade(db_url)

    # The services read the same settings: this environment, plus --config and --log-level.
    env = invocation.child_env({**os.environ, "FINSENT_KAFKA_BOOTSTRAP": bootstrap, "FINSENT_DATA_DIR": settings.data_dir})
    # The simulator writes its headlines from a few templates, so its bursts would read as copies of
    # a handful of stories and never spike: the demo counts documents unless told otherwise.
    env.setdefault("FINSENT_STORIES_COUNT", "documents")
    services = [Service("worker", ["worker"])]
    services.append(Service("simulator", ["ingest", "simulate", *(["--rate", str(rate)] if rate else [])]))
    if alerts:
        services.append(Service("alerts", ["alerts", "run"]))
    if dashboard:
        services.append(Service("dashboard", ["dashboard"]))
    supervisor = Supervisor(services, env, log_dir)

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        supervisor.start()
        dashboard_url = f"http://{settings.dashboard.host}:{settings.dashboard.port}"
        typer.echo(
            "finsent demo is running\n"
            f"  broker     {bootstrap}{' (embedded)' if broker else ''}\n"
            f"  database   {settings.database.url.get_secret_value() if db_url.startswith('sqlite') else 'FINSENT_DATABASE_URL'}\n"
            f"  model      {model_path}\n"
            + (f"  dashboard  {dashboard_url}\n" if dashboard else "")
            + f"  metrics    http://127.0.0.1:{settings.stream.web_port}/metrics\n"
            f"  logs       {log_dir}/\n"
            "Ctrl-C stops everything."
        )
        deadline = time.monotonic() + duration if duration else None
        while not stop.wait(1.0):
            dead = supervisor.first_dead()
            if dead is not None:
                typer.echo(f"{dead.name} exited with {dead.proc.returncode if dead.proc else '?'}; see {log_dir}/{dead.name}.log", err=True)
                raise typer.Exit(1)
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        typer.echo("stopping...", err=True)
        supervisor.stop()
        if broker is not None:
            broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    typer.echo("stopped cleanly")


def register(app: typer.Typer) -> None:
    """Add the demo command."""
    app.command("demo")(demo)
