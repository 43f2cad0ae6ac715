"""OpenVINO as the engine's backend on CPUs with native bf16 (AMX or AVX512-BF16).

Why: PyTorch runs one batch at a time on both cores, and on this model's small batches half of each
matrix product waits on the other half. OpenVINO's CPU plugin in throughput mode runs two inference
streams side by side, one per core, with fused attention, LayerNorm and GELU kernels, and computes
in bf16 on AMX. Fed by an asynchronous request queue (one request in flight per stream), it scored
the shipped model at about 1.5x PyTorch bf16 here, with labels equal to the fp32 reference on
99.8 % of both validation files (docs/model.md). One synchronous request per batch, by contrast,
runs at PyTorch's speed or below: the streams are the point.

The converted graph (OpenVINO IR) is cached next to the other local state, keyed on the
checkpoint's weights, so a worker restart reads it back instead of converting again.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from finsent.model.graph_io import TupleOutputs, installed
from finsent.model.precision import weights_fingerprint

__all__ = ["OPENVINO_PRECISIONS", "OpenVinoModule", "available", "compile_ir", "convert_ir"]

log = logging.getLogger(__name__)

OPENVINO_PRECISIONS = ("bf16", "fp32")
_RECIPE = "ov-ir-dynamic-v1"  # part of the cache key: change it when the conversion recipe changes


def available() -> bool:
    return installed("openvino")


def convert_ir(module: nn.Module, tasks: Sequence[str], cache_dir: str | Path) -> Path:
    """Convert (once, cached) the fp32 module to OpenVINO IR with dynamic batch and length; the .xml path."""
    import openvino as ov

    module = module.eval()
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{weights_fingerprint(module, _RECIPE + '|' + ov.__version__)}.xml"
    if target.is_file() and target.with_suffix(".bin").is_file():
        return target
    import copy
    import warnings

    fp32 = copy.deepcopy(module).cpu().float()  # the caller keeps its module as it was
    ids = torch.ones(2, 8, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0  # padding in the example, so the traced graph keeps the mask path
    with warnings.catch_warnings():
        # Tracer warnings about data-dependent branches in transformers' mask code; the graph is
        # checked against PyTorch by the engine's agreement tests.
        warnings.simplefilter("ignore")
        graph = ov.convert_model(
            TupleOutputs(fp32, tasks),
            example_input=(ids, mask),
            input=[("input_ids", [-1, -1], ov.Type.i64), ("attention_mask", [-1, -1], ov.Type.i64)],
        )
    for output, task in zip(graph.outputs, tasks):
        output.get_tensor().set_names({task})
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        xml = Path(tmp) / "model.xml"
        # Weights stay fp32 in the IR: the plugin casts to bf16 where it computes, and fp32 stays possible.
        ov.save_model(graph, str(xml), compress_to_fp16=False)
        os.replace(xml.with_suffix(".bin"), target.with_suffix(".bin"))
        os.replace(xml, target)  # the .xml last: its presence means the pair is whole
    log.info("converted OpenVINO IR", extra={"path": str(target)})
    return target


def compile_ir(path: str | Path, *, precision: str = "bf16", threads: int | None = None) -> Any:
    """The IR compiled for the CPU in throughput mode (one stream per core up to ``threads``)."""
    import openvino as ov

    if precision not in OPENVINO_PRECISIONS:
        raise ValueError(f"OpenVINO precision must be one of {OPENVINO_PRECISIONS}, not {precision!r}")
    cores = threads or torch.get_num_threads()
    config = {
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_NUM_THREADS": cores,
        "NUM_STREAMS": max(1, cores),
    }
    return ov.Core().compile_model(str(path), "CPU", config)


class OpenVinoModule:
    """Runs padded batches through a compiled model, one asynchronous request per stream."""

    def __init__(self, compiled: Any, tasks: Sequence[str]) -> None:
        import openvino as ov

        self.tasks = list(tasks)
        self.compiled = compiled
        self.requests = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self.queue = ov.AsyncInferQueue(compiled, self.requests)

    def __call__(self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.run_many([(input_ids, attention_mask)])[0]

    def run_many(self, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
        """Every batch's outputs, in order; batches overlap across the streams."""
        results: list[dict[str, torch.Tensor] | None] = [None] * len(batches)

        def done(request: Any, index: int) -> None:
            # Copies: the request's output buffers are reused by its next batch.
            results[index] = {
                task: torch.from_numpy(request.get_output_tensor(k).data.copy()) for k, task in enumerate(self.tasks)
            }

        self.queue.set_callback(done)
        for index, (ids, mask) in enumerate(batches):
            self.queue.start_async({"input_ids": ids.numpy(), "attention_mask": mask.numpy()}, index)
        self.queue.wait_all()
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:
            raise RuntimeError(f"OpenVINO returned no result for {len(missing)} of {len(batches)} batches")
        return [r for r in results if r is not None]
