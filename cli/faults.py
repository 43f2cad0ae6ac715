"""``finsent faults``: the fault-injection suite (``make faults`` runs it at full size)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from finsent.cli.context import settings_of

__all__ = ["register"]

_DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"


def faults(
    ctx: typer.Context,
    size: Annotated[str, typer.Option(help="full (make faults) or reduced (CI, about a minute a scenario).")] = "reduced",
    scenario: Annotated[
        Optional[list[str]], typer.Option("--scenario", help="Run only these (repeatable): crash, postgres, broker, hostile, receivers, limits.")
    ] = None,
    model: Annotated[Optional[str], typer.Option(help="Checkpoint the workers use (default: FINSENT_MODEL_PATH, the shipped model).")] = None,
    pg_admin_url: Annotated[
        str, typer.Option(help="PostgreSQL server URL; each scenario creates a temporary database there and drops it.")
    ] = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
    seed: Annotated[int, typer.Option(help="Seed of the random kill moments and interleaving.")] = 12,
    write_doc: Annotated[bool, typer.Option("--write-doc", help="Write the results table into docs/reliability.md.")] = False,
    doc: Annotated[Path, typer.Option(help="The document --write-doc writes.")] = _DOC,
    note: Annotated[str, typer.Option(help="A remark for the document's run line (e.g. the machine's load).")] = "",
    keep: Annotated[bool, typer.Option(help="Keep every scenario's logs, even when all pass.")] = False,
) -> None:
    """Inject faults into a real broker, database, worker and scheduler, and print what was lost.

    Each scenario runs on its own embedded broker and temporary PostgreSQL database (behind a proxy
    the suite cuts for outages; the server itself is never stopped), with `finsent worker` as a real
    subprocess. Prints the table (scenario, messages, faults, lost, duplicated, dead-lettered,
    recovery time); exits 1 if any check failed.
    """
    from finsent.bench.faults.report import format_table, write_doc as write
    from finsent.bench.faults.runner import SCENARIOS, run_scenarios

    if size not in ("full", "reduced"):
        raise typer.BadParameter("--size must be full or reduced")
    names = scenario or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise typer.BadParameter(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    settings = settings_of(ctx)
    results = run_scenarios(
        names,
        size=size,
        model_path=model or settings.model.path,
        pg_admin_url=pg_admin_url,
        seed=seed,
        keep=keep,
        progress=lambda line: typer.echo(line, err=True),
    )
    typer.echo(format_table(results))
    for result in results:
        typer.echo(f"\n{result.scenario}: " + "; ".join(f"{k}: {v}" for k, v in result.details.items()))
    if write_doc:
        write(doc, results, size=size, note=note)
        typer.echo(f"\nwrote the table into {doc}", err=True)
    if not all(r.passed for r in results):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``finsent faults``."""
    app.command("faults")(faults)
