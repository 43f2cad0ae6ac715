"""What the desk sees: ``finsent explain`` (why this label), ``finsent feedback export``, ``finsent desk bench``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from finsent.cli.context import settings_of
from finsent.cli.help import App

__all__ = ["register"]

desk_app = App(help="The desk features' benchmark: stories (near-duplicates) and per-ticker sentiment.", no_args_is_help=True)


@desk_app.command("bench")
def bench_command(
    ctx: typer.Context,
    pairs: Annotated[Path, typer.Option(help="Labelled story pairs (CSV a,b,same,how).", exists=True)] = Path(
        "tests/data/story_pairs.csv"
    ),
    messages: Annotated[int, typer.Option(help="Messages written for the story cost.", min=100)] = 4000,
    batch: Annotated[int, typer.Option(help="Messages per write.", min=1)] = 500,
    model_texts: Annotated[int, typer.Option(help="Two-ticker texts scored for the per-ticker cost.", min=8)] = 256,
    model: Annotated[Optional[str], typer.Option(help="Checkpoint (default: FINSENT_MODEL_PATH).")] = None,
    pg_admin_url: Annotated[
        str, typer.Option(help="PostgreSQL server URL; temporary databases are created there and dropped.")
    ] = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
    json_out: Annotated[Optional[Path], typer.Option(help="Also write the JSON report here.")] = None,
) -> None:
    """Story precision/recall on labelled pairs, the stories' cost per message, and per-ticker sentiment's."""
    from finsent.bench.desk import format_report, run_desk_bench

    report = run_desk_bench(
        settings_of(ctx), pairs_path=pairs, messages=messages, batch=batch, model_texts=model_texts,
        model=model, pg_admin_url=pg_admin_url, progress=lambda line: typer.echo(line, err=True),
    )  # fmt: skip
    typer.echo(format_report(report))
    typer.echo(json.dumps(report, indent=2))
    if json_out:
        json_out.write_text(json.dumps(report, indent=2) + "\n")


def register(app: typer.Typer) -> None:
    """Add ``finsent desk``."""
    app.add_typer(desk_app, name="desk")
