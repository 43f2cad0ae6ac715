"""When the worker hands taken messages to the model: at once while it is idle, as full batches while it is busy.

A fixed collection window trades latency against throughput once for all loads: a long window
keeps full-speed batches large but makes a lightly loaded worker wait for it, a short one answers
quickly at low load but cuts a backlog into many small batches, each paying the write's and the
model's per-batch costs. The worker instead takes in short polls and this gate decides: when no
batch is being scored, whatever has arrived goes now; while one is, arrivals wait and join the
next batch, which goes once the model frees (or once a full batch has gathered, so the next one
is queued behind the model as before). The load chooses the batch size, not a setting.

Pure bookkeeping, no clock and no I/O: the worker's agent owns the tasks and calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

T = TypeVar("T")


@dataclass
class Coalescer(Generic[T]):
    """Events taken but not yet handed to the model, and the rule for handing them over."""

    max_batch: int
    max_in_flight: int = 2  # batches handed over and not yet written: bounds memory as before
    pending: list[T] = field(default_factory=list)

    def add(self, events: list[T]) -> None:
        self.pending.extend(events)

    def ready(self, *, scoring: int, in_flight: int) -> bool:
        """Whether a batch goes now, given the batches being scored and those handed over and unwritten."""
        if not self.pending or in_flight >= self.max_in_flight:
            return False
        return scoring == 0 or self.full()

    def full(self) -> bool:
        """A full batch waits: the caller stops taking until one goes (the broker keeps the rest)."""
        return len(self.pending) >= self.max_batch

    def take(self, limit: int | None = None) -> list[T]:
        """The next batch, oldest first: at most ``limit`` (default ``max_batch``) events."""
        n = min(len(self.pending), limit or self.max_batch, self.max_batch)
        batch, self.pending = self.pending[:n], self.pending[n:]
        return batch
