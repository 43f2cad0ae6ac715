"""The fast engine agrees with the fp32 reference classifier and survives awkward batches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from finsent.model.classifier import load
from finsent.model.engine import Engine, agreement, choose_precision, load_engine

MIXED = [
    "Apple beats",
    "Fed Chair Powell says the committee will keep rates on hold while inflation stays above target " * 3,
    "",
    "Oil",
    "📉 Stocks tumble; 日経平均 falls 3%, DAX −2% — «crise»",
    "\u200b\u200bzero width\u202e RTL override",
    "S&amp;P 500 https://t.co/abc",
    "a " * 40,
]


@pytest.fixture(scope="module")
def reference(tiny_model_path: Path):
    return load(tiny_model_path, device="cpu", max_length=64, batch_size=4)


def test_fp32_engine_matches_reference_exactly(reference) -> None:
    engine = Engine.from_classifier(reference, precision="fp32", batch_size=3)
    a, b = reference.logits(MIXED), engine.logits(MIXED)
    for task in a:
        torch.testing.assert_close(a[task], b[task], atol=1e-5, rtol=1e-4)
    assert [p.topic for p in engine.predict(MIXED)] == [p.topic for p in reference.predict(MIXED)]


def test_int8_engine_stays_close_to_fp32(reference) -> None:
    texts = [
        f"{w} {c} shares {v} after {e}"
        for w in ("Apple", "Tesla", "Exxon")
        for c in ("jump", "fall")
        for v in ("5%", "sharply")
        for e in ("earnings", "Fed", "news")
    ]
    engine = Engine.from_classifier(reference, precision="int8")
    report = agreement(reference, engine, texts)
    assert report.n == len(texts)
    # A random tiny model has near-tied classes, so a few flips are expected; probabilities stay close.
    assert report.max_abs_prob_diff["sentiment"] < 0.05
    assert report.label_agreement["sentiment"] >= 0.9
    # The reference model itself was not modified by quantization.
    assert any(isinstance(m, torch.nn.Linear) for m in reference.module.modules())


def test_empty_input_gives_empty_output(reference) -> None:
    engine = Engine.from_classifier(reference, precision="fp32", warmup=False)
    assert engine.predict([]) == []
    assert engine.logits([])["topic"].shape == (0, 20)


def test_one_huge_text_is_truncated_not_fatal(reference) -> None:
    engine = Engine.from_classifier(reference, precision="fp32", max_length=32, warmup=False)
    huge = "earnings " * 50_000
    [p] = engine.predict([huge])
    truncated = engine.predict(["earnings " * 100])[0]
    assert p.topic == truncated.topic and p.topic_score == pytest.approx(truncated.topic_score, abs=1e-5)


def test_batch_results_equal_one_at_a_time_in_input_order(reference) -> None:
    engine = Engine.from_classifier(reference, precision="fp32", batch_size=2, warmup=False)
    together = engine.predict(MIXED)
    alone = [engine.predict([t])[0] for t in MIXED]
    for a, b in zip(together, alone):
        assert (a.sentiment, a.topic) == (b.sentiment, b.topic)
        assert a.sentiment_score == pytest.approx(b.sentiment_score, abs=1e-5)


def test_batches_respect_count_and_token_budget(reference) -> None:
    engine = Engine.from_classifier(
        reference, precision="fp32", batch_size=4, max_batch_tokens=100, warmup=False
    )
    lengths = [60, 5, 5, 5, 5, 5, 30, 30, 30]
    batches = engine._batches(lengths)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 4
        assert len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 100
    assert batches[0] == [0]  # the long text travels alone


def test_a_call_is_split_across_the_backends_streams(reference, tmp_path: Path) -> None:
    engine = Engine.from_classifier(
        reference, precision="fp32", runtime="openvino", onnx_cache=tmp_path / "onnx", batch_size=64, warmup=False
    )
    engine.module.requests = 2  # what compile_ir gives on a two-core machine, whatever this one has
    # A worker's micro-batch of 57 would fill one batch of 64, leaving one stream idle: four instead.
    assert engine._batch_cap(57) == 15 and len(engine._batches([20] * 57, engine._batch_cap(57))) == 4
    assert engine._batch_cap(10) == 8  # never below the smallest useful request
    assert engine._batch_cap(5_000) == 64  # large calls keep the configured batch size
    # The split call scores as the reference does, in input order.
    many = MIXED * 8
    a, b = reference.logits(many), engine.logits(many)
    for task in a:
        torch.testing.assert_close(a[task], b[task], atol=1e-4, rtol=1e-3)
    single = Engine.from_classifier(reference, precision="fp32", batch_size=64, warmup=False)
    assert single._batch_cap(57) == 64  # one stream (PyTorch): nothing to split for


def test_non_string_inputs_are_scored_as_text(reference) -> None:
    engine = Engine.from_classifier(reference, precision="fp32", warmup=False)
    assert engine.predict([42])[0].topic == engine.predict(["42"])[0].topic


def test_precision_choice() -> None:
    cpu = torch.device("cpu")
    assert choose_precision("fp32", cpu) == "fp32"
    assert choose_precision("auto", cpu) in ("fp32", "bf16")
    assert choose_precision("int8", cpu) == "int8"
    with pytest.raises(ValueError):
        choose_precision("fp16", cpu)
    with pytest.raises(ValueError):
        choose_precision("fp8", cpu)


def test_load_engine_from_path(tiny_model_path: Path) -> None:
    engine = load_engine(tiny_model_path, device="cpu", precision="int8", threads=1)
    assert engine.precision == "int8" and engine.tasks["topic"][0] == "Analyst Update"
    assert engine.version.startswith("tiny-test@")


def test_onnx_runtime_fp32_matches_the_torch_reference(reference, tmp_path: Path) -> None:
    engine = Engine.from_classifier(reference, precision="fp32", runtime="onnx", onnx_cache=tmp_path, batch_size=3)
    assert engine.runtime == "onnx"
    a, b = reference.logits(MIXED), engine.logits(MIXED)
    for task in a:
        torch.testing.assert_close(a[task], b[task], atol=1e-4, rtol=1e-3)
    assert [p.topic for p in engine.predict(MIXED)] == [p.topic for p in reference.predict(MIXED)]
    assert engine.predict([]) == []
    # The exported graph is cached by weights: a second engine reuses the file.
    cached = sorted(tmp_path.glob("*.onnx"))
    Engine.from_classifier(reference, precision="fp32", runtime="onnx", onnx_cache=tmp_path, warmup=False)
    assert sorted(tmp_path.glob("*.onnx")) == cached and len(cached) == 1


def test_onnx_runtime_int8_stays_close_and_keeps_the_outlier_layers_fp32(reference, tmp_path: Path) -> None:
    import onnx

    engine = Engine.from_classifier(reference, precision="int8", runtime="onnx", onnx_cache=tmp_path)
    report = agreement(reference, engine, MIXED * 3)
    assert report.max_abs_prob_diff["sentiment"] < 0.05 and report.label_agreement["topic"] >= 0.9
    [graph_file] = tmp_path.glob("*-int8.onnx")
    nodes = onnx.load(str(graph_file)).graph.node
    int8 = [n.name for n in nodes if n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul", "QAttention")]
    fp32 = [n.name for n in nodes if n.op_type in ("MatMul", "Gemm")]
    assert int8, "no MatMul was quantized"
    assert any("intermediate" in name for name in int8)
    assert all("attention" in name or "output/dense" not in name for name in int8)
    # The two feed-forward output projections and the two heads (node names vary with the export).
    assert len(fp32) >= 4
    assert not any(("sentiment" in name or "topic" in name) for name in int8)
    assert not any(n.op_type == "QEmbedLayerNormalization" for n in nodes)


def test_runtime_choice() -> None:
    from finsent.model.engine import choose_runtime

    cpu = torch.device("cpu")
    assert choose_runtime("auto", cpu, "fp32") == "onnx"  # onnxruntime is a dependency
    assert choose_runtime("auto", cpu, "bf16") == "openvino"  # openvino is a dependency
    assert choose_runtime("openvino", cpu, "fp32") == "openvino"
    assert choose_runtime("torch", cpu, "fp32") == "torch"
    assert choose_runtime("auto", torch.device("cuda"), "bf16") == "torch"
    with pytest.raises(ValueError, match="CPU"):
        choose_runtime("onnx", torch.device("cuda"), "fp16")
    with pytest.raises(ValueError):
        choose_runtime("tensorrt", cpu, "fp32")
    with pytest.raises(ValueError, match="bf16 or fp32"):
        choose_runtime("openvino", cpu, "int8")


def test_openvino_fp32_matches_the_torch_reference_and_caches_the_ir(reference, tmp_path: Path) -> None:
    cache = tmp_path / "onnx"  # the OpenVINO IR goes to its sibling folder
    engine = Engine.from_classifier(reference, precision="fp32", runtime="openvino", onnx_cache=cache, batch_size=3)
    assert engine.runtime == "openvino"
    a, b = reference.logits(MIXED), engine.logits(MIXED)
    for task in a:
        torch.testing.assert_close(a[task], b[task], atol=1e-4, rtol=1e-3)
    # Many batches in flight at once come back in input order.
    many = MIXED * 7
    assert [p.topic for p in engine.predict(many)] == [p.topic for p in reference.predict(many)]
    assert engine.predict([]) == []
    cached = sorted((tmp_path / "openvino").glob("*"))
    assert [p.suffix for p in cached] == [".bin", ".xml"]
    Engine.from_classifier(reference, precision="fp32", runtime="openvino", onnx_cache=cache, warmup=False)
    assert sorted((tmp_path / "openvino").glob("*")) == cached


def test_openvino_bf16_keeps_the_labels(reference, tmp_path: Path) -> None:
    engine = Engine.from_classifier(reference, precision="bf16", runtime="openvino", onnx_cache=tmp_path / "onnx")
    report = agreement(reference, engine, MIXED * 3)
    assert report.max_abs_prob_diff["sentiment"] < 0.05 and report.label_agreement["topic"] >= 0.9
