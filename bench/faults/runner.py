"""Run the fault scenarios at a size and collect their results (``finsent faults``)."""

from __future__ import annotations

import random
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from finsent.bench.faults import broker_outage, crash, hostile, limits, postgres_outage, receivers
from finsent.bench.faults.harness import Stack
from finsent.bench.faults.report import TITLES, Result

__all__ = ["SCENARIOS", "run_scenarios"]

# name -> (module with FULL, REDUCED and run(stack, size, rng)); the table's order.
SCENARIOS: dict[str, Any] = {
    "crash": crash,
    "postgres": postgres_outage,
    "broker": broker_outage,
    "hostile": hostile,
    "receivers": receivers,
    "limits": limits,
}



def run_scenarios(
    names: list[str],
    *,
    size: str,
    model_path: str,
    pg_admin_url: str,
    seed: int = 12,
    work_dir: Path | None = None,
    keep: bool = False,
    env: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> list[Result]:
    """Each named scenario on its own stack; a scenario that raises is a failed row, not the end of the run."""
    base = work_dir or Path(tempfile.mkdtemp(prefix="finsent-faults-"))
    results = []
    for name in names:
        module = SCENARIOS[name]
        scenario_size = module.FULL if size == "full" else module.REDUCED
        progress(f"faults: {name} ({size}: {scenario_size})")
        started = time.monotonic()
        try:
            with Stack(
                work_dir=base / name, model_path=model_path, pg_admin_url=pg_admin_url, worker_env=dict(env or {})
            ) as stack:
                result = module.run(stack, scenario_size, random.Random(seed))
        except Exception as exc:  # noqa: BLE001 - report the scenario as failed and go on with the next
            result = Result(TITLES[name], faults="(scenario error)")
            result.check(f"ran to the end ({type(exc).__name__}: {str(exc)[:200]})", False)
            result.details["traceback"] = traceback.format_exc(limit=4)[-1500:]
        result.wall_s = time.monotonic() - started
        result.details["logs"] = str(base / name)
        progress(f"faults: {name} {'passed' if result.passed else 'FAILED ' + str(result.failed_checks)} in {result.wall_s:.0f} s")
        results.append(result)
    if not keep and all(r.passed for r in results):
        shutil.rmtree(base, ignore_errors=True)
    return results
