"""``finsent desk bench`` runs end to end (small): story quality, stories' write cost on PostgreSQL, per-ticker cost."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from finsent.cli import app
from tests.utils.tiny_model import build_tiny_checkpoint

PAIRS = Path(__file__).resolve().parents[1] / "data" / "story_pairs.csv"


def test_desk_bench_reports_quality_and_costs(tmp_path: Path) -> None:
    model = build_tiny_checkpoint(tmp_path / "tiny", entity=True)
    out = tmp_path / "desk.json"
    result = CliRunner().invoke(
        app,
        ["desk", "bench", "--pairs", str(PAIRS), "--messages", "200", "--batch", "100", "--model-texts", "16",
         "--model", str(model), "--json-out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    stories, per_ticker = report["stories"], report["per_ticker"]
    assert stories["pairs"] == 800 and stories["precision"] >= 0.95 and stories["recall"] >= 0.9
    assert stories["write_ms_per_message_with_stories"] > 0 and stories["write_ms_per_message_without_stories"] > 0
    assert per_ticker["entity_head"] is True and per_ticker["per_ticker_ms_per_message"] > per_ticker["sentence_only_ms_per_message"]
    assert "precision" in result.output and "per-ticker" in result.output
