"""Ingest state that must survive restarts, in one small SQLite file.

What was sent (dedup keys), the HTTP validators of each source (ETag / Last-Modified) and
the files already replayed. Keys are recorded only after the broker acknowledged the items,
so a crash between fetch and ack re-sends rather than loses.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from finsent.ingest.dedup import dedup_keys
from finsent.messages import NewsMessage

__all__ = ["IngestState"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent (key TEXT PRIMARY KEY, source TEXT NOT NULL, sent_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS ix_sent_sent_at ON sent (sent_at);
CREATE TABLE IF NOT EXISTS http_cache (
    key TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    source TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    done_at REAL NOT NULL, PRIMARY KEY (source, path)
);
"""
_CHUNK = 500  # keys per IN (...) query, under SQLite's parameter limit


class IngestState:
    """Thread-safe access to the state file (one connection, one lock: writes are tiny)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- dedup ----------------------------------------------------------------------------------
    def _known(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                r[0] for r in self._db.execute(f"SELECT key FROM sent WHERE key IN ({marks})", chunk)
            )
        return found

    def unsent(self, messages: Iterable[NewsMessage]) -> tuple[list[NewsMessage], int]:
        """The messages not sent before (nor repeated earlier in this batch), and how many were dropped."""
        items = list(messages)
        keys = [dedup_keys(m) for m in items]
        with self._lock:
            seen = self._known([k for ks in keys for k in ks])
        fresh: list[NewsMessage] = []
        for message, ks in zip(items, keys, strict=True):
            if seen.isdisjoint(ks):
                fresh.append(message)
                seen.update(ks)
        return fresh, len(items) - len(fresh)

    def mark_sent(self, messages: Iterable[NewsMessage]) -> None:
        """Remember these (acknowledged) messages so they are never sent again."""
        now = time.time()
        rows = [(key, m.source, now) for m in messages for key in dedup_keys(m)]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO sent (key, source, sent_at) VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")

    def prune(self, older_than_s: float) -> int:
        """Forget dedup keys older than this; returns how many were removed."""
        with self._lock:
            return self._db.execute(
                "DELETE FROM sent WHERE sent_at < ?", (time.time() - older_than_s,)
            ).rowcount

    def sent_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM sent").fetchone()[0])

    # --- conditional GET ------------------------------------------------------------------------
    def validators(self, key: str) -> tuple[str | None, str | None]:
        """(ETag, Last-Modified) stored for a source URL."""
        with self._lock:
            row = self._db.execute(
                "SELECT etag, last_modified FROM http_cache WHERE key = ?", (key,)
            ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def save_validators(self, key: str, etag: str | None, last_modified: str | None) -> None:
        with self._lock:
            if etag is None and last_modified is None:
                self._db.execute("DELETE FROM http_cache WHERE key = ?", (key,))
            else:
                self._db.execute(
                    "INSERT INTO http_cache (key, etag, last_modified, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified, "
                    "updated_at = excluded.updated_at",
                    (key, etag, last_modified, time.time()),
                )

    # --- files ----------------------------------------------------------------------------------
    def file_done(self, source: str, path: Path) -> bool:
        """True when this exact file (same size and mtime) was replayed completely before."""
        stat = path.stat()
        with self._lock:
            row = self._db.execute(
                "SELECT size, mtime_ns FROM files WHERE source = ? AND path = ?", (source, str(path))
            ).fetchone()
        return row is not None and row[0] == stat.st_size and row[1] == stat.st_mtime_ns

    def mark_file_done(self, source: str, path: Path, size: int, mtime_ns: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO files (source, path, size, mtime_ns, done_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (source, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
                "done_at = excluded.done_at",
                (source, str(path), size, mtime_ns, time.time()),
            )
