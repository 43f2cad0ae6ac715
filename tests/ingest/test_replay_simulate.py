"""`finsent ingest replay` and `finsent ingest simulate` against the embedded broker."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from finsent.cli import app
from finsent.messages import NewsMessage
from finsent.settings import Settings
from tests.utils.kafka import consume, values


@pytest.fixture()
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FINSENT_KAFKA_BOOTSTRAP", settings.kafka.bootstrap or "")
    monkeypatch.setenv("FINSENT_KAFKA_RAW_TOPIC", settings.kafka.raw_topic)
    monkeypatch.setenv("FINSENT_KAFKA_PARTITIONS", "3")
    return settings


def write_inputs(folder: Path) -> None:
    folder.mkdir()
    good = [
        {
            "source": "wire",
            "title": f"Tesla update {i}",
            "published_at": f"2025-02-01T10:{i:02d}:00Z",
            "tickers": ["$tsla"],
            "url": f"https://n.example/t{i}",
        }
        for i in range(3)
    ]
    lines = [json.dumps(g) for g in good] + [
        '{"source": "wire", "title": "broken',
        json.dumps({"source": "wire", "title": "no time"}),
    ]
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "b.csv").write_text(
        "source,title,published_at,tickers\nwire,Apple rises,2025-02-01T11:00:00Z,AAPL\nwire,Fed holds,2025-02-01T11:01:00Z,\n"
    )
    pq.write_table(
        pa.Table.from_pylist(
            [
                {"source": "pq", "title": f"Parquet story {i}", "published_at": f"2025-02-01T12:0{i}:00Z"}
                for i in range(2)
            ]
        ),
        folder / "c.parquet",
    )


def test_replay_validates_keys_and_counts(cli_env: Settings, tmp_path: Path) -> None:
    write_inputs(tmp_path / "in")
    result = CliRunner().invoke(app, ["ingest", "replay", str(tmp_path / "in")])
    assert result.exit_code == 0, result.output
    assert (
        f"sent 7 of 9 rows from 3 file(s) to {cli_env.kafka.raw_topic}; 2 invalid skipped, 0 not acknowledged"
        in result.stdout
    )
    assert (
        "a.jsonl:4: bad JSON" in result.stderr
        and "a.jsonl:5" in result.stderr
        and "published_at" in result.stderr
    )
    records = consume(cli_env.kafka.bootstrap or "", cli_env.kafka.raw_topic, expect=7)
    assert len(records) == 7
    for record in records:
        message = NewsMessage.model_validate_json(record.value)
        assert record.key == (message.tickers[0] if message.tickers else message.id).encode()
    assert {NewsMessage.model_validate_json(r.value).tickers[0] for r in records if b"Tesla" in r.value} == {
        "TSLA"
    }


def test_replay_raw_sends_rows_unvalidated(cli_env: Settings, tmp_path: Path) -> None:
    write_inputs(tmp_path / "in")
    topic = cli_env.kafka.raw_topic + "-raw"
    result = CliRunner().invoke(
        app, ["ingest", "replay", "--raw", "--topic", topic, str(tmp_path / "in" / "a.jsonl")]
    )
    assert result.exit_code == 0, result.output
    assert "sent 5 of 5 rows" in result.stdout
    raw = [r.value for r in consume(cli_env.kafka.bootstrap or "", topic, expect=5)]
    assert b'{"source": "wire", "title": "broken' in raw  # byte for byte: the worker dead-letters it


def test_one_tickers_items_stay_in_order(cli_env: Settings, tmp_path: Path) -> None:
    rows = [
        {"source": "s", "title": f"{t} story {i}", "published_at": "2025-02-01T10:00:00Z", "tickers": [t]}
        for i in range(60)
        for t in ("AAPL", "MSFT", "TSLA")
    ]
    (tmp_path / "ordered.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert CliRunner().invoke(app, ["ingest", "replay", str(tmp_path / "ordered.jsonl")]).exit_code == 0
    seen: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for record in consume(cli_env.kafka.bootstrap or "", cli_env.kafka.raw_topic, expect=180):
        message = json.loads(record.value)
        seen[message["tickers"][0]].append(int(message["title"].rsplit(" ", 1)[1]))
        partitions[message["tickers"][0]].add(record.partition)
    assert all(v == list(range(60)) for v in seen.values()) and len(seen) == 3
    assert all(len(p) == 1 for p in partitions.values())


def test_simulate_cli_sends_count_with_bursts(cli_env: Settings) -> None:
    result = CliRunner().invoke(
        app,
        ["ingest", "simulate", "--count", "300", "--speed", "0", "--seed", "5", "--rate", "50", "--scenario", "calm",
         "--burst", "ticker=NVDA,at=1,duration=3,rate=40"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "sent 300 simulated messages" in result.stdout
    got = values(consume(cli_env.kafka.bootstrap or "", cli_env.kafka.raw_topic, expect=300))
    assert len(got) == 300 and len({m["id"] for m in got}) == 300
    nvda = sum("NVDA" in m["tickers"] for m in got)
    assert nvda > 60  # the burst: ~120 NVDA items in seconds 1-4 of a 50/s flow
    bad = CliRunner().invoke(app, ["ingest", "simulate", "--count", "1", "--burst", "ticker=NVDA,at=1"])
    assert bad.exit_code != 0
