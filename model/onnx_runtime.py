"""ONNX Runtime as the engine's CPU backend: the same encoder, exported once, with fused kernels.

Why: on CPUs without native bf16, PyTorch's eager BERT runs each LayerNorm, GELU and attention
step as separate kernels; ONNX Runtime's transformer optimizer fuses them (attention, skip
LayerNorm, bias-GELU) and its int8 MatMul kernels beat PyTorch's dynamic quantization. The
exported graph is cached next to the other local state, keyed on the checkpoint's weights, so a
worker restart does not export again.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from finsent.model.graph_io import TupleOutputs, installed
from finsent.model.precision import int8_target, weights_fingerprint

__all__ = ["OnnxModule", "available", "build_session", "export_onnx"]

log = logging.getLogger(__name__)

ONNX_PRECISIONS = ("fp32", "int8")
_RECIPE = "opset17-bert-eager-masked-v3"  # part of the cache key: change it when the export recipe changes


def available() -> bool:
    return installed("onnxruntime")


def _encoder_config(module: nn.Module) -> tuple[int, int]:
    config = getattr(getattr(module, "encoder", module), "config", None)
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    return heads, hidden


def _keeps_fp32(node_name: str) -> bool:
    """The torch int8 rule (:func:`finsent.model.precision.int8_target`) on an exported node name.

    "/module/encoder/encoder/layer.0/output/dense/MatMul" is the module path
    "encoder.encoder.layer.0.output.dense" under the export wrapper; the heads sit outside the
    encoder ("/module/topic/Gemm").
    """
    path = ".".join(node_name.strip("/").split("/")[1:-1])
    return not path.startswith("encoder.") or not int8_target(path)


def _int8_excluded(graph: Any) -> list[str]:
    kept = [n for n in graph.node if n.op_type in ("MatMul", "Gemm") and _keeps_fp32(n.name)]
    # The quantizer first rewrites a Gemm (the heads) as "<name>_MatMul" + Add, then matches names.
    return [n.name for n in kept] + [f"{n.name}_MatMul" for n in kept if n.op_type == "Gemm"]


def export_onnx(
    module: nn.Module,
    tasks: Sequence[str],
    cache_dir: str | Path,
    *,
    precision: str = "fp32",
) -> Path:
    """Export (once, cached) the module to an optimised ONNX graph; int8 quantizes its MatMuls.

    Under int8 the heads and the feed-forward output projections stay fp32, as in the torch int8
    path (their inputs carry the large outlier activations that per-tensor quantization flattens).
    """
    if precision not in ONNX_PRECISIONS:
        raise ValueError(f"ONNX Runtime precision must be one of {ONNX_PRECISIONS}, not {precision!r}")
    import onnx
    from onnxruntime.transformers import optimizer

    module = module.eval()
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{weights_fingerprint(module, f'{precision}|{_RECIPE}')}-{precision}.onnx"
    if target.is_file():
        return target
    heads, hidden = _encoder_config(module)
    # Export a copy: the legacy exporter leaves the traced module computing differently afterwards
    # (seen on transformers 5 BERT), and the caller may keep using its module.
    module = copy.deepcopy(module).cpu().float()
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        raw = Path(tmp) / "raw.onnx"
        with warnings.catch_warnings():
            # Tracer warnings about data-dependent Python branches in transformers' mask code:
            # the exported graph is checked against PyTorch by the engine's agreement tests.
            warnings.simplefilter("ignore")
            _export(module, tasks, raw)
        optimised = optimizer.optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=hidden)
        fused = Path(tmp) / "fused.onnx"
        optimised.save_model_to_file(str(fused))
        result = fused
        if precision == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            graph = onnx.load(str(fused)).graph
            result = Path(tmp) / "int8.onnx"
            quiet = logging.getLogger()  # the quantizer advises pre-processing on the root logger
            level = quiet.level
            quiet.setLevel(logging.ERROR)
            try:
                quantize_dynamic(
                    str(fused),
                    str(result),
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    # Only the encoder's matrix products: embeddings, LayerNorms and the heads' Gemm
                    # stay fp32.
                    op_types_to_quantize=["MatMul", "Attention"],
                    nodes_to_exclude=_int8_excluded(graph),
                    # Fused com.microsoft ops defeat ONNX shape inference; their outputs are fp32.
                    extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                )
            finally:
                quiet.setLevel(level)
        os.replace(result, target)  # atomic: a concurrent worker sees the whole file or none
    log.info("exported ONNX graph", extra={"path": str(target), "precision": precision})
    return target


def _export(module: nn.Module, tasks: Sequence[str], path: Path) -> None:
    ids = torch.ones(2, 8, dtype=torch.long)
    # Padding in the example: transformers drops an all-ones mask while tracing, and the graph
    # would then attend to padding in every later batch.
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    config = getattr(getattr(module, "encoder", None), "config", None)
    previous = getattr(config, "_attn_implementation", None)
    if config is not None:
        # Eager attention exports as plain MatMul/Softmax, the pattern ONNX Runtime fuses.
        config._attn_implementation = "eager"
    try:
        _trace(module, tasks, path, ids, mask, axes)
    finally:
        if config is not None:
            config._attn_implementation = previous


def _trace(module: nn.Module, tasks: Sequence[str], path: Path, ids: torch.Tensor, mask: torch.Tensor, axes: dict) -> None:
    torch.onnx.export(
        TupleOutputs(module, tasks),
        (ids, mask),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=list(tasks),
        dynamic_axes={**axes, **{t: {0: "batch"} for t in tasks}},
        opset_version=17,
        dynamo=False,
    )


def build_session(path: str | Path, *, threads: int | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxModule:
    """A callable with the multi-task module's signature, running an ONNX Runtime session."""

    def __init__(self, session: Any, tasks: Sequence[str]) -> None:
        self.session = session
        self.tasks = list(tasks)

    def __call__(self, *, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = self.session.run(
            self.tasks, {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        )
        return {task: torch.from_numpy(value) for task, value in zip(self.tasks, outputs)}
