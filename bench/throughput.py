"""``finsent bench``: classifier and end-to-end throughput, measured in one process, printed as ratios.

1. naive baseline: two Hugging Face text-classification pipelines (sentiment, topic) at batch size 1;
2. tuned script: transformers alone as a competent user writes it (one model per head, sorted
   batches of 128, bf16 autocast where native, ``inference_mode``);
3. the engine on the same sample (one encoder pass for both heads), and its PyTorch fp32 form;
4. end to end: messages produced to an embedded broker, consumed by a real ``finsent worker`` process,
   written to PostgreSQL; throughput and produce-to-row latency at full speed and at half load,
   with the worker's memory sampled throughout;
5. the ratios between them (engine/tuned, engine/naive, end-to-end/engine), from medians;
6. the ceiling: the encoder's GFLOP per text against this machine's measured matmul rate in the
   engine's precision, the most texts/s any backend could reach here (``bench/roofline.py``).

With ``repeat`` N the in-process rows and the full-speed run are measured N times, interleaved (so a
noisy neighbour hits every row alike), and the median and the spread (min..max) are reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from finsent.bench.common import temporary_database
from finsent.bench.end_to_end import as_dict, bench_texts, run_end_to_end
from finsent.bench.engine import Spread, engine_rate, naive_baseline, tuned_script_rate
from finsent.bench.roofline import roofline
from finsent.settings import Settings

__all__ = ["format_report", "run_throughput"]


def run_throughput(
    settings: Settings,
    *,
    messages: int = 5000,
    sample: int = 2000,
    naive_sample: int = 300,
    device: str = "cpu",
    precision: str = "auto",
    runtime: str = "auto",
    model: str | None = None,
    texts: Path | None = None,
    pg_admin_url: str = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
    end_to_end: bool = True,
    repeat: int = 1,
    scale_out: bool = False,
    inference_process: bool = False,
    child_env: Callable[[Mapping[str, str]], dict[str, str]] = dict,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Naive baseline, engine, then (``end_to_end``) the worker at full speed and at half load; the report.

    ``child_env`` adds what the worker process must know beyond the environment (the CLI's global options).
    """
    import torch

    from finsent.model.engine import choose_precision, choose_runtime
    from finsent.stream.broker import EmbeddedBroker

    model_path = model or settings.model.path
    corpus = bench_texts(max(messages, sample), path=texts)
    sample_texts = [m.text for m in corpus[:sample]]
    target = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else device.replace("auto", "cpu"))
    resolved = choose_precision(precision, target)
    report: dict[str, Any] = {
        "model": model_path,
        "device": str(target),
        "precision": resolved,
        "runtime": choose_runtime(runtime, target, resolved),
        "sample": len(sample_texts),
    }
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    onnx_cache = Path(settings.data_dir) / "onnx"
    cpu = device if device != "auto" else "cpu"
    rows: dict[str, Callable[[], float]] = {
        "naive": lambda: naive_baseline(sample_texts[:naive_sample], model_path, device=cpu),
        "tuned": lambda: tuned_script_rate(sample_texts, model_path, device=str(target)),
        "engine": lambda: engine_rate(
            sample_texts, model_path, device=device, precision=precision, runtime=runtime, onnx_cache=onnx_cache
        ),
    }
    if device != "cuda":
        # The PyTorch fp32 engine (batching, no fused kernels): what the faster backend adds over it.
        rows["engine_torch_fp32"] = lambda: engine_rate(sample_texts, model_path, device=device, precision="fp32", runtime="torch")
    runs: dict[str, list[float]] = {name: [] for name in rows}
    for i in range(repeat):
        for name, measure in rows.items():
            progress(f"{name} (run {i + 1}/{repeat})...")
            runs[name].append(measure())
    spreads = {name: Spread(tuple(values)) for name, values in runs.items()}
    report["repeat"] = repeat
    report["spread"] = {name: sp.to_dict() for name, sp in spreads.items()}
    for name, sp in spreads.items():
        report[f"{name}_texts_per_s"] = sp.median
    report["engine_vs_naive"] = report["engine_texts_per_s"] / report["naive_texts_per_s"]
    report["engine_vs_tuned"] = report["engine_texts_per_s"] / report["tuned_texts_per_s"]
    report["tuned_vs_naive"] = report["tuned_texts_per_s"] / report["naive_texts_per_s"]
    progress("ceiling (matmul rate)...")
    ceiling = roofline(model_path, sample_texts, precision=resolved, device=str(target))
    report["roofline"] = ceiling.to_dict()
    report["engine_vs_ceiling"] = report["engine_texts_per_s"] / ceiling.ceiling_texts_per_s
    if end_to_end:
        env = child_env({"FINSENT_MODEL_DEVICE": device, "FINSENT_MODEL_PRECISION": precision, "FINSENT_MODEL_RUNTIME": runtime})
        with EmbeddedBroker() as broker:
            fulls = []
            for i in range(repeat):
                progress(f"end to end, full speed, {messages} messages (run {i + 1}/{repeat})...")
                with temporary_database(pg_admin_url) as db_url:
                    fulls.append(run_end_to_end(settings, bootstrap=broker.bootstrap, db_url=db_url,
                                                messages=corpus[:messages], rate=None, model_path=model_path,
                                                extra_env=env))
            # The median run stands for all of them; its rate sets the half load.
            full = sorted(fulls, key=lambda run: run.throughput)[(len(fulls) - 1) // 2]
            report["spread"]["end_to_end_full"] = Spread(tuple(run.throughput for run in fulls)).to_dict()
            half_rate = full.throughput / 2
            progress(f"end to end, half load ({half_rate:.0f} msg/s)...")
            with temporary_database(pg_admin_url) as db_url:
                half = run_end_to_end(settings, bootstrap=broker.bootstrap, db_url=db_url,
                                      messages=corpus[: max(200, min(messages, int(half_rate * 30)))],
                                      rate=half_rate, model_path=model_path, extra_env=env)
            if inference_process:
                # The same worker with its model in a child process (no shared interpreter lock),
                # run right after the in-process one on the same messages.
                progress(f"end to end, full speed, inference process, {messages} messages...")
                with temporary_database(pg_admin_url) as db_url:
                    run = run_end_to_end(settings, bootstrap=broker.bootstrap, db_url=db_url,
                                         messages=corpus[:messages], rate=None, model_path=model_path,
                                         extra_env={**env, "FINSENT_MODEL_INFERENCE_PROCESS": "true"})
                report["end_to_end_process"] = as_dict(run)
                report["end_to_end_process_vs_engine"] = run.throughput / report["engine_texts_per_s"]
            if scale_out:
                # The same cores, spent two ways: one worker with two inference threads, or two
                # workers in one group with one thread each (partitions shared between them).
                for key, workers, threads in (("scale_1x2", 1, 2), ("scale_2x1", 2, 1)):
                    progress(f"end to end, {workers} worker(s) x {threads} thread(s), {messages} messages...")
                    with temporary_database(pg_admin_url) as db_url:
                        run = run_end_to_end(settings, bootstrap=broker.bootstrap, db_url=db_url,
                                             messages=corpus[:messages], rate=None, model_path=model_path,
                                             extra_env={**env, "FINSENT_MODEL_THREADS": str(threads)}, workers=workers)
                    report[key] = as_dict(run)
        report["end_to_end_full"] = as_dict(full)
        report["end_to_end_half"] = as_dict(half)
        report["end_to_end_vs_engine"] = full.throughput / report["engine_texts_per_s"]
        report["end_to_end_vs_naive"] = full.throughput / report["naive_texts_per_s"]
    return report


def _spread(r: dict[str, Any], name: str) -> str:
    sp = r.get("spread", {}).get(name)
    if not sp or len(sp["runs"]) < 2:
        return ""
    return f"   (min {sp['min']:.0f}, max {sp['max']:.0f}, n={len(sp['runs'])})"


def format_report(r: dict[str, Any]) -> str:
    """The report as the table ``finsent bench`` prints (medians when repeated; spread on the right)."""
    naive = r["naive_texts_per_s"]
    lines = [
        f"model {r['model']} on {r['device']} (precision {r['precision']}, runtime {r.get('runtime', 'torch')})",
        f"{'measurement':<40}{'texts/s':>12}{'vs naive':>10}",
    ]
    rows = [
        ("naive", "naive: 2 HF pipelines, batch 1"),
        ("tuned", "tuned script: 2 models, batch 128"),
        ("engine", "engine: both heads, one pass"),
        ("engine_torch_fp32", "engine, PyTorch fp32 backend"),
    ]
    for name, label in rows:
        if f"{name}_texts_per_s" in r:
            rate = r[f"{name}_texts_per_s"]
            lines.append(f"{label:<40}{rate:>12.0f}{rate / naive:>10.1f}{_spread(r, name)}")
    if "roofline" in r:
        c = r["roofline"]
        lines.append(
            f"{'ceiling: ' + c['peak_precision'] + ' matmul rate / work':<40}{c['ceiling_texts_per_s']:>12.0f}"
            f"{c['ceiling_texts_per_s'] / naive:>10.1f}   {c['gflop_per_text']:.3f} GFLOP/text (mean "
            f"{c['mean_tokens']:.0f} tokens), measured {c['peak_gflops']:.0f} GFLOP/s"
        )
    for key, label in (
        ("end_to_end_full", "end to end, full speed"),
        ("end_to_end_half", "end to end, half load"),
        ("end_to_end_process", "end to end, inference process"),
        ("scale_1x2", "end to end, 1 worker x 2 threads"),
        ("scale_2x1", "end to end, 2 workers x 1 thread"),
    ):
        if key in r:
            e = r[key]
            lines.append(f"{label:<40}{e['throughput']:>12.0f}{e['throughput'] / naive:>10.1f}"
                         f"   p50 {e['latency_ms_p50']:.0f} ms  p95 {e['latency_ms_p95']:.0f} ms  p99 {e['latency_ms_p99']:.0f} ms"
                         f"  RSS {e['rss_mb_start']:.0f}->{e['rss_mb_end']:.0f} MB (max {e['rss_mb_max']:.0f})"
                         f"{_spread(r, key)}")
            lines.append(f"{'':<40}{'':>22}   produce->scored p50 {e.get('to_scored_ms_p50', 0):.0f} ms"
                         f" p95 {e.get('to_scored_ms_p95', 0):.0f} ms; scored->row p50 {e.get('scored_to_row_ms_p50', 0):.0f} ms"
                         f" p95 {e.get('scored_to_row_ms_p95', 0):.0f} ms")
    ratios = [f"engine / naive {r['engine_vs_naive']:.1f}"]
    if "engine_vs_tuned" in r:
        ratios.append(f"engine / tuned {r['engine_vs_tuned']:.2f}")
    if "engine_vs_ceiling" in r:
        ratios.append(f"engine / ceiling {r['engine_vs_ceiling']:.2f}")
    if "end_to_end_vs_engine" in r:
        ratios.append(f"end to end / engine {r['end_to_end_vs_engine']:.2f}")
    if "end_to_end_process_vs_engine" in r:
        ratios.append(f"end to end (inference process) / engine {r['end_to_end_process_vs_engine']:.2f}")
    lines.append("ratios: " + ", ".join(ratios))
    return "\n".join(lines)
