"""Stream rows out of JSONL, CSV and Parquet files (or a folder of them), one row at a time.

Memory stays flat whatever the file size: JSONL and CSV are read line by line, Parquet in
record batches. Each row keeps its position (file, index) so a reader can resume after it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from finsent.messages import NewsMessage

__all__ = [
    "FORMATS",
    "Row",
    "count_rows",
    "file_format",
    "iter_file_rows",
    "list_inputs",
    "to_message",
]

FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonl.gz": "jsonl",
    ".ndjson.gz": "jsonl",
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_PARQUET_BATCH = 4096

# Column names that commonly hold a field in exported datasets; the first one present wins.
_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline"),
    "body": ("body", "text", "content", "description", "summary"),
    "published_at": ("published_at", "published", "date", "datetime", "timestamp", "created_at", "time"),
    "url": ("url", "link"),
    "tickers": ("tickers", "symbols", "ticker", "symbol"),
}


@dataclass(frozen=True)
class Row:
    """One input row: parsed ``data``, or ``error`` when the line is not even a JSON object."""

    file: Path
    index: int  # 0-based position of the row in its file
    data: dict[str, Any] | None
    raw: bytes | None = None  # the original line (JSONL), so a raw replay can send it unchanged
    error: str | None = None


def file_format(path: Path) -> str | None:
    """'jsonl', 'csv' or 'parquet' from the file name, None when unsupported."""
    name = path.name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return FORMATS[suffix]
    return None


def list_inputs(path: Path) -> list[Path]:
    """The file itself, or the supported files under a folder in a stable (sorted) order."""
    if path.is_file():
        if file_format(path) is None:
            raise ValueError(f"{path}: unsupported file type (use {', '.join(sorted(FORMATS))})")
        return [path]
    if path.is_dir():
        root = path.resolve()
        return sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and file_format(p)
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
            # A symlink in the folder must not lead the source outside it (../../etc/...).
            and p.resolve().is_relative_to(root)
        )
    raise FileNotFoundError(f"{path}: no such file or folder")


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def _open_bytes(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _jsonl_rows(path: Path, skip: int) -> Iterator[Row]:
    index = 0
    with _open_bytes(path) as fh:
        for line in fh:
            if not line.strip():
                continue  # blank lines are not rows
            if index >= skip:
                raw = line.rstrip(b"\r\n")
                try:
                    data = json.loads(raw)
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    yield Row(path, index, None, raw=raw, error=f"bad JSON: {exc}")
                else:
                    if isinstance(data, dict):
                        yield Row(path, index, data, raw=raw)
                    else:
                        yield Row(
                            path, index, None, raw=raw, error=f"not a JSON object: {type(data).__name__}"
                        )
            index += 1


def _csv_rows(path: Path, skip: int) -> Iterator[Row]:
    with _open_text(path) as fh:
        for index, record in enumerate(csv.DictReader(fh)):
            if index >= skip:
                # Empty cells mean 'absent' (None), not an empty string that fails validation.
                yield Row(
                    path, index, {k: (v if v != "" else None) for k, v in record.items() if k is not None}
                )


def _parquet_rows(path: Path, skip: int) -> Iterator[Row]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    # Whole row groups before the resume point are skipped without being read.
    groups, first = [], 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if first + n > skip:
            groups.append(g)
        else:
            first += n
    index = first
    for batch in pf.iter_batches(batch_size=_PARQUET_BATCH, row_groups=groups):
        for data in batch.to_pylist():
            if index >= skip:
                yield Row(path, index, data)
            index += 1


def iter_file_rows(path: Path, *, skip: int = 0) -> Iterator[Row]:
    """Rows of one file from position ``skip`` on."""
    fmt = file_format(path)
    if fmt == "jsonl":
        return _jsonl_rows(path, skip)
    if fmt == "csv":
        return _csv_rows(path, skip)
    if fmt == "parquet":
        return _parquet_rows(path, skip)
    raise ValueError(f"{path}: unsupported file type")


def count_rows(path: Path) -> int:
    """Rows in a file, cheaply (Parquet metadata; non-blank lines for JSONL; records for CSV)."""
    fmt = file_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if fmt == "jsonl":
        with _open_bytes(path) as fh:
            return sum(1 for line in fh if line.strip())
    with _open_text(path) as fh:
        return sum(1 for _ in csv.DictReader(fh))


def _tickers(value: Any) -> Any:
    # CSV cells hold lists as 'AAPL;MSFT', 'AAPL,MSFT' or JSON; StockTwits-like data as [{'symbol': ..}].
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                pass
            else:
                return _tickers(value)
        return [t for t in (p.strip() for p in text.replace(";", ",").replace(" ", ",").split(",")) if t]
    if isinstance(value, (list, tuple)):
        return [v.get("symbol") if isinstance(v, Mapping) else v for v in value]
    return value


def to_message(
    data: Mapping[str, Any], *, default_source: str | None = None, fields: Mapping[str, str] | None = None
) -> NewsMessage:
    """Validate one row as a NewsMessage; ``fields`` maps message fields to column names.

    Raises pydantic's ValidationError (a ValueError) when the row is not a valid message.
    """
    row = dict(data)
    out: dict[str, Any] = {k: v for k, v in row.items() if v is not None}
    for field, column in (fields or {}).items():
        out[field] = row.get(column)
    for field, candidates in _ALIASES.items():
        if out.get(field) is None:
            for column in candidates:
                if row.get(column) is not None:
                    out[field] = row[column]
                    break
    if out.get("source") is None and default_source:
        out["source"] = default_source
    out["tickers"] = _tickers(out.get("tickers"))
    for key in ("id", "url", "title", "body", "lang", "kind"):
        if out.get(key) is None:
            out.pop(key, None)
    return NewsMessage.model_validate(out)
