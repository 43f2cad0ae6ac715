"""The model in its own process (issue #14): same answers as in-process, and a dead child is loud."""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from finsent.model.engine import load_engine
from finsent.model.inference_process import InferenceProcess, InferenceProcessDied
from finsent.model.scoring import score_entities, score_texts
from tests.utils.tiny_model import build_tiny_checkpoint

TEXTS = [
    "Shares plunge after the profit warning",
    "Operating profit rose 12 % in the quarter",
    "",  # empty text
    "x" * 5_000,  # one huge text (truncated to max_length)
    "Aktien fallen, 株価が下落 📉",  # unicode
    "ok",
]


@pytest.fixture(scope="module")
def entity_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A comment temperature too: the child must hand the calibration block to score_texts.
    calibration = {"sentiment": {"temperature": 1.0, "kind_temperatures": {"comment": 0.25}, "folded": True}}
    return build_tiny_checkpoint(
        tmp_path_factory.mktemp("models") / "tiny-entity", entity=True, extra={"calibration": calibration}
    )


def _load(path: Path):  # type: ignore[no-untyped-def]
    return load_engine(path, device="cpu", runtime="torch", threads=1, max_length=64)


def test_the_child_answers_exactly_as_the_model_in_process(entity_model: Path) -> None:
    local = _load(entity_model)
    with InferenceProcess(functools.partial(_load, entity_model)) as remote:
        assert remote.pid != os.getpid() and remote.version == local.version
        assert remote.tasks == {k: list(v) for k, v in local.tasks.items()} and remote.has_sentiment
        assert remote.predict([]) == []
        got, want = remote.predict(TEXTS), local.predict(TEXTS)
        assert [(p.sentiment, p.topic) for p in got] == [(p.sentiment, p.topic) for p in want]
        for a, b in zip(got, want, strict=True):
            assert a.sentiment_score == pytest.approx(b.sentiment_score, abs=1e-6)
        remote_logits, local_logits = remote.logits(TEXTS), local.logits(TEXTS)
        assert set(remote_logits) == set(local_logits)
        for task, values in local_logits.items():
            assert torch.allclose(remote_logits[task], values.float(), atol=1e-5), task
        kinds = ["comment"] * len(TEXTS)
        got_comments, want_comments = score_texts(remote, TEXTS, kinds=kinds), score_texts(local, TEXTS, kinds=kinds)
        assert [p.sentiment_score for p in got_comments] == pytest.approx([p.sentiment_score for p in want_comments], abs=1e-5)
        assert [p.sentiment_score for p in got_comments] != pytest.approx([p.sentiment_score for p in want], abs=1e-3)
        # The per-ticker entity head goes through the same object unchanged.
        pairs = [("Acme beats, Beta misses", "Acme"), ("Acme beats, Beta misses", "Beta")]
        got_entities, want_entities = score_entities(remote, pairs), score_entities(local, pairs)
        assert [label for label, _ in got_entities] == [label for label, _ in want_entities]
        assert [p for _, p in got_entities] == pytest.approx([p for _, p in want_entities], abs=1e-6)


def test_a_child_killed_mid_call_raises_and_the_next_call_too(tiny_model_path: Path) -> None:
    remote = InferenceProcess(functools.partial(_load, tiny_model_path))
    try:
        assert len(remote.predict(["one"])) == 1
        assert remote.pid is not None
        os.kill(remote.pid, signal.SIGSTOP)  # frozen with the request below in its pipe: mid-call
        started = time.monotonic()
        errors: list[BaseException] = []

        def call() -> None:
            try:
                remote.predict(["a batch the child never finishes"] * 32)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        caller.join(0.5)
        assert caller.is_alive()  # waiting on the frozen child
        os.kill(remote.pid, signal.SIGKILL)
        caller.join(10)
        assert not caller.is_alive() and len(errors) == 1
        assert isinstance(errors[0], InferenceProcessDied) and "died" in str(errors[0])
        assert time.monotonic() - started < 10
        with pytest.raises(InferenceProcessDied):
            remote.predict(["after the death"])
    finally:
        remote.close()


def _fail() -> None:
    raise FileNotFoundError("no checkpoint at /nowhere")


def test_a_model_that_cannot_load_says_why() -> None:
    with pytest.raises(RuntimeError, match="could not load the model.*no checkpoint at /nowhere"):
        InferenceProcess(_fail)


def test_the_child_ends_when_its_parent_closes_the_pipe(tiny_model_path: Path) -> None:
    remote = InferenceProcess(functools.partial(_load, tiny_model_path))
    pid = remote.pid
    remote._conn.close()  # what the parent's death does to the pipe
    remote._process.join(timeout=10)
    assert not remote._process.is_alive() and remote._process.exitcode == 0, pid
    remote.close()


def test_the_child_never_runs_the_parents_main_script(
    tiny_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streamlit leaves its page script as ``__main__``; spawn would re-run it in the child (CI found it)."""
    import sys
    import types

    script = tmp_path / "page.py"
    script.write_text("raise SystemExit('the parent main script ran in the inference child')\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page)
    with InferenceProcess(functools.partial(_load, tiny_model_path)) as remote:
        assert len(remote.predict(["one"])) == 1
    assert sys.modules["__main__"] is page
