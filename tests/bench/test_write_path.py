"""``python -m finsent.bench.write_path`` runs (small) and reports every fifth of the run."""

from __future__ import annotations

from finsent.bench.write_path import run_write_path


def test_write_path_bench_reports_each_fifth() -> None:
    rows = run_write_path(messages=300, batch=20)
    assert [r["fifth"] for r in rows] == [1, 2, 3, 4, 5]
    assert sum(r["messages"] for r in rows) == 300
    assert all(r["wall_ms"] > 0 and r["cpu_ms"] >= 0 for r in rows)
