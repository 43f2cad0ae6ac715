"""``finsent worker``, ``finsent broker`` and ``finsent bench``."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from finsent.cli.context import settings_of

__all__ = ["register"]


def worker(ctx: typer.Context) -> None:
    """Run the stream worker: consume the raw topic in micro-batches, score, store, publish.

    Scale out by starting more workers with the same consumer group. SIGTERM finishes the
    batch in flight, commits and exits. Bootstrap servers: FINSENT_KAFKA_BOOTSTRAP (unset =
    the embedded broker started by `finsent broker`).
    """
    import faust

    from finsent.stream.app import create_app, load_predictor
    from finsent.stream.kafka import bootstrap_servers, ensure_topics, topic_names

    settings = settings_of(ctx)
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
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Loopback port (default: FINSENT_KAFKA_EMBEDDED_PORT, 19092).")] = 0,
) -> None:
    """Run the embedded Kafka-protocol broker (Tansu) on loopback until Ctrl-C.

    For development and the demo only; production uses Apache Kafka. Storage is in memory:
    topics vanish when it stops. Topics from the settings are created with their partitions.
    """
    from finsent.stream.broker import EmbeddedBroker
    from finsent.stream.kafka import ensure_topics, topic_names

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
    runtime: Annotated[str, typer.Option(help="Engine backend: auto, torch, onnx (ONNX Runtime, CPU).")] = "auto",
    model: Annotated[Optional[str], typer.Option(help="Checkpoint (default: FINSENT_MODEL_PATH, the shipped model).")] = None,
    texts: Annotated[Optional[Path], typer.Option(help="CSV/JSONL with a text column (default: simulated news).")] = None,
    pg_admin_url: Annotated[
        str, typer.Option(help="PostgreSQL server URL; a temporary database is created there and dropped.")
    ] = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
    end_to_end: Annotated[bool, typer.Option(help="Run the broker + worker + PostgreSQL part.")] = True,
    json_out: Annotated[Optional[Path], typer.Option(help="Also write the JSON report here.")] = None,
) -> None:
    """Benchmark: naive baseline vs engine, then end to end through Kafka and PostgreSQL; prints ratios.

    One run, one command. The naive baseline is two Hugging Face pipelines at batch size 1 (what a
    user would otherwise run); the engine scores both heads in one pass. End to end, messages go
    through the embedded broker and a real worker process into a temporary PostgreSQL database, at
    full speed and then at half of the measured rate, with produce-to-row latency percentiles and
    the worker's memory.
    """
    import json as _json

    from finsent.model.bench import engine_rate, naive_baseline
    from finsent.stream.bench import as_dict, bench_texts, run_end_to_end, temporary_database
    from finsent.stream.broker import EmbeddedBroker

    settings = settings_of(ctx)
    model_path = model or settings.model.path
    corpus = bench_texts(max(messages, sample), path=texts)
    sample_texts = [m.text for m in corpus[:sample]]
    import torch

    from finsent.model.engine import choose_precision, choose_runtime

    target = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else device.replace("auto", "cpu"))
    resolved = choose_precision(precision, target)
    report: dict = {
        "model": model_path,
        "device": str(target),
        "precision": resolved,
        "runtime": choose_runtime(runtime, target, resolved),
        "sample": len(sample_texts),
    }
    typer.echo("naive baseline (2 pipelines, batch 1)...", err=True)
    report["naive_texts_per_s"] = naive_baseline(sample_texts[:naive_sample], model_path, device=device if device != "auto" else "cpu")
    typer.echo("engine...", err=True)
    onnx_cache = Path(settings.data_dir) / "onnx"
    report["engine_texts_per_s"] = engine_rate(
        sample_texts, model_path, device=device, precision=precision, runtime=runtime, onnx_cache=onnx_cache
    )
    report["engine_vs_naive"] = report["engine_texts_per_s"] / report["naive_texts_per_s"]
    if device != "cuda":
        # The PyTorch fp32 engine (batching, no fused kernels): what the faster backend adds over it.
        typer.echo("engine, PyTorch fp32...", err=True)
        report["engine_torch_fp32_texts_per_s"] = engine_rate(
            sample_texts, model_path, device=device, precision="fp32", runtime="torch"
        )
    if end_to_end:
        env = {"FINSENT_MODEL_DEVICE": device, "FINSENT_MODEL_PRECISION": precision, "FINSENT_MODEL_RUNTIME": runtime}
        with EmbeddedBroker() as broker:
            typer.echo(f"end to end, full speed, {messages} messages...", err=True)
            with temporary_database(pg_admin_url) as db_url:
                full = run_end_to_end(settings, bootstrap=broker.bootstrap, db_url=db_url, messages=corpus[:messages],
                                      rate=None, model_path=model_path, extra_env=env)
            half_rate = full.throughput / 2
            typer.echo(f"end to end, half load ({half_rate:.0f} msg/s)...", err=True)
            with temporary_database(pg_admin_url) as db_url:
                half = run_end_to_end(settings, bootstrap=broker.bootstrap, db_url=db_url,
                                      messages=corpus[: max(200, min(messages, int(half_rate * 30)))],
                                      rate=half_rate, model_path=model_path, extra_env=env)
        report["end_to_end_full"] = as_dict(full)
        report["end_to_end_half"] = as_dict(half)
        report["end_to_end_vs_engine"] = full.throughput / report["engine_texts_per_s"]
        report["end_to_end_vs_naive"] = full.throughput / report["naive_texts_per_s"]
    typer.echo(_format_report(report))
    typer.echo(_json.dumps(report, indent=2))
    if json_out:
        json_out.write_text(_json.dumps(report, indent=2) + "\n")


def _format_report(r: dict) -> str:
    lines = [
        f"model {r['model']} on {r['device']} (precision {r['precision']}, runtime {r.get('runtime', 'torch')})",
        f"{'measurement':<40}{'texts/s':>12}{'vs naive':>10}",
        f"{'naive: 2 HF pipelines, batch 1':<40}{r['naive_texts_per_s']:>12.0f}{1.0:>10.1f}",
        f"{'engine: both heads, one pass':<40}{r['engine_texts_per_s']:>12.0f}{r['engine_vs_naive']:>10.1f}",
    ]
    if "engine_torch_fp32_texts_per_s" in r:
        torch_rate = r["engine_torch_fp32_texts_per_s"]
        lines.append(f"{'engine, PyTorch fp32 backend':<40}{torch_rate:>12.0f}{torch_rate / r['naive_texts_per_s']:>10.1f}")
    for key, label in (("end_to_end_full", "end to end, full speed"), ("end_to_end_half", "end to end, half load")):
        if key in r:
            e = r[key]
            lines.append(f"{label:<40}{e['throughput']:>12.0f}{e['throughput'] / r['naive_texts_per_s']:>10.1f}"
                         f"   p50 {e['latency_ms_p50']:.0f} ms  p95 {e['latency_ms_p95']:.0f} ms  p99 {e['latency_ms_p99']:.0f} ms"
                         f"  RSS {e['rss_mb_start']:.0f}->{e['rss_mb_end']:.0f} MB (max {e['rss_mb_max']:.0f})")
            lines.append(f"{'':<40}{'':>22}   produce->scored p50 {e.get('to_scored_ms_p50', 0):.0f} ms"
                         f" p95 {e.get('to_scored_ms_p95', 0):.0f} ms; scored->row p50 {e.get('scored_to_row_ms_p50', 0):.0f} ms"
                         f" p95 {e.get('scored_to_row_ms_p95', 0):.0f} ms")
    if "end_to_end_vs_engine" in r:
        lines.append(f"end to end / engine: {r['end_to_end_vs_engine']:.2f}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add ``finsent worker``, ``broker`` and ``bench``."""
    app.command("worker")(worker)
    app.command("broker")(broker)
    app.command("bench")(bench)
