"""Experiment (issue #14, part 1): OpenVINO + NNCF static int8 variants vs the OpenVINO bf16 engine.

For each variant: quantize the shipped model's fp32 IR with NNCF on TRAINING texts (a fixed,
deterministic sample of both training corpora), then measure on the two validation files (the same
raw files tests/model/test_shipped_model.py uses) the top-1 agreement with the fp32 PyTorch reference
for both heads, and the engine rate (texts/s) in the same process as the bf16 engine.

Run from the repository root (needs nncf, an optional dependency: ``pip install nncf==3.4.0``):
    OMP_NUM_THREADS=1 python -m finsent.bench.int8_sweep DATA_DIR [variant ...]
DATA_DIR being the folder that holds ``tfns-sentiment/`` and ``tfn-topic/``. Prints one JSON line per
variant and a Markdown table; rows are appended to var/int8_sweep.jsonl as they finish.
"""

from __future__ import annotations

import csv
import json
import random
import sys
import time
from pathlib import Path

import torch

__all__ = ["agreements", "calibration_texts", "compile_ir_model", "main", "quantize", "rate", "train_files", "validation_files"]

ROOT = Path("var")  # local state, relative to where it runs (the repository root)


def validation_files(data: Path) -> dict[str, Path]:
    return {"sentiment": data / "tfns-sentiment" / "validation.csv", "topic": data / "tfn-topic" / "validation.csv"}


def train_files(data: Path) -> list[Path]:
    return [data / "tfns-sentiment" / "train.csv", data / "tfn-topic" / "train.csv"]

# Node-name patterns (regex over OpenVINO op names) for layers kept out of int8.
HEADS = r".*heads.*|.*pooler.*"
FFN_OUT = r".*layer\.\d+\.output\.dense.*"
ATTN_OUT = r".*attention\.output\.dense.*"
EDGE_FFN = r".*layer\.[05]\.intermediate\.dense.*"


def _variants() -> dict[str, dict]:
    return {
        "int8-plain": dict(ignored=[]),
        "int8-ffnout-heads": dict(ignored=[FFN_OUT, HEADS]),
        "int8-ffnout-heads-transformer": dict(ignored=[FFN_OUT, HEADS], transformer=True),
        "int8-ffnout-heads-mixed-sq": dict(ignored=[FFN_OUT, HEADS], transformer=True, mixed=True, sq=0.5),
        "int8-ffnout-attnout-heads": dict(ignored=[FFN_OUT, ATTN_OUT, HEADS], transformer=True),
        "int8-ffnout-heads-l0l5": dict(ignored=[FFN_OUT, HEADS, EDGE_FFN], transformer=True),
        "int8-ffnout-heads-slowbc": dict(ignored=[FFN_OUT, HEADS], transformer=True, slow_bc=True),
    }


def _texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh)]


def calibration_texts(data: Path, n: int = 600, seed: int = 0) -> list[str]:
    """A fixed sample of training texts (never validation), half from each corpus."""
    rng = random.Random(seed)
    out: list[str] = []
    paths = train_files(data)
    for path in paths:
        texts = _texts(path)
        out += rng.sample(texts, n // len(paths))
    return out


def quantize(ir: Path, engine, texts: list[str], spec: dict):
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters

    from finsent.model.batching import pad_batch

    model = ov.Core().read_model(str(ir))
    ids = engine._encode(texts)
    items = []
    for i in range(0, len(ids), 8):
        chunk = ids[i : i + 8]
        a, m = pad_batch(chunk, engine.pad_id)
        items.append({"input_ids": a.numpy(), "attention_mask": m.numpy()})
    kwargs: dict = {"subset_size": len(items)}
    if spec.get("ignored"):
        kwargs["ignored_scope"] = nncf.IgnoredScope(patterns=spec["ignored"], validate=False)
    if spec.get("transformer"):
        kwargs["model_type"] = nncf.ModelType.TRANSFORMER
    if spec.get("mixed"):
        kwargs["preset"] = nncf.QuantizationPreset.MIXED
    if spec.get("slow_bc"):
        kwargs["fast_bias_correction"] = False
    if "sq" in spec:
        kwargs["advanced_parameters"] = AdvancedQuantizationParameters(
            smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=spec["sq"])
        )
    return nncf.quantize(model, nncf.Dataset(items), **kwargs)


def rate(engine, texts: list[str], repeats: int = 2) -> float:
    engine.logits(texts[:256])
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        engine.logits(texts)
        best = max(best, len(texts) / (time.perf_counter() - start))
    return best


def agreements(ref: dict, engine, files: dict) -> dict:
    out = {}
    for name, texts in files.items():
        cand = engine.logits(texts)
        for head in ("sentiment", "topic"):
            out[f"{name}/{head}"] = float((ref[name][head].argmax(-1) == cand[head].argmax(-1)).float().mean())
    return out


def main(argv: list[str]) -> None:
    import nncf  # noqa: F401
    import openvino as ov

    from finsent.model.classifier import load
    from finsent.model.engine import load_engine
    from finsent.model.openvino_runtime import OpenVinoModule, compile_ir, convert_ir
    from finsent.settings import default_model_path

    if not argv:
        raise SystemExit(__doc__)
    data, argv = Path(argv[0]), argv[1:]
    variants = _variants()
    chosen = argv or list(variants)
    files = {name: _texts(p) for name, p in validation_files(data).items()}
    speed_texts = files["sentiment"]
    reference = load(default_model_path(), device="cpu")
    ref = {name: reference.logits(texts) for name, texts in files.items()}
    engine = load_engine(default_model_path(), device="cpu", precision="bf16", runtime="openvino", onnx_cache=ROOT / "onnx")
    tasks = list(engine.tasks)
    ir = convert_ir(reference.module, tasks, ROOT / "openvino")
    bf16_module = engine.module
    rows = []
    base = rate(engine, speed_texts)
    rows.append(dict(variant="ov-bf16", rate=base, ratio=1.0, **agreements(ref, engine, files)))
    print(json.dumps(rows[-1]), flush=True)
    calib = calibration_texts(data)
    out = ROOT / "int8_sweep.jsonl"
    for name in chosen:
        spec = variants[name]
        start = time.perf_counter()
        qmodel = quantize(ir, engine, calib, spec)
        qtime = time.perf_counter() - start
        for hint in spec.get("hints", ["bf16"]):
            engine.module = OpenVinoModule(compile_ir_model(qmodel, hint), tasks)
            engine.warmup()
            engine.module, bf = bf16_module, engine.module
            base = rate(engine, speed_texts)  # bf16 again, same process, right before
            engine.module = bf
            r = rate(engine, speed_texts)
            row = dict(variant=f"{name}@{hint}", rate=r, ratio=r / base, bf16_rate=base, quantize_s=qtime,
                       **agreements(ref, engine, files))
            rows.append(row)
            print(json.dumps(row), flush=True)
            with out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
        engine.module = bf16_module
    print()
    print("| variant | texts/s | vs OV bf16 | sent-file/sent | sent-file/topic | topic-file/sent | topic-file/topic |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        a = [r[k] for k in ("sentiment/sentiment", "sentiment/topic", "topic/sentiment", "topic/topic")]
        print(f"| {r['variant']} | {r['rate']:.0f} | {r['ratio']:.2f}x | " + " | ".join(f"{x:.2%}" for x in a) + " |")
    _ = ov


def compile_ir_model(model, hint: str):
    import openvino as ov

    cores = torch.get_num_threads()
    config = {
        "INFERENCE_PRECISION_HINT": "bf16" if hint == "bf16" else "f32",
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_NUM_THREADS": cores,
        "NUM_STREAMS": max(1, cores),
    }
    return ov.Core().compile_model(model, "CPU", config)


if __name__ == "__main__":
    main(sys.argv[1:])
