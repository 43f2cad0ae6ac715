"""Replay JSONL/CSV/Parquet files (or a folder of them) onto the raw topic.

Rows are validated as NewsMessages and invalid ones skipped and counted, unless ``raw``: then
every row goes out as it is (JSONL lines byte for byte) and the worker's dead-letter path
judges them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from finsent.ingest.producer import Publisher, message_key, raw_json, serialise
from finsent.ingest.sources.files import iter_file_rows, list_inputs, to_message
from finsent.tickers import TickerMatcher

__all__ = ["ReplayReport", "replay"]

log = logging.getLogger(__name__)
_BATCH = 1000
_EXAMPLES = 5


@dataclass
class ReplayReport:
    """What a replay did."""

    files: int = 0
    rows: int = 0
    sent: int = 0
    invalid: int = 0
    failed: int = 0  # not acknowledged by the broker
    examples: list[str] = field(default_factory=list)  # the first few invalid rows, and why


def replay(
    path: Path,
    publisher: Publisher,
    *,
    raw: bool = False,
    default_source: str | None = None,
    fields: Mapping[str, str] | None = None,
    limit: int | None = None,
    matcher: TickerMatcher | None = None,
) -> ReplayReport:
    """Send every row of ``path`` to the publisher's topic; returns the counts.

    ``matcher`` adds the tickers the text names (as ``ingest run`` and the worker do); ``raw`` rows
    go as they are, and the worker adds them.
    """
    report = ReplayReport()
    pending: list[tuple[bytes | None, bytes]] = []

    def flush() -> None:
        acked, failed = publisher.publish_raw(pending)
        report.sent += len(acked)
        report.failed += len(failed)
        pending.clear()

    def invalid(where: str, why: str) -> None:
        report.invalid += 1
        if len(report.examples) < _EXAMPLES:
            report.examples.append(f"{where}: {why}")

    for file in list_inputs(path):
        report.files += 1
        for row in iter_file_rows(file):
            if limit is not None and report.rows >= limit:
                break
            report.rows += 1
            where = f"{file.name}:{row.index + 1}"
            if raw:
                if row.raw is not None:
                    pending.append((message_key(row.data) if row.data else None, row.raw))
                elif row.data is not None:
                    pending.append((message_key(row.data), raw_json(row.data)))
            elif row.data is None:
                invalid(where, row.error or "unreadable")
            else:
                try:
                    message = to_message(row.data, default_source=default_source, fields=fields)
                except ValueError as exc:
                    invalid(where, " ".join(str(exc).split("\n")[:3]))
                else:
                    if matcher is not None:
                        message = matcher.enrich(message)
                    pending.append((message_key(message), serialise(message)))
            if len(pending) >= _BATCH:
                flush()
    if pending:
        flush()
    if report.invalid:
        log.warning("invalid rows skipped", extra={"invalid": report.invalid, "examples": report.examples})
    return report
