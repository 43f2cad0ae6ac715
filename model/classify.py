"""``finsent classify``: records in (JSONL or CSV, file or stdin), the same records plus scores out as JSONL.

Streams in chunks, so input of any size runs in bounded memory; fields other than the scores pass through.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import IO, Any

from finsent.model.scoring import Prediction, Predictor, score_texts

__all__ = ["classify_stream", "open_records", "scored_record"]


def _sniff(stream: IO[str]) -> tuple[str, IO[str]]:
    """Guess jsonl/csv from the first non-blank character, without losing what was read."""
    head = stream.read(4096)
    fmt = "jsonl" if head.lstrip().startswith("{") else "csv"
    return fmt, io.StringIO(head + stream.read()) if len(head) == 4096 else io.StringIO(head)


def _jsonl(stream: IO[str]) -> Iterator[dict[str, Any]]:
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {n}: not JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise ValueError(f"line {n}: expected a JSON object")
        yield record


def open_records(source: str, fmt: str = "auto", *, text_field: str = "text") -> Iterator[dict[str, Any]]:
    """Records from a path or '-' (stdin); ``fmt`` is auto, jsonl or csv."""
    if fmt not in ("auto", "jsonl", "csv"):
        raise ValueError(f"format must be auto, jsonl or csv, not {fmt!r}")
    if source == "-":
        stream: IO[str] = sys.stdin
        if fmt == "auto":
            # stdin cannot seek: the sniffed head is replayed from memory.
            fmt, stream = _sniff(stream)
    else:
        if fmt == "auto":
            fmt = "csv" if source.lower().endswith((".csv", ".tsv")) else "jsonl"
        stream = open(source, encoding="utf-8", newline="" if fmt == "csv" else None)
    if fmt == "jsonl":
        return _jsonl(stream)
    reader = csv.DictReader(stream)
    if reader.fieldnames is not None and text_field not in reader.fieldnames:
        raise ValueError(f"CSV input has no {text_field!r} column (columns: {reader.fieldnames})")
    return iter(reader)


def scored_record(
    record: dict[str, Any], prediction: Prediction, *, probabilities: bool = False
) -> dict[str, Any]:
    """The input record with the scores added (they replace same-named input fields)."""
    out = dict(record)
    out.update(
        sentiment=prediction.sentiment,
        sentiment_score=None if prediction.sentiment_score is None else round(prediction.sentiment_score, 6),
        topic=prediction.topic,
        topic_score=None if prediction.topic_score is None else round(prediction.topic_score, 6),
    )
    if probabilities:
        out["probabilities"] = prediction.probabilities
    return out


def _chunks(records: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(records)
    while chunk := list(islice(it, size)):
        yield chunk


def classify_stream(
    records: Iterable[dict[str, Any]],
    predictor: Predictor,
    out: IO[str],
    *,
    text_field: str = "text",
    probabilities: bool = False,
    chunk: int = 1024,
    progress: bool = False,
) -> int:
    """Score every record and write one JSON line each; returns how many were written."""
    from tqdm.auto import tqdm

    written = 0
    with tqdm(desc="classify", unit="text", disable=not progress, file=sys.stderr) as bar:
        for batch in _chunks(records, chunk):
            texts = []
            for i, record in enumerate(batch):
                text = record.get(text_field)
                if text is None:
                    raise ValueError(f"record {written + i + 1} has no {text_field!r} field")
                texts.append(str(text))
            kinds = [record.get("kind") for record in batch]  # 'comment' picks the comment calibration
            for record, prediction in zip(batch, score_texts(predictor, texts, kinds=kinds), strict=True):
                out.write(
                    json.dumps(
                        scored_record(record, prediction, probabilities=probabilities), ensure_ascii=False
                    )
                    + "\n"
                )
            written += len(batch)
            bar.update(len(batch))
    out.flush()
    return written
