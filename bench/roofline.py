"""The ceiling under the engine's rate: the model's arithmetic per text against this machine's matmul rate.

A texts/s figure says little on its own: the same engine gives 800/s on one CPU and 100/s on another.
``finsent bench`` therefore also prints what the hardware allows. The encoder's work per text is
counted from its config and the sample's real token counts (no padding, so the ceiling is an upper
bound), and the machine's dense matmul rate is measured in the engine's precision with the engine's
threads (OpenVINO on the CPU, PyTorch on a GPU). Their quotient is the most texts/s any backend could
reach at that precision; the engine's rate as a share of it says how much is left to win.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Roofline", "encoder_gflop", "matmul_gflops", "roofline"]


@dataclass(frozen=True)
class Roofline:
    mean_tokens: float
    gflop_per_text: float
    peak_gflops: float
    peak_precision: str
    ceiling_texts_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def encoder_gflop(config: dict[str, Any], tokens: int) -> float:
    """GFLOP of one BERT-style encoder pass over ``tokens`` tokens (multiply-adds count 2; heads ignored)."""
    h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    projections = 2 * tokens * (4 * h * h + 2 * h * i)  # Q, K, V, output; the two feed-forward layers
    attention = 2 * 2 * tokens * tokens * h  # scores and the weighted sum, all heads together
    return layers * (projections + attention) / 1e9


def matmul_gflops(precision: str, *, device: str = "cpu", threads: int | None = None, n: int = 2048) -> float:
    """Measured dense matmul rate (GFLOP/s) of an ``n`` x ``n`` product at ``precision``."""
    if device.startswith("cuda"):
        return _torch_gflops(precision, device, n)
    return _openvino_gflops(precision, threads, n)


def _timed(step: Any, flop: float, *, warmup: int = 3, seconds: float = 1.0) -> float:
    for _ in range(warmup):
        step()
    runs, start = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - start < seconds:
        step()
        runs += 1
    return flop * runs / (time.perf_counter() - start) / 1e9


def _openvino_gflops(precision: str, threads: int | None, n: int) -> float:
    import numpy as np
    import openvino as ov
    import torch
    from openvino import opset13 as ops

    x = ops.parameter([n, n], np.float32)
    weights = ops.constant(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    model = ov.Model([ops.matmul(x, weights, False, False)], [x])
    hint = {"bf16": "bf16", "fp16": "f16"}.get(precision, "f32")
    config = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"}
    config["INFERENCE_NUM_THREADS"] = threads or torch.get_num_threads()
    request = ov.Core().compile_model(model, "CPU", config).create_infer_request()
    a = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    return _timed(lambda: request.infer([a]), 2.0 * n**3)


def _torch_gflops(precision: str, device: str, n: int) -> float:
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)

    def step() -> None:
        for _ in range(10):
            a @ b
        torch.cuda.synchronize()

    return _timed(step, 10 * 2.0 * n**3)


def roofline(
    model_path: str | Path,
    texts: Sequence[str],
    *,
    precision: str,
    device: str = "cpu",
    threads: int | None = None,
    max_length: int = 128,
) -> Roofline:
    """The sample's mean encoder work per text, the measured matmul rate, and the texts/s they allow."""
    from transformers import AutoTokenizer

    if not texts:
        raise ValueError("need at least one text")
    config = json.loads((Path(model_path) / "config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    counts = [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]
    gflop = sum(encoder_gflop(config, t) for t in counts) / len(counts)
    # int8 is measured as the precision it falls back to here (no int8 matmul is timed).
    peak_precision = precision if precision in ("bf16", "fp16") else "fp32"
    peak = matmul_gflops(peak_precision, device=device, threads=threads)
    return Roofline(
        mean_tokens=sum(counts) / len(counts),
        gflop_per_text=gflop,
        peak_gflops=peak,
        peak_precision=peak_precision,
        ceiling_texts_per_s=peak / gflop,
    )
