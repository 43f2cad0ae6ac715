"""Backfill: scores files into the database resumably (injected stop and a real SIGKILL), and re-scores with another model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from finsent.cli import app
from finsent.db import make_engine, make_sessionmaker
from finsent.ingest.backfill import BackfillError, BackfillOptions, backfill_files, rescore_documents
from finsent.messages import NewsMessage
from finsent.model.engine import load_engine
from finsent.tables import Document, Rollup, Score
from tests.utils.tiny_model import build_tiny_checkpoint

REPO = Path(__file__).resolve().parents[2]
FINSENT = str(Path(sys.executable).with_name("finsent"))
T0 = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)
WORDS = [
    "Tesla",
    "recall",
    "beats",
    "estimates",
    "oil",
    "slumps",
    "Fed",
    "holds",
    "rates",
    "bank",
    "profit",
    "falls",
    "surges",
    "lawsuit",
    "dividend",
    "cut",
]


def headline(i: int) -> str:
    return " ".join(WORDS[(i * k + k) % len(WORDS)] for k in range(1, 4 + i % 9)) + f" #{i}"


def row(i: int) -> dict:
    return {
        "source": "archive",
        "title": headline(i),
        "url": f"https://archive.example/{i}",
        "published_at": (T0 + timedelta(seconds=37 * i)).isoformat(),
        "tickers": ["TSLA"] if i % 3 == 0 else [],
    }


def write_folder(folder: Path) -> int:
    """200 JSONL rows (+5 invalid, +5 repeats), 100 CSV rows, 100 Parquet rows: 400 unique documents."""
    folder.mkdir()
    lines = [json.dumps(row(i)) for i in range(200)]
    for j in range(5):
        lines.insert(
            40 * j + 7, "{not json" if j % 2 else json.dumps({"source": "archive", "title": "no date"})
        )
        lines.append(json.dumps(row(j)))  # a repeat of an earlier document
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n")
    with (folder / "b.csv").open("w") as fh:
        fh.write("headline,date,url,symbols\n")
        for i in range(200, 300):
            r = row(i)
            fh.write(f"{r['title']},{r['published_at']},{r['url']},{';'.join(r['tickers'])}\n")
    pq.write_table(
        pa.Table.from_pylist([row(i) for i in range(300, 400)]), folder / "c.parquet", row_group_size=30
    )
    return 400


def counts(url: str) -> dict:
    engine = make_engine(url)
    with engine.connect() as conn:
        out = {
            "documents": conn.execute(select(func.count()).select_from(Document)).scalar_one(),
            "scores": dict(
                conn.execute(select(Score.model_version, func.count()).group_by(Score.model_version)).all()
            ),
            "rollup_all": dict(
                conn.execute(
                    select(Rollup.model_version, func.sum(Rollup.negative + Rollup.neutral + Rollup.positive))
                    .where(Rollup.scope_kind == "all")
                    .group_by(Rollup.model_version)
                ).all()
            ),
            "rollup_tsla": dict(
                conn.execute(
                    select(Rollup.model_version, func.sum(Rollup.negative + Rollup.neutral + Rollup.positive))
                    .where(Rollup.scope_kind == "ticker", Rollup.scope == "TSLA")
                    .group_by(Rollup.model_version)
                ).all()
            ),
        }
    engine.dispose()
    return out


def scores_by_doc(url: str, version: str) -> dict[str, tuple[str, dict]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Score.document_id, Score.sentiment, Score.probabilities, Score.published_at).where(
                Score.model_version == version
            )
        ).all()
    engine.dispose()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


@pytest.fixture(scope="module")
def engine_fp32(tiny_model_path: Path):
    # fp32: the reference precision, so a resumed run's scores equal an uninterrupted run's.
    # One thread: on a shared, busy machine torch's spinning worker threads make a tiny model 10x slower.
    import torch

    threads = torch.get_num_threads()
    yield load_engine(tiny_model_path, device="cpu", precision="fp32", warmup=False, threads=1)
    torch.set_num_threads(threads)


def test_backfill_stops_midway_resumes_and_ends_with_exactly_the_expected_rows(
    db_url: str, tmp_path: Path, engine_fp32
) -> None:
    expected = write_folder(tmp_path / "in")
    factory = make_sessionmaker(make_engine(db_url))
    ck = tmp_path / "ck.json"
    kw = {"classifier": engine_fp32, "factory": factory, "database_url": db_url, "data_dir": tmp_path}

    first = backfill_files(
        tmp_path / "in",
        **kw,
        options=BackfillOptions(
            batch_size=60, checkpoint=ck, default_source="archive", progress=False, stop_after_batches=4
        ),
    )
    assert not first.complete and first.rows == 240
    partial = counts(db_url)
    assert 0 < partial["documents"] < expected
    saved = json.loads(ck.read_text())
    assert (
        saved["position"] == {"file": 1, "row": 30} and not saved["done"]
    )  # 210 JSONL rows, then 30 of the CSV

    second = backfill_files(
        tmp_path / "in",
        **kw,
        options=BackfillOptions(batch_size=60, checkpoint=ck, default_source="archive", progress=False),
    )
    assert second.complete
    assert (second.rows, second.invalid, second.scores_written, second.documents_written) == (
        410,
        5,
        expected,
        expected,
    )
    assert second.first_published == T0.isoformat() and second.rollup_rows > 0
    final = counts(db_url)
    version = engine_fp32.version
    assert final["documents"] == expected and final["scores"] == {version: expected}
    assert final["rollup_all"] == {version: expected}  # rebuilt rollups agree with the scores
    assert final["rollup_tsla"] == {version: len([i for i in range(400) if i % 3 == 0])}

    # The result equals scoring every document in one go.
    stored = scores_by_doc(db_url, version)
    messages = [NewsMessage.model_validate(row(i)) for i in range(400)]
    for message, p in zip(messages, engine_fp32.predict([m.text for m in messages]), strict=True):
        sentiment, probabilities, published_at = stored[message.id]
        assert published_at == message.published_at  # original publication time
        ranked = sorted(p.probabilities["sentiment"].values(), reverse=True)
        if ranked[0] - ranked[1] > 1e-4:
            assert sentiment == p.sentiment
        for label, value in p.probabilities["sentiment"].items():
            assert probabilities["sentiment"][label] == pytest.approx(value, abs=1e-4)

    again = backfill_files(
        tmp_path / "in",
        **kw,
        options=BackfillOptions(batch_size=60, checkpoint=ck, default_source="archive", progress=False),
    )
    assert again.complete and again.rows_this_run == 0 and counts(db_url) == final
    with pytest.raises(BackfillError, match="different job"):
        backfill_files(
            tmp_path / "in",
            **{**kw, "database_url": db_url + "x"},
            options=BackfillOptions(checkpoint=ck, default_source="archive", progress=False),
        )


@pytest.mark.slow
def test_backfill_killed_with_sigkill_resumes_to_the_same_result(
    sqlite_url: str, tmp_path: Path, tiny_model_path: Path, engine_fp32
) -> None:
    n = 3000
    source = tmp_path / "history.jsonl"
    source.write_text("".join(json.dumps(row(i)) + "\n" for i in range(n)))
    ck = tmp_path / "ck.json"
    env = {
        **os.environ,
        "FINSENT_DATABASE_URL": sqlite_url,
        "FINSENT_MODEL_PATH": str(tiny_model_path),
        "FINSENT_MODEL_PRECISION": "fp32",
        "FINSENT_MODEL_DEVICE": "cpu",
        "FINSENT_MODEL_THREADS": "1",
        "FINSENT_DATA_DIR": str(tmp_path / "var"),
    }
    args = [FINSENT, "backfill", str(source), "--batch-size", "100", "--checkpoint", str(ck)]
    process = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if ck.is_file() and json.loads(ck.read_text() or "{}").get("position", {}).get("row", 0) >= 300:
                break
            time.sleep(0.01)
        assert process.poll() is None, process.communicate()[1][-3000:]
        process.send_signal(signal.SIGKILL)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert "row/s" in err  # tqdm's progress bar, with its rate, on stderr
    partial = counts(sqlite_url)
    assert 300 <= partial["documents"] < n

    # Resume (in this process, to spare a second torch start-up): the same job, from its checkpoint.
    factory = make_sessionmaker(make_engine(sqlite_url))
    done = backfill_files(
        source, classifier=engine_fp32, factory=factory, database_url=sqlite_url, data_dir=tmp_path / "var",
        options=BackfillOptions(batch_size=100, checkpoint=ck, progress=False),
    )  # fmt: skip
    assert done.complete and done.rows == n and done.rows_this_run < n - 200
    final = counts(sqlite_url)
    version = engine_fp32.version
    assert final["documents"] == n and final["scores"] == {version: n} and final["rollup_all"] == {version: n}


def test_rescore_with_a_second_model_keeps_both_versions(
    db_url: str, tmp_path: Path, engine_fp32, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 150
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(row(i)) + "\n" for i in range(n)))
    factory = make_sessionmaker(make_engine(db_url))
    backfill_files(
        tmp_path / "in.jsonl",
        classifier=engine_fp32,
        factory=factory,
        database_url=db_url,
        data_dir=tmp_path,
        options=BackfillOptions(progress=False),
    )
    second = build_tiny_checkpoint(tmp_path / "tiny-2", seed=1, version="tiny-2")
    engine_2 = load_engine(second, device="cpu", precision="fp32", warmup=False, threads=1)
    assert engine_2.version != engine_fp32.version

    # Interrupted after one page, then resumed through the CLI.
    ck = tmp_path / "rescore.json"
    stopped = rescore_documents(
        classifier=engine_2,
        factory=factory,
        database_url=db_url,
        data_dir=tmp_path,
        options=BackfillOptions(batch_size=40, checkpoint=ck, stop_after_batches=1, progress=False),
    )
    assert not stopped.complete and counts(db_url)["scores"][engine_2.version] == 40
    monkeypatch.setenv("FINSENT_DATABASE_URL", db_url)
    monkeypatch.setenv("FINSENT_MODEL_PRECISION", "fp32")
    monkeypatch.setenv("FINSENT_MODEL_THREADS", "1")
    monkeypatch.setenv("FINSENT_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        app,
        [
            "backfill",
            "--rescore",
            "--model",
            str(second),
            "--batch-size",
            "40",
            "--checkpoint",
            str(ck),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"complete: {n} rows" in result.stdout and f"{n} new scores (tiny-2@" in result.stdout

    final = counts(db_url)
    assert final["documents"] == n
    assert final["scores"] == {engine_fp32.version: n, engine_2.version: n}
    assert final["rollup_all"] == {engine_fp32.version: n, engine_2.version: n}
    old, new = scores_by_doc(db_url, engine_fp32.version), scores_by_doc(db_url, engine_2.version)
    assert old.keys() == new.keys()
    assert any(old[k][1] != new[k][1] for k in old)  # really another model's verdicts

    bad = CliRunner().invoke(app, ["backfill"])
    assert bad.exit_code != 0
