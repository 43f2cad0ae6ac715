"""`finsent ingest run`: sources on their intervals, no overlapping polls, graceful stop, dedup across process restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from finsent.ingest.config import load_sources
from finsent.ingest.producer import Publisher
from finsent.ingest.runner import Ingestor
from finsent.ingest.scheduler import run_until_stopped
from finsent.ingest.state import IngestState
from finsent.settings import Settings
from tests.utils import feeds
from tests.utils.http_server import Document, LoopbackServer, Response, hanging, slow
from tests.utils.kafka import consume, values

REPO = Path(__file__).resolve().parents[2]
FINSENT = str(Path(sys.executable).with_name("finsent"))
FAST = {"retries": 1, "backoff_s": 0.02, "backoff_max_s": 0.05, "timeout_s": 0.3, "jitter_s": 0.05}


def test_scheduler_polls_each_source_on_its_interval_without_overlap(settings: Settings) -> None:
    with LoopbackServer() as server:
        server.routes["/wire.rss"] = Document(
            feeds.rss([("Oil jumps", "", "https://n.example/1"), ("Gold slips", "", "https://n.example/2")]),
            "application/rss+xml",
        )
        server.routes["/slow.json"] = slow(
            0.6, Response(200, feeds.news_api([]), {"Content-Type": "application/json"})
        )
        server.routes["/hang.json"] = hanging(server)
        config = load_sources(
            {
                "per_host_interval_s": 0,
                "sources": [
                    {
                        "name": "wire",
                        "kind": "rss",
                        "url": server.url("/wire.rss"),
                        "interval_s": 0.2,
                        **FAST,
                    },
                    # Polls take 0.6 s but are due every 0.2 s: they must never overlap.
                    {
                        "name": "slow",
                        "kind": "json_api",
                        "url": server.url("/slow.json"),
                        "items": "data.articles",
                        "interval_s": 0.2,
                        **{**FAST, "timeout_s": 2},
                    },
                    {
                        "name": "hang",
                        "kind": "json_api",
                        "url": server.url("/hang.json"),
                        "interval_s": 0.2,
                        **FAST,
                    },
                    {"name": "sim", "kind": "simulator", "rate": 20, "seed": 1, "interval_s": 0.2},
                ],
            }
        )
        publisher = Publisher.connect(settings, settings.kafka.bootstrap or "")
        stop = threading.Event()
        ingestor = Ingestor(
            config,
            state=IngestState(settings.ingest.state_path),
            publisher=publisher,
            user_agent="finsent-test/1.0",
            stop=stop,
        )
        runner = threading.Thread(target=run_until_stopped, args=(ingestor, stop))
        runner.start()
        time.sleep(3.0)
        stop.set()
        started = time.monotonic()
        runner.join(10)
        assert not runner.is_alive() and time.monotonic() - started < 5  # graceful, and prompt
        stats = ingestor.stats.snapshot()
        ingestor.close()
        publisher.close()
        assert server.max_active["/slow.json"] == 1
        assert 2 <= len(server.hits("/slow.json")) <= 6
        assert len(server.hits("/wire.rss")) >= 5 and stats["wire"].not_modified >= 4
        assert (
            stats["hang"].failed >= 2 and stats["hang"].last_error and "timeout" in stats["hang"].last_error
        )
        assert stats["sim"].sent >= 20  # about 20/s for 3 s; the hanging source slowed nobody
    got = values(
        consume(settings.kafka.bootstrap or "", settings.kafka.raw_topic, expect=2 + stats["sim"].sent)
    )
    assert len(got) == 2 + stats["sim"].sent
    assert Counter(m["source"] for m in got)["wire"] == 2


def _run_cli(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [FINSENT, *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


def test_cli_run_stops_on_sigterm_and_dedup_survives_a_process_restart(
    settings: Settings, tmp_path: Path
) -> None:
    bootstrap, topic = settings.kafka.bootstrap or "", settings.kafka.raw_topic
    with LoopbackServer() as server:
        wire = Document(
            feeds.rss(
                [
                    ("Nvidia soars", "", "https://n.example/a"),
                    ("Bank stocks slump", "", "https://n.example/b"),
                ]
            ),
            "application/rss+xml",
        )
        server.routes["/wire.rss"] = wire
        server.routes["/down.json"] = lambda _: Response(500, b"")
        sources = tmp_path / "sources.toml"
        sources.write_text(
            f"""
per_host_interval_s = 0
[watchlist]
NVDA = ["Nvidia"]
[[sources]]
name = "wire"
kind = "rss"
url = "{server.url("/wire.rss")}"
interval_s = 0.3
timeout_s = 2
[[sources]]
name = "down"
kind = "json_api"
url = "{server.url("/down.json")}"
interval_s = 0.3
retries = 0
"""
        )
        env = {
            **os.environ,
            "FINSENT_KAFKA_BOOTSTRAP": bootstrap,
            "FINSENT_KAFKA_RAW_TOPIC": topic,
            "FINSENT_INGEST_STATE_PATH": str(tmp_path / "state.db"),
            "FINSENT_LOG_LEVEL": "INFO",
        }
        process = _run_cli(["ingest", "run", "--sources", str(sources)], env)
        try:
            assert len(consume(bootstrap, topic, expect=2, timeout_s=60, settle_s=0.1)) == 2
            deadline = time.monotonic() + 30
            while len(server.hits("/wire.rss")) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 0, err[-2000:]
        assert "wire: polls" in out and "sent 2" in out and "down: polls" in out and "HTTP 500" in out
        assert '"ingest stopped"' in err

        # A new process with the same state file; the feed changed its ETag but not its stories.
        wire.set(wire.body, version=2)
        again = subprocess.run(
            [FINSENT, "ingest", "run", "--once", "--sources", str(sources)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert again.returncode == 1  # a source failed during --once
        assert "wire: polls 1 (failed 0, not modified 0), sent 0, duplicates 2" in again.stdout, again.stdout
        assert server.hits("/wire.rss")[-1].headers.get("if-none-match") == '"v1"'
    got = values(consume(bootstrap, topic, expect=2))
    assert len(got) == 2 and {m["title"] for m in got} == {"Nvidia soars", "Bank stocks slump"}
    assert next(m for m in got if m["title"] == "Nvidia soars")["tickers"] == ["NVDA"]
