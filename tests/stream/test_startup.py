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


def test_the_background_model_is_the_whole_predictor_for_per_ticker_sentiment(tiny_model_path) -> None:
    from finsent.messages import NewsMessage, utcnow
    from finsent.model.classifier import load
    from finsent.model.scoring import has_entity_head, score_messages, with_ticker_sentiments
    from tests.utils.tiny_model import build_tiny_checkpoint

    path = build_tiny_checkpoint(tiny_model_path.parent / "with-entity", entity=True)
    predictor = BackgroundPredictor(lambda: load(path, device="cpu"))
    assert has_entity_head(predictor)  # tasks come from the loaded model, not a stand-in
    message = NewsMessage(source="wire", title="Tata Motors gains as Maruti slips", published_at=utcnow(),
                          tickers=["TATAMOTORS", "MARUTI"])
    [scored] = with_ticker_sentiments(predictor, score_messages(predictor, [message]),
                                      [{"TATAMOTORS": "Tata Motors", "MARUTI": "Maruti"}])
    assert {v["method"] for v in scored.ticker_sentiments.values()} == {"entity"}
