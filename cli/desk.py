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


feedback_app = App(help="Analysts' corrections of labels (made on the dashboard).", no_args_is_help=True)


def _document_text(settings, document_id: str) -> str:  # type: ignore[no-untyped-def]
    from finsent.db import make_engine, make_sessionmaker
    from finsent.tables import Document

    engine = make_engine(settings.database)
    try:
        with make_sessionmaker(engine)() as session:
            doc = session.get(Document, document_id)
    finally:
        engine.dispose()
    if doc is None:
        raise typer.BadParameter(f"no document {document_id!r} in the database")
    return f"{doc.title}\n{doc.body}" if doc.title and doc.body else (doc.title or doc.body)


def explain_command(
    ctx: typer.Context,
    document_id: Annotated[Optional[str], typer.Argument(help="A stored document's id (the dashboard shows it).")] = None,
    text: Annotated[Optional[str], typer.Option("--text", help="Explain this text instead of a stored document.")] = None,
    task: Annotated[str, typer.Option(help="sentiment or topic.")] = "sentiment",
    model: Annotated[Optional[str], typer.Option(help="Checkpoint (default: FINSENT_MODEL_PATH, the shipped model).")] = None,
    top: Annotated[int, typer.Option(help="How many of the most supporting words to list.", min=1)] = 5,
    steps: Annotated[int, typer.Option(help="Integration steps (more: slower, more exact).", min=4)] = 32,
) -> None:
    """Why this label: each word's attribution to the predicted label (integrated gradients), as JSON."""
    from finsent.model.classifier import load
    from finsent.model.explain import explain

    settings = settings_of(ctx)
    if (document_id is None) == (text is None):
        raise typer.BadParameter("give a DOCUMENT_ID or --text")
    body = text if text is not None else _document_text(settings, document_id or "")
    classifier = load(model or settings.model.path, device="cpu", max_length=settings.model.max_length)
    try:
        explanation = explain(classifier, body, task=task, steps=steps)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    out = explanation.as_dict(top)
    if document_id is not None:
        out["document_id"] = document_id
    typer.echo(json.dumps(out, indent=2))


@feedback_app.command("export")
def export_command(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="Folder to write sentiment.csv, topic.csv and entity_level.csv into.")],
    model_version: Annotated[Optional[str], typer.Option(help="Only corrections of this model version.")] = None,
) -> None:
    """Write the analysts' corrections in the training format (`finsent train --feedback FOLDER`)."""
    from finsent.db import make_engine, make_sessionmaker
    from finsent.feedback import export_corrections
    from finsent.tickers import TickerMatcher

    settings = settings_of(ctx)
    matcher = TickerMatcher.from_settings(settings.tickers)
    engine = make_engine(settings.database)
    try:
        with make_sessionmaker(engine)() as session:
            written = export_corrections(session, folder, model_version=model_version, mentions=matcher.mentions)
    finally:
        engine.dispose()
    for name, rows in written.items():
        typer.echo(f"{folder / name}: {rows} rows")


def register(app: typer.Typer) -> None:
    """Add ``finsent explain``, ``finsent feedback`` and ``finsent desk``."""
    app.command("explain")(explain_command)
    app.add_typer(feedback_app, name="feedback")
    app.add_typer(desk_app, name="desk")
