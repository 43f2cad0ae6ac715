"""``finsent worker``, ``finsent broker`` and ``finsent bench``."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from finsent.cli.context import checked_bootstrap, invocation_of, settings_of

if TYPE_CHECKING:
    from finsent.settings import Settings

__all__ = ["register"]


def worker(ctx: typer.Context) -> None:
    """Run the stream worker: consume the raw topic in micro-batches, score, store, publish.

    Scale out by starting more workers with the same consumer group. SIGTERM finishes the
    batch in flight, commits and exits. Bootstrap servers: FINSENT_KAFKA_BOOTSTRAP (unset =
    the embedded broker started by `finsent broker`).
    """
    import faust

    from finsent.kafka import ensure_topics, topic_names
    from finsent.kafka_security import client_security
    from finsent.stream.app import BackgroundPredictor, create_app, load_predictor

    settings = settings_of(ctx)
    # The model loads while the rest starts and Faust joins the group (restart to first score:
    # docs/reliability.md): the join is seconds of waiting on the broker, the load seconds of CPU.
    predictor = BackgroundPredictor(lambda: load_predictor(settings))
    ensure_topics(
        checked_bootstrap(settings),
        topic_names(settings.kafka),
        partitions=settings.kafka.partitions,
        replication_factor=settings.kafka.replication_factor,
        security=client_security(settings.kafka),
    )
    _partitions_ahead(settings)
    app = create_app(settings, predictor)
    level = settings.log_level.lower() if settings.log_level.upper() in ("DEBUG", "INFO") else "warning"
    # override_logging=False: mode would replace the root handler with its colour one; Faust's records
    # go through finsent's JSON formatter like everyone else's (finsent.logs).
    runner = faust.Worker(app, loglevel=level, quiet=True, console_port=0, override_logging=False)
    runner.spinner = None  # its terminal escape codes would land in the JSON log
    runner.execute_from_commandline()


def _partitions_ahead(settings: Settings) -> None:
    """Create this month's and the next PostgreSQL partitions if the scheduler has not (best effort)."""
    import logging

    from sqlalchemy.exc import SQLAlchemyError

    from finsent.db import make_engine
    from finsent.messages import utcnow
    from finsent.retention import ensure_partitions

    engine = make_engine(settings.database)
    try:
        ensure_partitions(engine, now=utcnow(), ahead=settings.retention.partitions_ahead)
    except SQLAlchemyError as exc:  # e.g. a user without CREATE: the scheduler's job then
        logging.getLogger(__name__).warning("could not create partitions ahead", extra={"error": str(exc)[:300]})
    finally:
        engine.dispose()


def broker(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Loopback port (default: FINSENT_KAFKA_EMBEDDED_PORT, 19092).")] = 0,
) -> None:
    """Run the embedded Kafka-protocol broker (Tansu) on loopback until Ctrl-C.

    For development and the demo only; production uses Apache Kafka. Storage is in memory:
    topics vanish when it stops. Topics from the settings are created with their partitions.
    """
    from finsent.kafka import ensure_topics, topic_names
    from finsent.stream.broker import EmbeddedBroker

    settings = settings_of(ctx)
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


def bench(
    ctx: typer.Context,
    messages: Annotated[int, typer.Option(help="Messages per end-to-end run.")] = 5000,
    sample: Annotated[int, typer.Option(help="Texts for the engine measurement.")] = 2000,
    naive_sample: Annotated[int, typer.Option(help="Texts for the (slow) naive baseline.")] = 300,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu",
    precision: Annotated[str, typer.Option(help="Engine precision: auto, fp32, int8, bf16, fp16.")] = "auto",
    runtime: Annotated[str, typer.Option(help="Engine backend: auto, torch, onnx (ONNX Runtime, CPU), openvino (CPU).")] = "auto",
    model: Annotated[Optional[str], typer.Option(help="Checkpoint (default: FINSENT_MODEL_PATH, the shipped model).")] = None,
    texts: Annotated[Optional[Path], typer.Option(help="CSV/JSONL with a text column (default: simulated news).")] = None,
    pg_admin_url: Annotated[
        str, typer.Option(help="PostgreSQL server URL; a temporary database is created there and dropped.")
    ] = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
    end_to_end: Annotated[bool, typer.Option(help="Run the broker + worker + PostgreSQL part.")] = True,
    scale_out: Annotated[
        bool, typer.Option(help="Also compare 1 worker x 2 threads with 2 workers x 1 thread, end to end.")
    ] = False,
    repeat: Annotated[
        int, typer.Option(min=1, help="Measure each rate N times, interleaved; report the median and min..max.")
    ] = 1,
    inference_process: Annotated[
        bool,
        typer.Option(help="Also run end to end with the worker's model in a process of its own "
                     "(FINSENT_MODEL_INFERENCE_PROCESS), beside the worker with the model in-process."),
    ] = False,
    json_out: Annotated[Optional[Path], typer.Option(help="Also write the JSON report here.")] = None,
) -> None:
    """Benchmark: naive baseline vs engine, then end to end through Kafka and PostgreSQL; prints ratios.

    One run, one command. The naive baseline is two Hugging Face pipelines at batch size 1 (what a
    user would otherwise run); the tuned script is transformers alone done well (one model per head,
    sorted batches of 128, bf16 autocast where native); the engine scores both heads in one pass. End to end, messages go
    through the embedded broker and a real worker process into a temporary PostgreSQL database, at
    full speed and then at half of the measured rate, with produce-to-row latency percentiles and
    the worker's memory.
    """
    import json

    from finsent.bench.throughput import format_report, run_throughput

    invocation = invocation_of(ctx)
    report = run_throughput(
        invocation.settings,
        messages=messages,
        sample=sample,
        naive_sample=naive_sample,
        device=device,
        precision=precision,
        runtime=runtime,
        model=model,
        texts=texts,
        pg_admin_url=pg_admin_url,
        end_to_end=end_to_end,
        repeat=repeat,
        scale_out=scale_out,
        inference_process=inference_process,
        child_env=invocation.child_env,
        progress=lambda line: typer.echo(line, err=True),
    )
    typer.echo(format_report(report))
    typer.echo(json.dumps(report, indent=2))
    if json_out:
        json_out.write_text(json.dumps(report, indent=2) + "\n")


def register(app: typer.Typer) -> None:
    """Add ``finsent worker``, ``broker`` and ``bench``."""
    app.command("worker")(worker)
    app.command("broker")(broker)
    app.command("bench")(bench)
