"""The worker's model loads in the background while it joins its group; a failed load ends it loudly."""

from __future__ import annotations

import subprocess
import sys
import threading

from finsent.stream.app import BackgroundPredictor


class _Model:
    version = "m@1"

    def predict(self, texts):  # type: ignore[no-untyped-def]
        return [len(t) for t in texts]


def test_the_first_batch_waits_for_the_model_in_its_own_thread() -> None:
    release = threading.Event()

    def load() -> _Model:
        release.wait(10)
        return _Model()

    predictor = BackgroundPredictor(load)
    assert not predictor.loaded  # create_app and the group join go on meanwhile
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(predictor.predict(["ab", "c"])))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and not got  # the caller (the inference thread) waits, nobody else
    release.set()
    waiter.join(10)
    assert got == [[2, 1]] and predictor.loaded and predictor.version == "m@1"


def test_a_model_that_cannot_load_ends_the_worker_with_status_2() -> None:
    code = (
        "import time\n"
        "from finsent.logs import configure_logging\n"
        "from finsent.stream.app import BackgroundPredictor\n"
        "configure_logging('INFO')\n"
        "def load():\n"
        "    raise FileNotFoundError('no model at /nowhere')\n"
        "BackgroundPredictor(load)\n"
        "time.sleep(30)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "the model could not be loaded" in done.stderr and "no model at /nowhere" in done.stderr
