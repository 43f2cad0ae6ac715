"""Small input files for tests."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["write_jsonl"]


def write_jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
