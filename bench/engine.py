"""Throughput of the naive path and of the engine on the same texts, for ``finsent bench``.

Naive: what a user would run without finsent, two ``transformers.pipeline("text-classification")``
objects (one per head) called one text at a time. Engine: :class:`model.engine.Engine`, one encoder
pass for both heads. Both figures are texts per second for topic *and* sentiment.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = ["engine_rate", "naive_baseline"]


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
