"""The model in a process of its own: the worker's event loop, writer and Faust keep their GIL.

Profiling the worker found inference inside it at about 60 % of its stand-alone speed: the
tokenizer's Python side, building predictions, aiokafka's fetcher and SQLAlchemy's writer all take
turns on one interpreter lock. ``InferenceProcess`` runs the engine in a spawned child and talks to
it over a pipe (texts one way, predictions or logits the other; a batch of 256 headlines is tens of
kilobytes, small beside the forward pass). It offers what the worker needs of a predictor
(``version``, ``tasks``, ``predict``, ``logits``), so ``score_messages`` and the per-ticker entity
head use it unchanged.

Failure is loud: if the child dies (killed, out of memory), the call in flight raises
``InferenceProcessDied``; the worker treats that like any failed batch (exit 70, nothing acked), and
the restarted worker scores the batch again, written once by the idempotent store.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import traceback
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from finsent.model.scoring import Prediction

__all__ = ["InferenceProcess", "InferenceProcessDied", "LogSetup"]

log = logging.getLogger(__name__)


class InferenceProcessDied(RuntimeError):
    """The child that runs the model is gone; the batch it had was not scored."""


@dataclass(frozen=True)
class LogSetup:
    """How the child logs: the same level, format and secrets as its parent (one JSON stream)."""

    level: str = "WARNING"
    fmt: str = "json"
    secrets: tuple[str, ...] = ()


def _serve(conn: Connection, load: Callable[[], Any], logs: LogSetup) -> None:
    """The child: load the model, then answer (method, texts) requests until the parent goes away."""
    # Its own process group: a Ctrl-C or a group-wide SIGTERM reaches the worker, which drains its
    # batch in flight; the model must still be here to score it. The child ends when the pipe closes.
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from finsent.logs import configure_logging

    configure_logging(logs.level, logs.fmt, secrets=logs.secrets)
    try:
        model = load()
    except BaseException:  # noqa: BLE001 - the parent reports it and exits loudly
        conn.send(("error", traceback.format_exc()))
        return
    ready = {
        "version": model.version,
        "tasks": {k: list(v) for k, v in model.tasks.items()},
        # The calibration block: score_texts reads the per-kind temperatures from it.
        "calibration": (getattr(model, "card", None) or {}).get("calibration") or {},
    }
    conn.send(("ready", ready))
    while True:
        try:
            method, texts = conn.recv()
        except (EOFError, OSError):
            return  # the worker exited (or was killed): nothing is waiting for an answer
        try:
            if method == "predict":
                answer: Any = list(model.predict(texts))
            elif method == "logits":
                answer = {task: values.float().numpy() for task, values in model.logits(texts).items()}
            else:
                raise ValueError(f"unknown request {method!r}")
            conn.send(("ok", answer))
        except (BrokenPipeError, EOFError):
            return
        except Exception:  # noqa: BLE001 - a failed call is the caller's exception, not the child's end
            conn.send(("error", traceback.format_exc()))


def _last_line(text: str) -> str:
    """A traceback's last line: the exception, which is what an operator reads first."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else text


@contextmanager
def _parent_main_hidden() -> Iterator[None]:
    """While a child is spawned, show it a bare ``__main__``.

    spawn re-runs the parent's main script in the child (as ``__mp_main__``) whenever that module
    has a file and no import name. The child needs nothing from it: its target lives in this
    package. And whatever is ``__main__`` may not be safe to run again: Streamlit leaves its page
    script there, an embedding program may have no ``if __name__ == "__main__"`` guard. Found by CI,
    where a dashboard test ran first and every inference child died re-running the page.
    """
    parent_main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if parent_main is not None:
            sys.modules["__main__"] = parent_main


class InferenceProcess:
    """A predictor whose model runs in a spawned child process; thread-safe (one request at a time)."""

    def __init__(self, load: Callable[[], Any], *, logs: LogSetup | None = None, start_timeout_s: float = 600) -> None:
        """Start the child and wait until its model is loaded. ``load`` must be picklable (a module function)."""
        # spawn, not fork: the parent may already run threads (Faust, the model-load thread) and
        # OpenMP pools, which a forked child would inherit in an undefined state.
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, load, logs or LogSetup()), name="finsent-inference", daemon=True
        )
        with _parent_main_hidden():
            self._process.start()
        child.close()  # only the child holds its end now, so its death reads as EOF here
        self._lock = threading.Lock()
        if not self._conn.poll(start_timeout_s):
            self.close()
            raise InferenceProcessDied(f"the inference process did not load its model within {start_timeout_s:.0f} s")
        status, payload = self._receive()
        if status != "ready":
            self.close()
            raise RuntimeError(f"the inference process could not load the model: {_last_line(payload)}\n{payload}")
        self.version: str = payload["version"]
        self.tasks: dict[str, list[str]] = payload["tasks"]
        self.card: dict[str, Any] = {"calibration": payload.get("calibration") or {}}
        log.info("inference process ready", extra={"pid": self.pid, "model_version": self.version})

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def has_sentiment(self) -> bool:
        return "sentiment" in self.tasks

    def _receive(self) -> tuple[str, Any]:
        try:
            return self._conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError) as exc:
            self._process.join(timeout=5)
            raise InferenceProcessDied(
                f"the inference process (pid {self.pid}) died; exit status {self._process.exitcode}"
            ) from exc

    def _call(self, method: str, texts: Sequence[str]) -> Any:
        with self._lock:
            try:
                self._conn.send((method, list(texts)))
            except (BrokenPipeError, OSError) as exc:
                raise InferenceProcessDied(f"the inference process (pid {self.pid}) is gone") from exc
            status, payload = self._receive()
        if status != "ok":
            raise RuntimeError(f"inference failed in the inference process: {_last_line(payload)}\n{payload}")
        return payload

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        return self._call("predict", texts)  # type: ignore[no-any-return]

    def logits(self, texts: Sequence[str]) -> Mapping[str, torch.Tensor]:
        import torch

        return {task: torch.from_numpy(values) for task, values in self._call("logits", texts).items()}

    def close(self) -> None:
        """Close the pipe (the child ends by itself) and reap the child."""
        self._conn.close()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)

    def __enter__(self) -> InferenceProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
