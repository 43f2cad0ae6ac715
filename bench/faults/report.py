"""A scenario's result, the results table, and writing that table into docs/reliability.md."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["BEGIN", "END", "Result", "format_table", "write_doc"]

BEGIN = "<!-- faults:results:begin (written by `finsent faults --write-doc`; do not edit by hand) -->"
END = "<!-- faults:results:end -->"


@dataclass
class Result:
    """One scenario's figures and the checks it made; ``passed`` only if every check held."""

    scenario: str
    messages: int = 0
    faults: str = ""
    lost: int = 0
    duplicated: int = 0
    dead_lettered: int = 0
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
        f"{result.lost:,}",
        f"{result.duplicated:,}",
        f"{result.dead_lettered:,}",
        result.recovery,
        verdict,
    ]


def format_table(results: list[Result]) -> str:
    """The results as a Markdown table (it reads as plain text in a terminal too)."""
    rows = [list(_COLUMNS), ["---"] * len(_COLUMNS), *(_row(r) for r in results)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in rows)


def _details(results: list[Result]) -> str:
    lines = []
    for result in results:
        facts = "; ".join(f"{k}: {v}" for k, v in result.details.items())
        lines.append(f"- **{result.scenario}** ({result.wall_s:.0f} s): {facts}")
    return "\n".join(lines)


def write_doc(path: Path, results: list[Result], *, size: str, note: str = "") -> None:
    """Replace the results block of ``path`` (between BEGIN and END) with this run's table and details."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = "\n".join(
        [
            BEGIN,
            f"Run: `finsent faults --size {size}` on {stamp}, {platform.node() or 'this machine'} "
            f"({_cpus()} CPUs){'; ' + note if note else ''}.",
            "",
            format_table(results),
            "",
            _details(results),
            END,
        ]
    )
    text = path.read_text() if path.exists() else f"# Reliability\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text = text.rstrip() + f"\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(head + block + tail)


def _cpus() -> int:
    import os

    return os.cpu_count() or 1
