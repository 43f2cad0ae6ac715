"""Fast inference with the classifier's ``predict`` interface (a drop-in for :class:`Classifier`).

What makes it fast, each measured on the 2-core AVX2 dev machine (docs/model.md):
- the fast tokenizer runs once per call over all texts, without padding;
- texts are sorted by token length and cut into batches capped by count and by tokens, so a batch
  pads only to its own longest text and one huge text cannot blow up memory;
- ``torch.inference_mode``, thread count set once, a warm-up pass so the first real batch does not
  pay for kernel selection;
- precision chosen per device: bf16 on CPUs with AMX/AVX512-BF16 and on GPUs, fp32 elsewhere;
- the backend chosen per precision: OpenVINO (two inference streams, fused kernels) for bf16 on the
  CPU, ONNX Runtime for fp32/int8 on the CPU, PyTorch on GPUs and as the reference and fallback;
  int8 dynamic quantization on request (faster, but below 99 % label agreement with fp32 on the
  shipped model); :func:`agreement` measures any of them against the fp32 reference.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from finsent.model.batching import pad_batch
from finsent.model.classifier import Classifier, load
from finsent.model.data import model_input_text
from finsent.model.precision import int8_target, native_bf16
from finsent.model.scoring import Prediction, predictions

__all__ = [
    "Agreement",
    "Engine",
    "PRECISIONS",
    "RUNTIMES",
    "agreement",
    "choose_precision",
    "choose_runtime",
    "load_engine",
    "load_engine_from_settings",
]

log = logging.getLogger(__name__)

MIN_SPLIT_BATCH = 8  # texts per request at least when a call is split across inference streams

PRECISIONS = ("auto", "fp32", "int8", "bf16", "fp16")


def choose_precision(requested: str, device: torch.device) -> str:
    """The precision to run: 'auto' resolves to the fastest one the device computes natively."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {requested!r}")
    if device.type == "cuda":
        if requested == "int8":
            raise ValueError("int8 dynamic quantization runs on the CPU only")
        if requested == "auto":
            return "bf16" if native_bf16(device) else "fp16"
        return requested
    if requested == "fp16":
        raise ValueError("fp16 inference needs a GPU; use int8 or bf16 on the CPU")
    if requested == "auto":
        # int8 dynamic quantization misses the 99 % label-agreement bar on the shipped model (98.7 %
        # at best, docs/model.md), so CPUs without native bf16 stay on the fp32 reference.
        return "bf16" if native_bf16(device) else "fp32"
    if requested == "bf16" and not native_bf16(device):
        log.warning("bf16 on a CPU without AMX/AVX512-BF16 is emulated and slower than fp32")
    return requested


RUNTIMES = ("auto", "torch", "onnx", "openvino")


def choose_runtime(requested: str, device: torch.device, precision: str) -> str:
    """torch; OpenVINO for bf16 (and fp32) on the CPU; ONNX Runtime for fp32/int8 on the CPU.

    'auto' takes OpenVINO for bf16 on the CPU and ONNX Runtime for fp32/int8 there, each when it is
    installed (both are finsent dependencies), and PyTorch everywhere else.
    """
    if requested not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, not {requested!r}")
    from finsent.model import onnx_runtime, openvino_runtime

    onnx_fits = device.type == "cpu" and precision in ("fp32", "int8")
    openvino_fits = device.type == "cpu" and precision in openvino_runtime.OPENVINO_PRECISIONS
    if requested == "onnx":
        if not onnx_fits:
            raise ValueError(f"the ONNX Runtime backend runs fp32 or int8 on the CPU, not {precision} on {device}")
        if not onnx_runtime.available():
            raise ValueError("runtime 'onnx' needs the onnxruntime package (a finsent dependency)")
        return "onnx"
    if requested == "openvino":
        if not openvino_fits:
            raise ValueError(f"the OpenVINO backend runs bf16 or fp32 on the CPU, not {precision} on {device}")
        if not openvino_runtime.available():
            raise ValueError("runtime 'openvino' needs the openvino package (a finsent dependency)")
        return "openvino"
    if requested == "auto":
        if device.type == "cpu" and precision == "bf16" and openvino_runtime.available():
            return "openvino"
        if onnx_fits and onnx_runtime.available():
            return "onnx"
    return "torch"


def _quantize_int8(module: nn.Module) -> nn.Module:
    """A copy whose encoder Linear layers compute in int8 (weights per channel, activations per batch)."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    quantized = copy.deepcopy(module)
    names = {
        name: per_channel_dynamic_qconfig
        for name, sub in quantized.named_modules()
        if isinstance(sub, nn.Linear) and int8_target(name)
    }
    with warnings.catch_warnings():
        # torch marks the quantized-tensor API deprecated in favour of torchao; it is what ships today.
        warnings.simplefilter("ignore")
        return quantize_dynamic(quantized, names, dtype=torch.qint8)


class Engine:
    """Batched, reduced-precision inference over a (multi-task) encoder; same ``predict`` as Classifier."""

    def __init__(
        self,
        module: nn.Module,
        tokenizer: Any,
        tasks: dict[str, list[str]],
        *,
        version: str,
        device: torch.device,
        precision: str = "auto",
        max_length: int = 128,
        batch_size: int = 64,
        max_batch_tokens: int | None = None,
        normalize: bool = False,
        card: dict[str, Any] | None = None,
        warmup: bool = True,
        runtime: str = "torch",
        onnx_cache: str | Path = "var/onnx",
    ) -> None:
        self.tokenizer = tokenizer
        self.tasks = tasks
        self.version = version
        self.device = device
        self.max_length = max_length
        self.batch_size = batch_size
        # A token budget per batch: long texts come in smaller batches, so memory stays bounded.
        self.max_batch_tokens = max_batch_tokens or batch_size * 48
        self.normalize = normalize
        self.card = card or {}
        self.precision = choose_precision(precision, device)
        self.pad_id = int(tokenizer.pad_token_id or 0)
        self.runtime = choose_runtime(runtime, device, self.precision)
        module = module.eval()
        if self.runtime == "onnx":
            from finsent.model.onnx_runtime import OnnxModule, build_session, export_onnx

            graph = export_onnx(module, list(tasks), onnx_cache, precision=self.precision)
            self.module: Any = OnnxModule(build_session(graph), list(tasks))
        elif self.runtime == "openvino":
            from finsent.model.openvino_runtime import OpenVinoModule, compile_ir, convert_ir

            ir = convert_ir(module, list(tasks), Path(onnx_cache).with_name("openvino"))
            self.module = OpenVinoModule(compile_ir(ir, precision=self.precision), list(tasks))
        else:
            if self.precision == "int8":
                module = _quantize_int8(module.cpu())
            elif self.precision in ("bf16", "fp16"):
                module = copy.deepcopy(module).to(torch.bfloat16 if self.precision == "bf16" else torch.float16)
            self.module = module.to(device)
        if warmup:
            self.warmup()

    @classmethod
    def from_classifier(cls, classifier: Classifier, **options: Any) -> Engine:
        """An engine over an already loaded reference classifier (its weights are not modified)."""
        return cls(
            classifier.module,
            classifier.tokenizer,
            classifier.tasks,
            version=classifier.version,
            device=classifier.device,
            max_length=options.pop("max_length", classifier.max_length),
            batch_size=options.pop("batch_size", classifier.batch_size),
            normalize=classifier.normalize,
            card=classifier.card,
            **options,
        )

    @property
    def has_sentiment(self) -> bool:
        return "sentiment" in self.tasks

    def warmup(self) -> None:
        """Run a few batches of typical shapes so kernel selection happens before real traffic."""
        for words in (8, 24, 48):
            self.logits(["market update " * (words // 2)] * min(self.batch_size, 16))

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        if self.normalize:
            texts = [model_input_text(t) for t in texts]
        # One call over everything: the Rust tokenizer parallelises and skips per-batch overhead.
        return self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )["input_ids"]

    def _batch_cap(self, count: int) -> int:
        """Texts per forward pass for a call of ``count`` texts.

        A backend with parallel streams idles all but one of them on a call that fills a single
        batch, which is every call a worker makes at moderate load (a micro-batch of about 50
        texts took 0.21 s on one of two streams, 0.10 s split, on 2 cores). So a call is cut into at least
        two batches per stream (shorter ones pad less and balance the streams), never below
        ``MIN_SPLIT_BATCH`` texts, where per-request overhead starts to dominate.
        """
        streams = int(getattr(self.module, "requests", 1))
        if streams <= 1:
            return self.batch_size
        return min(self.batch_size, max(MIN_SPLIT_BATCH, math.ceil(count / (2 * streams))))

    def _batches(self, lengths: Sequence[int], cap: int | None = None) -> list[list[int]]:
        cap = cap or self.batch_size
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            # Sorted longest first, so the first text of a batch sets its padded width.
            width = lengths[current[0]] if current else lengths[i]
            if current and (
                len(current) >= cap or (len(current) + 1) * width > self.max_batch_tokens
            ):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def logits(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Raw logits per task, in input order (fp32, on the CPU)."""
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        out = {task: torch.empty(len(texts), len(labels)) for task, labels in self.tasks.items()}
        if not texts:
            return out
        ids = self._encode(texts)
        batches = self._batches([len(x) for x in ids], self._batch_cap(len(texts)))
        with torch.inference_mode():
            if hasattr(self.module, "run_many"):
                # A backend with parallel streams takes every batch at once, to keep them all busy.
                padded = [pad_batch([ids[i] for i in batch], self.pad_id) for batch in batches]
                results = self.module.run_many(padded)
            else:
                results = (
                    self.module(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device))
                    for input_ids, mask in (pad_batch([ids[i] for i in batch], self.pad_id) for batch in batches)
                )
            for batch, result in zip(batches, results):
                index = torch.tensor(batch)
                for task, value in result.items():
                    out[task][index] = value.float().cpu()
        return out

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Topic and sentiment for every text, in input order."""
        if len(texts) == 0:
            return []
        return predictions(self.logits(texts), self.tasks)


def load_engine(
    path: str | Path,
    *,
    device: str = "auto",
    precision: str = "auto",
    max_length: int = 128,
    batch_size: int = 64,
    threads: int | None = None,
    warmup: bool = True,
    runtime: str = "torch",
    onnx_cache: str | Path = "var/onnx",
) -> Engine:
    """Load a checkpoint (as :func:`model.classifier.load` does) and wrap it in an engine."""
    classifier = load(path, device=device, max_length=max_length, batch_size=batch_size, threads=threads)
    engine = Engine.from_classifier(
        classifier, precision=precision, warmup=warmup, runtime=runtime, onnx_cache=onnx_cache
    )
    log.info(
        "engine ready",
        extra={
            "version": engine.version,
            "precision": engine.precision,
            "runtime": engine.runtime,
            "device": str(engine.device),
            "threads": torch.get_num_threads(),
        },
    )
    return engine


def load_engine_from_settings(
    settings: Any, *, path: str | Path | None = None, precision: str | None = None
) -> Engine:
    """The engine finsent's settings describe (``path``/``precision`` override ``settings.model``).

    One place, so the worker, backfill and ``classify`` score a text identically.
    """
    m = settings.model
    return load_engine(
        path or m.path,
        device=m.device,
        precision=precision or m.precision,
        max_length=m.max_length,
        batch_size=m.inference_batch_size,
        threads=m.threads,
        runtime=m.runtime,
        onnx_cache=Path(settings.data_dir) / "onnx",
    )


@dataclass(frozen=True)
class Agreement:
    """How often the engine's labels equal the fp32 reference's, per task, and the largest probability gap."""

    n: int
    label_agreement: dict[str, float]
    max_abs_prob_diff: dict[str, float]


def agreement(
    reference: Classifier | Engine, candidate: Classifier | Engine, texts: Sequence[str]
) -> Agreement:
    """Compare two predictors on the same texts (e.g. fp32 Classifier vs int8 Engine)."""
    ref, cand = reference.logits(texts), candidate.logits(texts)
    labels, diffs = {}, {}
    for task in ref:
        if task not in cand:
            continue
        p, q = torch.softmax(ref[task], -1), torch.softmax(cand[task], -1)
        labels[task] = float((p.argmax(-1) == q.argmax(-1)).float().mean()) if len(texts) else 1.0
        diffs[task] = float((p - q).abs().max()) if len(texts) else 0.0
    return Agreement(len(texts), labels, diffs)
