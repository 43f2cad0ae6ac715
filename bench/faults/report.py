"""A scenario's result, the results table, and writing that table into docs/reliability.md."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["BEGIN", "END", "Result", "TITLES", "format_table", "write_doc"]

BEGIN = "<!-- faults:results:begin (written by `finsent faults --write-doc`; do not edit by hand) -->"
END = "<!-- faults:results:end -->"

# Each scenario's name in the table, in the table's order (also for a scenario that raised).
TITLES = {
    "crash": "crash loop",
    "postgres": "PostgreSQL outage",
    "broker": "broker outage",
    "hostile": "hostile input",
    "receivers": "receiver outage",
    "limits": "resource limits",
}


@dataclass
class Result:
    """One scenario's figures and the checks it made; ``passed`` only if every check held."""

    scenario: str
    messages: int = 0
    faults: str = ""
    lost: int = 0
    duplicated: int = 0
    dead_lettered: int = 0
    lost_note: str = ""  # what the loss is, when some is expected (a memory-only broker's)
    topic_duplicates: int | None = None  # records repeated on the scored topic (at-least-once), when counted
    recovery: str = ""
    checks: dict[str, bool] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0

    def check(self, name: str, ok: bool) -> bool:
        self.checks[name] = bool(ok)
        return bool(ok)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(self.checks.values())

    @property
    def failed_checks(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]


_COLUMNS = ("scenario", "messages", "faults", "lost", "duplicated", "dead-lettered", "recovery time", "result")


def _row(result: Result) -> list[str]:
    verdict = "pass" if result.passed else "FAIL: " + ", ".join(result.failed_checks)
    return [
        result.scenario,
        f"{result.messages:,}",
        result.faults,
        f"{result.lost:,}" + (f" ({result.lost_note})" if result.lost_note else ""),
        f"{result.duplicated:,} rows"
        + (f", {result.topic_duplicates:,} on the scored topic" if result.topic_duplicates is not None else ""),
        f"{result.dead_lettered:,}",
        result.recovery,
        verdict,
    ]


def format_table(results: list[Result]) -> str:
    """The results as a Markdown table (it reads as plain text in a terminal too)."""
    rows = [list(_COLUMNS), ["---"] * len(_COLUMNS), *(_row(r) for r in results)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in rows)


def write_doc(path: Path, results: list[Result], *, size: str, note: str = "") -> None:
    """Write this run's results into ``path`` (between BEGIN and END), keeping other scenarios' last rows.

    The rows live in a JSON file beside the document (``reliability.json``), so running one scenario
    at full size replaces that scenario's row and leaves the others, each row saying its size and date.
    """
    import json

    store = path.with_suffix(".json")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows: dict[str, dict[str, Any]] = json.loads(store.read_text()) if store.exists() else {}
    for result in results:
        rows[result.scenario] = {
            "size": size, "run": stamp, "note": note, "machine": f"{platform.node() or 'this machine'} ({_cpus()} CPUs)",
            "row": _row(result), "details": {k: v for k, v in result.details.items() if k != "logs"}, "wall_s": round(result.wall_s),
        }  # fmt: skip
    order = list(TITLES.values())
    rows = dict(sorted(rows.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))
    store.write_text(json.dumps(rows, indent=2, default=str) + "\n")
    header = ["size", "run", *_COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] * len(header)) + " |"]
    for entry in rows.values():
        lines.append("| " + " | ".join([entry["size"], entry["run"], *entry["row"]]) + " |")
    facts = []
    for name, entry in rows.items():
        details = "; ".join(f"{k}: {' '.join(str(v).split())[:400]}" for k, v in entry["details"].items())
        facts.append(f"- **{name}** ({entry['size']}, {entry['wall_s']} s, {entry['machine']}{', ' + entry['note'] if entry['note'] else ''}): {details}")
    block = "\n".join([BEGIN, *lines, "", *facts, END])
    text = path.read_text() if path.exists() else f"# Reliability\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(head + block + tail)


def _cpus() -> int:
    import os

    return os.cpu_count() or 1
