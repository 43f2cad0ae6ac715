"""Prometheus metrics of the worker (served on the Faust web port at /metrics)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

__all__ = ["INFERENCE_SECONDS", "MESSAGES", "ROWS_WRITTEN", "WRITE_SECONDS", "render"]

MESSAGES = Counter("finsent_worker_messages_total", "Messages processed, by outcome.", ["outcome"])
ROWS_WRITTEN = Counter("finsent_worker_scores_written_total", "New score rows committed.")
INFERENCE_SECONDS = Histogram("finsent_worker_inference_seconds", "Classifier time per micro-batch.")
WRITE_SECONDS = Histogram("finsent_worker_write_seconds", "Database write time per micro-batch.")


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
