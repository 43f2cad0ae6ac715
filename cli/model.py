"""``finsent train``, ``evaluate``, ``compare-models``, ``classify``, ``export-hf``, ``calibrate``, ``prepare``: the model commands.

torch and transformers are imported inside the commands so ``finsent --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from finsent.cli.context import settings_of

__all__ = ["register"]


def train_command(ctx: typer.Context) -> None:
    """Fine-tune the sentiment + topic classifier (all flags: finsent train --help)."""
    from finsent.model.metrics import format_report
    from finsent.model.train import main

    try:
        result = main(list(ctx.args))
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"saved {result.output_dir} (best epoch {result.best_epoch:.2f}, {result.train_seconds:.0f} s)"
    )
    for report in result.reports.values():
        typer.echo("\n" + format_report(report))


def evaluate_command(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="Labeled CSV/JSONL file (text, label).", exists=True, dir_okay=False)
    ],
    task: Annotated[str, typer.Option("--task", "-t", help="sentiment or topic.")] = "sentiment",
    model: Annotated[
        Optional[str], typer.Option("--model", "-m", help="Checkpoint (default: the shipped model).")
    ] = None,
    dedup_against: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--dedup-against",
            help="Training file(s): rows whose normalised text occurs there are not scored.",
            exists=True,
        ),
    ] = None,
    json_out: Annotated[
        Optional[Path],
        typer.Option("--json", help="Also write the report as JSON here ('-' = stdout only JSON)."),
    ] = None,
    text_field: Annotated[str, typer.Option(help="Text column / field.")] = "text",
    label_field: Annotated[str, typer.Option(help="Label column / field.")] = "label",
) -> None:
    """Per-class precision/recall/F1, macro/weighted F1, accuracy and confusion matrix on a labeled file."""
    from finsent.model.classifier import load
    from finsent.model.evaluate import evaluate_file
    from finsent.model.metrics import format_report

    settings = settings_of(ctx).model
    classifier = load(
        model or settings.path,
        device=settings.device,
        max_length=settings.max_length,
        batch_size=settings.inference_batch_size,
        threads=settings.threads,
    )
    try:
        report, dropped = evaluate_file(
            classifier,
            file,
            task,
            dedup_against_files=dedup_against or [],
            text_field=text_field,
            label_field=label_field,
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    payload = report.to_dict() | {
        "model": classifier.version,
        "file": str(file),
        "dropped_as_duplicates": dropped,
    }
    if json_out is not None and str(json_out) == "-":
        typer.echo(json.dumps(payload, indent=2))
        return
    typer.echo(
        f"model {classifier.version}; {file}"
        + (f" ({dropped} rows dropped as duplicates of training rows)" if dedup_against else "")
    )
    typer.echo(format_report(report))
    if json_out is not None:
        json_out.write_text(json.dumps(payload, indent=2) + "\n")


def classify_command(
    ctx: typer.Context,
    input: Annotated[
        str, typer.Argument(help="JSONL (a 'text' field) or CSV (a 'text' column); '-' = stdin.")
    ] = "-",
    output: Annotated[str, typer.Option("--output", "-o", help="JSONL output file; '-' = stdout.")] = "-",
    model: Annotated[
        Optional[str], typer.Option("--model", "-m", help="Checkpoint (default: the shipped model).")
    ] = None,
    input_format: Annotated[
        str, typer.Option("--format", help="auto (by extension; stdin sniffed), jsonl or csv.")
    ] = "auto",
    probabilities: Annotated[
        bool, typer.Option("--probabilities/--no-probabilities", help="Add the full probability vectors.")
    ] = False,
    text_field: Annotated[str, typer.Option(help="Text column / field.")] = "text",
    batch_size: Annotated[int, typer.Option(help="Texts per chunk read, scored and written.", min=1)] = 1024,
    progress: Annotated[
        Optional[bool],
        typer.Option(
            "--progress/--no-progress", help="Progress bar on stderr (default: when stderr is a terminal)."
        ),
    ] = None,
    precision: Annotated[
        Optional[str], typer.Option(help="auto, fp32, int8, bf16 or fp16 (default: the model settings').")
    ] = None,
) -> None:
    """Score texts: JSONL with sentiment, sentiment_score, topic, topic_score; other fields pass through.

    A record whose "kind" field is "comment" (a social post) is scored with the comment calibration
    where the checkpoint has one; any other record as news.
    """
    from finsent.model.classify import classify_stream, open_records
    from finsent.model.engine import load_engine_from_settings

    predictor = load_engine_from_settings(settings_of(ctx), path=model, precision=precision)
    show = sys.stderr.isatty() if progress is None else progress
    try:
        records = open_records(input, input_format, text_field=text_field)
        out = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")
        try:
            n = classify_stream(
                records,
                predictor,
                out,
                text_field=text_field,
                probabilities=probabilities,
                chunk=batch_size,
                progress=show,
            )
        finally:
            if out is not sys.stdout:
                out.close()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if output != "-":
        typer.echo(f"{n} records scored -> {output}", err=True)


def compare_models_command(
    a: Annotated[
        Path, typer.Argument(help="The checkpoint in service (e.g. models/finsent-minilm).", exists=True, file_okay=False)
    ],
    b: Annotated[
        Path,
        typer.Argument(help="The candidate (e.g. var/models/finsent-minilm-direct).", exists=True, file_okay=False),
    ],
    split: Annotated[
        str, typer.Option(help="validation (choose) or test (report, once chosen). The verdict reads validation only.")
    ] = "validation",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of the table.")] = False,
    require_better: Annotated[
        bool, typer.Option(help="Exit 1 unless B's validation selection score is higher (for scripts).")
    ] = False,
) -> None:
    """Two trained checkpoints side by side from their cards: per head and domain, ECE, release bars, verdict.

    Reads only each directory's config.json (no model is loaded). The verdict is the rule that
    selects epochs in training: mean validation macro-F1 per head, then over the heads.
    """
    from finsent.model.compare import card_of, compare, format_comparison

    try:
        result = compare(card_of(a), card_of(b), split=split)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(result.to_dict(), indent=2) if json_out else format_comparison(result))
    if require_better and not result.b_better:
        raise typer.Exit(1)


def export_hf_command(
    checkpoint: Annotated[
        Path, typer.Argument(help="A finsent checkpoint trained with --pooling pooler.", exists=True, file_okay=False)
    ],
    output: Annotated[Path, typer.Argument(help="Directory to write the standard checkpoint to.")],
    task: Annotated[str, typer.Option("--task", "-t", help="The head to export: sentiment or topic.")] = "topic",
) -> None:
    """Write one head as a standard transformers sequence-classification checkpoint (runs with no finsent code).

    The shipped checkpoint already is one for its sentiment head; this writes the topic head (or any other)
    with its own id2label, e.g. for `transformers.pipeline("text-classification", model=OUTPUT)`.
    """
    from finsent.model.export import export_standard

    try:
        out = export_standard(checkpoint, task, output)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{task} head of {checkpoint} -> {out}")


def calibrate_command(
    checkpoint: Annotated[
        Path, typer.Argument(help="A finsent checkpoint directory (rewritten in place).", exists=True, file_okay=False)
    ],
    version: Annotated[
        Optional[str], typer.Option(help="The version the recalibrated checkpoint reports (default: unchanged).")
    ] = None,
    comment_domain: Annotated[
        Optional[list[str]],
        typer.Option(
            "--comment-domain",
            help="A validation domain (corpus folder) of comments, repeatable (default: the card's, else tfns-sentiment and tfn-topic).",
        ),
    ] = None,
) -> None:
    """Refit a checkpoint's temperature scaling on its own validation sets, without training it again.

    Reads what the checkpoint was trained on from its card, unfolds the old temperatures, fits one
    per head and kind of text (news folded into the head, comments stored beside it), and rewrites
    the weights, reports and card. Run from the directory the data paths are relative to.
    """
    from finsent.model.recalibrate import recalibrate

    try:
        result = recalibrate(checkpoint, version=version, comment_domains=comment_domain)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps({"checkpoint": str(result.path), "version": result.version, "before": result.before, "after": result.after}))


def prepare_command(ctx: typer.Context) -> None:
    """Load the configured model once and cache its compiled graph, so workers start without converting.

    The OpenVINO IR or ONNX graph the engine builds for this machine is cached under
    FINSENT_DATA_DIR, keyed on the checkpoint's weights. A worker whose cache is empty converts
    first (seconds of CPU), which would delay its first score and every restart until one
    conversion completes; run this at deploy time (image build, init container) with the
    workers' settings. Prints what it prepared as JSON.
    """
    import time

    from finsent.model.startup import load_scoring_engine

    settings = settings_of(ctx)
    started = time.perf_counter()
    try:
        engine = load_scoring_engine(settings)
    except (ValueError, FileNotFoundError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    report = {
        "model_version": engine.version,
        "runtime": engine.runtime,
        "precision": engine.precision,
        "cache": str(Path(settings.data_dir).resolve()),
        "seconds": round(time.perf_counter() - started, 2),
    }
    typer.echo(json.dumps(report))


def register(app: typer.Typer) -> None:
    """Add ``finsent train``, ``evaluate``, ``compare-models``, ``classify``, ``export-hf``, ``calibrate``, ``prepare``."""
    # train's flags come from its argument dataclasses; --help is theirs, not Typer's.
    app.command(
        "train",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
        add_help_option=False,
        help="Fine-tune the sentiment + topic classifier (finsent train --help lists every argument).",
    )(train_command)
    app.command("evaluate")(evaluate_command)
    app.command("compare-models")(compare_models_command)
    app.command("classify")(classify_command)
    app.command("export-hf")(export_hf_command)
    app.command("calibrate")(calibrate_command)
    app.command("prepare")(prepare_command)
