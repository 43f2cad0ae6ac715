"""The inference process dying mid-batch (issue #14): the worker exits without acking the batch, and
a restarted worker scores it exactly once. A real ``finsent worker`` with
``FINSENT_MODEL_INFERENCE_PROCESS=true`` on a real broker and PostgreSQL; the child is frozen while
it holds a batch, then SIGKILLed.
"""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from finsent.bench.faults.harness import Stack, news_payloads, wait_until

pytestmark = pytest.mark.slow

N = 1_200
PG_ADMIN = os.environ.get("FINSENT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_PROCESS = {"FINSENT_MODEL_INFERENCE_PROCESS": "true", "FINSENT_STREAM_MAX_BATCH": "64"}


def _inference_child(parent: int) -> int:
    """The pid of the worker's spawned inference process (multiprocessing's spawn_main child)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and "spawn_main" in cmdline:
            return int(entry.name)
    raise LookupError(f"worker {parent} has no inference process")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def _small_batches(port: int) -> float:
    """How many batches of 32 messages or fewer the worker has taken (its batch-size histogram)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as response:
        text = response.read().decode()
    match = re.search(r'^finsent_worker_batch_size_bucket\{le="32.0"\} ([0-9.e+]+)$', text, re.MULTILINE)
    assert match, "no batch-size histogram"
    return float(match.group(1))


def _steady(stack: Stack, *, for_s: float = 2.0) -> int:
    """The stored count once it has not moved for ``for_s`` (a write already under way lands first)."""
    last, since = stack.score_count(), time.monotonic()
    while time.monotonic() - since < for_s:
        time.sleep(0.2)
        now = stack.score_count()
        if now != last:
            last, since = now, time.monotonic()
    return last


def test_inference_process_killed_mid_batch_worker_exits_unacked_restart_scores_once(
    tmp_path: Path, tiny_model_path: Path
) -> None:
    with Stack(work_dir=tmp_path, model_path=str(tiny_model_path), pg_admin_url=PG_ADMIN, partitions=2) as stack:
        a = stack.worker("a", **IN_PROCESS).start()
        wait_until(lambda: a.scored() is not None, timeout_s=120, what="worker up")
        payloads = news_payloads(N, tag="infer")
        stack.produce((key, value) for key, value, _ in payloads)
        wait_until(lambda: stack.score_count() >= N // 4, timeout_s=180, what="a quarter stored")
        assert a.proc is not None
        child = _inference_child(a.proc.pid)

        os.kill(child, signal.SIGSTOP)  # the worker has a backlog: the child holds a batch
        stored = _steady(stack)
        committed = stack.committed()
        assert committed <= stored < N, (committed, stored)
        os.kill(child, signal.SIGKILL)

        wait_until(lambda: not a.alive, timeout_s=60, what="the worker to exit after its model died")
        assert a.returncode == 70, a.tail()
        log = a.log_path.read_text(errors="replace")
        assert "InferenceProcessDied" in log and "exiting without acking" in log
        # Nothing after the death: no write and no acknowledgement beyond what was stored.
        assert stack.score_count() == stored
        assert stack.committed() == committed <= stored

        b = stack.worker("b", **IN_PROCESS).start()
        # Its first take is a full batch of the backlog; the first 32 go ahead on their own.
        wait_until(lambda: (b.scored() or 0) > 0, timeout_s=120, what="the restarted worker's first score")
        assert _small_batches(b.web_port) >= 1
        wait_until(lambda: stack.score_count() >= N, timeout_s=240, what="every message stored after the restart")
        wait_until(lambda: stack.committed() >= N, timeout_s=120, what="every message acknowledged")
        counts = stack.counts(ids_like="infer-")
        assert (counts.documents, counts.scores, counts.distinct) == (N, N, N), counts
        assert stack.counts().rolled == N
        assert stack.stored_ids() == {doc_id for _, _, doc_id in payloads}

        # A clean stop takes the child with it.
        assert b.proc is not None
        b_child = _inference_child(b.proc.pid)
        rc, _ = b.terminate()
        assert rc == 0, b.tail()
        wait_until(lambda: _gone(b_child), timeout_s=30, what="the inference process to end with its worker")
