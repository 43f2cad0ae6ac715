"""``finsent worker`` and ``finsent broker``."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

__all__ = ["register"]


def worker() -> None:
    """Run the stream worker: consume the raw topic in micro-batches, score, store, publish.

    Scale out by starting more workers with the same consumer group. SIGTERM finishes the
    batch in flight, commits and exits. Bootstrap servers: FINSENT_KAFKA_BOOTSTRAP (unset =
    the embedded broker started by `finsent broker`).
    """
    import faust

    from finsent.cli import settings_from
    from stream.app import create_app, load_predictor
    from stream.kafka import bootstrap_servers, ensure_topics, topic_names

    settings = settings_from()
    ensure_topics(
        bootstrap_servers(settings.kafka),
        topic_names(settings.kafka),
        partitions=settings.kafka.partitions,
        replication_factor=settings.kafka.replication_factor,
    )
    app = create_app(settings, load_predictor(settings))
    level = settings.log_level.lower() if settings.log_level.upper() in ("DEBUG", "INFO") else "warning"
    faust.Worker(app, loglevel=level, quiet=True, console_port=0).execute_from_commandline()


def broker(
    port: Annotated[int, typer.Option(help="Loopback port (default: FINSENT_KAFKA_EMBEDDED_PORT, 19092).")] = 0,
) -> None:
    """Run the embedded Kafka-protocol broker (Tansu) on loopback until Ctrl-C.

    For development and the demo only; production uses Apache Kafka. Storage is in memory:
    topics vanish when it stops. Topics from the settings are created with their partitions.
    """
    from finsent.cli import settings_from
    from stream.broker import EmbeddedBroker
    from stream.kafka import ensure_topics, topic_names

    settings = settings_from()
    embedded = EmbeddedBroker(port=port or settings.kafka.embedded_port).start()
    ensure_topics(embedded.bootstrap, topic_names(settings.kafka), partitions=settings.kafka.partitions)
    typer.echo(f"broker ready at {embedded.bootstrap} (Ctrl-C stops it)")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            if not embedded.running():
                raise typer.Exit(1)
    finally:
        embedded.stop()


def register(app: typer.Typer) -> None:
    """Add this package's commands to the finsent CLI."""
    app.command("worker")(worker)
    app.command("broker")(broker)
