"""Throughput of the naive path and of the engine on the same texts, for ``finsent bench``.

Naive: what a user would run without finsent, two ``transformers.pipeline("text-classification")``
objects (one per head) called one text at a time. Tuned script: what a competent user writes with
transformers alone, one sequence-classification model per head, length-sorted batches of 128, bf16
autocast where the CPU computes it natively, ``inference_mode``. Engine: :class:`model.engine.Engine`,
one encoder pass for both heads. Every figure is texts per second for topic *and* sentiment.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["Spread", "engine_rate", "naive_baseline", "repeated", "tuned_script_rate"]


def naive_baseline(texts: Sequence[str], model_path: str | Path, *, device: str = "cpu") -> float:
    """Texts/s of two HF pipelines (sentiment, topic) at batch size 1; a text counts once both scored it."""
    from transformers import AutoTokenizer, pipeline
    from transformers.utils import logging as hf_logging

    from finsent.model.export import export_head

    if not texts:
        raise ValueError("need at least one text")
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    verbosity = hf_logging.get_verbosity()
    # The pipeline logs an *error* that it does not know the exported class by name (with the
    # list of every class it knows); it runs it all the same.
    hf_logging.set_verbosity(hf_logging.CRITICAL)
    try:
        pipes = [
            pipeline(
                "text-classification",
                model=export_head(model_path, task),
                tokenizer=tokenizer,
                device=torch.device(device),
            )
            for task in ("sentiment", "topic")
        ]
        for pipe in pipes:
            pipe(list(texts[:2]), batch_size=1, truncation=True)  # first-call setup is not throughput
        start = time.perf_counter()
        for pipe in pipes:
            for text in texts:
                pipe(text, truncation=True)
        elapsed = time.perf_counter() - start
    finally:
        hf_logging.set_verbosity(verbosity)
    return len(texts) / elapsed


def engine_rate(
    texts: Sequence[str],
    model_path: str | Path,
    *,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = 64,
    threads: int | None = None,
    repeats: int = 1,
    runtime: str = "auto",
    onnx_cache: str | Path = "var/onnx",
) -> float:
    """Texts/s of the engine's ``predict`` (both heads, full Prediction objects) after warm-up."""
    from finsent.model.engine import load_engine

    if not texts:
        raise ValueError("need at least one text")
    engine = load_engine(
        model_path,
        device=device,
        precision=precision,
        batch_size=batch_size,
        threads=threads,
        runtime=runtime,
        onnx_cache=onnx_cache,
    )
    engine.predict(list(texts[: min(len(texts), 256)]))
    start = time.perf_counter()
    for _ in range(repeats):
        engine.predict(texts)
    return repeats * len(texts) / (time.perf_counter() - start)


def tuned_script_rate(
    texts: Sequence[str], model_path: str | Path, *, device: str = "cpu", batch_size: int = 128, max_length: int = 128
) -> float:
    """Texts/s of the competent user's script: per head, sorted batches of 128, autocast, inference_mode."""
    from contextlib import nullcontext

    from transformers import AutoTokenizer

    from finsent.model.export import export_head
    from finsent.model.precision import native_bf16

    if not texts:
        raise ValueError("need at least one text")
    target = torch.device(device)
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    models = [export_head(model_path, task).float().eval().to(target) for task in ("sentiment", "topic")]
    amp = (lambda: torch.autocast(target.type, dtype=torch.bfloat16)) if native_bf16(target) else nullcontext
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    batches = [[texts[i] for i in order[j : j + batch_size]] for j in range(0, len(order), batch_size)]

    def run(chunks: list[list[str]]) -> None:
        with torch.inference_mode(), amp():
            for model in models:
                for chunk in chunks:
                    enc = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
                    model(**enc.to(target)).logits.float().softmax(-1).argmax(-1).tolist()

    run(batches[:1])  # first-call setup (kernel choice) is not throughput
    start = time.perf_counter()
    run(batches)
    return len(texts) / (time.perf_counter() - start)


@dataclass(frozen=True)
class Spread:
    """N measurements of one rate: the median is the figure, min and max the spread."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def to_dict(self) -> dict[str, float | list[float]]:
        return {"median": self.median, "min": self.low, "max": self.high, "runs": list(self.values)}


def repeated(measure: Callable[[], float], repeat: int) -> Spread:
    """Run one measurement ``repeat`` times."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    return Spread(tuple(measure() for _ in range(repeat)))
