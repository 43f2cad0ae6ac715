"""``finsent ingest ...`` and ``finsent backfill``: the ingest package's commands."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from finsent.cli.context import checked_bootstrap, settings_of
from finsent.cli.help import App

if TYPE_CHECKING:
    from finsent.settings import Settings

__all__ = ["register"]

ingest_app = App(
    help="Feed the raw topic: replay files, run the market-news simulator, or poll the configured sources.",
    no_args_is_help=True,
)

_FIELD_HELP = "Column for a message field, as FIELD=COLUMN (e.g. title=headline); repeatable."


def _fields(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, column = pair.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise typer.BadParameter(f"expected FIELD=COLUMN, got {pair!r}")
        out[name.strip()] = column.strip()
    return out


def _bootstrap(settings: Settings) -> str:
    return checked_bootstrap(settings)


def _no_broker(bootstrap: str) -> typer.Exit:
    typer.echo(
        f"error: no Kafka broker answers at {bootstrap}. Start one with `finsent broker`, "
        "or set FINSENT_KAFKA_BOOTSTRAP.",
        err=True,
    )
    return typer.Exit(2)


@ingest_app.command("replay")
def replay_command(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="A JSONL, CSV or Parquet file, or a folder of them.", exists=True)
    ],
    raw: Annotated[
        bool, typer.Option("--raw", help="Send rows unvalidated (the worker dead-letters bad ones).")
    ] = False,
    topic: Annotated[str | None, typer.Option(help="Topic to send to (default: the raw topic).")] = None,
    source: Annotated[str | None, typer.Option(help="Source name for rows that have none.")] = None,
    field: Annotated[list[str] | None, typer.Option("--field", help=_FIELD_HELP)] = None,
    limit: Annotated[int | None, typer.Option(help="Stop after this many rows.", min=1)] = None,
) -> None:
    """Send the news in FILE (or every file in a folder) to the raw topic, and print how many went."""
    settings = settings_of(ctx)
    _publish_files(settings, path, topic=topic, raw=raw, source=source, fields=_fields(field), limit=limit)


def _publish_files(
    settings: Settings,
    path: Path,
    *,
    topic: str | None,
    raw: bool = False,
    source: str | None = None,
    fields: dict[str, str] | None = None,
    limit: int | None = None,
) -> None:
    """Replay ``path`` onto ``topic`` and print the counts; exit 1 if the broker did not take every row."""
    from kafka.errors import KafkaError

    from finsent.ingest.producer import Publisher
    from finsent.ingest.replay import replay
    from finsent.tickers import TickerMatcher

    bootstrap = _bootstrap(settings)
    try:
        publisher = Publisher.connect(settings, bootstrap, topic=topic, linger_ms=20, batch_size=256 * 1024)
    except KafkaError:
        raise _no_broker(bootstrap) from None
    try:
        report = replay(
            path, publisher, raw=raw, default_source=source, fields=fields, limit=limit,
            matcher=TickerMatcher.from_settings(settings.tickers),
        )  # fmt: skip
    finally:
        publisher.close()
    for example in report.examples:
        typer.echo(f"invalid: {example}", err=True)
    typer.echo(
        f"sent {report.sent} of {report.rows} rows from {report.files} file(s) to {publisher.topic}; "
        f"{report.invalid} invalid skipped, {report.failed} not acknowledged"
    )
    if report.failed:
        raise typer.Exit(1)


def _burst(spec: str):  # type: ignore[no-untyped-def]
    from finsent.ingest.simulator import Burst

    values: dict[str, object] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise typer.BadParameter(f"burst {spec!r}: expected key=value pairs")
        key = key.strip()
        if key in ("at", "duration", "repeat"):
            values[f"{key}_s"] = float(value)
        elif key in ("rate", "share"):
            values[key] = float(value)
        else:
            values[key] = value.strip()
    try:
        return Burst(**values)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise typer.BadParameter(f"burst {spec!r}: {exc}") from None


@ingest_app.command("simulate")
def simulate_command(
    ctx: typer.Context,
    rate: Annotated[
        float | None,
        typer.Option(help="Messages per second (default: FINSENT_INGEST_SIMULATOR_RATE).", min=0.001),
    ] = None,
    count: Annotated[int | None, typer.Option(help="Stop after this many messages.", min=1)] = None,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds of scenario time.", min=0)
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed: the same seed and start give the same messages.")
    ] = None,
    scenario: Annotated[
        str, typer.Option(help="'calm', 'demo' (recurring bad-news bursts) or a TOML/YAML file.")
    ] = "demo",
    burst: Annotated[
        list[str] | None,
        typer.Option(
            help="Add a burst: 'ticker=TSLA,at=60,duration=30,rate=4[,sentiment=negative,share=0.9,repeat=600]' or topic=...; repeatable."
        ),
    ] = None,
    speed: Annotated[
        float, typer.Option(help="Scenario clock speed-up; 0 sends as fast as possible.", min=0)
    ] = 1.0,
    topic: Annotated[str | None, typer.Option(help="Topic to send to (default: the raw topic).")] = None,
) -> None:
    """Send simulated market news (normal flow plus scripted bad-news bursts) to the raw topic."""
    from dataclasses import replace

    from kafka.errors import KafkaError

    from finsent.ingest.scheduler import stop_on_signals
    from finsent.ingest.simulator import load_scenario, run_simulator

    settings = settings_of(ctx)
    try:
        chosen = load_scenario(scenario, rate=rate or settings.ingest.simulator_rate)
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--scenario") from None
    if burst:
        chosen = replace(chosen, bursts=chosen.bursts + tuple(_burst(b) for b in burst))
    stop = threading.Event()
    bootstrap = _bootstrap(settings)
    with stop_on_signals(stop):
        try:
            sent = run_simulator(
                settings, bootstrap, stop, scenario=chosen, seed=seed, count=count, duration_s=duration,
                speed=speed, topic=topic,
            )  # fmt: skip
        except KafkaError:
            raise _no_broker(bootstrap) from None
    typer.echo(f"sent {sent} simulated messages")


@ingest_app.command("run")
def run_command(
    ctx: typer.Context,
    sources: Annotated[
        Path | None,
        typer.Option(help="Sources file (TOML/YAML); default FINSENT_INGEST_SOURCES_FILE.", exists=True),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Poll every source once, print a summary and exit.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics on this port (default FINSENT_INGEST_METRICS_PORT)."),
    ] = None,
) -> None:
    """Poll the configured feeds, APIs, comment streams, folders and simulators on their schedules."""
    import logging

    from kafka.errors import KafkaError

    from finsent.ingest.config import load_sources
    from finsent.ingest.errors import ConfigError
    from finsent.ingest.producer import Publisher
    from finsent.ingest.runner import Ingestor
    from finsent.ingest.scheduler import run_until_stopped, stop_on_signals
    from finsent.ingest.state import IngestState
    from finsent.tickers import TickerMatcher

    settings = settings_of(ctx)
    path = sources or (Path(settings.ingest.sources_file) if settings.ingest.sources_file else None)
    if path is None:
        typer.echo("error: no sources file: pass --sources or set FINSENT_INGEST_SOURCES_FILE", err=True)
        raise typer.Exit(2)
    try:
        # The environment is read here, at the edge, for the ${VAR} secrets the file names.
        config = load_sources(path, env=os.environ)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not config.enabled:
        typer.echo(f"error: {path} enables no sources", err=True)
        raise typer.Exit(2)
    # httpx logs full URLs (query strings may hold API keys) at INFO: keep it quiet whatever the level.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    port = metrics_port if metrics_port is not None else settings.ingest.metrics_port
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=settings.ingest.metrics_bind)
    bootstrap = _bootstrap(settings)
    state = IngestState(settings.ingest.state_path)
    pruned = state.prune(settings.ingest.dedup_retention_days * 86400.0)
    try:
        publisher = Publisher.connect(settings, bootstrap)
    except KafkaError:
        state.close()
        raise _no_broker(bootstrap) from None
    stop = threading.Event()
    try:
        ingestor = Ingestor(
            config,
            state=state,
            publisher=publisher,
            user_agent=settings.ingest.user_agent,
            simulator_rate=settings.ingest.simulator_rate,
            stop=stop,
            matcher=TickerMatcher.from_settings(settings.tickers),
        )
    except (ConfigError, ValueError, OSError) as exc:  # e.g. a simulator source's scenario file
        publisher.close()
        state.close()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    logging.getLogger(__name__).info(
        "ingest starting", extra={"sources": list(ingestor.pollers), "pruned": pruned}
    )
    try:
        if once:
            reports = ingestor.poll_all()
        else:
            with stop_on_signals(stop):
                run_until_stopped(ingestor, stop)
            reports = None
    finally:
        ingestor.close()
        publisher.close()
        state.close()
    stats = ingestor.stats.snapshot()
    failed = False
    for name in ingestor.pollers:
        s = stats.get(name)
        if s is None:
            continue
        failed |= s.failed > 0
        line = (
            f"{name}: polls {s.polls} (failed {s.failed}, not modified {s.not_modified}), "
            f"sent {s.sent}, duplicates {s.duplicates}, rejected {s.rejected}"
        )
        typer.echo(line + (f"; last error: {s.last_error}" if s.last_error and s.failed else ""))
    if reports is not None and failed:
        raise typer.Exit(1)


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date/time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def backfill_command(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="JSONL/CSV/Parquet file or folder to score (omit with --rescore).")
    ] = None,
    rescore: Annotated[
        bool, typer.Option("--rescore", help="Re-score documents already in the database.")
    ] = False,
    model: Annotated[
        str | None, typer.Option(help="Checkpoint to score with (default FINSENT_MODEL_PATH).")
    ] = None,
    precision: Annotated[
        str | None, typer.Option(help="auto, fp32, int8, bf16 or fp16 (default FINSENT_MODEL_PRECISION).")
    ] = None,
    batch_size: Annotated[
        int, typer.Option(help="Rows per chunk: one predict call and one transaction.", min=1)
    ] = 2048,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint file (default var/backfill/<job>.json).")
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Ignore an existing checkpoint and start over.")
    ] = False,
    source: Annotated[
        str | None, typer.Option(help="Files: source name for rows without one. Rescore: only this source.")
    ] = None,
    field: Annotated[list[str] | None, typer.Option("--field", help=_FIELD_HELP)] = None,
    since: Annotated[str | None, typer.Option(help="Rescore: documents published at or after (ISO).")] = None,
    until: Annotated[str | None, typer.Option(help="Rescore: documents published before (ISO).")] = None,
    count: Annotated[bool, typer.Option(help="Count the input first, for the progress bar's ETA.")] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    via_kafka: Annotated[
        bool,
        typer.Option(
            "--via-kafka",
            help="Publish the files to the backfill topic instead of scoring here: every worker in the "
            "group then shares them, below live news, with the same exactly-once writes.",
        ),
    ] = False,
) -> None:
    """Score historical text from files, or re-score stored documents with another model version.

    Resumable: run the same command again after an interruption and it continues where it
    stopped. Rollups of the affected time range are rebuilt at the end. With --via-kafka the
    rows go to the backfill topic (FINSENT_KAFKA_BACKFILL_TOPIC) and the worker fleet scores them
    whenever no live batch is waiting; sending the same files again is harmless (writes are
    idempotent) and a worker that dies leaves its unacknowledged batch to the next one.
    """
    if via_kafka:
        if rescore or path is None:
            raise typer.BadParameter("--via-kafka publishes files: give PATH, not --rescore")
        settings = settings_of(ctx)
        _publish_files(settings, path, topic=settings.kafka.backfill_topic, source=source, fields=_fields(field))
        return
    import logging

    from finsent.db import make_engine, make_sessionmaker
    from finsent.ingest.backfill import BackfillError, BackfillOptions, backfill_files, rescore_documents
    from finsent.model.engine import load_engine_from_settings
    from finsent.stories import StoryOptions
    from finsent.tickers import TickerMatcher

    if rescore == (path is not None):
        raise typer.BadParameter("give either PATH or --rescore")
    settings = settings_of(ctx)
    # The same inference engine as the worker, so a backfilled score equals a live one.
    classifier = load_engine_from_settings(settings, path=model, precision=precision)
    url = settings.database.url.get_secret_value()
    engine = make_engine(settings.database)
    factory = make_sessionmaker(engine)
    options = BackfillOptions(
        batch_size=batch_size,
        checkpoint=checkpoint,
        restart=restart,
        count_first=count,
        progress=progress,
        default_source=source if not rescore else None,
        fields=_fields(field),
        since=_when(since),
        until=_when(until),
        source=source if rescore else None,
        matcher=TickerMatcher.from_settings(settings.tickers),
        stories=StoryOptions.from_settings(settings.stories),
    )
    try:
        if rescore:
            report = rescore_documents(
                classifier=classifier,
                factory=factory,
                database_url=url,
                data_dir=settings.data_dir,
                options=options,
            )
        else:
            assert path is not None
            report = backfill_files(
                path,
                classifier=classifier,
                factory=factory,
                database_url=url,
                data_dir=settings.data_dir,
                options=options,
            )
    except (BackfillError, FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    logging.getLogger(__name__).info("backfill finished", extra={"model_version": report.model_version})
    for example in report.examples:
        typer.echo(f"invalid: {example}", err=True)
    typer.echo(
        f"{'complete' if report.complete else 'stopped'}: {report.rows} rows, {report.invalid} invalid, "
        f"{report.scores_written} new scores ({report.model_version}), {report.documents_written} new documents, "
        f"{report.skipped_existing} already scored; {report.rollup_rows} rollup rows rebuilt; "
        f"this run {report.rows_this_run} rows in {report.elapsed_s:.1f}s ({report.rate:.0f}/s; "
        f"model alone {report.inference_rate:.0f}/s)"
    )


def register(app: typer.Typer) -> None:
    """Add ``finsent ingest`` and ``finsent backfill``."""
    app.add_typer(ingest_app, name="ingest")
    app.command("backfill")(backfill_command)
