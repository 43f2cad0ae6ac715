"""Score historical text in bulk: from files, or re-score stored documents with another model version.

The input is streamed in chunks (memory stays flat whatever its size), scored by the same
classifier the worker uses, and written with ``finsent.store.write_scored`` under each
document's original publication time. A writer thread overlaps the database with inference.
After every committed chunk a checkpoint file records the input position, so a run that is
killed and restarted continues where it stopped; because writes are idempotent, a chunk
replayed after a crash changes nothing and the result is identical. At the end the rollups
of the affected time range are rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from finsent.db import session_scope
from finsent.ingest.sources.files import count_rows, iter_file_rows, list_inputs, to_message
from finsent.messages import NewsMessage, ScoredMessage, utcnow
from finsent.model.scoring import Predictor, score_messages, with_ticker_sentiments
from finsent.stories import StoryOptions
from finsent.store import rebuild_rollups, write_scored
from finsent.tables import Document, Score
from finsent.tickers import TickerMatcher

__all__ = [
    "BackfillError",
    "BackfillOptions",
    "BackfillReport",
    "Checkpoint",
    "backfill_files",
    "database_fingerprint",
    "default_checkpoint_path",
    "report_dict",
    "rescore_documents",
]

log = logging.getLogger(__name__)


class BackfillError(RuntimeError):
    """The job cannot start or continue (e.g. a checkpoint from different inputs)."""


@dataclass(frozen=True)
class BackfillOptions:
    """How a backfill runs."""

    batch_size: int = 2048  # rows per chunk: one predict call and one transaction
    checkpoint: Path | None = None
    restart: bool = False  # ignore an existing checkpoint and start over
    count_first: bool = True  # count input rows first so the progress bar has an ETA
    progress: bool = True
    stop_after_batches: int | None = None  # stop (as if killed) after this many chunks; for tests
    default_source: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    since: datetime | None = None  # rescore only
    until: datetime | None = None  # rescore only
    source: str | None = None  # rescore only: one source's documents
    # The worker's ticker extraction and stories, so history gets what streamed text gets; None: neither.
    matcher: TickerMatcher | None = None
    stories: StoryOptions | None = None


@dataclass
class BackfillReport:
    """Totals of a job, including what earlier (interrupted) runs of it did."""

    model_version: str
    rows: int = 0
    invalid: int = 0
    scored: int = 0  # texts run through the model
    skipped_existing: int = 0  # already scored by this model version: no inference needed
    documents_written: int = 0
    scores_written: int = 0
    rollup_rows: int = 0
    first_published: str | None = None
    last_published: str | None = None
    complete: bool = False
    # This run only:
    elapsed_s: float = 0.0
    inference_s: float = 0.0
    write_s: float = 0.0  # in the writer thread (database and checkpoint), overlapping inference
    rollup_s: float = 0.0  # rebuilding the rollups at the end
    rows_this_run: int = 0
    scored_this_run: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Rows per second of this run, end to end."""
        return self.rows_this_run / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def inference_rate(self) -> float:
        """Texts per second inside predict() alone, in this run."""
        return self.scored_this_run / self.inference_s if self.inference_s else 0.0


@dataclass
class Checkpoint:
    """A job's identity and progress, saved atomically after each committed chunk."""

    path: Path
    job: dict[str, Any]
    position: dict[str, Any] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)
    done: bool = False

    @classmethod
    def open(cls, path: Path, job: dict[str, Any], *, restart: bool) -> Checkpoint:
        if path.is_file() and not restart:
            data = json.loads(path.read_text())
            if data.get("job") != job:
                raise BackfillError(
                    f"checkpoint {path} belongs to a different job (inputs, model or database changed); "
                    "use --restart to start over, or --checkpoint to pick another file"
                )
            return cls(path, job, data.get("position", {}), data.get("totals", {}), bool(data.get("done")))
        return cls(path, job)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        payload = {"job": self.job, "position": self.position, "totals": self.totals, "done": self.done}
        with tmp.open("w") as fh:
            json.dump(payload, fh, indent=1, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)  # atomic: a kill leaves either the old or the new checkpoint


def default_checkpoint_path(data_dir: str | Path, job: Mapping[str, Any]) -> Path:
    """``<data_dir>/backfill/<hash of the job>.json``."""
    digest = hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()[:16]
    return Path(data_dir) / "backfill" / f"{digest}.json"


def database_fingerprint(url: str) -> str:
    """Identifies the target database in a checkpoint without writing its URL (and password) down."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _already_scored(session: Session, version: str, ids: Sequence[str]) -> set[str]:
    """The ids among ``ids`` that this model version has scored.

    One version and a plain IN list on the primary key: much cheaper than a row-value IN, and
    the statement is compiled once (an expanding parameter).
    """
    scores = Score.__table__
    query = select(scores.c.document_id).where(
        scores.c.model_version == version, scores.c.document_id.in_(bindparam("ids", expanding=True))
    )
    found: set[str] = set()
    for start in range(0, len(ids), 1000):  # SQLite caps bound parameters per statement
        found.update(session.execute(query, {"ids": list(ids[start : start + 1000])}).scalars())
    return found


@dataclass
class _Chunk:
    messages: list[NewsMessage]
    position: dict[str, Any]  # where to resume after this chunk
    rows: int
    invalid: int
    examples: list[str]
    scored: int = 0
    skipped: int = 0
    retag: dict[str, list[str]] = field(default_factory=dict)  # rescore: stored documents' new tickers


class _Writer:
    """Writes scored chunks in order on a thread and checkpoints after each commit."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        checkpoint: Checkpoint,
        report: BackfillReport,
        on_done: Callable[[int], None],
        stories: StoryOptions | None = None,
    ) -> None:
        self.stories = stories
        self.factory = factory
        self.checkpoint = checkpoint
        self.report = report
        self.on_done = on_done
        self.queue: queue.Queue[tuple[_Chunk, list[ScoredMessage]] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="backfill-writer", daemon=True)
        self.thread.start()

    def put(self, chunk: _Chunk, scored: list[ScoredMessage]) -> None:
        while True:
            if self.error is not None:
                raise BackfillError(f"writing failed: {self.error}") from self.error
            try:
                self.queue.put((chunk, scored), timeout=0.5)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise BackfillError(f"writing failed: {self.error}") from self.error

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                return
            if self.error is not None:
                continue  # drain without writing: the main thread will raise
            chunk, scored = job
            try:
                t0 = time.perf_counter()
                with session_scope(self.factory) as session:
                    if chunk.retag:
                        _retag(session, chunk.retag)
                    result = write_scored(session, scored, stories=self.stories)
                r = self.report
                r.documents_written += result.documents
                r.scores_written += result.scores
                r.rows += chunk.rows
                r.invalid += chunk.invalid
                r.scored += chunk.scored
                r.skipped_existing += chunk.skipped
                r.examples = (r.examples + chunk.examples)[:5]
                for m in chunk.messages:
                    stamp = m.published_at.isoformat()
                    if r.first_published is None or stamp < r.first_published:
                        r.first_published = stamp
                    if r.last_published is None or stamp > r.last_published:
                        r.last_published = stamp
                self.checkpoint.position = chunk.position
                self.checkpoint.totals = _totals(r)
                self.checkpoint.save()
                r.write_s += time.perf_counter() - t0
                self.on_done(chunk.rows)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
                self.error = exc


_TOTAL_FIELDS = (
    "rows", "invalid", "scored", "skipped_existing", "documents_written", "scores_written",
    "first_published", "last_published", "examples",
)  # fmt: skip


def _retag(session: Session, tickers: Mapping[str, list[str]]) -> None:
    """Stored documents get the tickers today's extraction finds (the rollups rebuilt at the end count them)."""
    docs = Document.__table__
    stmt = update(docs).where(docs.c.id == bindparam("doc_id")).values(tickers=bindparam("new_tickers"))
    session.connection().execute(stmt, [{"doc_id": k, "new_tickers": v} for k, v in sorted(tickers.items())])


def _enrich(messages: list[NewsMessage], matcher: TickerMatcher | None) -> list[NewsMessage]:
    return [matcher.enrich(m) for m in messages] if matcher is not None else messages


def _totals(report: BackfillReport) -> dict[str, Any]:
    return {k: getattr(report, k) for k in _TOTAL_FIELDS}


def _progress(total: int | None, initial: int, enabled: bool, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, unit="row", unit_scale=True, desc=desc, file=sys.stderr,
        dynamic_ncols=True, smoothing=0.05, disable=not enabled, mininterval=0.5,
    )  # fmt: skip


def _run(
    chunks: Iterator[_Chunk],
    *,
    classifier: Predictor,
    factory: sessionmaker[Session],
    checkpoint: Checkpoint,
    report: BackfillReport,
    options: BackfillOptions,
    total: int | None,
    desc: str,
) -> BackfillReport:
    started = time.perf_counter()
    bar = _progress(total, report.rows, options.progress, desc)
    writer = _Writer(factory, checkpoint, report, bar.update, stories=options.stories)
    stopped_early = False
    try:
        for n, chunk in enumerate(chunks, start=1):
            todo = chunk.messages
            if todo:
                # Skip inference for rows this model version already scored (a resumed or repeated run).
                with factory() as session:
                    done = _already_scored(session, classifier.version, [m.id for m in todo])
                todo = [m for m in todo if m.id not in done]
                chunk.skipped = len(chunk.messages) - len(todo)
            t0 = time.perf_counter()
            scored = score_messages(classifier, todo, scored_at=utcnow())
            if options.matcher is not None:
                mentions = [options.matcher.mentions(m.text) for m in todo]
                scored = with_ticker_sentiments(classifier, scored, mentions)
            report.inference_s += time.perf_counter() - t0
            chunk.scored = len(todo)
            report.scored_this_run += len(todo)
            report.rows_this_run += chunk.rows
            writer.put(chunk, scored)
            if options.stop_after_batches is not None and n >= options.stop_after_batches:
                stopped_early = True
                break
    finally:
        try:
            writer.close()
        finally:
            bar.close()
    report.elapsed_s = time.perf_counter() - started
    if stopped_early:
        return report
    if report.first_published and report.last_published:
        since = datetime.fromisoformat(report.first_published)
        until = datetime.fromisoformat(report.last_published) + timedelta(minutes=1)
        t0 = time.perf_counter()
        with session_scope(factory) as session:
            report.rollup_rows = rebuild_rollups(
                session, model_version=classifier.version, since=since, until=until,
                count=options.stories.count if options.stories is not None else "documents",
            )  # fmt: skip
        report.rollup_s = time.perf_counter() - t0
    report.complete = True
    checkpoint.done = True
    checkpoint.totals = _totals(report)
    checkpoint.save()
    report.elapsed_s = time.perf_counter() - started
    return report


def _resume_report(checkpoint: Checkpoint, version: str) -> BackfillReport:
    report = BackfillReport(model_version=version)
    for key, value in checkpoint.totals.items():
        if key in _TOTAL_FIELDS:
            setattr(report, key, value)
    return report


def backfill_files(
    path: Path,
    *,
    classifier: Predictor,
    factory: sessionmaker[Session],
    database_url: str,
    data_dir: str | Path = "var",
    options: BackfillOptions = BackfillOptions(),
) -> BackfillReport:
    """Score every row of a JSONL/CSV/Parquet file (or folder) and store it; resumable."""
    files = list_inputs(path)
    job = {
        "kind": "files",
        "inputs": [str(f.resolve()) for f in files],
        "model_version": classifier.version,
        "database": database_fingerprint(database_url),
        "fields": dict(options.fields),
        "default_source": options.default_source,
    }
    checkpoint = Checkpoint.open(
        options.checkpoint or default_checkpoint_path(data_dir, job), job, restart=options.restart
    )
    report = _resume_report(checkpoint, classifier.version)
    if checkpoint.done:
        log.info("backfill already complete", extra={"checkpoint": str(checkpoint.path)})
        report.complete = True
        return report
    start_file = int(checkpoint.position.get("file", 0))
    start_row = int(checkpoint.position.get("row", 0))
    total = sum(count_rows(f) for f in files) if options.count_first else None
    log.info(
        "backfill",
        extra={
            "files": len(files),
            "rows": total,
            "resume_at": checkpoint.position or None,
            "checkpoint": str(checkpoint.path),
        },
    )

    def chunks() -> Iterator[_Chunk]:
        messages: list[NewsMessage] = []
        rows = invalid = 0
        examples: list[str] = []
        position: dict[str, Any] = {"file": start_file, "row": start_row}
        for fi in range(start_file, len(files)):
            for row in iter_file_rows(files[fi], skip=start_row if fi == start_file else 0):
                rows += 1
                position = {"file": fi, "row": row.index + 1}
                if row.data is None:
                    invalid += 1
                    examples.append(f"{files[fi].name}:{row.index + 1}: {row.error}")
                else:
                    try:
                        messages.append(
                            to_message(row.data, default_source=options.default_source, fields=options.fields)
                        )
                    except ValueError as exc:
                        invalid += 1
                        examples.append(
                            f"{files[fi].name}:{row.index + 1}: {' '.join(str(exc).splitlines()[:3])}"
                        )
                if rows >= options.batch_size:
                    yield _Chunk(_enrich(messages, options.matcher), position, rows, invalid, examples[:5])
                    messages, rows, invalid, examples = [], 0, 0, []
            position = {"file": fi + 1, "row": 0}
        if rows:
            yield _Chunk(_enrich(messages, options.matcher), position, rows, invalid, examples[:5])

    return _run(
        chunks(), classifier=classifier, factory=factory, checkpoint=checkpoint, report=report,
        options=options, total=total, desc="backfill",
    )  # fmt: skip


def _document_message(row: Any) -> NewsMessage:
    return NewsMessage.model_construct(
        id=row.id, source=row.source, kind=row.kind, title=row.title or "", body=row.body or "", url=row.url,
        published_at=row.published_at, fetched_at=row.fetched_at, tickers=list(row.tickers or []), lang=row.lang,
    )  # fmt: skip


def rescore_documents(
    *,
    classifier: Predictor,
    factory: sessionmaker[Session],
    database_url: str,
    data_dir: str | Path = "var",
    options: BackfillOptions = BackfillOptions(),
) -> BackfillReport:
    """Score the stored documents (optionally a time range or one source) with another model version."""
    docs = Document.__table__
    filters = []
    if options.since is not None:
        filters.append(docs.c.published_at >= options.since)
    if options.until is not None:
        filters.append(docs.c.published_at < options.until)
    if options.source is not None:
        filters.append(docs.c.source == options.source)
    job = {
        "kind": "rescore",
        "model_version": classifier.version,
        "database": database_fingerprint(database_url),
        "since": options.since.isoformat() if options.since else None,
        "until": options.until.isoformat() if options.until else None,
        "source": options.source,
    }
    checkpoint = Checkpoint.open(
        options.checkpoint or default_checkpoint_path(data_dir, job), job, restart=options.restart
    )
    report = _resume_report(checkpoint, classifier.version)
    if checkpoint.done:
        report.complete = True
        return report
    with factory() as session:
        total = (
            session.execute(select(func.count()).select_from(docs).where(*filters)).scalar_one()
            if options.count_first
            else None
        )

    def chunks() -> Iterator[_Chunk]:
        # Keyset pagination on (published_at, id): stable under concurrent inserts, and resumable.
        last = checkpoint.position.get("after")
        while True:
            query = (
                select(docs)
                .where(*filters)
                .order_by(docs.c.published_at, docs.c.id)
                .limit(options.batch_size)
            )
            if last is not None:
                at, ident = datetime.fromisoformat(last[0]), last[1]
                query = query.where(
                    or_(docs.c.published_at > at, and_(docs.c.published_at == at, docs.c.id > ident))
                )
            with factory() as session:
                rows = session.execute(query).all()
            if not rows:
                return
            last = [rows[-1].published_at.isoformat(), rows[-1].id]
            stored = [_document_message(r) for r in rows]
            found = _enrich(stored, options.matcher)
            retag = {new.id: list(new.tickers) for old, new in zip(stored, found, strict=True) if new.tickers != old.tickers}
            yield _Chunk(found, {"after": last}, len(rows), 0, [], retag=retag)

    return _run(
        chunks(), classifier=classifier, factory=factory, checkpoint=checkpoint, report=report,
        options=options, total=total, desc=f"rescore {classifier.version}",
    )  # fmt: skip


def report_dict(report: BackfillReport) -> dict[str, Any]:
    """The report as a plain dict, rates included (for logs and --json output)."""
    return {
        **asdict(report),
        "rate": round(report.rate, 1),
        "inference_rate": round(report.inference_rate, 1),
    }
